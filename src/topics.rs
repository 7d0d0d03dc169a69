//! Output topics: their names ([`OutputTopics`], derived from the camera topic) and what is on
//! them. Shared by replay, the ROS node and `lookout eval`, so every side names and reads the
//! topics the same way.
//!
//! Topics per camera, for an input `/ns/cam/image_raw[/compressed]`:
//! - `/ns/cam/detections`, `/ns/cam/tracks`: `vision_msgs/msg/Detection2DArray` (builders
//!   [`crate::msgs::Detection2DArray::from_detections`] and [`crate::msgs::Detection2DArray::from_tracks`]);
//! - `/ns/cam/tracks/state`: lookout's JSON track state (velocity and covariance, which
//!   `vision_msgs` has no field for), [`track_state_json`];
//! - `/ns/cam/annotations`: `foxglove.ImageAnnotations` ([`crate::viz::foxglove`]);
//! - with `ground.enabled` ([`crate::ground::outputs`], frame `ground.base_frame`):
//!   `/ns/cam/objects` (`vision_msgs/msg/Detection3DArray`), `/ns/cam/objects/tracked`
//!   (`autoware_perception_msgs/msg/TrackedObjects`), `/ns/cam/objects/scene`
//!   (`foxglove.SceneUpdate`, JSON). The calibration is read from `/ns/cam/camera_info`
//!   ([`camera_info_topic`]) and `/tf_static` in replay.
//!
//! Two inputs of one camera (`/ns/cam/image_raw` and `/ns/cam/image_raw/compressed` in one
//! recording) would share `/ns/cam`: [`OutputTopics::for_cameras`] then names each of them
//! after its full input topic instead (`/ns/cam/image_raw/detections`,
//! `/ns/cam/image_raw/compressed/detections`), so each stream keeps its own outputs and track
//! ids; inputs whose stripped names do not collide keep the short names.
//!
//! Conventions of all engine outputs, shared by replay and the ROS node:
//! - `header` is the image's header (stamp and `frame_id`) on the array and on every detection.
//! - `results[0].hypothesis.class_id` is the output class name, `score` the detection score.
//! - `bbox` is centre/size in the image's pixels, `theta = 0`.
//! - On tracks, `id` is the decimal track id, and `results[0].pose.pose.position` is the
//!   filtered box centre (px) with its 2x2 covariance (px²) in `pose.covariance[0, 1, 6, 7]`
//!   (the x/y block of the 6x6 matrix), so a ROS consumer gets position uncertainty without
//!   reading the JSON topic.

use serde::Serialize;

use crate::track::TrackOutput;
use crate::types::Header;

/// Suffix of the detections topic, after the camera's base name.
const DETECTIONS_SUFFIX: &str = "/detections";
/// Suffix of the tracks topic, after the camera's base name.
const TRACKS_SUFFIX: &str = "/tracks";

/// Output topic names for one camera stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputTopics {
    pub detections: String,
    pub tracks: String,
    pub track_state: String,
    /// `foxglove.ImageAnnotations` of the detections and tracks.
    pub annotations: String,
    /// `vision_msgs/Detection3DArray` of the tracks on the road ([`crate::ground`]).
    pub objects: String,
    /// Autoware's `autoware_perception_msgs/TrackedObjects` of the same objects.
    pub objects_autoware: String,
    /// `foxglove.SceneUpdate` (JSON): a cube per object.
    pub objects_scene: String,
}

impl OutputTopics {
    /// `/ns/cam/image_raw/compressed` -> `/ns/cam/detections`, `/ns/cam/tracks`,
    /// `/ns/cam/tracks/state`, `/ns/cam/annotations`: the image suffix is replaced, as image_transport users expect.
    pub fn for_camera(input_topic: &str) -> Self {
        Self::with_base(&camera_base(input_topic))
    }

    /// The output topics of several input topics processed together (one per input, in
    /// order): [`OutputTopics::for_camera`]'s names, except that inputs which would share a
    /// base name are each named after their full input topic. Two inputs that collide even
    /// then (the same topic twice, or e.g. `/a` beside `/a/image`) are refused.
    pub fn for_cameras(inputs: &[&str]) -> Result<Vec<Self>, OutputTopicCollision> {
        let short: Vec<String> = inputs.iter().map(|t| camera_base(t)).collect();
        let bases: Vec<String> = inputs
            .iter()
            .zip(&short)
            .map(|(input, base)| {
                if short.iter().filter(|b| *b == base).count() > 1 {
                    let full = input.trim_end_matches('/');
                    if full.is_empty() {
                        "/lookout".to_owned()
                    } else {
                        full.to_owned()
                    }
                } else {
                    base.clone()
                }
            })
            .collect();
        for (i, base) in bases.iter().enumerate() {
            if let Some(j) = bases[..i].iter().position(|b| b == base) {
                return Err(OutputTopicCollision {
                    first: inputs[j].to_owned(),
                    second: inputs[i].to_owned(),
                    base: base.clone(),
                });
            }
        }
        Ok(bases.iter().map(|b| Self::with_base(b)).collect())
    }

    /// The topics of the camera whose tracks topic is `tracks_topic` (`/ns/cam/tracks`), or
    /// `None` when it does not end in `/tracks`; for readers of an output file, such as `eval`.
    pub fn for_tracks_topic(tracks_topic: &str) -> Option<Self> {
        tracks_topic
            .strip_suffix(TRACKS_SUFFIX)
            .map(Self::with_base)
    }

    /// Whether `topic` is named as a tracks topic (`.../tracks`).
    pub fn is_tracks_topic(topic: &str) -> bool {
        topic.ends_with(TRACKS_SUFFIX)
    }

    fn with_base(base: &str) -> Self {
        Self {
            detections: format!("{base}{DETECTIONS_SUFFIX}"),
            tracks: format!("{base}{TRACKS_SUFFIX}"),
            track_state: format!("{base}{TRACKS_SUFFIX}/state"),
            annotations: format!("{base}/annotations"),
            objects: format!("{base}/objects"),
            objects_autoware: format!("{base}/objects/tracked"),
            objects_scene: format!("{base}/objects/scene"),
        }
    }
}

/// The `sensor_msgs/CameraInfo` topic beside a camera's image topic, as image_transport and
/// camera drivers name it: `/ns/cam/image_raw[/compressed]` -> `/ns/cam/camera_info`.
pub fn camera_info_topic(input_topic: &str) -> String {
    format!("{}/camera_info", camera_base(input_topic))
}

/// The base name of a camera's output topics: the input topic without its image_transport
/// suffix (`/compressed`) and image suffix (`/image_raw`, ...); `/lookout` when nothing is left.
fn camera_base(input_topic: &str) -> String {
    let mut base = input_topic.trim_end_matches('/');
    base = base.strip_suffix("/compressed").unwrap_or(base);
    for suffix in [
        "/image_raw",
        "/image_rect_color",
        "/image_rect",
        "/image_color",
        "/image",
    ] {
        if let Some(b) = base.strip_suffix(suffix) {
            base = b;
            break;
        }
    }
    let base = if base.is_empty() { "/lookout" } else { base };
    base.to_owned()
}

/// Two input topics whose outputs would be the same topics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("input topics `{first}` and `{second}` would both write their detections and tracks under `{base}`: select one of them with --topic")]
pub struct OutputTopicCollision {
    pub first: String,
    pub second: String,
    pub base: String,
}

/// Schema name of the JSON track state topic.
pub const TRACK_STATE_SCHEMA_NAME: &str = "lookout.TrackArray";

/// JSON Schema (draft 2020-12) of [`TrackStateMessage`].
pub const TRACK_STATE_JSON_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "lookout.TrackArray",
  "description": "lookout tracker output for one image: every reported track with velocity and covariance",
  "type": "object",
  "required": ["stamp_ns", "frame_id", "tracks"],
  "properties": {
    "stamp_ns": {"type": "integer", "description": "image header stamp, ns since the clock's epoch"},
    "frame_id": {"type": "string"},
    "tracks": {
      "type": "array",
      "items": {
        "type": "object",
        "required": ["id", "label", "class_index", "score", "state", "age_s", "hits", "time_since_update_s", "bbox", "velocity_px_per_s", "bbox_covariance"],
        "properties": {
          "id": {"type": "integer", "description": "track id, unique per camera stream, from 1"},
          "label": {"type": "string"},
          "class_index": {"type": "integer", "description": "index in the model's label list"},
          "score": {"type": "number", "description": "score of the latest matched detection"},
          "state": {"enum": ["tentative", "confirmed", "lost"]},
          "age_s": {"type": "number", "description": "seconds since the first detection"},
          "hits": {"type": "integer"},
          "time_since_update_s": {"type": "number"},
          "bbox": {
            "type": "object",
            "description": "filtered box corners, image pixels",
            "properties": {"x_min": {"type": "number"}, "y_min": {"type": "number"}, "x_max": {"type": "number"}, "y_max": {"type": "number"}}
          },
          "velocity_px_per_s": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2, "description": "box centre velocity [vx, vy], px/s"},
          "bbox_covariance": {"type": "array", "description": "4x4 covariance of [cx, cy, w, h] in px^2, row-major", "items": {"type": "array", "items": {"type": "number"}}}
        }
      }
    }
  }
}
"#;

/// The JSON track state of one image.
#[derive(Debug, Serialize)]
pub struct TrackStateMessage<'a> {
    pub stamp_ns: i64,
    pub frame_id: &'a str,
    pub tracks: &'a [TrackOutput],
}

/// The JSON bytes of one image's track state (one line, no trailing newline).
pub fn track_state_json(
    header: &Header,
    tracks: &[TrackOutput],
) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&TrackStateMessage {
        stamp_ns: header.stamp.as_ns(),
        frame_id: &header.frame_id,
        tracks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgs::Detection2DArray;
    use crate::track::TrackState;
    use crate::types::{BBox, Detection, Time};

    #[test]
    fn output_topics_replace_image_suffixes() {
        let t = OutputTopics::for_camera("/cam/front/image_raw/compressed");
        assert_eq!(t.detections, "/cam/front/detections");
        assert_eq!(t.tracks, "/cam/front/tracks");
        assert_eq!(t.track_state, "/cam/front/tracks/state");
        assert_eq!(t.annotations, "/cam/front/annotations");
        assert_eq!(t.objects, "/cam/front/objects");
        assert_eq!(t.objects_autoware, "/cam/front/objects/tracked");
        assert_eq!(
            camera_info_topic("/cam/front/image_raw/compressed"),
            "/cam/front/camera_info"
        );
        assert_eq!(
            OutputTopics::for_camera("/left/image").detections,
            "/left/detections"
        );
        assert_eq!(
            OutputTopics::for_camera("/camera").detections,
            "/camera/detections"
        );
        assert_eq!(
            OutputTopics::for_camera("/image_raw").detections,
            "/lookout/detections"
        );
    }

    #[test]
    fn two_inputs_of_one_camera_get_distinct_outputs() {
        let t = OutputTopics::for_cameras(&[
            "/camera/image_raw",
            "/camera/image_raw/compressed",
            "/left/image_raw",
        ])
        .unwrap();
        assert_eq!(t[0].detections, "/camera/image_raw/detections");
        assert_eq!(t[1].tracks, "/camera/image_raw/compressed/tracks");
        assert_eq!(
            t[1].track_state,
            "/camera/image_raw/compressed/tracks/state"
        );
        // Inputs without a collision keep the short names, as with one input.
        assert_eq!(t[2], OutputTopics::for_camera("/left/image_raw"));
        assert_eq!(
            OutputTopics::for_cameras(&["/cam/image_raw/compressed"]).unwrap(),
            [OutputTopics::for_camera("/cam/image_raw/compressed")]
        );
        // eval finds the detections beside each tracks topic.
        assert_eq!(
            OutputTopics::for_tracks_topic(&t[1].tracks).as_ref(),
            Some(&t[1])
        );
        // Colliding even by full name: refused, naming both.
        let e = OutputTopics::for_cameras(&[
            "/cam/image_raw",
            "/cam/image_raw/compressed",
            "/cam/image_raw/image",
        ])
        .unwrap_err();
        assert_eq!(
            (e.first.as_str(), e.second.as_str()),
            ("/cam/image_raw", "/cam/image_raw/image")
        );
        assert!(e.to_string().contains("--topic"), "{e}");
        assert!(OutputTopics::for_cameras(&["/x/image_raw", "/x/image_raw"]).is_err());
    }

    #[test]
    fn tracks_topic_names_its_camera_topics() {
        let t = OutputTopics::for_camera("/cam/front/image_raw");
        assert_eq!(OutputTopics::for_tracks_topic(&t.tracks), Some(t.clone()));
        assert!(OutputTopics::is_tracks_topic(&t.tracks));
        assert!(!OutputTopics::is_tracks_topic(&t.track_state));
        assert_eq!(OutputTopics::for_tracks_topic(&t.detections), None);
    }

    fn header() -> Header {
        Header {
            stamp: Time { sec: 3, nanosec: 5 },
            frame_id: "cam".into(),
        }
    }

    #[test]
    fn detections_carry_header_class_score_and_centre_size() {
        let d = Detection {
            bbox: BBox::from_tlwh(10.0, 20.0, 30.0, 40.0),
            class_index: 0,
            label: "pedestrian".into(),
            score: 0.5,
        };
        let msg = Detection2DArray::from_detections(&header(), &[d]);
        assert_eq!(msg.header, header());
        let det = &msg.detections[0];
        assert_eq!(det.header, header());
        assert_eq!(det.results[0].hypothesis.class_id, "pedestrian");
        assert_eq!(det.results[0].hypothesis.score, 0.5);
        assert_eq!(det.bbox.center.position.x, 25.0);
        assert_eq!(det.bbox.center.position.y, 40.0);
        assert_eq!((det.bbox.size_x, det.bbox.size_y), (30.0, 40.0));
        assert!(det.id.is_empty());
    }

    #[test]
    fn tracks_carry_id_and_position_covariance() {
        let mut cov = [[0.0; 4]; 4];
        cov[0][0] = 4.0;
        cov[0][1] = 0.5;
        cov[1][0] = 0.5;
        cov[1][1] = 9.0;
        let t = TrackOutput {
            id: 42,
            label: "car".into(),
            class_index: 2,
            score: 0.9,
            state: TrackState::Confirmed,
            age_s: 1.0,
            hits: 5,
            time_since_update_s: 0.0,
            bbox: BBox::from_tlwh(0.0, 0.0, 10.0, 10.0),
            velocity_px_per_s: [1.0, -2.0],
            bbox_covariance: cov,
            observed_bbox: None,
        };
        let msg = Detection2DArray::from_tracks(&header(), std::slice::from_ref(&t));
        let det = &msg.detections[0];
        assert_eq!(det.id, "42");
        let pose = &det.results[0].pose;
        assert_eq!((pose.pose.position.x, pose.pose.position.y), (5.0, 5.0));
        assert_eq!(pose.covariance[0], 4.0);
        assert_eq!(pose.covariance[7], 9.0);
        assert_eq!(pose.covariance[1], 0.5);
        let json: serde_json::Value =
            serde_json::from_slice(&track_state_json(&header(), &[t]).unwrap()).unwrap();
        assert_eq!(json["stamp_ns"], 3_000_000_005i64);
        assert_eq!(json["tracks"][0]["id"], 42);
        assert_eq!(json["tracks"][0]["state"], "confirmed");
        assert_eq!(json["tracks"][0]["velocity_px_per_s"][1], -2.0);
    }
}
