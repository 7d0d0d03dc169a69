//! lookout's kernels on candle's CUDA device: loaded once from the embedded fatbin, launched on
//! the device's own stream (so they order with candle's work without extra synchronisation),
//! their inputs and outputs candle tensors or buffers reused across frames.
//!
//! A frame's path: camera bytes -> one upload -> `lookout_preprocess` (colour conversion,
//! letterbox, normalisation, NCHW, batched over cameras; `lookout_preprocess_yolox` for
//! YOLOX's letterbox) -> the network's forward in candle (darknet or YOLOX) ->
//! `lookout_yolo_decode` per head (`lookout_yolox_decode` per YOLOX stride) ->
//! `lookout_sort_nms` -> one download of the final boxes.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use candle_core::cuda_backend::cudarc::driver::{
    CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};
use candle_core::cuda_backend::cudarc::nvrtc::Ptx;
use candle_core::cuda_backend::{CudaDevice, CudaStorage};
use candle_core::op::BackpropOp;
use candle_core::{DType, Device, Storage, Tensor};

use super::layout::{
    output_stride, plan_batch, read_output_block, CAND_LEN, NMS_CAPACITY, PARAMS_LEN,
};
use crate::darknet::YoloHead;
use crate::detect::{BatchTimings, Candidate, DetectError, Heads};
use crate::image_codec::RawImageRef;
use crate::preprocess::{ImageFromModel, Letterbox, LetterboxStyle};
use crate::yolox::YoloxHead;

/// The kernels of `src/cuda/kernels.cu` for every architecture build.rs was asked for.
static FATBIN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/lookout_kernels.fatbin"));

/// Compute capabilities the embedded fatbin has cubins for (`LOOKOUT_CUDA_ARCHS` at build).
pub const ARCHITECTURES: &str = env!("LOOKOUT_CUDA_ARCHS");

/// The embedded fatbin (its header starts with the magic `0xBA55ED50`).
pub fn fatbin() -> &'static [u8] {
    FATBIN
}

/// Threads per block of the element-wise kernels.
const BLOCK: u32 = 256;
/// Threads per block of the sort + NMS kernel (one block per image).
const NMS_BLOCK: u32 = 512;

/// A failed CUDA call, named by stage.
fn gpu(stage: &'static str, message: impl std::fmt::Display) -> DetectError {
    DetectError::Gpu {
        stage,
        message: message.to_string(),
    }
}

/// Decoding and NMS settings of one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeLimits {
    pub confidence_min: f32,
    /// Every class above the threshold per box instead of the best one
    /// ([`crate::detect::ClassPolicy`]).
    pub multi_label: bool,
    pub nms_iou_max: f32,
    pub top_k: usize,
    pub max_detections: usize,
}

/// Device buffers kept across frames (grown, never shrunk).
#[derive(Default)]
struct Buffers {
    bytes: Option<CudaSlice<u8>>,
    params: Option<CudaSlice<i64>>,
    candidates: Option<CudaSlice<f32>>,
    sorted: Option<CudaSlice<f32>>,
    counts: Option<CudaSlice<i32>>,
    out: Option<CudaSlice<f32>>,
    /// Per head: host copy and device copy of its anchors.
    anchors: Vec<(Vec<f32>, CudaSlice<f32>)>,
    class_allowed: Option<(Vec<u8>, CudaSlice<u8>)>,
    host_out: Vec<f32>,
}

/// lookout's kernels loaded on one CUDA device.
pub struct GpuKernels {
    device: CudaDevice,
    stream: Arc<CudaStream>,
    preprocess: CudaFunction,
    preprocess_yolox: CudaFunction,
    decode: CudaFunction,
    decode_yolox: CudaFunction,
    sort_nms: CudaFunction,
    buffers: Mutex<Buffers>,
}

impl std::fmt::Debug for GpuKernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuKernels")
            .field("device", &self.device)
            .field("architectures", &ARCHITECTURES)
            .finish()
    }
}

/// Grows `slot` to hold at least `len` elements (uninitialised: every kernel writes before it
/// reads, or the caller zeroes).
fn ensure<T: candle_core::cuda_backend::cudarc::driver::DeviceRepr>(
    stream: &Arc<CudaStream>,
    slot: &mut Option<CudaSlice<T>>,
    len: usize,
    stage: &'static str,
) -> Result<(), DetectError> {
    if slot.as_ref().is_none_or(|s| s.len() < len) {
        // SAFETY: the buffer is written (by an upload or a kernel) before it is read.
        let fresh = unsafe { stream.alloc::<T>(len.max(1)) }.map_err(|e| gpu(stage, e))?;
        *slot = Some(fresh);
    }
    Ok(())
}

/// The buffer `ensure` just made sure of.
fn present<'a, T>(
    slot: &'a mut Option<CudaSlice<T>>,
    stage: &'static str,
) -> Result<&'a mut CudaSlice<T>, DetectError> {
    slot.as_mut()
        .ok_or_else(|| gpu(stage, "device buffer missing after allocation"))
}

impl GpuKernels {
    /// Loads the kernels onto `device` (which must be a CUDA device).
    pub fn load(device: &Device) -> Result<Self, DetectError> {
        let Device::Cuda(dev) = device else {
            return Err(gpu("load", "lookout's kernels need a CUDA device"));
        };
        let stream = dev.cuda_stream();
        let module = stream
            .context()
            .load_module(Ptx::from_binary(FATBIN.to_vec()))
            .map_err(|e| {
                gpu(
                    "load",
                    format!(
                        "loading lookout's kernels (built for sm_{}): {e}; rebuild with \
                         LOOKOUT_CUDA_ARCHS naming this GPU's compute capability",
                        ARCHITECTURES.replace(',', ", sm_")
                    ),
                )
            })?;
        let function = |name: &str| {
            module
                .load_function(name)
                .map_err(|e| gpu("load", format!("kernel {name}: {e}")))
        };
        Ok(Self {
            device: dev.clone(),
            preprocess: function("lookout_preprocess")?,
            preprocess_yolox: function("lookout_preprocess_yolox")?,
            decode: function("lookout_yolo_decode")?,
            decode_yolox: function("lookout_yolox_decode")?,
            sort_nms: function("lookout_sort_nms")?,
            stream,
            buffers: Mutex::new(Buffers::default()),
        })
    }

    fn buffers(&self) -> MutexGuard<'_, Buffers> {
        // A panic while holding the lock leaves buffers that are only ever overwritten.
        self.buffers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits for the stream (for per-stage timings).
    pub fn synchronize(&self, stage: &'static str) -> Result<(), DetectError> {
        self.stream.synchronize().map_err(|e| gpu(stage, e))
    }

    /// Uploads `images` (any [`RawImageRef`] encoding, any sizes) and letterboxes them into one
    /// `N x 3 x S x S` f32 tensor on the device. With `timings`, the stream is synchronised
    /// after each stage and `upload` / `preprocess` are filled in.
    pub fn preprocess(
        &self,
        images: &[RawImageRef<'_>],
        letterbox: Letterbox,
        mut timings: Option<&mut BatchTimings>,
    ) -> Result<(Tensor, Vec<ImageFromModel>), DetectError> {
        let (params, total_bytes) = plan_batch(images, letterbox)?;
        let started = Instant::now();
        let mut buffers = self.buffers();
        let b = &mut *buffers;
        ensure(&self.stream, &mut b.bytes, total_bytes, "upload")?;
        ensure(
            &self.stream,
            &mut b.params,
            params.len() * PARAMS_LEN,
            "upload",
        )?;
        {
            let bytes = present(&mut b.bytes, "upload")?;
            for (image, p) in images.iter().zip(&params) {
                let offset = p.row[super::abi::P_OFFSET] as usize;
                let mut dst = bytes.slice_mut(offset..offset + image.data.len());
                self.stream
                    .memcpy_htod(image.data, &mut dst)
                    .map_err(|e| gpu("upload", e))?;
            }
            let rows: Vec<i64> = params.iter().flat_map(|p| p.row).collect();
            let params_dev = present(&mut b.params, "upload")?;
            let mut dst = params_dev.slice_mut(0..rows.len());
            self.stream
                .memcpy_htod(&rows, &mut dst)
                .map_err(|e| gpu("upload", e))?;
        }
        let mut started = started;
        if let Some(t) = timings.as_deref_mut() {
            self.synchronize("upload")?;
            t.upload += started.elapsed();
            started = Instant::now();
        }

        let s = letterbox.size_px as usize;
        let n = images.len();
        let plane = s * s;
        // SAFETY: the kernel writes every element (each thread its pixel's three channels).
        let mut out =
            unsafe { self.stream.alloc::<f32>(n * 3 * plane) }.map_err(|e| gpu("preprocess", e))?;
        let size = letterbox.size_px as i32;
        let cfg = LaunchConfig {
            grid_dim: ((plane as u32).div_ceil(BLOCK), n as u32, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        {
            let bytes = present(&mut b.bytes, "preprocess")?;
            let params_dev = present(&mut b.params, "preprocess")?;
            // The letterbox style picks the kernel; both take the same parameter rows.
            let kernel = match letterbox.style {
                LetterboxStyle::Darknet => &self.preprocess,
                LetterboxStyle::Yolox => &self.preprocess_yolox,
            };
            let mut launch = self.stream.launch_builder(kernel);
            launch
                .arg(&*bytes)
                .arg(&*params_dev)
                .arg(&mut out)
                .arg(&size);
            // SAFETY: argument types and order match lookout_preprocess (and
            // lookout_preprocess_yolox, the same signature); the grid covers
            // n cameras x S*S pixels, and `out` holds n * 3 * S * S floats.
            unsafe { launch.launch(cfg) }.map_err(|e| gpu("preprocess", e))?;
        }
        drop(buffers);
        let storage = Storage::Cuda(CudaStorage::wrap_cuda_slice(out, self.device.clone()));
        let tensor = Tensor::from_storage(storage, (n, 3, s, s), BackpropOp::none(), false);
        if let Some(t) = timings {
            self.synchronize("preprocess")?;
            t.preprocess += started.elapsed();
        }
        Ok((tensor, params.iter().map(|p| p.image_from_model).collect()))
    }

    /// Decodes every head of a batch of `batch` images through its family's decode kernel
    /// (`lookout_yolo_decode` per `[yolo]` layer, `lookout_yolox_decode` per YOLOX stride),
    /// keeps the classes `class_allowed` marks, sorts, applies top-k and class-aware NMS on
    /// the device, and downloads only the kept boxes (model pixels). An image whose candidates
    /// overflow the device buffer comes back as `None`: decode it on the CPU (its heads are
    /// still on the device).
    pub fn decode_nms(
        &self,
        heads: &Heads,
        batch: usize,
        class_allowed: &[bool],
        limits: DecodeLimits,
        timings: Option<&mut BatchTimings>,
    ) -> Result<Vec<Option<Vec<Candidate>>>, DetectError> {
        let classes = class_allowed.len();
        self.decode_then_nms(batch, class_allowed, limits, timings, |b| match heads {
            Heads::Yolo(h) => self.launch_yolo_decodes(b, h, batch, classes, limits),
            Heads::Yolox(h) => self.launch_yolox_decodes(b, h, batch, classes, limits),
        })
    }

    /// Readies the candidate buffers and the class filter, lets `launch_decodes` append every
    /// head's candidates, then sorts, applies top-k and NMS, and downloads the kept boxes.
    fn decode_then_nms(
        &self,
        batch: usize,
        class_allowed: &[bool],
        limits: DecodeLimits,
        mut timings: Option<&mut BatchTimings>,
        launch_decodes: impl FnOnce(&mut Buffers) -> Result<(), DetectError>,
    ) -> Result<Vec<Option<Vec<Candidate>>>, DetectError> {
        let stage = "decode+nms";
        let started = Instant::now();
        let capacity = NMS_CAPACITY;
        let top_k = limits.top_k.clamp(1, capacity);
        let max_out = limits.max_detections.max(1);
        let mut buffers = self.buffers();
        let b = &mut *buffers;
        ensure(
            &self.stream,
            &mut b.candidates,
            batch * capacity * CAND_LEN,
            stage,
        )?;
        ensure(
            &self.stream,
            &mut b.sorted,
            batch * capacity * CAND_LEN,
            stage,
        )?;
        ensure(
            &self.stream,
            &mut b.out,
            batch * output_stride(max_out),
            stage,
        )?;
        if b.counts.as_ref().is_none_or(|c| c.len() < batch) {
            b.counts = Some(
                self.stream
                    .alloc_zeros::<i32>(batch)
                    .map_err(|e| gpu(stage, e))?,
            );
        }
        let counts = present(&mut b.counts, stage)?;
        self.stream
            .memset_zeros(counts)
            .map_err(|e| gpu(stage, e))?;

        // The class filter is uploaded once and again only when it changes, compared without
        // allocating (this runs every frame).
        let allowed_stale = b.class_allowed.as_ref().is_none_or(|(host, _)| {
            !host
                .iter()
                .map(|&v| v != 0)
                .eq(class_allowed.iter().copied())
        });
        if allowed_stale {
            let allowed: Vec<u8> = class_allowed.iter().map(|&a| u8::from(a)).collect();
            let dev = self
                .stream
                .clone_htod(allowed.as_slice())
                .map_err(|e| gpu(stage, e))?;
            b.class_allowed = Some((allowed, dev));
        }

        launch_decodes(b)?;

        {
            let (Some(cand), Some(counts), Some(sorted), Some(out)) = (
                b.candidates.as_ref(),
                b.counts.as_ref(),
                b.sorted.as_mut(),
                b.out.as_mut(),
            ) else {
                return Err(gpu(stage, "device buffer missing after allocation"));
            };
            let (cap, top_k_i, max_out_i) = (capacity as i32, top_k as i32, max_out as i32);
            let cfg = LaunchConfig {
                grid_dim: (batch as u32, 1, 1),
                block_dim: (NMS_BLOCK, 1, 1),
                shared_mem_bytes: 0,
            };
            let mut launch = self.stream.launch_builder(&self.sort_nms);
            launch
                .arg(cand)
                .arg(counts)
                .arg(&cap)
                .arg(sorted)
                .arg(&top_k_i)
                .arg(&limits.nms_iou_max)
                .arg(&max_out_i)
                .arg(out);
            // SAFETY: argument types and order match lookout_sort_nms; one block per image,
            // each writing its own output_stride(max_out) floats.
            unsafe { launch.launch(cfg) }.map_err(|e| gpu(stage, e))?;
        }

        let mut started = started;
        if let Some(t) = timings.as_deref_mut() {
            self.synchronize(stage)?;
            t.decode_nms += started.elapsed();
            started = Instant::now();
        }
        let stride = output_stride(max_out);
        let want = batch * stride;
        b.host_out.resize(want, 0.0);
        let out = present(&mut b.out, "download")?;
        let src = out.slice(0..want);
        self.stream
            .memcpy_dtoh(&src, &mut b.host_out[..want])
            .map_err(|e| gpu("download", e))?;
        self.synchronize("download")?;
        if let Some(t) = timings {
            t.download += started.elapsed();
        }
        Ok(b.host_out[..want]
            .chunks_exact(stride)
            .map(read_output_block)
            .collect())
    }

    /// `lookout_yolo_decode` on every darknet head (anchors uploaded when they change).
    fn launch_yolo_decodes(
        &self,
        b: &mut Buffers,
        heads: &[YoloHead],
        batch: usize,
        class_count: usize,
        limits: DecodeLimits,
    ) -> Result<(), DetectError> {
        let stage = "decode+nms";
        for (h, head) in heads.iter().enumerate() {
            let flat = || head.anchors.iter().flat_map(|&(w, h)| [w, h]);
            if b.anchors
                .get(h)
                .is_some_and(|(host, _)| host.iter().copied().eq(flat()))
            {
                continue;
            }
            let anchors: Vec<f32> = flat().collect();
            let dev = self
                .stream
                .clone_htod(anchors.as_slice())
                .map_err(|e| gpu(stage, e))?;
            if h < b.anchors.len() {
                b.anchors[h] = (anchors, dev);
            } else {
                b.anchors.push((anchors, dev));
            }
        }

        for (h, head) in heads.iter().enumerate() {
            let candle = |e: candle_core::Error| gpu(stage, format!("yolo head {h}: {e}"));
            let output = head
                .output
                .to_dtype(DType::F32)
                .and_then(|t| t.contiguous())
                .map_err(candle)?;
            let (n, channels, grid_h, grid_w) = output.dims4().map_err(candle)?;
            let classes = head.classes;
            if n != batch || channels != head.anchors.len() * (5 + classes) || classes > class_count
            {
                return Err(gpu(
                    stage,
                    format!(
                        "yolo head {h} of shape {:?} does not match {} anchors, {classes} \
                         classes, batch {batch}",
                        output.dims(),
                        head.anchors.len()
                    ),
                ));
            }
            let (storage, layout) = output.storage_and_layout();
            let Storage::Cuda(cuda) = &*storage else {
                return Err(gpu(stage, format!("yolo head {h} is not on the GPU")));
            };
            let slice = cuda.as_cuda_slice::<f32>().map_err(candle)?;
            let view = slice.slice(layout.start_offset()..);
            let (Some((_, anchors_dev)), Some((_, allowed_dev)), Some(cand), Some(counts)) = (
                b.anchors.get(h),
                b.class_allowed.as_ref(),
                b.candidates.as_mut(),
                b.counts.as_mut(),
            ) else {
                return Err(gpu(stage, "device buffer missing after allocation"));
            };
            let cells = (head.anchors.len() * grid_h * grid_w) as u32;
            let num_anchors = head.anchors.len() as i32;
            let (classes_i, gw, gh) = (classes as i32, grid_w as i32, grid_h as i32);
            let input_w = (grid_w * head.stride_px) as f32;
            let input_h = (grid_h * head.stride_px) as f32;
            // As decode_head: cell size = input size / grid size, in f32.
            let cell_w = input_w / grid_w as f32;
            let cell_h = input_h / grid_h as f32;
            let cap = NMS_CAPACITY as i32;
            let multi_label = i32::from(limits.multi_label);
            let cfg = LaunchConfig {
                grid_dim: (cells.div_ceil(BLOCK), batch as u32, 1),
                block_dim: (BLOCK, 1, 1),
                shared_mem_bytes: 0,
            };
            let mut launch = self.stream.launch_builder(&self.decode);
            launch
                .arg(&view)
                .arg(anchors_dev)
                .arg(&num_anchors)
                .arg(&classes_i)
                .arg(&gw)
                .arg(&gh)
                .arg(&cell_w)
                .arg(&cell_h)
                .arg(&head.scale_x_y)
                .arg(&limits.confidence_min)
                .arg(&multi_label)
                .arg(allowed_dev)
                .arg(cand)
                .arg(counts)
                .arg(&cap);
            // SAFETY: argument types and order match lookout_yolo_decode; the head is a
            // contiguous batch x A*(5+classes) x gh x gw f32 tensor (checked above); the
            // candidate buffer holds batch * capacity rows and the kernel bounds its writes.
            unsafe { launch.launch(cfg) }.map_err(|e| gpu(stage, e))?;
        }
        Ok(())
    }

    /// `lookout_yolox_decode` on every YOLOX head (one per stride).
    fn launch_yolox_decodes(
        &self,
        b: &mut Buffers,
        heads: &[YoloxHead],
        batch: usize,
        class_count: usize,
        limits: DecodeLimits,
    ) -> Result<(), DetectError> {
        let stage = "decode+nms";
        for (h, head) in heads.iter().enumerate() {
            let candle = |e: candle_core::Error| gpu(stage, format!("yolox head {h}: {e}"));
            let output = head
                .output
                .to_dtype(DType::F32)
                .and_then(|t| t.contiguous())
                .map_err(candle)?;
            let (n, channels, grid_h, grid_w) = output.dims4().map_err(candle)?;
            let classes = channels.saturating_sub(5);
            if n != batch || classes == 0 || classes > class_count {
                return Err(gpu(
                    stage,
                    format!(
                        "yolox head {h} of shape {:?} does not match {class_count} classes, \
                         batch {batch}",
                        output.dims()
                    ),
                ));
            }
            let (storage, layout) = output.storage_and_layout();
            let Storage::Cuda(cuda) = &*storage else {
                return Err(gpu(stage, format!("yolox head {h} is not on the GPU")));
            };
            let slice = cuda.as_cuda_slice::<f32>().map_err(candle)?;
            let view = slice.slice(layout.start_offset()..);
            let (Some((_, allowed_dev)), Some(cand), Some(counts)) = (
                b.class_allowed.as_ref(),
                b.candidates.as_mut(),
                b.counts.as_mut(),
            ) else {
                return Err(gpu(stage, "device buffer missing after allocation"));
            };
            let cells = (grid_h * grid_w) as u32;
            let (classes_i, gw, gh) = (classes as i32, grid_w as i32, grid_h as i32);
            let stride = head.stride_px as f32;
            let cap = NMS_CAPACITY as i32;
            let multi_label = i32::from(limits.multi_label);
            let cfg = LaunchConfig {
                grid_dim: (cells.div_ceil(BLOCK), batch as u32, 1),
                block_dim: (BLOCK, 1, 1),
                shared_mem_bytes: 0,
            };
            let mut launch = self.stream.launch_builder(&self.decode_yolox);
            launch
                .arg(&view)
                .arg(&classes_i)
                .arg(&gw)
                .arg(&gh)
                .arg(&stride)
                .arg(&limits.confidence_min)
                .arg(&multi_label)
                .arg(allowed_dev)
                .arg(cand)
                .arg(counts)
                .arg(&cap);
            // SAFETY: argument types and order match lookout_yolox_decode; the head is a
            // contiguous batch x (5+classes) x gh x gw f32 tensor (checked above), classes
            // within the class filter's length; the candidate buffer holds batch * capacity
            // rows and the kernel bounds its writes.
            unsafe { launch.launch(cfg) }.map_err(|e| gpu(stage, e))?;
        }
        Ok(())
    }
}
