//! Camera pixels to packed RGB8: `sensor_msgs/msg/Image` encodings and JPEG/PNG payloads.
//! (Scaffold: filled in by the MCAP input work.)

/// A camera image that cannot be turned into pixels.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("unsupported image encoding `{0}`")]
    UnknownEncoding(String),
}
