//! lookout: camera perception for autonomous driving.
//!
//! The engine is a pure core with I/O at the edges:
//!
//! ```text
//! MCAP recording ──┐                                                   ┌─> MCAP writer (Detection2DArray, tracks)
//! ROS 2 topic    ──┼─> Frame ─> preprocess ─> detect ─> NMS ─> track ──┼─> ROS publishers
//! video / images ──┘   (decode)  (letterbox)   (candle)        (Kalman) └─> MOT text / JSON lines
//! ```
//!
//! * [`types`]: the values that flow between stages (`Frame`, `RgbImage`, `BBox`, `Detection`).
//! * [`image_codec`]: `sensor_msgs` pixel encodings and JPEG/PNG to packed RGB8.
//! * [`preprocess`]: darknet letterbox; the `image_from_model` transform is a value.
//! * [`darknet`]: `.cfg` parser, `.weights` loader and the network in candle.
//! * [`detect`]: YOLO decoding, class-aware NMS, class mapping, the `Detector` stage.
//! * [`track`]: Kalman filters on nalgebra and a ByteTrack-style multi-object tracker.
//! * [`ground`]: the camera's calibration and pose: tracked boxes to positions and velocities
//!   on the road plane of `base_link` (metres, m/s, covariances), a Kalman filter per track.
//! * [`motion`]: the camera's image motion between frames (sparse optical flow + RANSAC), which
//!   the tracker applies to its tracks before association (camera-motion compensation).
//! * [`msgs`]: ROS 2 messages as serde structs with their CDR encoding and definitions.
//! * [`mcap_io`]: reading camera topics from and writing results to ROS 2 MCAP files.
//! * [`cuda`]: lookout's CUDA kernels (preprocess, decode, NMS) for the GPU path (feature `cuda`).
//! * [`engine`]: the `Engine` (detector + one tracker per camera stream) shared by replay and
//!   the ROS node, and the device selection.
//! * [`topics`]: output topic names per camera and the conventions of what is on them.
//! * [`stats`]: per-stage timings and bounded latency windows (median, p99).
//! * [`replay`]: `lookout replay`: stages as threads on bounded channels, results to sinks
//!   (MCAP, MOT text, rendered frames, summary JSON).
//! * [`summary`]: what a replay did (`ReplaySummary`), printed and written as JSON.
//! * [`config`]: the ROS parameter YAML in `configs/`, parsed and validated.
//! * [`assets`]: the model and data cache with sha256 pins.
//! * [`eval`]: `lookout eval`: MOTA/IDF1 (motmetrics definitions), AP50, the HTML report.
//! * [`viz`]: Foxglove image annotations and the per-track colours of every visual output.
//! * [`mot`]: MOTChallenge text files (results, public detections) read and written.
//! * [`record`]: `lookout record`: a video or image folder into a ROS 2 MCAP recording.
//! * [`output`]: how every output file is written: never over an input, atomically (a
//!   temporary name renamed into place when complete), nothing left behind on a signal.
//! * `ros`: the ROS 2 node on r2r (feature `ros`); it uses [`engine`] and [`topics`], not [`replay`].
//! * [`error`]: the library's top-level error, one variant per area.

pub mod assets;
pub mod capped_read;
pub mod config;
pub mod cuda;
pub mod darknet;
pub mod detect;
pub mod engine;
pub mod error;
pub mod eval;
pub mod ground;
pub mod image_codec;
pub mod mcap_io;
pub mod mot;
pub mod motion;
pub mod msgs;
pub mod output;
pub mod preprocess;
pub mod record;
pub mod replay;
#[cfg(feature = "ros")]
pub mod ros;
pub mod stats;
pub mod summary;
pub mod topics;
pub mod track;
pub mod types;
pub mod viz;
pub mod yolox;

pub use error::{Error, Result};
pub use types::{BBox, Detection, Frame, Header, RgbImage, Time};
