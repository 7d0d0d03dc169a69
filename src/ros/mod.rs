//! The ROS 2 node's library half (feature `ros`, on r2r): camera topics in, `vision_msgs` out.
//!
//! ```text
//! Image / CompressedImage ─> [spin thread] decode raw pixels ─> newest-frame slot per camera
//!                                                             │ (overwrite = counted drop)
//!                             [engine thread] take newest ─> Engine::process ─> publish
//!                                   detections, tracks (vision_msgs/Detection2DArray),
//!                                   objects (Detection3DArray, Autoware TrackedObjects,
//!                                   MarkerArray; ground.enabled and calibrated),
//!                                   debug/image (only with subscribers), stats ─> /diagnostics
//! camera_info, /tf_static ─> [spin thread] Calibrations ─> per-camera calibration slot ─┘
//! ```
//!
//! * [`params`]: ROS parameters (flat, dotted names) to the nested tree that `lookout::config`
//!   parses, so the node and `lookout replay` read `configs/lookout.param.yaml` the same way;
//!   plus the node-only section (cameras, input QoS, diagnostics period).
//! * [`convert`]: r2r messages to lookout values and back (no serde, one copy of the pixels).
//! * [`calibration`]: the cameras' calibrations from `camera_info` and `/tf_static`
//!   (`ground.enabled`), for the engine's ground-plane objects.
//! * [`slot`]: the live policy, newest frame wins, drops counted, never an unbounded queue.
//! * [`stats`]: rates and latency percentiles for `/diagnostics`.
//! * [`node`]: the r2r wiring (subscriptions, publishers, threads, clock). The debug image is
//!   drawn by [`crate::viz::render`] (as `lookout replay --render` draws it); the node only
//!   converts it to a `sensor_msgs/Image`.
//!
//! Only this module (and `src/bin/lookout_node.rs`) may `use r2r`.

pub mod calibration;
pub mod convert;
pub mod node;
pub mod params;
pub mod slot;
pub mod stats;
pub mod throttle;

use std::path::PathBuf;

/// What can stop the node or drop one input message.
#[derive(Debug, thiserror::Error)]
pub enum RosError {
    /// r2r/rcl refused an operation (creating the node, a subscription, a publisher ...).
    #[error("ROS: {what}: {source}")]
    Rcl {
        what: String,
        #[source]
        source: r2r::Error,
    },
    /// A parameter has the wrong type or value.
    #[error("parameter `{name}`: {message}")]
    Param { name: String, message: String },
    /// The engine's configuration, built from the node's parameters, is invalid (the message
    /// of `source` names the parameter file and the key).
    #[error("configuration from ROS parameters: {source}")]
    Config {
        params_file: Option<PathBuf>,
        #[source]
        source: Box<crate::Error>,
    },
    /// An input message that cannot become a frame (the node logs it, counts it and goes on).
    #[error("topic {topic}: {field}: {message}")]
    BadInput {
        topic: String,
        field: &'static str,
        message: String,
    },
    /// The engine failed on one frame.
    #[error("topic {topic}: engine: {source}")]
    Engine {
        topic: String,
        #[source]
        source: Box<crate::Error>,
    },
    /// The engine thread panicked: the node stops and exits non-zero, so that a supervisor
    /// (`respawn` in the launch files, systemd) restarts it.
    #[error("the engine thread panicked: {message}")]
    EnginePanicked { message: String },
}
