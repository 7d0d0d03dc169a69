//! Configuration: the ROS 2 parameter YAML in `configs/` (`/**: ros__parameters:`), parsed with
//! serde, overridden by command-line `key.path=value` pairs, then validated once.
//!
//! The same file is read by the ROS node (through ROS parameters, where nested maps become dotted
//! names such as `detector.confidence_min`) and by `lookout replay` (through this module), so it
//! is the single source of defaults. Unknown keys are rejected with the path of the key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A configuration that cannot be used; the message names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a ROS 2 parameter file: {message}")]
    Yaml { path: PathBuf, message: String },
    #[error("{path}: key `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
    /// A `key=value` override (the CLI's `--set`, or a flag that stands for one) that cannot be
    /// applied, or whose value is invalid: named by the override, not the file it overrides.
    #[error("--set {assignment}: {message}")]
    Override { assignment: String, message: String },
}

/// The whole validated configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the network runs: `cpu` or `cuda:N` (needs the `cuda` feature).
    #[serde(default)]
    pub device: DeviceSpec,
    /// Detector: model, input size, thresholds, class mapping.
    pub detector: crate::detect::DetectorConfig,
    /// Multi-object tracker thresholds (times in seconds of header-stamp time).
    pub tracking: crate::track::TrackerConfig,
    /// The detector profile (score thresholds, reported box's detection weight) that replaces
    /// `tracking`'s for detections from another detector (`lookout track` on MOTChallenge
    /// files); lookout's own detections use `tracking`'s.
    #[serde(default)]
    pub external_detections: crate::track::DetectorProfile,
    /// Camera-motion compensation: the image motion between frames, applied to the tracks.
    #[serde(default)]
    pub camera_motion: crate::motion::CameraMotionConfig,
    /// Ground-plane positions and velocities in `base_link` (camera calibration and pose).
    #[serde(default)]
    pub ground: crate::ground::GroundConfig,
    /// Offline replay options (`lookout replay`); ignored by the node.
    #[serde(default)]
    pub replay: ReplayConfig,
    /// The node's camera inputs; `lookout replay` selects topics from the recording instead.
    /// ROS parameters cannot hold a list of maps, so cameras are parallel lists.
    #[serde(default)]
    pub cameras: CamerasConfig,
    /// The node's `/diagnostics` options; ignored by `lookout replay`.
    #[serde(default)]
    pub diagnostics: DiagnosticsConfig,
    /// Limits on input images (read by `lookout replay`; the node decodes with the default).
    #[serde(default)]
    pub input: InputConfig,
}

/// Limits on what an input image may claim, checked before it is decoded.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputConfig {
    /// Most pixels (width * height) of one image; a bigger one is refused from its header or
    /// size fields before any pixel memory is allocated (a decompression bomb: a few KB that
    /// decode to gigabytes). Default [`crate::image_codec::DEFAULT_MAX_PIXELS`].
    pub max_pixels: u64,
}

impl Default for InputConfig {
    fn default() -> Self {
        Self {
            max_pixels: crate::image_codec::DEFAULT_MAX_PIXELS,
        }
    }
}

/// Where the network runs, parsed once from the `device` parameter (`cpu` or `cuda:N`);
/// [`crate::engine::select_device`] opens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeviceSpec {
    #[default]
    Cpu,
    /// A CUDA GPU by ordinal (needs the `cuda` feature to open).
    Cuda(usize),
}

/// A `device` value that is neither `cpu` nor `cuda:N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not `cpu` or `cuda:N`")]
pub struct DeviceSpecError(pub String);

impl std::str::FromStr for DeviceSpec {
    type Err = DeviceSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "cpu" {
            return Ok(Self::Cpu);
        }
        s.strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .map(Self::Cuda)
            .ok_or_else(|| DeviceSpecError(s.to_owned()))
    }
}

impl std::fmt::Display for DeviceSpec {
    /// The parameter's spelling (`cpu`, `cuda:N`), as messages and JSON outputs show it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(ordinal) => write!(f, "cuda:{ordinal}"),
        }
    }
}

impl Serialize for DeviceSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// How a camera's images arrive (`cameras.transports`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// `sensor_msgs/msg/Image`.
    #[default]
    Raw,
    /// `sensor_msgs/msg/CompressedImage` (JPEG or PNG).
    Compressed,
}

/// Options of `lookout replay`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplayConfig {
    /// Camera topics to process; empty means every `Image`/`CompressedImage` topic in the file.
    pub topics: Vec<String>,
    /// Copy the input images into the output file, so a viewer shows images and boxes together.
    pub write_images: bool,
    /// Write the tracker's output (`tracks` and the JSON `tracks/state` topics).
    pub write_tracks: bool,
    /// Write `foxglove.ImageAnnotations` (boxes, labels, track ids) per camera, so Foxglove
    /// overlays them on the image (`<base>/annotations`, JSON).
    pub write_annotations: bool,
    /// Log and skip frames that cannot be decoded instead of stopping the replay.
    pub skip_bad_frames: bool,
    /// Capacity of each bounded channel between stages (frames in flight per stage), in
    /// `[1, CHANNEL_CAPACITY_MAX]`.
    pub channel_capacity: usize,
}

/// Largest `replay.channel_capacity`. Memory in flight is about capacity x frame size per
/// channel (three channels): 64 decoded 4K frames are 1.6 GB per channel, and more frames in
/// flight do not make a pipeline of one thread per stage faster. (1e12 aborted the process on
/// the channel's allocation.)
pub const CHANNEL_CAPACITY_MAX: usize = 64;

/// Largest `diagnostics.silence_warn_s`: an hour (a silent camera unreported for longer is not
/// monitored; the value also becomes a `Duration`, which must not overflow).
pub const SILENCE_WARN_S_MAX: f64 = 3600.0;

impl Default for ReplayConfig {
    fn default() -> Self {
        Self {
            topics: Vec::new(),
            write_images: false,
            write_tracks: true,
            write_annotations: true,
            skip_bad_frames: false,
            channel_capacity: 4,
        }
    }
}

/// The node's cameras, as parallel lists (index i of each list describes camera i).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CamerasConfig {
    /// Image topics, e.g. `/camera/front/image_raw`.
    pub topics: Vec<String>,
    /// `raw` (`sensor_msgs/msg/Image`) or `compressed` (`sensor_msgs/msg/CompressedImage`), per topic.
    pub transports: Vec<Transport>,
    /// `frame_id` overrides per topic; an empty string keeps the image's own `frame_id`.
    pub frame_ids: Vec<String>,
}

impl Default for CamerasConfig {
    /// One raw camera on `/camera/image_raw`, keeping its `frame_id`.
    fn default() -> Self {
        Self {
            topics: vec!["/camera/image_raw".into()],
            transports: vec![Transport::Raw],
            frame_ids: vec![String::new()],
        }
    }
}

/// Options of the node's `/diagnostics` (`lookout_node` only).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiagnosticsConfig {
    /// Seconds a camera topic may have a matched publisher and yet deliver no image before the
    /// node reports it (WARN on `/diagnostics` and in the log, with a QoS/transport hint).
    pub silence_warn_s: f64,
}

impl Default for DiagnosticsConfig {
    fn default() -> Self {
        Self {
            silence_warn_s: 5.0,
        }
    }
}

impl Config {
    /// Reads a ROS 2 parameter file, applies `key.path=value` overrides, and validates the result.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let text =
            crate::capped_read::read_to_string_capped(path, crate::capped_read::MAX_CONFIG_BYTES)
                .map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
        Self::from_yaml_str(&text, path, overrides)
    }

    /// As [`Config::load`], from the file's text; `path` is only used in messages.
    pub fn from_yaml_str(
        text: &str,
        path: &Path,
        overrides: &[String],
    ) -> Result<Self, ConfigError> {
        Self::from_layers(text, path, &[], overrides)
    }

    /// A complete parameter file (`text`, read from `path`) with partial ones laid over it in
    /// order (`overlays`: text and path each), as ROS 2 merges several `--params-file`: maps
    /// merge key by key, any other value (number, string, list) replaces the one below. Then
    /// `overrides` apply and the result is validated once. An overlay can only set keys the
    /// configuration has (unknown keys are refused after the merge, as in one file).
    pub fn from_layers(
        text: &str,
        path: &Path,
        overlays: &[(String, PathBuf)],
        overrides: &[String],
    ) -> Result<Self, ConfigError> {
        let mut params = ros_parameters(text, path)?;
        for (overlay_text, overlay_path) in overlays {
            merge_parameters(&mut params, ros_parameters(overlay_text, overlay_path)?);
        }
        // Messages about the merged values name every file they came from.
        let shown;
        let path = if overlays.is_empty() {
            path
        } else {
            let mut names = vec![path.display().to_string()];
            names.extend(overlays.iter().map(|(_, p)| p.display().to_string()));
            shown = PathBuf::from(names.join(" + "));
            shown.as_path()
        };
        for assignment in overrides {
            apply_override(&mut params, assignment)?;
        }
        let config: Config = serde_path_to_error::deserialize(params)
            .map_err(|e| invalid(path, overrides, e.path().to_string(), e.inner().to_string()))?;
        config
            .validate()
            .map_err(|(key, message)| invalid(path, overrides, key, message))?;
        Ok(config)
    }

    /// Cross-field checks that serde cannot express; returns `(key, message)` on failure.
    fn validate(&self) -> Result<(), (String, String)> {
        self.detector.validate().map_err(|e| match e {
            crate::detect::DetectError::InvalidConfig { field, message } => {
                (format!("detector.{field}"), message)
            }
            e => ("detector".to_owned(), e.to_string()),
        })?;
        self.tracking.validate().map_err(|e| {
            (
                format!("tracking.{}", e.field),
                format!("{}: {}", e.value, e.expected),
            )
        })?;
        self.external_detections
            .applied_to(&self.tracking)
            .validate()
            .map_err(|e| {
                (
                    format!("external_detections.{}", e.field),
                    format!("{}: {}", e.value, e.expected),
                )
            })?;
        self.camera_motion
            .validate()
            .map_err(|e| ("camera_motion".to_owned(), e))?;
        self.ground
            .validate()
            .map_err(|(key, message)| (format!("ground.{key}"), message))?;
        let capacity = self.replay.channel_capacity;
        if !(1..=CHANNEL_CAPACITY_MAX).contains(&capacity) {
            return Err((
                "replay.channel_capacity".into(),
                format!(
                    "{capacity} is outside [1, {CHANNEL_CAPACITY_MAX}] (frames in flight per \
                     channel; memory grows with capacity x frame size)"
                ),
            ));
        }
        if self.input.max_pixels == 0 {
            return Err(("input.max_pixels".into(), "must be at least 1".into()));
        }
        let silence_s = self.diagnostics.silence_warn_s;
        if !(silence_s.is_finite() && silence_s > 0.0 && silence_s <= SILENCE_WARN_S_MAX) {
            return Err((
                "diagnostics.silence_warn_s".into(),
                format!("{silence_s:?} is not a number of seconds in (0, {SILENCE_WARN_S_MAX}]"),
            ));
        }
        let n = self.cameras.topics.len();
        for (key, len) in [
            ("cameras.transports", self.cameras.transports.len()),
            ("cameras.frame_ids", self.cameras.frame_ids.len()),
        ] {
            if len != n && len != 0 {
                return Err((
                    key.into(),
                    format!("has {len} entries but cameras.topics has {n}"),
                ));
            }
        }
        Ok(())
    }
}

/// An invalid `key`, named by the `--set` override that set it (the last one whose key is the
/// key or a map above or below it), or else by the file.
fn invalid(path: &Path, overrides: &[String], key: String, message: String) -> ConfigError {
    let covers = |set: &str| {
        let (long, short) = if set.len() >= key.len() {
            (set, key.as_str())
        } else {
            (key.as_str(), set)
        };
        long.strip_prefix(short)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    };
    let from_override = overrides.iter().rev().find(|assignment| {
        assignment
            .split_once('=')
            .is_some_and(|(set, _)| !set.is_empty() && !key.is_empty() && covers(set))
    });
    match from_override {
        Some(assignment) => ConfigError::Override {
            assignment: assignment.clone(),
            message: format!("key `{key}`: {message}"),
        },
        None => ConfigError::Invalid {
            path: path.to_owned(),
            key,
            message,
        },
    }
}

/// The `ros__parameters` map of the file's single node entry (`/**` or a node name).
fn ros_parameters(text: &str, path: &Path) -> Result<Value, ConfigError> {
    let yaml_err = |message: String| ConfigError::Yaml {
        path: path.to_owned(),
        message,
    };
    let doc: Value = serde_saphyr::from_str(text).map_err(|e| yaml_err(e.to_string()))?;
    let Value::Object(nodes) = doc else {
        return Err(yaml_err("the top level must be a map of node names".into()));
    };
    let mut entries = nodes.into_iter();
    let (node, section) = match (entries.next(), entries.next()) {
        (Some(entry), None) => entry,
        _ => {
            return Err(yaml_err(
                "expected exactly one node entry (e.g. `/**:`) at the top level".into(),
            ))
        }
    };
    let Value::Object(mut section) = section else {
        return Err(yaml_err(format!("`{node}` must be a map")));
    };
    let params = section
        .remove("ros__parameters")
        .ok_or_else(|| yaml_err(format!("`{node}` has no `ros__parameters`")))?;
    if let Some(key) = section.keys().next() {
        return Err(yaml_err(format!("unknown key `{node}.{key}`")));
    }
    Ok(params)
}

/// Lays `over` onto `base`: maps merge recursively, other values replace.
fn merge_parameters(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(below) => merge_parameters(below, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

/// Sets `a.b.c=value` in the parameter tree; the value is parsed as YAML (`0.4`, `true`, `[a, b]`).
fn apply_override(params: &mut Value, assignment: &str) -> Result<(), ConfigError> {
    let err = |message: &str| ConfigError::Override {
        assignment: assignment.to_owned(),
        message: message.to_owned(),
    };
    let (key, raw) = assignment
        .split_once('=')
        .ok_or_else(|| err("expected KEY=VALUE, e.g. detector.confidence_min=0.4"))?;
    let value: Value = if raw.trim().is_empty() {
        Value::String(String::new())
    } else {
        serde_saphyr::from_str(raw).map_err(|e| err(&e.to_string()))?
    };
    let mut node = params;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            return Err(err("empty key segment"));
        }
        let Value::Object(map) = node else {
            return Err(err("key goes through a value that is not a map"));
        };
        if i + 1 == parts.len() {
            map.insert((*part).to_owned(), value);
            return Ok(());
        }
        node = map
            .entry((*part).to_owned())
            .or_insert_with(|| Value::Object(Default::default()));
    }
    Err(err("empty key"))
}

/// The default parameter file shipped in `configs/`, built into the library: the CLI's
/// configuration without `--config`, so an installed binary never reads the checkout it was
/// compiled in.
pub const DEFAULT_PARAMS_YAML: &str = include_str!("../configs/lookout.param.yaml");

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, overrides: &[&str]) -> Result<Config, ConfigError> {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        Config::from_yaml_str(text, Path::new("test.yaml"), &o)
    }

    #[test]
    fn shipped_file_states_the_code_defaults() {
        // The YAML is the documented single source of defaults: it must not drift from the
        // structs' own defaults (which tests and library users get).
        let c = load(DEFAULT_PARAMS_YAML, &[]).unwrap();
        assert_eq!(c.device, DeviceSpec::Cpu);
        assert_eq!(c.detector, crate::detect::DetectorConfig::default());
        assert_eq!(c.tracking, crate::track::TrackerConfig::default());
        assert_eq!(
            c.camera_motion,
            crate::motion::CameraMotionConfig::default()
        );
        assert_eq!(c.cameras, CamerasConfig::default());
        assert_eq!(c.input, InputConfig::default());
    }

    #[test]
    fn unknown_key_is_rejected_with_its_path() {
        let text =
            DEFAULT_PARAMS_YAML.replace("ros__parameters:", "ros__parameters:\n    bogus_key: 1");
        let e = load(&text, &[]).unwrap_err().to_string();
        assert!(e.contains("bogus_key"), "{e}");
        let e = load(DEFAULT_PARAMS_YAML, &["detector.bogus=1"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("detector") && e.contains("bogus"), "{e}");
    }

    #[test]
    fn overrides_replace_values() {
        let c = load(
            DEFAULT_PARAMS_YAML,
            &["device=cuda:1", "replay.write_images=true"],
        )
        .unwrap();
        assert_eq!(c.device, DeviceSpec::Cuda(1));
        assert!(c.replay.write_images);
        let e = load(DEFAULT_PARAMS_YAML, &["device=gpu"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`device`") && e.contains("`gpu`"), "{e}");
        assert!(load(DEFAULT_PARAMS_YAML, &["no_equals_sign"]).is_err());
    }

    #[test]
    fn structure_errors_name_the_problem() {
        assert!(load("a: 1\nb: 2\n", &[])
            .unwrap_err()
            .to_string()
            .contains("exactly one"));
        assert!(load("/**:\n  x: 1\n", &[])
            .unwrap_err()
            .to_string()
            .contains("ros__parameters"));
        assert!(load(": : :\n", &[]).is_err());
    }

    #[test]
    fn enum_values_parse_once_and_print_as_written() {
        for (text, spec) in [
            ("cpu", DeviceSpec::Cpu),
            ("cuda:0", DeviceSpec::Cuda(0)),
            ("cuda:12", DeviceSpec::Cuda(12)),
        ] {
            assert_eq!(text.parse::<DeviceSpec>().unwrap(), spec);
            assert_eq!(spec.to_string(), text);
        }
        for bad in ["gpu", "cuda:", "cuda:x", "cuda:-1", "CPU"] {
            let e = bad.parse::<DeviceSpec>().unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
        let c = load(
            DEFAULT_PARAMS_YAML,
            &[
                "cameras.topics=[/a, /b]",
                "cameras.transports=[raw, compressed]",
                "cameras.frame_ids=[]",
            ],
        )
        .unwrap();
        assert_eq!(
            c.cameras.transports,
            [Transport::Raw, Transport::Compressed]
        );
        let e = load(
            DEFAULT_PARAMS_YAML,
            &["cameras.topics=[/a]", "cameras.transports=[h264]"],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("cameras.transports") && e.contains("h264"),
            "{e}"
        );
    }

    #[test]
    fn values_above_their_bounds_are_rejected_with_key_and_origin() {
        // From the file: the file and the key are named.
        let text = DEFAULT_PARAMS_YAML.replace("input_size_px: 416", "input_size_px: 96000");
        let e = load(&text, &[]).unwrap_err().to_string();
        assert!(
            e.contains("test.yaml") && e.contains("detector.input_size_px"),
            "{e}"
        );
        // From an override: the override is named, not the file.
        for (set, key) in [
            ("detector.input_size_px=4096", "detector.input_size_px"),
            (
                "replay.channel_capacity=1000000000000",
                "replay.channel_capacity",
            ),
            (
                "replay.channel_capacity=18446744073709551615",
                "replay.channel_capacity",
            ),
            ("tracking.max_age_s=1e300", "tracking.max_age_s"),
            (
                "diagnostics.silence_warn_s=1e300",
                "diagnostics.silence_warn_s",
            ),
            ("detector.max_detections=100000", "detector.max_detections"),
        ] {
            let e = load(DEFAULT_PARAMS_YAML, &[set]).unwrap_err().to_string();
            assert!(e.contains(&format!("--set {set}")), "{e}");
            assert!(e.contains(key) && !e.contains("test.yaml"), "{e}");
        }
        // A type error from an override, and a map set whole, are the override's too.
        let e = load(DEFAULT_PARAMS_YAML, &["replay.channel_capacity=-1"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--set replay.channel_capacity=-1"), "{e}");
        let e = load(DEFAULT_PARAMS_YAML, &["replay={channel_capacity: 0}"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--set replay="), "{e}");
        // An override of another key leaves the blame with the file.
        let e = load(&text, &["detector.top_k=10"]).unwrap_err().to_string();
        assert!(e.contains("test.yaml"), "{e}");
        let largest = load(
            DEFAULT_PARAMS_YAML,
            &["detector.input_size_px=2048", "replay.channel_capacity=64"],
        )
        .unwrap();
        assert_eq!(largest.replay.channel_capacity, CHANNEL_CAPACITY_MAX);
    }

    #[test]
    fn camera_lists_must_line_up() {
        let e = load(
            DEFAULT_PARAMS_YAML,
            &["cameras.topics=[/a, /b]", "cameras.transports=[raw]"],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cameras.transports"), "{e}");
    }

    #[test]
    fn overlays_merge_key_by_key_and_unknown_keys_are_refused() {
        let overlay = |text: &str| vec![(text.to_owned(), PathBuf::from("overlay.yaml"))];
        let c = Config::from_layers(
            DEFAULT_PARAMS_YAML,
            Path::new("base.yaml"),
            &overlay(
                "/**:\n  ros__parameters:\n    ground:\n      enabled: true\n      \
                 translation_m: [0.0, 0.0, 7.0]\n",
            ),
            &[],
        )
        .unwrap();
        let d = load(DEFAULT_PARAMS_YAML, &[]).unwrap();
        assert!(c.ground.enabled);
        assert_eq!(c.ground.translation_m, vec![0.0, 0.0, 7.0]);
        // Keys the overlay does not name keep the base file's values.
        assert_eq!(c.ground.accel_std_mps2, d.ground.accel_std_mps2);
        assert_eq!(c.tracking.max_age_s, d.tracking.max_age_s);
        let e = Config::from_layers(
            DEFAULT_PARAMS_YAML,
            Path::new("base.yaml"),
            &overlay("/**:\n  ros__parameters:\n    ground:\n      enable: true\n"),
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("base.yaml + overlay.yaml"), "{e}");
        assert!(e.to_string().contains("enable"), "{e}");
    }
}
