//! The detection stage: the detector family seam ([`model`]: darknet today), YOLO decoding
//! ([`decode`]), class-aware NMS ([`mod@nms`]), class labels and mapping ([`classes`]),
//! configuration ([`config`]), the detector's error ([`DetectError`]), and [`Detector`], which
//! chains letterbox -> forward -> decode -> NMS -> boxes in image pixels.
//!
//! [`Detector::from_parts`] builds the core from a model, its class labels and a config, with
//! no file or environment access; [`Detector::load`] resolves the model files (asset cache or
//! configured paths) and calls it.
//!
//! Input: a packed RGB8 [`RgbImage`]. Output: [`Detection`]s with corners in the source
//! image's pixels, clipped to the image, sorted by score (descending), then class, then
//! corners, so the same image always gives the same list.

pub mod classes;
pub mod config;
pub mod decode;
mod error;
pub mod model;
pub mod nms;

use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};

use crate::darknet::YoloHead;
use crate::image_codec::RawImageRef;
use crate::preprocess::{ImageFromModel, Letterbox};
use crate::types::{Detection, RgbImage};

pub use classes::{ClassMap, DEFAULT_CLASS_MAP};
pub use config::{DetectorConfig, ModelKind, ModelPaths, Precision, YoloxPaths, INPUT_SIZE_PX_MAX};
pub use decode::{decode_head, decode_yolox_head, Candidate, ClassPolicy, HeadGeometry};
pub use error::DetectError;
pub use model::{decode_yolox_heads, DarknetModel, DetectorModel, Heads};
pub use nms::{nms, nms_limited, TOP_K_MAX};

/// Wall time of each detection stage for one image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetectTimings {
    pub letterbox: Duration,
    /// Network forward pass including the copy of the head outputs to the host (which waits
    /// for an accelerator to finish).
    pub forward: Duration,
    pub decode_nms: Duration,
}

/// Wall time of each stage of a batch of camera images ([`Detector::detect_batch`]).
///
/// On a GPU with stage timing asked for, the stream is synchronised after each stage, so
/// each is the device time of that stage plus its launch; without it only the sum is
/// meaningful. On the CPU, `preprocess` is colour conversion plus letterbox and `upload` /
/// `download` stay zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchTimings {
    pub upload: Duration,
    pub preprocess: Duration,
    pub forward: Duration,
    pub decode_nms: Duration,
    pub download: Duration,
}

impl BatchTimings {
    pub fn total(&self) -> Duration {
        self.upload + self.preprocess + self.forward + self.decode_nms + self.download
    }
}

/// `[batch, channels, grid_h, grid_w]` of a head output.
pub(crate) type HeadDims = (usize, usize, usize, usize);

/// A head output's `[batch, channels, grid_h, grid_w]` dims and batch item `batch_index`'s
/// values, flattened on the host (the darknet and YOLOX decoders both read heads this way).
pub(crate) fn head_batch_data(
    output: &candle_core::Tensor,
    batch_index: usize,
    what: &str,
) -> Result<(HeadDims, Vec<f32>), DetectError> {
    let candle = |source| DetectError::Candle {
        context: format!("reading {what}"),
        source,
    };
    let dims = output.dims4().map_err(candle)?;
    let data = output
        .get(batch_index)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1())
        .map_err(candle)?;
    Ok((dims, data))
}

/// Decodes the candidates of batch item `batch_index` from all heads (model pixels, before
/// NMS). The network input size is each head's grid times its stride.
pub fn decode_heads(
    heads: &[YoloHead],
    batch_index: usize,
    confidence_min: f32,
    policy: ClassPolicy,
) -> Result<Vec<Candidate>, DetectError> {
    let mut out = Vec::new();
    for (h, head) in heads.iter().enumerate() {
        let ((_, _, grid_h, grid_w), data) =
            head_batch_data(&head.output, batch_index, &format!("yolo head {h}"))?;
        let geometry = HeadGeometry {
            grid_w,
            grid_h,
            anchors: head.anchors.clone(),
            classes: head.classes,
            scale_x_y: head.scale_x_y,
            input_w_px: grid_w * head.stride_px,
            input_h_px: grid_h * head.stride_px,
        };
        decode_head(&data, &geometry, confidence_min, policy, &mut out).map_err(|expected| {
            DetectError::OutputShape {
                shape: head.output.dims().to_vec(),
                message: format!(
                    "yolo head {h} holds {} values, expected {expected}",
                    data.len()
                ),
            }
        })?;
    }
    Ok(out)
}

/// Filters candidates through `classes`, maps them to image pixels with `image_from_model`
/// and clips them to `width x height`; boxes left with no area are dropped. Keeps the order.
pub fn to_image_detections(
    candidates: &[Candidate],
    classes: &ClassMap,
    image_from_model: &ImageFromModel,
    width: u32,
    height: u32,
) -> Vec<Detection> {
    candidates
        .iter()
        .filter_map(|c| {
            let label = classes.label(c.class_index)?;
            let bbox = image_from_model
                .apply(&c.bbox_model)
                .clip(width as f32, height as f32);
            (bbox.area() > 0.0).then(|| Detection {
                bbox,
                class_index: c.class_index,
                label: label.to_string(),
                score: c.score,
            })
        })
        .collect()
}

/// A detector: model, letterbox, thresholds and class map.
#[derive(Debug)]
pub struct Detector {
    config: DetectorConfig,
    /// The files the model was loaded from (`None` when built from parts).
    paths: Option<ModelPaths>,
    model: DetectorModel,
    classes: ClassMap,
    letterbox: Letterbox,
    /// Per model class: whether the class map reports it (the GPU decoder's filter).
    class_allowed: Vec<bool>,
    /// lookout's CUDA kernels, when the model is on a CUDA device.
    #[cfg(feature = "cuda")]
    gpu: Option<crate::cuda::GpuKernels>,
}

impl Detector {
    /// Builds a detector from a model (on its device), the model's class labels (one per
    /// class, in class order) and a configuration, which is validated; the model is converted
    /// to the configured precision and the labels mapped by its class map. Reads no file and
    /// no environment variable. `config`'s model kind and paths are not used.
    pub fn from_parts(
        model: DetectorModel,
        labels: Vec<String>,
        config: &DetectorConfig,
    ) -> Result<Self, DetectError> {
        config.validate()?;
        if model.class_count() != labels.len() {
            return Err(DetectError::ClassCount {
                model_classes: model.class_count(),
                labels: labels.len(),
            });
        }
        let model = model.with_precision(config.precision)?;
        let classes = ClassMap::new(labels, &config.class_map, config.keep_unmapped_classes)
            .map_err(|message| DetectError::InvalidConfig {
                field: "class_map",
                message,
            })?;
        let class_allowed = (0..classes.names().len())
            .map(|c| classes.label(c).is_some())
            .collect();
        // lookout's CUDA kernels (letterbox, decode, NMS) for either family on a CUDA device.
        #[cfg(feature = "cuda")]
        let gpu = if model.device().is_cuda() {
            Some(crate::cuda::GpuKernels::load(model.device())?)
        } else {
            None
        };
        Ok(Self {
            config: config.clone(),
            paths: None,
            letterbox: model.letterbox(config.input_size_px),
            model,
            classes,
            class_allowed,
            #[cfg(feature = "cuda")]
            gpu,
        })
    }

    /// Validates `config`, then loads the model and its class labels (from the asset cache
    /// unless paths are given) onto `device` and builds the detector with
    /// [`Detector::from_parts`].
    pub fn load(config: &DetectorConfig, device: &Device) -> Result<Self, DetectError> {
        config.validate()?;
        if !config.model.is_darknet() {
            let paths = config.yolox_paths()?;
            let model = crate::yolox::Yolox::load(&paths.onnx, device)?;
            let labels = classes::read_names(&paths.names)?;
            return Self::from_parts(model.into(), labels, config);
        }
        let paths = config.model_paths()?;
        let model = DarknetModel::load(&paths.cfg, &paths.weights, device)?;
        let labels = classes::read_names(&paths.names)?;
        let mut detector = Self::from_parts(model.into(), labels, config)?;
        detector.paths = Some(paths);
        Ok(detector)
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// The files the model was loaded from (`None` when built with [`Detector::from_parts`]).
    pub fn model_paths(&self) -> Option<&ModelPaths> {
        self.paths.as_ref()
    }

    pub fn class_map(&self) -> &ClassMap {
        &self.classes
    }

    pub fn letterbox(&self) -> Letterbox {
        self.letterbox
    }

    pub fn model(&self) -> &DetectorModel {
        &self.model
    }

    /// Detects objects in `image`; boxes in image pixels.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>, DetectError> {
        self.detect_timed(image).map(|(d, _)| d)
    }

    /// [`Detector::detect`] plus the time each stage took.
    pub fn detect_timed(
        &self,
        image: &RgbImage,
    ) -> Result<(Vec<Detection>, DetectTimings), DetectError> {
        #[cfg(feature = "cuda")]
        if self.gpu.is_some() {
            let (mut detections, t) = self.detect_batch(&[RawImageRef::from_rgb(image)], true)?;
            let timings = DetectTimings {
                letterbox: t.upload + t.preprocess,
                forward: t.forward,
                decode_nms: t.decode_nms + t.download,
            };
            return Ok((detections.pop().unwrap_or_default(), timings));
        }
        let t0 = Instant::now();
        let (blob, image_from_model) = self.letterbox.apply(image)?;
        let s = self.letterbox.size_px as usize;
        let t1 = Instant::now();
        let input =
            Tensor::from_vec(blob, (1, 3, s, s), self.model.device()).map_err(|source| {
                DetectError::Candle {
                    context: "building the input tensor".into(),
                    source,
                }
            })?;
        let heads = self.model.forward(&input)?;
        // Pull the heads to the host now, so that the forward time includes the device work.
        let heads = heads.to_host()?;
        let t2 = Instant::now();
        let kept = self.nms_host(heads.decode(
            0,
            self.config.confidence_min,
            self.config.class_policy(),
        )?);
        let detections = to_image_detections(
            &kept,
            &self.classes,
            &image_from_model,
            image.width,
            image.height,
        );
        let t3 = Instant::now();
        Ok((
            detections,
            DetectTimings {
                letterbox: t1 - t0,
                forward: t2 - t1,
                decode_nms: t3 - t2,
            },
        ))
    }
}

impl Detector {
    /// Class filter and NMS of one image's decoded candidates on the host.
    fn nms_host(&self, mut candidates: Vec<Candidate>) -> Vec<Candidate> {
        candidates.retain(|c| self.class_allowed.get(c.class_index) == Some(&true));
        nms_limited(
            candidates,
            self.config.nms_iou_max,
            self.config.top_k,
            self.config.max_detections,
        )
    }

    /// Detects objects in a batch of camera images as they arrive (any encoding of
    /// [`crate::image_codec::decode_raw`], any sizes); boxes in each image's pixels.
    ///
    /// On a CUDA device the whole batch runs on the GPU: one upload of the camera bytes, the
    /// fused preprocessing kernel, one batched forward, decoding and NMS kernels, and one
    /// download of the final boxes. On the CPU each image is converted and detected in turn.
    /// `sync_stages` synchronises the GPU after each stage so that [`BatchTimings`] splits the
    /// time by stage (it costs a few microseconds per stage).
    pub fn detect_batch(
        &self,
        images: &[RawImageRef<'_>],
        sync_stages: bool,
    ) -> Result<(Vec<Vec<Detection>>, BatchTimings), DetectError> {
        if images.is_empty() {
            return Ok((Vec::new(), BatchTimings::default()));
        }
        #[cfg(feature = "cuda")]
        if let Some(gpu) = &self.gpu {
            return self.detect_batch_gpu(gpu, images, sync_stages);
        }
        let _ = sync_stages;
        let mut timings = BatchTimings::default();
        let mut out = Vec::with_capacity(images.len());
        for (camera, raw) in images.iter().enumerate() {
            let t0 = Instant::now();
            // No pixel limit here: input.max_pixels applies where input is decoded (replay, node).
            let image = crate::image_codec::decode_raw_limited(*raw, u64::MAX)
                .map_err(|source| DetectError::RawImage { camera, source })?;
            timings.preprocess += t0.elapsed();
            let (detections, t) = self.detect_timed(&image)?;
            timings.preprocess += t.letterbox;
            timings.forward += t.forward;
            timings.decode_nms += t.decode_nms;
            out.push(detections);
        }
        Ok((out, timings))
    }

    #[cfg(feature = "cuda")]
    fn detect_batch_gpu(
        &self,
        gpu: &crate::cuda::GpuKernels,
        images: &[RawImageRef<'_>],
        sync_stages: bool,
    ) -> Result<(Vec<Vec<Detection>>, BatchTimings), DetectError> {
        let mut timings = BatchTimings::default();
        let (input, transforms) =
            gpu.preprocess(images, self.letterbox, sync_stages.then_some(&mut timings))?;
        let t_forward = Instant::now();
        // candle's CUDA backend runs either family's network; the heads stay on the device.
        let heads = self.model.forward(&input)?;
        if sync_stages {
            gpu.synchronize("forward")?;
            timings.forward = t_forward.elapsed();
        }
        let limits = crate::cuda::DecodeLimits {
            confidence_min: self.config.confidence_min,
            multi_label: self.config.multi_label,
            nms_iou_max: self.config.nms_iou_max,
            top_k: self.config.top_k,
            max_detections: self.config.max_detections,
        };
        let t_decode = Instant::now();
        let kept = gpu.decode_nms(
            &heads,
            images.len(),
            &self.class_allowed,
            limits,
            sync_stages.then_some(&mut timings),
        )?;
        if !sync_stages {
            timings.decode_nms = t_decode.elapsed();
        }
        let mut host_heads: Option<Heads> = None;
        let mut out = Vec::with_capacity(images.len());
        for (i, (kept, raw)) in kept.into_iter().zip(images).enumerate() {
            let candidates = match kept {
                Some(c) => c,
                None => {
                    // More candidates than the GPU buffer holds (a very low threshold): this
                    // image is decoded on the CPU, with the same result.
                    let host = match host_heads.take() {
                        Some(h) => h,
                        None => heads.to_host()?,
                    };
                    let decoded =
                        host.decode(i, self.config.confidence_min, self.config.class_policy())?;
                    host_heads = Some(host);
                    self.nms_host(decoded)
                }
            };
            let transform = transforms.get(i).copied().ok_or_else(|| DetectError::Gpu {
                stage: "download",
                message: format!("no letterbox transform for camera {i}"),
            })?;
            out.push(to_image_detections(
                &candidates,
                &self.classes,
                &transform,
                raw.width,
                raw.height,
            ));
        }
        Ok((out, timings))
    }
}

/// Copies head outputs to the host.
pub fn heads_to_host(heads: &[YoloHead]) -> Result<Vec<YoloHead>, DetectError> {
    heads
        .iter()
        .map(|h| {
            Ok(YoloHead {
                output: h.output.to_device(&Device::Cpu)?,
                ..h.clone()
            })
        })
        .collect::<candle_core::Result<Vec<_>>>()
        .map_err(|source| DetectError::Candle {
            context: "copying the yolo heads to the host".into(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detector_can_move_to_a_pipeline_thread() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Detector>();
    }

    /// A one-convolution darknet network with one `[yolo]` head of two classes whose weights
    /// make every cell a confident class-0 box of its anchor's size (10 x 14 px).
    fn tiny_darknet() -> DetectorModel {
        let path = std::path::Path::new("tiny.cfg");
        let cfg = crate::darknet::NetConfig::parse(
            "[net]\nchannels=3\n\
             [convolutional]\nfilters=7\nsize=1\nstride=1\nactivation=linear\n\
             [yolo]\nmask=0\nanchors=10,14\nclasses=2\nnum=1\n",
            path,
        )
        .unwrap();
        let mut bytes = Vec::new();
        for v in [0i32, 2, 0] {
            bytes.extend(v.to_le_bytes());
        }
        bytes.extend(0u64.to_le_bytes());
        // Biases (tx, ty, tw, th, objectness, class 0, class 1), then a zero 7 x 3 kernel.
        let biases = [0.0f32, 0.0, 0.0, 0.0, 6.0, 6.0, -6.0];
        for v in biases.into_iter().chain([0.0; 21]) {
            bytes.extend(v.to_le_bytes());
        }
        let weights = crate::darknet::weights::parse_weights(
            &cfg,
            &bytes,
            path,
            path.with_extension("w").as_path(),
        )
        .unwrap();
        DarknetModel::new(&cfg, &weights, path, &Device::Cpu)
            .unwrap()
            .into()
    }

    #[test]
    fn a_detector_builds_from_parts_without_files_and_detects() {
        let config = DetectorConfig {
            input_size_px: 32,
            class_map: vec!["person=pedestrian".into()],
            ..DetectorConfig::default()
        };
        let labels = vec!["person".to_string(), "kite".to_string()];
        let detector = Detector::from_parts(tiny_darknet(), labels.clone(), &config).unwrap();
        assert!(detector.model_paths().is_none());
        assert_eq!(detector.letterbox(), Letterbox::new(32));
        let image = RgbImage::new(64, 48);
        let detections = detector.detect(&image).unwrap();
        assert!(!detections.is_empty());
        assert!(detections.len() <= config.max_detections);
        for d in &detections {
            assert_eq!((d.class_index, d.label.as_str()), (0, "pedestrian"));
            assert!(d.score > 0.99, "{d:?}");
            assert!(d.bbox.x_min >= 0.0 && d.bbox.x_max <= 64.0, "{d:?}");
            assert!(d.bbox.y_min >= 0.0 && d.bbox.y_max <= 48.0, "{d:?}");
        }
        // The batch entry point on the CPU gives the same boxes.
        let (batch, _) = detector
            .detect_batch(&[RawImageRef::from_rgb(&image)], false)
            .unwrap();
        assert_eq!(batch, vec![detections]);

        // Labels that do not match the model's classes, and a config that does not validate.
        let e = Detector::from_parts(tiny_darknet(), vec!["person".into()], &config).unwrap_err();
        assert!(
            matches!(
                e,
                DetectError::ClassCount {
                    model_classes: 2,
                    labels: 1
                }
            ),
            "{e}"
        );
        let bad = DetectorConfig {
            input_size_px: 30,
            ..config.clone()
        };
        let e = Detector::from_parts(tiny_darknet(), labels.clone(), &bad).unwrap_err();
        assert!(e.to_string().contains("input_size_px"), "{e}");
        let unknown = DetectorConfig {
            class_map: vec!["car=car".into()],
            ..config
        };
        let e = Detector::from_parts(tiny_darknet(), labels, &unknown).unwrap_err();
        assert!(e.to_string().contains("class_map"), "{e}");
    }

    #[test]
    fn yolox_f16_needs_a_cuda_device() {
        let graph = crate::yolox::tests::synthetic_graph(0.33, 0.25, true, 2);
        let net =
            crate::yolox::Yolox::from_graph(graph, std::path::Path::new("nano.onnx"), &Device::Cpu)
                .unwrap();
        let config = DetectorConfig {
            precision: Precision::F16,
            input_size_px: 64,
            class_map: vec![],
            keep_unmapped_classes: true,
            ..DetectorConfig::default()
        };
        let e =
            Detector::from_parts(net.into(), vec!["a".into(), "b".into()], &config).unwrap_err();
        assert!(
            matches!(
                e,
                DetectError::InvalidConfig {
                    field: "precision",
                    ..
                }
            ) && e.to_string().contains("CUDA"),
            "{e}"
        );
    }

    #[test]
    fn image_detections_are_mapped_clipped_and_filtered() {
        let classes = ClassMap::new(
            vec!["person".into(), "kite".into()],
            &["person=pedestrian".into()],
            false,
        )
        .unwrap();
        let t = ImageFromModel {
            scale_x: 2.0,
            scale_y: 2.0,
            offset_x_px: 0.0,
            offset_y_px: 10.0,
        };
        let cand = |x_min: f32, y_min: f32, class_index: usize| Candidate {
            bbox_model: crate::types::BBox {
                x_min,
                y_min,
                x_max: x_min + 20.0,
                y_max: y_min + 20.0,
            },
            class_index,
            score: 0.5,
        };
        let out = to_image_detections(
            &[
                cand(10.0, 20.0, 0),
                cand(10.0, 20.0, 1),
                cand(90.0, 0.0, 0),
                cand(10.0, 0.0, 0),
            ],
            &classes,
            &t,
            100,
            100,
        );
        // kite filtered; the box at x 90..110 model = 180..220 image lies outside: dropped;
        // the box at y 0..20 model = -20..20 image is clipped to 0..20.
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].label, "pedestrian");
        assert_eq!(
            (
                out[0].bbox.x_min,
                out[0].bbox.y_min,
                out[0].bbox.x_max,
                out[0].bbox.y_max
            ),
            (20.0, 20.0, 60.0, 60.0)
        );
        assert_eq!((out[1].bbox.y_min, out[1].bbox.y_max), (0.0, 20.0));
    }
}
