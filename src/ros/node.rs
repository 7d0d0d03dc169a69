//! `lookout_node`'s wiring on r2r: subscriptions, the engine thread, publishers, diagnostics.
//!
//! Two threads:
//! * the **spin thread** (the caller's) owns the r2r node: it spins, moves each message (r2r's
//!   native raw image, or the compressed payload) undecoded into the camera's newest-frame slot
//!   ([`super::slot`]) and publishes `/diagnostics` once a second;
//! * the **engine thread** takes the newest frame of each camera in turn, decodes it (so a frame
//!   replaced by a newer one in its slot is never decoded, and decoding never holds up the
//!   spin thread; pixel limit `input.max_pixels`), runs the shared
//!   [`Engine`] (one tracker per camera topic), and publishes `detections`, `tracks` and, while
//!   someone subscribes to it, `debug/image`: the image `lookout replay --render` draws
//!   ([`crate::viz::render`]: same colours, labels, trails and overlay panel), converted to a
//!   `sensor_msgs/Image`.
//!
//! Latency series (milliseconds, in `/diagnostics`): `decode`, the engine's stages,
//! `engine` (the whole `Engine::process` call), `slot_wait` (time a frame waited for the engine),
//! `node_overhead` (message taken from rmw to outputs published, minus `engine` and
//! `slot_wait`: what the node itself costs), `end_to_end`, and `stamp_age` (ROS clock when the
//! message was taken minus its header stamp; follows `/clock` with `use_sim_time`).
//!
//! Silence (issue 17): once a second the spin thread counts the publishers on each camera topic
//! in the ROS graph (under its remapped name). A topic with a publisher that delivers no image
//! for `diagnostics.silence_warn_s` seconds is a WARN on `/diagnostics` and one log line with a
//! hint (QoS, transport, the Fast DDS profile), instead of silence: a best-effort image that the
//! transport cannot carry is dropped by DDS without an error anywhere.
//!
//! Ground plane (`ground.enabled`, [`crate::ground`]): with `ground.use_recording_calibration`
//! the spin thread also subscribes to each camera's `camera_info` (beside its image topic, the
//! camera's QoS) and to `/tf_static` (reliable, transient local), keeps the calibration state
//! ([`super::calibration::Calibrations`]) and hands each changed calibration to the engine
//! thread through a per-camera slot, which applies it before the camera's next frame
//! ([`Engine::set_calibration`]). A calibrated camera's frames also publish
//! `objects` (`vision_msgs/Detection3DArray`), `objects/tracked` (Autoware `TrackedObjects`) and
//! `objects/markers` (`visualization_msgs/MarkerArray`) in `ground.base_frame`; an uncalibrated
//! one publishes none of them (no empty arrays that would read as "no objects"). Without
//! `ground.enabled` nothing of this exists: no subscription, publisher or lock.
//!
//! Errors per camera (bad frames, engine failures, stamps going back) are counted in
//! `/diagnostics` and logged at most once per [`throttle::LOG_PERIOD`] per camera and kind, with
//! the number suppressed in between. Parameters are read once at start: `ros2 param set` is
//! refused ([`params::ReadOnlyParams`]) rather than accepted and ignored. A panic of the engine
//! thread stops the node with an error (exit status 1), so that launch's `respawn` restarts it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;
use futures::StreamExt;
use r2r::QosProfile;

use super::calibration::Calibrations;
use super::params::{self, Camera, NodeParams, ParamValue, Reliability, Transport};
use super::slot::{Slots, Taken};
use super::stats::{self, CameraStats, SilenceEvent, SilenceWatch};
use super::throttle::{self, LogThrottle};
use super::{convert, RosError};
use crate::engine::{Engine, FrameOutput, TimeEvent};
use crate::ground::{outputs as ground_outputs, GroundProjector};
use crate::msgs::{CompressedImage, Detection2DArray, Image, RosMessage};
use crate::stats::Stage;
use crate::types::{Frame, Header, RgbImage};
use crate::viz::render::{Overlay, RenderOptions, Renderer};

/// How the node is named before `--ros-args -r __node:=... -r __ns:=...` remapping.
pub const DEFAULT_NODE_NAME: &str = "lookout";

/// The topic of static transforms (the cameras' poses in the vehicle frame).
const TF_STATIC_TOPIC: &str = "/tf_static";

/// History depth of the `/tf_static` subscription (tf2's static listener keeps 100).
const TF_STATIC_DEPTH: usize = 100;

/// Calibrations waiting for the engine thread, one slot per camera (the newest wins).
type PendingCalibrations = Arc<Mutex<Vec<Option<GroundProjector>>>>;

/// How often the spin thread counts the publishers on the camera topics.
const GRAPH_CHECK_PERIOD: Duration = Duration::from_secs(1);

/// A camera message on its way from the subscription to the engine.
pub struct Pending {
    header: Header,
    payload: Payload,
    /// When the spin thread took the message from rmw.
    taken_at: Instant,
    /// Time spent decoding on the spin thread (only for loaned raw messages, see [`Payload`]).
    decode: Duration,
    /// When it was put into the camera's slot (waiting for the engine starts here).
    queued_at: Instant,
}

enum Payload {
    /// Decoded on the spin thread: a raw message rmw loaned (it must go back to rmw there).
    Decoded(RgbImage),
    /// A raw message as rmw delivered it, decoded on the engine thread.
    Native(NativeImage),
    Compressed {
        format: String,
        data: Vec<u8>,
    },
}

/// A raw camera message owned by the node, moved to the engine thread undecoded.
pub struct NativeImage(r2r::NativeMsg<r2r::sensor_msgs::msg::Image>);

// SAFETY: built only from a message that is not loaned (`is_loaned == false`, checked in
// `NativeImage::owned`): r2r allocated it with the type support's `create` and frees it with
// `destroy` when dropped, plain heap memory with no tie to the subscription, the node or the
// thread that took it. It is moved, never shared, so one thread at a time touches it.
unsafe impl Send for NativeImage {}

impl NativeImage {
    /// The message, when it is the node's own (not a loan that must go back to rmw on the
    /// spin thread).
    fn owned(msg: r2r::NativeMsg<r2r::sensor_msgs::msg::Image>) -> Result<Self, LoanedImage> {
        if msg.is_loaned {
            Err(LoanedImage(msg))
        } else {
            Ok(Self(msg))
        }
    }
}

/// The engine thread's throttled log lines of one camera, one per kind.
#[derive(Debug, Clone, Default)]
struct CameraLogs {
    bad_frame: LogThrottle,
    engine: LogThrottle,
    tracker_reset: LogThrottle,
}

/// A loaned raw message: decoded where it was taken.
struct LoanedImage(r2r::NativeMsg<r2r::sensor_msgs::msg::Image>);

fn rcl(what: impl Into<String>) -> impl FnOnce(r2r::Error) -> RosError {
    let what = what.into();
    move |source| RosError::Rcl { what, source }
}

type SharedStats = Arc<Mutex<Vec<CameraStats>>>;

fn with_stats<R>(stats: &SharedStats, f: impl FnOnce(&mut Vec<CameraStats>) -> R) -> R {
    // Stats are plain counters: a panic elsewhere leaves them usable.
    f(&mut stats.lock().unwrap_or_else(PoisonError::into_inner))
}

fn qos_profile(c: &Camera) -> QosProfile {
    let q = QosProfile::sensor_data().keep_last(c.qos.depth);
    match c.qos.reliability {
        Reliability::BestEffort => q.best_effort(),
        Reliability::Reliable => q.reliable(),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs the node until SIGINT/SIGTERM or until `stop` is set.
pub fn run(stop: Arc<AtomicBool>) -> Result<(), RosError> {
    let args: Vec<String> = std::env::args().collect();
    let params_file: Option<PathBuf> = params::params_file_from_args(&args);
    let ctx = r2r::Context::create().map_err(rcl("creating the ROS context"))?;
    let mut node = r2r::Node::create(ctx, DEFAULT_NODE_NAME, "")
        .map_err(rcl(format!("creating node `{DEFAULT_NODE_NAME}`")))?;
    let logger = node.logger().to_owned();
    let namespace = node.namespace().map_err(rcl("reading the namespace"))?;

    let received: BTreeMap<String, ParamValue> = node
        .params
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|(k, p)| (k.clone(), ParamValue::from(&p.value)))
        .collect();
    let NodeParams {
        config,
        cameras,
        use_sim_time,
    } = params::node_params(&received, &namespace, params_file.as_deref())?;

    // The parameter services (`ros2 param`) and, with `use_sim_time`, the `/clock` subscription.
    // Read-only: the engine is built from the parameters once; a change at run time is refused
    // with the reason instead of being accepted and silently ignored.
    let (param_services, _param_events) = node
        .make_derived_parameter_handler(Arc::new(Mutex::new(params::ReadOnlyParams)))
        .map_err(rcl("creating the parameter services"))?;

    let silence_warn_s = config.diagnostics.silence_warn_s;
    let max_pixels = config.input.max_pixels;
    let node_name = node.name().unwrap_or_else(|_| DEFAULT_NODE_NAME.into());
    let remaps = params::topic_remaps_from_args(&args);
    let graph_topics: Vec<String> = cameras
        .iter()
        .map(|c| params::resolved_topic(&c.topic, &namespace, &node_name, &remaps))
        .collect();

    let engine = Engine::new(&config).map_err(|e| RosError::Config {
        params_file: params_file.clone(),
        source: Box::new(e),
    })?;

    let slots: Arc<Slots<Pending>> = Arc::new(Slots::new(cameras.len()));
    let stats: SharedStats = Arc::new(Mutex::new(vec![CameraStats::default(); cameras.len()]));
    let ground = &config.ground;
    let calibrations = if ground.enabled && ground.use_recording_calibration {
        let overrides = cameras
            .iter()
            .map(|c| c.frame_id_override.clone())
            .collect();
        let state = Calibrations::new(ground, overrides).map_err(|e| RosError::Config {
            params_file: params_file.clone(),
            source: Box::new(e.into()),
        })?;
        Some(Arc::new(Mutex::new(state)))
    } else {
        None
    };
    let pending_calibrations: PendingCalibrations = Arc::new(Mutex::new(vec![None; cameras.len()]));
    if ground.enabled {
        with_stats(&stats, |s| {
            for (i, cam) in cameras.iter().enumerate() {
                s[i].calibration = Some(initial_calibration(
                    engine.calibration(&cam.topic).is_some(),
                    calibrations.is_some(),
                    cam,
                ));
            }
        });
    }
    let clock = node.get_ros_clock();
    let mut pool = LocalPool::new();
    let spawner = pool.spawner();
    spawner
        .spawn_local(param_services)
        .map_err(|e| RosError::Param {
            name: "(parameter services)".into(),
            message: e.to_string(),
        })?;

    let mut outputs = Vec::with_capacity(cameras.len());
    for (index, cam) in cameras.iter().enumerate() {
        let qos = qos_profile(cam);
        let mut on_message = {
            let slots = Arc::clone(&slots);
            let stats = Arc::clone(&stats);
            let clock = Arc::clone(&clock);
            let frame_id_override = cam.frame_id_override.clone();
            let logger = logger.clone();
            let mut throttle = LogThrottle::default();
            move |taken_at: Instant, decoded: Result<(Header, Payload), RosError>| {
                let now_ns = clock
                    .lock()
                    .ok()
                    .and_then(|mut c| c.get_now().ok())
                    .map(|d| d.as_nanos() as i64);
                let decode = taken_at.elapsed();
                match decoded {
                    Ok((mut header, payload)) => {
                        if let Some(id) = &frame_id_override {
                            header.frame_id.clone_from(id);
                        }
                        with_stats(&stats, |s| {
                            s[index].received += 1;
                            if let Some(now_ns) = now_ns {
                                let age_ns = now_ns - header.stamp.as_ns();
                                s[index].record_latency("stamp_age", age_ns as f64 * 1e-6);
                            }
                        });
                        slots.put(
                            index,
                            Pending {
                                header,
                                payload,
                                taken_at,
                                decode,
                                queued_at: Instant::now(),
                            },
                        );
                    }
                    Err(e) => {
                        let key = e.to_string();
                        if let Some(n) = throttle.admit(Instant::now(), throttle::LOG_PERIOD, &key)
                        {
                            let note = throttle::suppressed_note(n);
                            r2r::log_error!(&logger, "dropping a frame: {e}{note}");
                        }
                        with_stats(&stats, |s| {
                            s[index].received += 1;
                            s[index].decode_errors += 1;
                            s[index].last_error = Some(e.to_string());
                        });
                    }
                }
            }
        };
        match cam.transport {
            Transport::Raw => {
                let sub = node
                    .subscribe_native::<r2r::sensor_msgs::msg::Image>(&cam.topic, qos)
                    .map_err(rcl(format!("subscribing to {}", cam.topic)))?;
                let topic = cam.topic.clone();
                spawner
                    .spawn_local(sub.for_each(move |msg| {
                        let taken_at = Instant::now();
                        let header = convert::header_from_native(&msg.header);
                        let message = match NativeImage::owned(msg) {
                            Ok(native) => Ok((header, Payload::Native(native))),
                            Err(LoanedImage(loan)) => {
                                convert::image_from_native(&loan, &topic, max_pixels)
                                    .map(|img| (header, Payload::Decoded(img)))
                            }
                        };
                        on_message(taken_at, message);
                        futures::future::ready(())
                    }))
                    .map_err(|e| RosError::Param {
                        name: "cameras.topics".into(),
                        message: format!("{}: {e}", cam.topic),
                    })?;
            }
            Transport::Compressed => {
                let sub = node
                    .subscribe::<r2r::sensor_msgs::msg::CompressedImage>(&cam.topic, qos)
                    .map_err(rcl(format!("subscribing to {}", cam.topic)))?;
                spawner
                    .spawn_local(sub.for_each(move |msg| {
                        let taken_at = Instant::now();
                        let header = convert::header_from_r2r(&msg.header);
                        let payload = Payload::Compressed {
                            format: msg.format,
                            data: msg.data,
                        };
                        on_message(taken_at, Ok((header, payload)));
                        futures::future::ready(())
                    }))
                    .map_err(|e| RosError::Param {
                        name: "cameras.topics".into(),
                        message: format!("{}: {e}", cam.topic),
                    })?;
            }
        }
        if let Some(calibrations) = &calibrations {
            subscribe_camera_info(
                &mut node,
                &spawner,
                index,
                cam,
                Arc::clone(calibrations),
                Arc::clone(&pending_calibrations),
                Arc::clone(&stats),
                logger.clone(),
            )?;
        }
        let out_qos = QosProfile::default();
        let ground_outputs = if ground.enabled {
            let t = &cam.ground_topics;
            Some(GroundOutputs {
                objects: node
                    .create_publisher(&t.objects, out_qos.clone())
                    .map_err(rcl(format!("advertising {}", t.objects)))?,
                tracked: node
                    .create_publisher(&t.tracked, out_qos.clone())
                    .map_err(rcl(format!("advertising {}", t.tracked)))?,
                markers: node
                    .create_publisher(&t.markers, out_qos.clone())
                    .map_err(rcl(format!("advertising {}", t.markers)))?,
            })
        } else {
            None
        };
        outputs.push(CameraOutputs {
            camera: cam.clone(),
            detections: node
                .create_publisher(&cam.detections_topic, out_qos.clone())
                .map_err(rcl(format!("advertising {}", cam.detections_topic)))?,
            tracks: node
                .create_publisher(&cam.tracks_topic, out_qos.clone())
                .map_err(rcl(format!("advertising {}", cam.tracks_topic)))?,
            debug_image: node
                // Reliable, keep last 1: matches best-effort and reliable viewers, and a lost
                // fragment of a large image is resent instead of losing the whole image.
                .create_publisher(&cam.debug_image_topic, QosProfile::default().keep_last(1))
                .map_err(rcl(format!("advertising {}", cam.debug_image_topic)))?,
            ground: ground_outputs,
        });
        r2r::log_info!(
            &logger,
            "camera {} ({:?}, {:?}) -> {}, {}, {}",
            cam.topic,
            cam.transport,
            cam.qos,
            cam.detections_topic,
            cam.tracks_topic,
            cam.debug_image_topic
        );
    }

    if let Some(calibrations) = &calibrations {
        subscribe_tf_static(
            &mut node,
            &spawner,
            &cameras,
            Arc::clone(calibrations),
            Arc::clone(&pending_calibrations),
            Arc::clone(&stats),
            logger.clone(),
        )?;
    }

    let diagnostics = node
        .create_publisher::<r2r::diagnostic_msgs::msg::DiagnosticArray>(
            "/diagnostics",
            QosProfile::default(),
        )
        .map_err(rcl("advertising /diagnostics"))?;
    let mut diag_timer = node
        .create_wall_timer(Duration::from_secs(1))
        .map_err(rcl("creating the diagnostics timer"))?;
    {
        let stats = Arc::clone(&stats);
        let slots = Arc::clone(&slots);
        let clock = Arc::clone(&clock);
        let node_name = node_name.clone();
        let cameras = cameras.clone();
        let graph_topics = graph_topics.clone();
        let logger = logger.clone();
        spawner
            .spawn_local(async move {
                let mut before = vec![CameraStats::default(); cameras.len()];
                let mut watches = vec![SilenceWatch::default(); cameras.len()];
                let started = Instant::now();
                let mut last = Instant::now();
                while diag_timer.tick().await.is_ok() {
                    let now = with_stats(&stats, |s| s.clone());
                    let elapsed_s = last.elapsed().as_secs_f64();
                    last = Instant::now();
                    let now_s = started.elapsed().as_secs_f64();
                    let mut silences = Vec::with_capacity(cameras.len());
                    for (i, cam) in cameras.iter().enumerate() {
                        let n = &now[i];
                        let event =
                            watches[i].update(now_s, n.publishers, n.received, silence_warn_s);
                        let silence = watches[i].silent_s(now_s).map(|silent_s| {
                            silence_message(cam, &graph_topics[i], n, silent_s, silence_warn_s)
                        });
                        match (event, &silence) {
                            (Some(SilenceEvent::Started { .. }), Some(message)) => {
                                r2r::log_warn!(&logger, "{message}")
                            }
                            (Some(SilenceEvent::Ended), _) => {
                                r2r::log_info!(&logger, "{}: images arrive again", graph_topics[i])
                            }
                            _ => {}
                        }
                        silences.push(silence);
                    }
                    let stamp = clock
                        .lock()
                        .ok()
                        .and_then(|mut c| c.get_now().ok())
                        .unwrap_or_default();
                    let msg = diagnostics_msg(
                        &node_name, &cameras, &before, &now, &silences, &slots, elapsed_s, stamp,
                    );
                    if let Err(e) = diagnostics.publish(&msg) {
                        r2r::log_warn!(&logger, "cannot publish /diagnostics: {e}");
                    }
                    before = now;
                }
            })
            .map_err(|e| RosError::Param {
                name: "(diagnostics)".into(),
                message: e.to_string(),
            })?;
    }

    r2r::log_info!(
        &logger,
        "lookout_node up: {} camera(s), use_sim_time={use_sim_time}, params file {}",
        cameras.len(),
        params_file
            .as_deref()
            .map_or_else(|| "(none)".into(), |p| p.display().to_string())
    );

    let worker = {
        let slots = Arc::clone(&slots);
        let stats = Arc::clone(&stats);
        let logger = logger.clone();
        let ground = EngineGround {
            enabled: ground.enabled,
            base_frame: ground.base_frame.clone(),
            pending: calibrations.as_ref().map(|_| pending_calibrations),
        };
        std::thread::Builder::new()
            .name("lookout-engine".into())
            .spawn(move || {
                engine_loop(
                    engine, outputs, max_pixels, &ground, &slots, &stats, &logger,
                )
            })
            .map_err(|e| RosError::Param {
                name: "(engine thread)".into(),
                message: e.to_string(),
            })?
    };

    let mut graph_checked: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) && !worker.is_finished() {
        node.spin_once(Duration::from_millis(5));
        pool.run_until_stalled();
        if graph_checked.is_none_or(|t| t.elapsed() >= GRAPH_CHECK_PERIOD) {
            graph_checked = Some(Instant::now());
            count_publishers(&node, &cameras, &graph_topics, &stats, &logger);
        }
    }
    slots.close();
    engine_thread_result(worker.join()).inspect_err(|e| r2r::log_error!(&logger, "{e}"))
}

/// The node's result from how its engine thread ended: a panic is an error (exit status 1, so
/// that launch's `respawn` or a supervisor restarts the node), with the panic's message.
fn engine_thread_result(joined: std::thread::Result<()>) -> Result<(), RosError> {
    joined.map_err(|panic| RosError::EnginePanicked {
        message: panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_owned()),
    })
}

/// Counts the publishers on each camera topic in the ROS graph into the camera's stats.
fn count_publishers(
    node: &r2r::Node,
    cameras: &[Camera],
    graph_topics: &[String],
    stats: &SharedStats,
    logger: &str,
) {
    for (i, (cam, topic)) in cameras.iter().zip(graph_topics).enumerate() {
        let infos = match node.get_publishers_info_by_topic(topic, false) {
            Ok(infos) => infos,
            Err(e) => {
                // Rare (invalid name, rmw failure) and not the node's job: keep the last count.
                r2r::log_debug!(logger, "publishers on {topic}: {e}");
                continue;
            }
        };
        let expected = expected_type(cam.transport);
        let mut publishers = 0;
        let mut foreign: Vec<String> = Vec::new();
        for info in &infos {
            if info.topic_type == expected {
                publishers += 1;
            } else if !foreign.contains(&info.topic_type) {
                foreign.push(info.topic_type.clone());
            }
        }
        with_stats(stats, |s| {
            s[i].publishers = publishers;
            s[i].foreign_publisher_types = foreign;
        });
    }
}

/// The ROS type name a camera of this transport subscribes to, as the ROS graph spells it.
fn expected_type(transport: Transport) -> &'static str {
    match transport {
        Transport::Raw => Image::SCHEMA_NAME,
        Transport::Compressed => CompressedImage::SCHEMA_NAME,
    }
}

/// The `/diagnostics` message and log line for a camera whose publishers deliver nothing, with
/// what usually causes it for this transport and QoS.
fn silence_message(
    cam: &Camera,
    graph_topic: &str,
    stats: &CameraStats,
    silent_s: f64,
    warn_after_s: f64,
) -> String {
    let what = format!(
        "{} publisher(s) on {graph_topic} but no image for {silent_s:.0} s \
         (diagnostics.silence_warn_s: {warn_after_s} s)",
        stats.publishers
    );
    let reliable_override = format!(
        "publish reliable and set qos_overrides.{graph_topic}.subscription.reliability: reliable"
    );
    let hint = match (cam.qos.reliability, cam.transport) {
        (Reliability::Reliable, _) => format!(
            "this subscription is reliable (qos_overrides): a best-effort publisher does not \
             match it; remove the override (default best effort) or {reliable_override}"
        ),
        (Reliability::BestEffort, Transport::Raw) => format!(
            "a best-effort image larger than the publisher's Fast DDS shared-memory segment \
             (512 KiB by default) is dropped whole: start the camera driver with \
             FASTRTPS_DEFAULT_PROFILES_FILE=<lookout share>/configs/fastdds.xml (lookout's \
             launch files set it), or {reliable_override}, or use the compressed transport; \
             between hosts, best effort loses an image with any UDP fragment"
        ),
        (Reliability::BestEffort, Transport::Compressed) => format!(
            "check that the publisher sends, the transport between the hosts (UDP, \
             ROS_AUTOMATIC_DISCOVERY_RANGE), or {reliable_override}"
        ),
    };
    format!("{what}: {hint}")
}

/// The publishers of one camera (moved to the engine thread).
struct CameraOutputs {
    camera: Camera,
    detections: r2r::Publisher<r2r::vision_msgs::msg::Detection2DArray>,
    tracks: r2r::Publisher<r2r::vision_msgs::msg::Detection2DArray>,
    debug_image: r2r::Publisher<r2r::sensor_msgs::msg::Image>,
    /// With `ground.enabled`.
    ground: Option<GroundOutputs>,
}

/// The ground-plane publishers of one camera.
struct GroundOutputs {
    objects: r2r::Publisher<r2r::vision_msgs::msg::Detection3DArray>,
    tracked: r2r::Publisher<r2r::autoware_perception_msgs::msg::TrackedObjects>,
    markers: r2r::Publisher<r2r::visualization_msgs::msg::MarkerArray>,
}

/// What the engine thread needs of the ground stage.
struct EngineGround {
    enabled: bool,
    /// `ground.base_frame`: the frame of the objects' messages.
    base_frame: String,
    /// Calibrations from the ROS graph, when the node subscribes to them.
    pending: Option<PendingCalibrations>,
}

/// The `calibration` value in `/diagnostics` before any CameraInfo arrived.
fn initial_calibration(configured: bool, from_topics: bool, cam: &Camera) -> String {
    match (configured, from_topics) {
        (true, true) => format!(
            "configured (ground.camera_info_path and pose) until {} arrives",
            cam.camera_info_topic
        ),
        (true, false) => "configured (ground.camera_info_path and pose)".to_owned(),
        (false, true) => format!("none: waiting for {}", cam.camera_info_topic),
        (false, false) => "none: no ground.camera_info_path, and \
                           ground.use_recording_calibration is off"
            .to_owned(),
    }
}

/// Hands a calibration update to the engine thread and reports it.
fn apply_update(
    update: super::calibration::Update,
    camera_topic: &str,
    pending: &PendingCalibrations,
    stats: &SharedStats,
    logger: &str,
) {
    let description = update.describe();
    r2r::log_info!(logger, "{camera_topic}: calibration from {description}");
    let camera = update.camera;
    if let Some(slot) = pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_mut(camera)
    {
        *slot = Some(update.projector);
    }
    with_stats(stats, |s| {
        if let Some(s) = s.get_mut(camera) {
            s.calibration = Some(description);
        }
    });
}

/// Subscribes to a camera's `camera_info` (the camera's image QoS, as image_transport's
/// camera subscriber does): each changed calibration goes to the engine thread.
#[allow(clippy::too_many_arguments)] // one call site; the node's shared state
fn subscribe_camera_info(
    node: &mut r2r::Node,
    spawner: &futures::executor::LocalSpawner,
    index: usize,
    cam: &Camera,
    calibrations: Arc<Mutex<Calibrations>>,
    pending: PendingCalibrations,
    stats: SharedStats,
    logger: String,
) -> Result<(), RosError> {
    let topic = cam.camera_info_topic.clone();
    let sub = node
        .subscribe::<r2r::sensor_msgs::msg::CameraInfo>(&topic, qos_profile(cam))
        .map_err(rcl(format!("subscribing to {topic}")))?;
    let camera_topic = cam.topic.clone();
    let mut throttle = LogThrottle::default();
    spawner
        .spawn_local(sub.for_each(move |msg| {
            let result = convert::camera_info_from_r2r(&msg, &topic).and_then(|info| {
                calibrations
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .on_camera_info(index, &info)
                    .map_err(|e| RosError::BadInput {
                        topic: topic.clone(),
                        field: "sensor_msgs/msg/CameraInfo",
                        message: e.to_string(),
                    })
            });
            match result {
                Ok(Some(update)) => apply_update(update, &camera_topic, &pending, &stats, &logger),
                Ok(None) => {}
                Err(e) => {
                    let key = e.to_string();
                    if let Some(n) = throttle.admit(Instant::now(), throttle::LOG_PERIOD, &key) {
                        let note = throttle::suppressed_note(n);
                        r2r::log_error!(&logger, "camera calibration not used: {e}{note}");
                    }
                }
            }
            futures::future::ready(())
        }))
        .map_err(|e| RosError::Param {
            name: "cameras.topics".into(),
            message: format!("{}: {e}", cam.camera_info_topic),
        })
}

/// Subscribes to `/tf_static` (reliable, transient local: a static broadcaster publishes once,
/// and a late subscriber still gets it): each camera whose pose changes goes to the engine
/// thread.
fn subscribe_tf_static(
    node: &mut r2r::Node,
    spawner: &futures::executor::LocalSpawner,
    cameras: &[Camera],
    calibrations: Arc<Mutex<Calibrations>>,
    pending: PendingCalibrations,
    stats: SharedStats,
    logger: String,
) -> Result<(), RosError> {
    let qos = QosProfile::default()
        .reliable()
        .transient_local()
        .keep_last(TF_STATIC_DEPTH);
    let sub = node
        .subscribe::<r2r::tf2_msgs::msg::TFMessage>(TF_STATIC_TOPIC, qos)
        .map_err(rcl(format!("subscribing to {TF_STATIC_TOPIC}")))?;
    let topics: Vec<String> = cameras.iter().map(|c| c.topic.clone()).collect();
    let mut throttle = LogThrottle::default();
    spawner
        .spawn_local(sub.for_each(move |msg| {
            let tf = convert::tf_message_from_r2r(&msg);
            let result = calibrations
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .on_tf_static(&tf);
            match result {
                Ok(updates) => {
                    for update in updates {
                        let topic = topics.get(update.camera).cloned().unwrap_or_default();
                        apply_update(update, &topic, &pending, &stats, &logger);
                    }
                }
                Err(e) => {
                    let key = e.to_string();
                    if let Some(n) = throttle.admit(Instant::now(), throttle::LOG_PERIOD, &key) {
                        let note = throttle::suppressed_note(n);
                        r2r::log_error!(&logger, "{TF_STATIC_TOPIC} message not used: {e}{note}");
                    }
                }
            }
            futures::future::ready(())
        }))
        .map_err(|e| RosError::Param {
            name: TF_STATIC_TOPIC.into(),
            message: e.to_string(),
        })
}

fn engine_loop(
    mut engine: Engine,
    outputs: Vec<CameraOutputs>,
    max_pixels: u64,
    ground: &EngineGround,
    slots: &Slots<Pending>,
    stats: &SharedStats,
    logger: &str,
) {
    let mut indices = vec![0u64; outputs.len()];
    let mut logs = vec![CameraLogs::default(); outputs.len()];
    // One renderer for all cameras: it keeps each camera's trails apart (by topic).
    let mut renderer = Renderer::new(RenderOptions::default());
    loop {
        let (camera, pending) = match slots.take(Duration::from_millis(100)) {
            Taken::Frame { camera, item } => (camera, item),
            Taken::Timeout => continue,
            Taken::Closed => return,
        };
        let Some(out) = outputs.get(camera) else {
            continue;
        };
        let topic = &out.camera.topic;
        let slot_wait = pending.queued_at.elapsed();
        let Pending {
            header,
            payload,
            taken_at,
            mut decode,
            ..
        } = pending;
        let t = Instant::now();
        let decoded = match payload {
            Payload::Decoded(image) => Ok(image),
            Payload::Native(native) => convert::image_from_native(&native.0, topic, max_pixels),
            Payload::Compressed { format, data } => {
                convert::image_from_compressed(&format, &data, topic, max_pixels)
            }
        };
        decode += t.elapsed();
        let image = match decoded {
            Ok(image) => image,
            Err(e) => {
                let key = e.to_string();
                if let Some(n) =
                    logs[camera]
                        .bad_frame
                        .admit(Instant::now(), throttle::LOG_PERIOD, &key)
                {
                    let note = throttle::suppressed_note(n);
                    r2r::log_error!(logger, "dropping a frame: {e}{note}");
                }
                with_stats(stats, |s| {
                    s[camera].decode_errors += 1;
                    s[camera].last_error = Some(e.to_string());
                });
                continue;
            }
        };
        let frame = Frame {
            stream: topic.clone(),
            index: indices[camera],
            header,
            image,
        };
        indices[camera] += 1;

        // A calibration that arrived since this camera's last frame applies from this frame.
        if let Some(pending) = &ground.pending {
            let update = pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_mut(camera)
                .and_then(Option::take);
            if let Some(projector) = update {
                engine.set_calibration(topic, projector);
            }
        }
        let t = Instant::now();
        let result = engine.process(&frame);
        let engine_time = t.elapsed();
        let output = match result {
            Ok(o) => o,
            Err(e) => {
                let e = RosError::Engine {
                    topic: topic.clone(),
                    source: Box::new(e),
                };
                let key = e.to_string();
                if let Some(n) =
                    logs[camera]
                        .engine
                        .admit(Instant::now(), throttle::LOG_PERIOD, &key)
                {
                    let note = throttle::suppressed_note(n);
                    r2r::log_error!(logger, "frame {} dropped: {e}{note}", frame.index);
                }
                with_stats(stats, |s| {
                    s[camera].engine_errors += 1;
                    s[camera].last_error = Some(e.to_string());
                });
                continue;
            }
        };
        match output.time_event {
            Some(event @ TimeEvent::TrackerReset { .. }) => {
                // Keyed by kind: each reset's text names its stamps.
                let key = "tracker reset";
                if let Some(n) =
                    logs[camera]
                        .tracker_reset
                        .admit(Instant::now(), throttle::LOG_PERIOD, key)
                {
                    let note = throttle::suppressed_note(n);
                    r2r::log_warn!(logger, "{topic}: {event}{note}");
                }
                with_stats(stats, |s| s[camera].tracker_resets += 1);
            }
            // A driver stamping every frame alike would flood the log: counted, logged at debug.
            Some(event @ TimeEvent::DuplicateStamp { .. }) => {
                r2r::log_debug!(logger, "{topic}: {event}");
                with_stats(stats, |s| s[camera].duplicate_stamps += 1);
            }
            None => {}
        }
        // Without the ground stage: not even the lookup.
        let calibration = if ground.enabled {
            engine.calibration(topic)
        } else {
            None
        };
        let published = publish(
            out,
            &frame,
            &output,
            calibration.map(|p| (p, ground.base_frame.as_str())),
            &mut renderer,
            logger,
        );
        let end_to_end = taken_at.elapsed();
        with_stats(stats, |s| {
            let s = &mut s[camera];
            if published.outputs {
                s.published += 1;
            }
            if published.debug_image {
                s.debug_images += 1;
            }
            if published.objects {
                s.objects_published += 1;
            }
            s.record_latency("decode", ms(decode));
            for stage in Stage::ENGINE {
                let d = output.timings.get(stage);
                if !d.is_zero() {
                    s.record_latency(stage.name(), ms(d));
                }
            }
            s.record_latency("engine", ms(engine_time));
            s.record_latency("slot_wait", ms(slot_wait));
            s.record_latency(
                "node_overhead",
                ms(end_to_end.saturating_sub(engine_time + slot_wait)),
            );
            s.record_latency("end_to_end", ms(end_to_end));
        });
    }
}

/// What [`publish`] managed to send.
struct Published {
    /// Both `Detection2DArray`s went out.
    outputs: bool,
    /// A debug image was drawn and went out.
    debug_image: bool,
    /// The ground-plane objects went out (all three messages).
    objects: bool,
}

/// Publishes one frame's outputs (failures are logged).
/// `calibration`: the camera's calibration and `ground.base_frame`, when it has one and the
/// ground stage is on; its objects are published then, and only then.
fn publish(
    out: &CameraOutputs,
    frame: &Frame,
    output: &FrameOutput,
    calibration: Option<(&GroundProjector, &str)>,
    renderer: &mut Renderer,
    logger: &str,
) -> Published {
    // The same message builders `lookout replay` writes to MCAP, then a field-by-field copy.
    let dets = convert::detection_array_to_r2r(&Detection2DArray::from_detections(
        &frame.header,
        &output.detections,
    ));
    let tracks = convert::detection_array_to_r2r(&Detection2DArray::from_tracks(
        &frame.header,
        &output.tracks,
    ));
    let mut ok = true;
    let mut debug_image = false;
    for (name, msg, publisher) in [
        ("detections", &dets, &out.detections),
        ("tracks", &tracks, &out.tracks),
    ] {
        if let Err(e) = publisher.publish(msg) {
            r2r::log_warn!(
                logger,
                "cannot publish {} of {}: {e}",
                name,
                out.camera.topic
            );
            ok = false;
        }
    }
    let objects = match (&out.ground, calibration) {
        (Some(g), Some((projector, base_frame))) => {
            publish_objects(g, frame, output, projector, base_frame)
                .inspect_err(|e| {
                    r2r::log_warn!(
                        logger,
                        "cannot publish the objects of {}: {e}",
                        out.camera.topic
                    )
                })
                .is_ok()
        }
        _ => false,
    };
    // Drawing costs a copy of the image and a few ms: only while someone looks.
    let watchers = match out.debug_image.get_inter_process_subscription_count() {
        Ok(n) => n,
        Err(e) => {
            r2r::log_warn!(
                logger,
                "debug image of {}: subscriber count: {e}",
                out.camera.topic
            );
            0
        }
    };
    if watchers > 0 {
        let overlay = Overlay::of_stages(&Stage::ENGINE, &output.timings);
        let sent = renderer
            .draw_packed(frame, &output.detections, &output.tracks, &overlay)
            .map_err(|e| e.to_string())
            .and_then(|image| {
                out.debug_image
                    .publish(&convert::image_to_r2r(&frame.header, image))
                    .map_err(|e| e.to_string())
            });
        match sent {
            Ok(()) => debug_image = true,
            Err(e) => r2r::log_warn!(
                logger,
                "cannot publish debug image of {}: {e}",
                out.camera.topic
            ),
        }
    } else {
        // Trails restart when someone looks again, instead of jumping over the frames not drawn.
        renderer.forget_stream(&frame.stream);
    }
    Published {
        outputs: ok,
        debug_image,
        objects,
    }
}

/// Publishes one frame's ground-plane objects: the messages `lookout replay` writes
/// ([`ground_outputs`], frame `base_frame`, the image's stamp), and the markers of the same boxes.
fn publish_objects(
    g: &GroundOutputs,
    frame: &Frame,
    output: &FrameOutput,
    projector: &GroundProjector,
    base_frame: &str,
) -> Result<(), r2r::Error> {
    let header = ground_outputs::base_header(&frame.header, base_frame);
    let c = projector.pose.translation_m;
    let camera_xy_m = [c.x, c.y];
    let boxes = ground_outputs::detection3d_array(&header, &output.objects, camera_xy_m);
    let tracked =
        ground_outputs::tracked_objects(&header, &frame.stream, &output.objects, camera_xy_m);
    g.objects
        .publish(&convert::detection3d_array_to_r2r(&boxes))?;
    g.tracked
        .publish(&convert::tracked_objects_to_r2r(&tracked))?;
    g.markers
        .publish(&convert::object_markers(&boxes, &output.objects))?;
    Ok(())
}

#[allow(clippy::too_many_arguments)] // one call site; the values of one report
fn diagnostics_msg(
    node_name: &str,
    cameras: &[Camera],
    before: &[CameraStats],
    now: &[CameraStats],
    silences: &[Option<String>],
    slots: &Slots<Pending>,
    elapsed_s: f64,
    stamp: Duration,
) -> r2r::diagnostic_msgs::msg::DiagnosticArray {
    use r2r::diagnostic_msgs::msg::{DiagnosticArray, DiagnosticStatus, KeyValue};
    const OK: u8 = 0;
    const WARN: u8 = 1;
    const ERROR: u8 = 2;
    let status = cameras
        .iter()
        .enumerate()
        .map(|(i, cam)| {
            let (b, n) = (&before[i], &now[i]);
            let rates = stats::rates(b, n, elapsed_s);
            let new_decode_errors = n.decode_errors - b.decode_errors;
            let new_engine_errors = n.engine_errors - b.engine_errors;
            let (level, message) = if new_engine_errors > 0 {
                (ERROR, n.last_error.clone().unwrap_or_default())
            } else if new_decode_errors > 0 {
                (WARN, n.last_error.clone().unwrap_or_default())
            } else if let Some(Some(silence)) = silences.get(i) {
                (WARN, silence.clone())
            } else if n.received == 0 && !n.foreign_publisher_types.is_empty() {
                (
                    WARN,
                    format!(
                        "no images received yet: publishers on this topic send {}, the node \
                         expects {} (cameras.transports)",
                        n.foreign_publisher_types.join(", "),
                        expected_type(cam.transport)
                    ),
                )
            } else if n.received == 0 {
                (WARN, "no images received yet".to_owned())
            } else {
                (
                    OK,
                    format!("{:.1} Hz in, {:.1} Hz out", rates.input_hz, rates.output_hz),
                )
            };
            DiagnosticStatus {
                level,
                name: format!("{node_name}: {}", cam.topic),
                message,
                hardware_id: cam.topic.clone(),
                values: stats::key_values(n, slots.dropped(i), rates)
                    .into_iter()
                    .map(|(key, value)| KeyValue { key, value })
                    .collect(),
            }
        })
        .collect();
    DiagnosticArray {
        header: r2r::std_msgs::msg::Header {
            stamp: r2r::builtin_interfaces::msg::Time {
                sec: i32::try_from(stamp.as_secs()).unwrap_or(i32::MAX),
                nanosec: stamp.subsec_nanos(),
            },
            frame_id: String::new(),
        },
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ros::params::InputQos;

    fn camera(transport: Transport, reliability: Reliability) -> Camera {
        Camera {
            topic: "/cam/image_raw".into(),
            transport,
            frame_id_override: None,
            qos: InputQos {
                reliability,
                depth: 1,
            },
            detections_topic: "cam/detections".into(),
            tracks_topic: "cam/tracks".into(),
            debug_image_topic: "cam/debug/image".into(),
            camera_info_topic: "/cam/camera_info".into(),
            ground_topics: params::GroundTopics {
                objects: "cam/objects".into(),
                tracked: "cam/objects/tracked".into(),
                markers: "cam/objects/markers".into(),
            },
        }
    }

    #[test]
    fn silence_hints_fit_the_transport_and_qos() {
        let stats = CameraStats {
            publishers: 2,
            ..Default::default()
        };
        let topic = "/remapped/image_raw";
        let raw = silence_message(
            &camera(Transport::Raw, Reliability::BestEffort),
            topic,
            &stats,
            6.2,
            5.0,
        );
        assert!(
            raw.starts_with("2 publisher(s) on /remapped/image_raw but no image for 6 s"),
            "{raw}"
        );
        assert!(raw.contains("FASTRTPS_DEFAULT_PROFILES_FILE"), "{raw}");
        assert!(
            raw.contains("qos_overrides./remapped/image_raw.subscription.reliability: reliable"),
            "{raw}"
        );
        let reliable = silence_message(
            &camera(Transport::Raw, Reliability::Reliable),
            topic,
            &stats,
            6.0,
            5.0,
        );
        assert!(reliable.contains("does not match"), "{reliable}");
        let jpeg = silence_message(
            &camera(Transport::Compressed, Reliability::BestEffort),
            topic,
            &stats,
            6.0,
            5.0,
        );
        assert!(!jpeg.contains("shared-memory"), "{jpeg}");
        assert_eq!(
            expected_type(Transport::Compressed),
            "sensor_msgs/msg/CompressedImage"
        );
    }

    #[test]
    fn diagnostics_say_where_a_calibration_will_come_from() {
        let cam = camera(Transport::Raw, Reliability::BestEffort);
        assert_eq!(
            initial_calibration(false, true, &cam),
            "none: waiting for /cam/camera_info"
        );
        assert!(initial_calibration(true, true, &cam).ends_with("until /cam/camera_info arrives"));
        assert!(initial_calibration(true, false, &cam).starts_with("configured"));
        assert!(
            initial_calibration(false, false, &cam).starts_with("none: no ground.camera_info_path")
        );
    }

    #[test]
    fn an_engine_thread_panic_is_an_error_with_its_message() {
        assert!(engine_thread_result(Ok(())).is_ok());
        let joined = std::thread::spawn(|| panic!("engine broke on frame {}", 7)).join();
        let e = engine_thread_result(joined).unwrap_err();
        assert!(matches!(e, RosError::EnginePanicked { .. }), "{e}");
        assert!(e.to_string().contains("engine broke on frame 7"), "{e}");
        let joined = std::thread::spawn(|| std::panic::panic_any(3_u8)).join();
        assert!(engine_thread_result(joined)
            .unwrap_err()
            .to_string()
            .contains("no message"));
    }
}
