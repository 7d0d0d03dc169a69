//! ROS 2 MCAP files (<https://mcap.dev/spec>, profile `ros2`): camera topics in, results out.
//!
//! * [`reader`]: [`McapCameraSource`] yields the raw messages of the selected camera topics
//!   (`sensor_msgs/msg/Image` and `sensor_msgs/msg/CompressedImage`, `cdr` encoded) in log-time
//!   order, cheaply; [`decode_frame`] turns one into a [`crate::types::Frame`] and is pure, so a
//!   pipeline can run it on its own thread. [`McapTopicSource`] streams the messages of any
//!   one schema (such as the `Detection2DArray` topics `lookout eval` reads) the same way.
//! * [`writer`]: [`Ros2McapWriter`] writes rosbag2-style files (`ros2` profile, `ros2msg`
//!   schemas with the full definition text, `cdr` messages, zstd chunks, summary and indexes),
//!   deterministically, and finishes the file even when dropped part-way.
//!
//! Both sides go through the `mcap` crate; the reader uses its sans-io indexed reader on a plain
//! file, so only the chunks being read are in memory.

pub mod reader;
pub mod writer;

pub use reader::{
    camera_topics, decode_frame, decode_frame_limited, CameraKind, CameraMessage, CameraTopic,
    McapCameraSource, McapTopicSource, TopicMessage,
};
pub use writer::{Ros2McapWriter, WriteSummary};

use std::path::PathBuf;

/// An MCAP file that cannot be read or written. Every variant names the file; message-level
/// variants also name the topic and the message's index within its topic (from 0).
#[derive(Debug, thiserror::Error)]
pub enum McapError {
    #[error("{path}: topic {topic}: cannot encode JSON: {message}")]
    Json {
        path: PathBuf,
        topic: String,
        message: String,
    },
    #[error("{path}: cannot open: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot create: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a readable MCAP file (truncated or corrupt): {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "{path}: has no summary section (the recording was truncated or not finished); \
         `mcap recover` can rebuild one"
    )]
    NoSummary { path: PathBuf },
    #[error("{path}: no camera topic (sensor_msgs/msg/Image or CompressedImage) in this file")]
    NoCameraTopics { path: PathBuf },
    #[error("{path}: topic `{topic}` not found; camera topics in this file: {}", list(.available))]
    TopicNotFound {
        path: PathBuf,
        topic: String,
        available: Vec<String>,
    },
    #[error("{path}: topic `{topic}` has no schema, so its messages cannot be decoded")]
    MissingSchema { path: PathBuf, topic: String },
    #[error(
        "{path}: topic `{topic}` has schema `{schema}` (encoding `{schema_encoding}`), not a camera \
         image (sensor_msgs/msg/Image or sensor_msgs/msg/CompressedImage, ros2msg)"
    )]
    NotACameraTopic {
        path: PathBuf,
        topic: String,
        schema: String,
        schema_encoding: String,
    },
    #[error("{path}: topic `{topic}` has message encoding `{encoding}`, expected `cdr`")]
    MessageEncoding {
        path: PathBuf,
        topic: String,
        encoding: String,
    },
    #[error("{path}: reading messages failed: {source}")]
    Read {
        path: PathBuf,
        source: Box<mcap::McapError>,
    },
    #[error("{path}: topic `{topic}` message {index}: {source}")]
    Cdr {
        path: PathBuf,
        topic: String,
        index: u64,
        source: Box<crate::msgs::CdrError>,
    },
    #[error("{path}: topic `{topic}` message {index}: {source}")]
    Image {
        path: PathBuf,
        topic: String,
        index: u64,
        source: Box<crate::image_codec::ImageError>,
    },
    #[error("{path}: topic `{topic}` was not added to the writer")]
    UnknownTopic { path: PathBuf, topic: String },
    #[error("{path}: topic `{topic}` already added with schema `{existing}`, not `{requested}`")]
    TopicSchemaConflict {
        path: PathBuf,
        topic: String,
        existing: String,
        requested: String,
    },
    #[error("{path}: writing failed: {source}")]
    Write {
        path: PathBuf,
        source: Box<mcap::McapError>,
    },
    #[error("{path}: the writer was already finished")]
    Finished { path: PathBuf },
    #[error("{path}: writing failed: {source}")]
    WriteIo {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}
