//! ROS parameters to lookout's [`Config`], and the node-only parameters.
//!
//! The node is started with `--ros-args --params-file configs/lookout.param.yaml` (the launch
//! files do this). rcl parses the file; r2r hands the node a flat map of dotted names
//! (`detector.confidence_min` -> `Double(0.25)`). This module rebuilds the nested tree from
//! those names and gives it to [`Config::from_yaml_str`], the parser `lookout replay` uses on
//! the file itself, so both read the same keys with the same defaults, validation and
//! unknown-key errors. Parameters set with `-p name:=value` or by a launch file take part too.
//!
//! Parameters that belong to ROS rather than to lookout are taken out first:
//! * `use_sim_time` (r2r's time source reads it);
//! * `qos_overrides./<topic>.subscription.{reliability,history,depth}`, the standard ROS 2
//!   QoS override parameters, for the camera subscriptions (default: sensor data QoS, best
//!   effort, keep last 1).
//!
//! The topic remap rules of the command line (`-r from:=to`, as launch files pass them) are read
//! here too, so that the node can look its camera topics up in the ROS graph under the names rcl
//! gave its subscriptions ([`resolved_topic`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::RosError;
use crate::config::Config;
/// How a camera's images arrive: parsed once, with the rest of the configuration.
pub use crate::config::Transport;
use crate::topics::OutputTopics;

/// A parameter value as rcl parses it from YAML (mirrors `r2r::ParameterValue`, without r2r so
/// that this module's logic is testable on plain values).
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    NotSet,
    Bool(bool),
    Integer(i64),
    Double(f64),
    String(String),
    BoolArray(Vec<bool>),
    IntegerArray(Vec<i64>),
    DoubleArray(Vec<f64>),
    StringArray(Vec<String>),
    ByteArray(Vec<u8>),
}

impl From<&r2r::ParameterValue> for ParamValue {
    fn from(v: &r2r::ParameterValue) -> Self {
        use r2r::ParameterValue as P;
        match v {
            P::NotSet => Self::NotSet,
            P::Bool(b) => Self::Bool(*b),
            P::Integer(i) => Self::Integer(*i),
            P::Double(d) => Self::Double(*d),
            P::String(s) => Self::String(s.clone()),
            P::BoolArray(a) => Self::BoolArray(a.clone()),
            P::IntegerArray(a) => Self::IntegerArray(a.clone()),
            P::DoubleArray(a) => Self::DoubleArray(a.clone()),
            P::StringArray(a) => Self::StringArray(a.clone()),
            P::ByteArray(a) => Self::ByteArray(a.clone()),
        }
    }
}

impl ParamValue {
    fn to_json(&self) -> Value {
        match self {
            Self::NotSet => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Integer(i) => Value::from(*i),
            Self::Double(d) => Value::from(*d),
            Self::String(s) => Value::String(s.clone()),
            Self::BoolArray(a) => Value::from(a.clone()),
            Self::IntegerArray(a) => Value::from(a.clone()),
            Self::DoubleArray(a) => Value::from(a.clone()),
            Self::StringArray(a) => Value::from(a.clone()),
            Self::ByteArray(a) => Value::from(a.clone()),
        }
    }
}

/// Reliability of a camera subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reliability {
    BestEffort,
    Reliable,
}

/// The QoS of one camera subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputQos {
    pub reliability: Reliability,
    /// History depth (keep last N).
    pub depth: usize,
}

impl Default for InputQos {
    /// Sensor data QoS: best effort, keep last 1.
    fn default() -> Self {
        Self {
            reliability: Reliability::BestEffort,
            depth: 1,
        }
    }
}

/// One camera input of the node.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    /// Input topic as configured (resolved against the node's namespace by rcl).
    pub topic: String,
    pub transport: Transport,
    /// Replaces the images' `frame_id` when set.
    pub frame_id_override: Option<String>,
    pub qos: InputQos,
    /// Output topics, relative to the node's namespace.
    pub detections_topic: String,
    pub tracks_topic: String,
    pub debug_image_topic: String,
    /// `sensor_msgs/CameraInfo` beside the image topic (as configured, like `topic`): read only
    /// with `ground.enabled` and `ground.use_recording_calibration`.
    pub camera_info_topic: String,
    /// Ground-plane outputs (`ground.enabled`), relative to the node's namespace.
    pub ground_topics: GroundTopics,
}

/// A camera's ground-plane output topics, relative to the node's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroundTopics {
    /// `vision_msgs/Detection3DArray`: `<base>/objects`, as `lookout replay` names it.
    pub objects: String,
    /// `autoware_perception_msgs/TrackedObjects`: `<base>/objects/tracked`, as in replay.
    pub tracked: String,
    /// `visualization_msgs/MarkerArray`: `<base>/objects/markers` (replay writes a
    /// `foxglove.SceneUpdate` on `<base>/objects/scene` instead; MCAP has no MarkerArray
    /// schema of lookout's).
    pub markers: String,
}

/// The node's parameter services (`ros2 param get/list/set`): every parameter reads back as the
/// node read it at start, and every change is refused with the reason. The engine (model,
/// tracker, cameras, QoS) is built once from the parameters; accepting a change that nothing
/// applies would tell the operator a setting is in force when it is not.
pub struct ReadOnlyParams;

/// Why `ros2 param set` is refused (the reason the caller sees).
pub const READ_ONLY_REASON: &str =
    "read-only while lookout_node runs: parameters are read once at \
     start; change the parameter file or the launch arguments and restart the node";

impl r2r::RosParams for ReadOnlyParams {
    fn register_parameters(
        &mut self,
        _prefix: &str,
        _param: Option<r2r::Parameter>,
        _params: &mut r2r::indexmap::IndexMap<String, r2r::Parameter>,
    ) -> r2r::Result<()> {
        // The parameters stay as the node was given them (file and command line).
        Ok(())
    }

    fn get_parameter(&mut self, param_name: &str) -> r2r::Result<r2r::ParameterValue> {
        // Not here: r2r then answers from the node's own table, the values given at start.
        Err(r2r::Error::InvalidParameterName {
            name: param_name.to_owned(),
        })
    }

    fn set_parameter(
        &mut self,
        param_name: &str,
        _param_val: &r2r::ParameterValue,
    ) -> r2r::Result<()> {
        Err(read_only(param_name))
    }

    fn check_parameter(
        &self,
        param_name: &str,
        _param_val: &r2r::ParameterValue,
    ) -> r2r::Result<()> {
        Err(read_only(param_name))
    }
}

/// The refusal of a change to `name` (r2r has no read-only error; its message carries ours).
fn read_only(name: &str) -> r2r::Error {
    r2r::Error::ParameterValueConv {
        name: name.to_owned(),
        msg: READ_ONLY_REASON.to_owned(),
    }
}

/// Everything the node needs from its parameters.
#[derive(Debug, Clone)]
pub struct NodeParams {
    pub config: Config,
    pub cameras: Vec<Camera>,
    pub use_sim_time: bool,
}

/// The value of `--params-file` in the process arguments (after `--ros-args`), for messages.
pub fn params_file_from_args(args: &[String]) -> Option<PathBuf> {
    let ros = args.iter().position(|a| a == "--ros-args")?;
    let rest = &args[ros + 1..];
    rest.windows(2)
        .find(|w| w[0] == "--params-file")
        .map(|w| PathBuf::from(&w[1]))
}

/// A topic remap rule from the command line: `--ros-args -r [node:]from:=to` (launch files pass
/// their `remappings` this way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRemap {
    /// Applies only to the node of this name when set.
    pub node: Option<String>,
    pub from: String,
    pub to: String,
}

/// The topic remap rules among the process arguments (`-r`/`--remap` inside `--ros-args` ...
/// `--`). Node and namespace remaps (`__node:=`, `__ns:=`) are not topic rules and are skipped.
pub fn topic_remaps_from_args(args: &[String]) -> Vec<TopicRemap> {
    let mut rules = Vec::new();
    let mut in_ros_args = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--ros-args" => in_ros_args = true,
            "--" => in_ros_args = false,
            "-r" | "--remap" if in_ros_args => {
                let Some(rule) = it.next() else { break };
                let Some((lhs, to)) = rule.split_once(":=") else {
                    continue;
                };
                // `node:from` names the node; a leading `/` or `~` starts the topic itself.
                let (node, from) = match lhs.split_once(':') {
                    Some((node, from)) if !node.starts_with('/') => (Some(node.to_owned()), from),
                    _ => (None, lhs),
                };
                if from.starts_with("__") {
                    continue;
                }
                rules.push(TopicRemap {
                    node,
                    from: from.to_owned(),
                    to: to.to_owned(),
                });
            }
            _ => {}
        }
    }
    rules
}

/// The fully qualified name rcl gives a subscription on `topic` in `namespace`: qualified, then
/// the first matching remap rule applied. This is the name the ROS graph lists the topic under
/// (graph queries are not remapped by rcl).
pub fn resolved_topic(
    topic: &str,
    namespace: &str,
    node_name: &str,
    remaps: &[TopicRemap],
) -> String {
    let qualified = qualified_topic(topic, namespace);
    remaps
        .iter()
        .filter(|r| r.node.as_deref().is_none_or(|n| n == node_name))
        .find(|r| qualified_topic(&r.from, namespace) == qualified)
        .map_or(qualified, |r| qualified_topic(&r.to, namespace))
}

/// Nested tree from dotted names: `{"a.b": 1, "a.c": 2}` -> `{"a": {"b": 1, "c": 2}}`.
/// A name that is both a value and a prefix of other names is an error.
pub fn tree_from_params(params: &BTreeMap<String, ParamValue>) -> Result<Value, RosError> {
    let mut root = Map::new();
    for (name, value) in params {
        let clash = || RosError::Param {
            name: name.clone(),
            message: "is both a value and a group of parameters".into(),
        };
        let parts: Vec<&str> = name.split('.').collect();
        let (last, groups) = parts.split_last().ok_or_else(clash)?;
        let mut node = &mut root;
        for part in groups {
            let entry = node
                .entry((*part).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            node = entry.as_object_mut().ok_or_else(clash)?;
        }
        if node.contains_key(*last) {
            return Err(clash());
        }
        node.insert((*last).to_owned(), value.to_json());
    }
    Ok(Value::Object(root))
}

/// The name the standard `qos_overrides` parameters use for a topic: fully qualified.
fn qualified_topic(topic: &str, namespace: &str) -> String {
    if topic.starts_with('/') {
        topic.to_owned()
    } else if namespace.is_empty() || namespace == "/" {
        format!("/{topic}")
    } else {
        format!("{}/{topic}", namespace.trim_end_matches('/'))
    }
}

fn qos_for(
    topic: &str,
    namespace: &str,
    params: &BTreeMap<String, ParamValue>,
) -> Result<InputQos, RosError> {
    let prefix = format!(
        "qos_overrides.{}.subscription.",
        qualified_topic(topic, namespace)
    );
    let mut qos = InputQos::default();
    for (name, value) in params.range(prefix.clone()..) {
        let Some(policy) = name.strip_prefix(&prefix) else {
            break;
        };
        let bad = |message: &str| RosError::Param {
            name: name.clone(),
            message: message.to_owned(),
        };
        match (policy, value) {
            ("reliability", ParamValue::String(s)) if s == "reliable" => {
                qos.reliability = Reliability::Reliable
            }
            ("reliability", ParamValue::String(s)) if s == "best_effort" => {
                qos.reliability = Reliability::BestEffort
            }
            ("reliability", _) => return Err(bad("expected `reliable` or `best_effort`")),
            ("depth", ParamValue::Integer(d)) if *d >= 1 => {
                qos.depth = usize::try_from(*d).map_err(|_| bad("depth too large"))?
            }
            ("depth", _) => return Err(bad("expected an integer >= 1")),
            ("history", ParamValue::String(s)) if s == "keep_last" => {}
            ("history", _) => {
                return Err(bad(
                    "only `keep_last` is supported: the node keeps the newest frame",
                ))
            }
            _ => {
                return Err(bad(
                    "unknown QoS policy (supported: reliability, depth, history)",
                ))
            }
        }
    }
    Ok(qos)
}

/// Output topics of a camera, relative to the node's namespace: the names `lookout replay`
/// gives them ([`OutputTopics::for_cameras`]: the input topic with its image suffix replaced,
/// or the whole input topic when two cameras would share the short name), without the leading
/// `/`, so that the node's namespace applies.
fn output_topics(out: &OutputTopics) -> (String, String, String) {
    let rel = |t: &str| t.trim_start_matches('/').to_owned();
    let base = out
        .detections
        .strip_suffix("/detections")
        .unwrap_or(&out.detections)
        .to_owned();
    (
        rel(&out.detections),
        rel(&out.tracks),
        rel(&format!("{base}/debug/image")),
    )
}

/// The ground-plane output topics of a camera, relative to the node's namespace.
fn ground_topics(out: &OutputTopics) -> GroundTopics {
    let rel = |t: &str| t.trim_start_matches('/').to_owned();
    GroundTopics {
        objects: rel(&out.objects),
        tracked: rel(&out.objects_autoware),
        markers: rel(&format!("{}/markers", out.objects)),
    }
}

/// Builds the node's parameters from the ROS parameters it received; `params_file` only names
/// the file in error messages.
pub fn node_params(
    params: &BTreeMap<String, ParamValue>,
    namespace: &str,
    params_file: Option<&Path>,
) -> Result<NodeParams, RosError> {
    let use_sim_time = match params.get("use_sim_time") {
        None | Some(ParamValue::NotSet) => false,
        Some(ParamValue::Bool(b)) => *b,
        Some(_) => {
            return Err(RosError::Param {
                name: "use_sim_time".into(),
                message: "expected a bool".into(),
            })
        }
    };
    let lookout_params: BTreeMap<String, ParamValue> = params
        .iter()
        .filter(|(k, _)| {
            k.as_str() != "use_sim_time"
                && !k.starts_with("qos_overrides.")
                && k.as_str() != "start_type_description_service"
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let tree = tree_from_params(&lookout_params)?;
    // JSON is YAML: hand the tree to the same parser `lookout replay` uses on the file.
    let mut ros_section = Map::new();
    ros_section.insert("ros__parameters".into(), tree);
    let mut doc = Map::new();
    doc.insert("/**".into(), Value::Object(ros_section));
    let text = Value::Object(doc).to_string();
    let origin = params_file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("<ROS parameters>"));
    let config = Config::from_yaml_str(&text, &origin, &[]).map_err(|source| RosError::Config {
        params_file: params_file.map(Path::to_path_buf),
        source: Box::new(source.into()),
    })?;

    let cams = &config.cameras;
    if cams.topics.is_empty() {
        return Err(RosError::Param {
            name: "cameras.topics".into(),
            message: "no camera topics: set cameras.topics (and cameras.transports) in the \
                      parameter file"
                .into(),
        });
    }
    let inputs: Vec<&str> = cams.topics.iter().map(String::as_str).collect();
    let outputs = OutputTopics::for_cameras(&inputs).map_err(|e| RosError::Param {
        name: "cameras.topics".into(),
        message: e.to_string(),
    })?;
    let mut cameras = Vec::with_capacity(cams.topics.len());
    for ((i, topic), out) in cams.topics.iter().enumerate().zip(&outputs) {
        // An empty `cameras.transports` means every camera is raw (validated in `Config`).
        let transport = cams.transports.get(i).copied().unwrap_or_default();
        let frame_id_override = cams.frame_ids.get(i).filter(|f| !f.is_empty()).cloned();
        let (detections_topic, tracks_topic, debug_image_topic) = output_topics(out);
        cameras.push(Camera {
            topic: topic.clone(),
            transport,
            frame_id_override,
            qos: qos_for(topic, namespace, params)?,
            detections_topic,
            tracks_topic,
            debug_image_topic,
            camera_info_topic: crate::topics::camera_info_topic(topic),
            ground_topics: ground_topics(out),
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for c in &cameras {
        if !seen.insert(c.detections_topic.clone()) {
            return Err(RosError::Param {
                name: "cameras.topics".into(),
                message: format!(
                    "two cameras would publish on `{}`: give each camera its own topic namespace",
                    c.detections_topic
                ),
            });
        }
    }
    Ok(NodeParams {
        config,
        cameras,
        use_sim_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, ParamValue)]) -> BTreeMap<String, ParamValue> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    /// The shipped parameter file as rcl hands it to the node: flat dotted names.
    fn flat_params(yaml: &str) -> BTreeMap<String, ParamValue> {
        fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, ParamValue>) {
            let value = match v {
                Value::Object(map) => {
                    for (k, child) in map {
                        let name = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        walk(&name, child, out);
                    }
                    return;
                }
                Value::Bool(b) => ParamValue::Bool(*b),
                Value::Number(n) if n.is_i64() => ParamValue::Integer(n.as_i64().unwrap()),
                Value::Number(n) => ParamValue::Double(n.as_f64().unwrap()),
                Value::String(s) => ParamValue::String(s.clone()),
                // rcl types a YAML list by its elements: numbers give a double array (e.g.
                // `ground.translation_m`), strings a string array.
                Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_number) => {
                    ParamValue::DoubleArray(a.iter().map(|x| x.as_f64().unwrap()).collect())
                }
                Value::Array(a) => ParamValue::StringArray(
                    a.iter().map(|x| x.as_str().unwrap().to_owned()).collect(),
                ),
                Value::Null => ParamValue::NotSet,
            };
            out.insert(prefix.to_owned(), value);
        }
        let doc: Value = serde_saphyr::from_str(yaml).unwrap();
        let mut out = BTreeMap::new();
        walk("", &doc["/**"]["ros__parameters"], &mut out);
        out
    }

    fn with_cameras(mut p: BTreeMap<String, ParamValue>) -> BTreeMap<String, ParamValue> {
        p.insert(
            "cameras.topics".into(),
            ParamValue::StringArray(vec![
                "/a/image_raw".into(),
                "/b/image_raw/compressed".into(),
            ]),
        );
        p.insert(
            "cameras.transports".into(),
            ParamValue::StringArray(vec!["raw".into(), "compressed".into()]),
        );
        p.insert(
            "cameras.frame_ids".into(),
            ParamValue::StringArray(vec!["".into(), "b_optical".into()]),
        );
        p
    }

    #[test]
    fn ros_parameters_give_the_same_config_as_the_file() {
        let yaml = crate::config::DEFAULT_PARAMS_YAML;
        let mut params = with_cameras(flat_params(yaml));
        params.insert("use_sim_time".into(), ParamValue::Bool(true));
        params.insert(
            "qos_overrides./b/image_raw/compressed.subscription.reliability".into(),
            ParamValue::String("reliable".into()),
        );
        let node = node_params(&params, "/", None).unwrap();
        let from_file = Config::from_yaml_str(yaml, Path::new("x.yaml"), &[]).unwrap();
        // Everything but the cameras comes out exactly as `lookout replay` reads the file.
        let mut node_config = node.config.clone();
        node_config.cameras = from_file.cameras.clone();
        assert_eq!(format!("{node_config:?}"), format!("{from_file:?}"));
        assert!(node.use_sim_time);
        assert_eq!(node.cameras.len(), 2);
        assert_eq!(node.cameras[0].transport, Transport::Raw);
        assert_eq!(node.cameras[0].frame_id_override, None);
        assert_eq!(node.cameras[0].qos, InputQos::default());
        assert_eq!(node.cameras[1].transport, Transport::Compressed);
        assert_eq!(
            node.cameras[1].frame_id_override.as_deref(),
            Some("b_optical")
        );
        assert_eq!(node.cameras[1].qos.reliability, Reliability::Reliable);
        assert_eq!(node.cameras[1].detections_topic, "b/detections");
    }

    #[test]
    fn invalid_parameters_are_rejected_with_their_name() {
        let yaml = crate::config::DEFAULT_PARAMS_YAML;
        // No cameras at all: the node has nothing to do.
        let mut p = flat_params(yaml);
        for key in ["cameras.topics", "cameras.transports", "cameras.frame_ids"] {
            p.insert(key.into(), ParamValue::StringArray(Vec::new()));
        }
        let e = node_params(&p, "/", None).unwrap_err().to_string();
        assert!(e.contains("cameras.topics"), "{e}");
        let mut p = with_cameras(flat_params(yaml));
        p.insert("detector.bogus_key".into(), ParamValue::Integer(1));
        let e = node_params(&p, "/", Some(Path::new("my.yaml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus_key") && e.contains("my.yaml"), "{e}");
        let mut p = with_cameras(flat_params(yaml));
        p.insert(
            "cameras.transports".into(),
            ParamValue::StringArray(vec!["raw".into(), "h264".into()]),
        );
        let e = node_params(&p, "/", None).unwrap_err().to_string();
        assert!(e.contains("h264"), "{e}");
        let mut p = with_cameras(flat_params(yaml));
        p.insert("use_sim_time".into(), ParamValue::String("yes".into()));
        assert!(node_params(&p, "/", None).is_err());
    }

    #[test]
    fn tree_nests_dotted_names() {
        let t = tree_from_params(&p(&[
            ("a.b", ParamValue::Integer(1)),
            ("a.c", ParamValue::StringArray(vec!["x".into()])),
            ("d", ParamValue::Double(0.5)),
        ]))
        .unwrap();
        assert_eq!(t, serde_json::json!({"a": {"b": 1, "c": ["x"]}, "d": 0.5}));
    }

    #[test]
    fn tree_rejects_value_and_group_clash() {
        let e = tree_from_params(&p(&[
            ("a", ParamValue::Integer(1)),
            ("a.b", ParamValue::Integer(2)),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("`a.b`"), "{e}");
    }

    #[test]
    fn params_file_is_found_after_ros_args() {
        let args: Vec<String> = [
            "node",
            "--ros-args",
            "-r",
            "a:=b",
            "--params-file",
            "f.yaml",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(params_file_from_args(&args), Some(PathBuf::from("f.yaml")));
        assert_eq!(params_file_from_args(&args[..1]), None);
    }

    #[test]
    fn remapped_topics_resolve_as_rcl_resolves_them() {
        let args: Vec<String> = [
            "lookout_node",
            "--ros-args",
            "-r",
            "__ns:=/perception",
            "-r",
            "/camera/image_raw:=/sensing/front/image_raw",
            "--remap",
            "other_node:/a:=/b",
            "-r",
            "rel/image:=abs",
            "--",
            "-r",
            "/ignored:=/after_ros_args",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let remaps = topic_remaps_from_args(&args);
        assert_eq!(remaps.len(), 3, "{remaps:?}");
        assert_eq!(remaps[1].node.as_deref(), Some("other_node"));
        let resolve = |t: &str| resolved_topic(t, "/perception", "lookout", &remaps);
        assert_eq!(resolve("/camera/image_raw"), "/sensing/front/image_raw");
        // Another node's rule does not apply; relative names resolve in the namespace.
        assert_eq!(resolve("/a"), "/a");
        assert_eq!(resolve("rel/image"), "/perception/abs");
        assert_eq!(resolve("/ignored"), "/ignored");
        assert_eq!(resolved_topic("cam", "/", "lookout", &[]), "/cam");
    }

    #[test]
    fn parameters_are_read_only_at_run_time() {
        use r2r::RosParams;
        let mut p = ReadOnlyParams;
        let e = p
            .set_parameter("detector.confidence_min", &r2r::ParameterValue::Double(0.1))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("detector.confidence_min") && e.contains("read-only"),
            "{e}"
        );
        assert!(p.get_parameter("detector.confidence_min").is_err());
    }

    #[test]
    fn output_topics_follow_the_input_topic() {
        let one = |t: &str| output_topics(&OutputTopics::for_camera(t));
        let (d, t, i) = one("/cam/front/image_raw/compressed");
        assert_eq!(
            (d.as_str(), t.as_str(), i.as_str()),
            (
                "cam/front/detections",
                "cam/front/tracks",
                "cam/front/debug/image"
            )
        );
        let g = ground_topics(&OutputTopics::for_camera("/cam/front/image_raw/compressed"));
        assert_eq!(
            (g.objects.as_str(), g.tracked.as_str(), g.markers.as_str()),
            (
                "cam/front/objects",
                "cam/front/objects/tracked",
                "cam/front/objects/markers"
            )
        );
        assert_eq!(
            crate::topics::camera_info_topic("/cam/front/image_raw/compressed"),
            "/cam/front/camera_info"
        );
        assert_eq!(one("/left/image").0, "left/detections");
        assert_eq!(one("/image_raw").0, "lookout/detections");
        assert_eq!(one("/camera").0, "camera/detections");
        // One camera on both transports: each named after its full input topic, as in replay.
        let both =
            OutputTopics::for_cameras(&["/cam/image_raw", "/cam/image_raw/compressed"]).unwrap();
        assert_eq!(output_topics(&both[0]).0, "cam/image_raw/detections");
        assert_eq!(
            output_topics(&both[1]).0,
            "cam/image_raw/compressed/detections"
        );
    }

    #[test]
    fn qos_overrides_are_read_for_the_qualified_topic() {
        let params = p(&[
            (
                "qos_overrides./ns/cam/image_raw.subscription.reliability",
                ParamValue::String("reliable".into()),
            ),
            (
                "qos_overrides./ns/cam/image_raw.subscription.depth",
                ParamValue::Integer(5),
            ),
            (
                "qos_overrides./other.subscription.depth",
                ParamValue::Integer(9),
            ),
        ]);
        let q = qos_for("cam/image_raw", "/ns", &params).unwrap();
        assert_eq!(
            q,
            InputQos {
                reliability: Reliability::Reliable,
                depth: 5
            }
        );
        assert_eq!(qos_for("/x", "/ns", &params).unwrap(), InputQos::default());
        let bad = p(&[(
            "qos_overrides./x.subscription.reliability",
            ParamValue::String("sometimes".into()),
        )]);
        assert!(qos_for("/x", "/", &bad).is_err());
    }
}
