//! A recording's own camera calibration, for `lookout replay` with `ground.enabled` and
//! `ground.use_recording_calibration`: the first `sensor_msgs/CameraInfo` on each camera's
//! `<base>/camera_info` topic ([`crate::topics::camera_info_topic`]) and every
//! `tf2_msgs/TFMessage` on `/tf_static`, composed from `ground.base_frame` to the CameraInfo's
//! `frame_id` (the camera's optical frame).
//!
//! Read once, before the frames: static calibration does not change during a recording (a
//! later CameraInfo is not looked at). A stream with a CameraInfo but no `/tf_static` chain to
//! its frame takes the configured pose; one without a CameraInfo keeps the configured
//! calibration (or none). Each decision is logged at info level.

use std::path::Path;

use crate::config::Config;
use crate::ground::calibration::{
    camera_info_fields, camera_info_from_cdr, tf_message_from_cdr, StaticTransforms,
};
use crate::ground::{CameraModel, GroundError, GroundProjector};
use crate::mcap_io::{CameraTopic, McapTopicSource};
use crate::msgs::{CameraInfo, RosMessage, TFMessage};
use crate::Result;

/// The topic of static transforms.
pub const TF_STATIC_TOPIC: &str = "/tf_static";

/// Most `/tf_static` messages read (a recording holds one per static broadcaster).
const TF_STATIC_MESSAGES_MAX: usize = 1024;

fn in_topic(path: &Path, topic: &str, index: u64, e: GroundError) -> GroundError {
    match e {
        GroundError::Calibration { message } => GroundError::Calibration {
            message: format!(
                "{}: topic `{topic}` message {index}: {message}",
                path.display()
            ),
        },
        e => e,
    }
}

/// The calibration of each stream found in the recording at `path`, as `(stream, projector)`.
pub fn recording_calibrations(
    path: &Path,
    streams: &[CameraTopic],
    config: &Config,
) -> Result<Vec<(String, GroundProjector)>> {
    let ground = &config.ground;
    let mut tfs = StaticTransforms::default();
    let source = McapTopicSource::open(path, TFMessage::SCHEMA_NAME, &[TF_STATIC_TOPIC.into()])?;
    for message in source.take(TF_STATIC_MESSAGES_MAX) {
        let message = message?;
        let tf = tf_message_from_cdr(&message.data)
            .map_err(|e| in_topic(path, TF_STATIC_TOPIC, message.index, e))?;
        tfs.add(&tf)
            .map_err(|e| in_topic(path, TF_STATIC_TOPIC, message.index, e))?;
    }
    let mut found = Vec::new();
    for stream in streams {
        let topic = crate::topics::camera_info_topic(&stream.topic);
        let mut source =
            McapTopicSource::open(path, CameraInfo::SCHEMA_NAME, std::slice::from_ref(&topic))?;
        let Some(message) = source.next() else {
            tracing::info!(
                "{}: no {topic} in the recording: {} keeps the configured calibration",
                path.display(),
                stream.topic
            );
            continue;
        };
        let message = message?;
        let info = camera_info_from_cdr(&message.data).map_err(|e| in_topic(path, &topic, 0, e))?;
        let camera = CameraModel::from_camera_info(&camera_info_fields(&info), ground.image_kind)
            .map_err(|e| in_topic(path, &topic, 0, e))?;
        let pose = match tfs.pose_in(&ground.base_frame, &info.header.frame_id) {
            Some(pose) => {
                tracing::info!(
                    "{}: {} calibrated from {topic} and {TF_STATIC_TOPIC} ({} -> {})",
                    path.display(),
                    stream.topic,
                    ground.base_frame,
                    info.header.frame_id
                );
                pose
            }
            None => {
                tracing::info!(
                    "{}: {} calibrated from {topic}; no {TF_STATIC_TOPIC} chain {} -> {}: the \
                     configured pose (ground.translation_m, ground.rotation_xyzw)",
                    path.display(),
                    stream.topic,
                    ground.base_frame,
                    info.header.frame_id
                );
                ground.pose()?
            }
        };
        found.push((
            stream.topic.clone(),
            GroundProjector {
                camera,
                pose,
                max_range_m: ground.max_range_m,
            },
        ));
    }
    Ok(found)
}
