//! TEMPORARY stand-ins for engine APIs that have not landed on `main` yet (image decoding, the
//! `Engine`, the `vision_msgs` serde mirror), with the signatures announced for them, so that the
//! node's ROS plumbing can be built and tested first. Deleted when `main` is merged.

use std::time::Duration;

use crate::types::{BBox, Detection, Frame, Header, RgbImage};

/// Stand-in for `image_codec::ImageError`.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("unsupported image encoding `{0}`")]
    UnknownEncoding(String),
    #[error(
        "field `data` has {actual} bytes, expected height * step = {height} * {step} = {expected}"
    )]
    DataLength {
        height: u32,
        step: u32,
        expected: u64,
        actual: usize,
    },
    #[error("field `step` = {step} is smaller than one row of {width} pixels")]
    StepTooSmall { width: u32, step: u32 },
    #[error("corrupt compressed image (format `{format}`): {message}")]
    Corrupt { format: String, message: String },
}

/// Stand-in for `image_codec::decode_raw` (rgb8 and bgr8 only).
pub fn decode_raw(
    encoding: &str,
    width: u32,
    height: u32,
    step: u32,
    _is_bigendian: bool,
    data: &[u8],
) -> Result<RgbImage, ImageError> {
    let bgr = match encoding {
        "rgb8" => false,
        "bgr8" => true,
        _ => return Err(ImageError::UnknownEncoding(encoding.into())),
    };
    if u64::from(step) < u64::from(width) * 3 {
        return Err(ImageError::StepTooSmall { width, step });
    }
    let expected = u64::from(height) * u64::from(step);
    if data.len() as u64 != expected {
        return Err(ImageError::DataLength {
            height,
            step,
            expected,
            actual: data.len(),
        });
    }
    let row = width as usize * 3;
    let mut out = Vec::with_capacity(row * height as usize);
    for r in data.chunks_exact(step as usize) {
        out.extend_from_slice(&r[..row]);
    }
    if bgr {
        for px in out.chunks_exact_mut(3) {
            px.swap(0, 2);
        }
    }
    Ok(RgbImage {
        width,
        height,
        data: out,
    })
}

/// Stand-in for `image_codec::decode_compressed`.
pub fn decode_compressed(format: &str, data: &[u8]) -> Result<RgbImage, ImageError> {
    let img = image::load_from_memory(data).map_err(|e| ImageError::Corrupt {
        format: format.into(),
        message: e.to_string(),
    })?;
    let rgb = img.to_rgb8();
    Ok(RgbImage {
        width: rgb.width(),
        height: rgb.height(),
        data: rgb.into_raw(),
    })
}

/// Stand-in for `pipeline::Stage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Read,
    Decode,
    Preprocess,
    Forward,
    Postprocess,
    Track,
    Write,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::Read,
        Stage::Decode,
        Stage::Preprocess,
        Stage::Forward,
        Stage::Postprocess,
        Stage::Track,
        Stage::Write,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Stage::Read => "read",
            Stage::Decode => "decode",
            Stage::Preprocess => "preprocess",
            Stage::Forward => "forward",
            Stage::Postprocess => "postprocess",
            Stage::Track => "track",
            Stage::Write => "write",
        }
    }
}

/// Stand-in for `pipeline::StageTimings`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimings {
    pub durations: [Duration; 7],
}

impl StageTimings {
    pub fn set(&mut self, stage: Stage, d: Duration) {
        self.durations[stage as usize] = d;
    }
    pub fn get(&self, stage: Stage) -> Duration {
        self.durations[stage as usize]
    }
}

/// Stand-in for `track::TrackOutput` (the fields the node uses).
#[derive(Debug, Clone)]
pub struct TrackOutput {
    pub id: u64,
    pub label: String,
    pub class_index: usize,
    pub score: f32,
    pub bbox: BBox,
}

/// Stand-in for `pipeline::FrameOutput`.
#[derive(Debug, Clone)]
pub struct FrameOutput {
    pub detections: Vec<Detection>,
    pub tracks: Vec<TrackOutput>,
    pub timings: StageTimings,
}

/// Stand-in for `pipeline::Engine`: one fixed box in the image centre, tracked as id 1.
pub struct Engine;

impl Engine {
    pub fn new(_config: &crate::config::Config) -> crate::Result<Self> {
        Ok(Self)
    }
    pub fn process(&mut self, frame: &Frame) -> crate::Result<FrameOutput> {
        let (w, h) = (frame.image.width as f32, frame.image.height as f32);
        let bbox = BBox {
            x_min: w / 4.0,
            y_min: h / 4.0,
            x_max: 3.0 * w / 4.0,
            y_max: 3.0 * h / 4.0,
        };
        Ok(FrameOutput {
            detections: vec![Detection {
                bbox,
                class_index: 0,
                label: "person".into(),
                score: 0.5,
            }],
            tracks: vec![TrackOutput {
                id: 1,
                label: "person".into(),
                class_index: 0,
                score: 0.5,
                bbox,
            }],
            timings: StageTimings::default(),
        })
    }
}

/// Stand-ins for the `msgs` serde mirror of vision_msgs.
pub mod msgs {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct ObjectHypothesis {
        pub class_id: String,
        pub score: f64,
    }
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct ObjectHypothesisWithPose {
        pub hypothesis: ObjectHypothesis,
        pub pose: PoseWithCovariance,
    }
    #[derive(Debug, Clone, PartialEq)]
    pub struct PoseWithCovariance {
        pub pose: Pose,
        pub covariance: [f64; 36],
    }
    impl Default for PoseWithCovariance {
        fn default() -> Self {
            Self {
                pose: Pose::default(),
                covariance: [0.0; 36],
            }
        }
    }
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct Pose {
        pub position: Point,
        pub orientation: Quaternion,
    }
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct Point {
        pub x: f64,
        pub y: f64,
        pub z: f64,
    }
    #[derive(Debug, Clone, PartialEq)]
    pub struct Quaternion {
        pub x: f64,
        pub y: f64,
        pub z: f64,
        pub w: f64,
    }
    impl Default for Quaternion {
        fn default() -> Self {
            Self {
                x: 0.0,
                y: 0.0,
                z: 0.0,
                w: 1.0,
            }
        }
    }
    #[derive(Debug, Clone, Copy, PartialEq, Default)]
    pub struct Point2D {
        pub x: f64,
        pub y: f64,
    }
    #[derive(Debug, Clone, Copy, PartialEq, Default)]
    pub struct Pose2D {
        pub position: Point2D,
        pub theta: f64,
    }
    #[derive(Debug, Clone, Copy, PartialEq, Default)]
    pub struct BoundingBox2D {
        pub center: Pose2D,
        pub size_x: f64,
        pub size_y: f64,
    }
    impl BoundingBox2D {
        pub fn from_bbox(bbox: &BBox) -> Self {
            let (cx, cy) = bbox.center();
            Self {
                center: Pose2D {
                    position: Point2D {
                        x: f64::from(cx),
                        y: f64::from(cy),
                    },
                    theta: 0.0,
                },
                size_x: f64::from(bbox.width()),
                size_y: f64::from(bbox.height()),
            }
        }
    }
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct Detection2D {
        pub header: Header,
        pub results: Vec<ObjectHypothesisWithPose>,
        pub bbox: BoundingBox2D,
        pub id: String,
    }
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct Detection2DArray {
        pub header: Header,
        pub detections: Vec<Detection2D>,
    }

    fn one(header: &Header, bbox: &BBox, label: &str, score: f32, id: String) -> Detection2D {
        Detection2D {
            header: header.clone(),
            results: vec![ObjectHypothesisWithPose {
                hypothesis: ObjectHypothesis {
                    class_id: label.to_owned(),
                    score: f64::from(score),
                },
                pose: PoseWithCovariance::default(),
            }],
            bbox: BoundingBox2D::from_bbox(bbox),
            id,
        }
    }

    pub fn detection_array(header: &Header, detections: &[Detection]) -> Detection2DArray {
        Detection2DArray {
            header: header.clone(),
            detections: detections
                .iter()
                .map(|d| one(header, &d.bbox, &d.label, d.score, String::new()))
                .collect(),
        }
    }

    pub fn track_array(header: &Header, tracks: &[TrackOutput]) -> Detection2DArray {
        Detection2DArray {
            header: header.clone(),
            detections: tracks
                .iter()
                .map(|t| one(header, &t.bbox, &t.label, t.score, t.id.to_string()))
                .collect(),
        }
    }
}
