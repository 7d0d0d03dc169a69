//! A planner's view of lookout's ground objects: the smallest real integration. Reads the
//! `autoware_perception_msgs/TrackedObjects` topic (`<camera base>/objects/tracked`: positions
//! and velocities in `base_link` with covariances) of a `lookout replay` output and prints, per
//! frame, the nearest pedestrian in the ego lane and its time to collision at the ego's speed
//! (definitions: `lookout::ground::planner`).
//!
//! ```sh
//! lookout replay rec.mcap --out results.mcap --set ground.enabled=true   # with a calibration
//! cargo run --release --example planner_view -- results.mcap --ego-speed-mps 8 --lane-half-width-m 1.75
//! ```
//!
//! One line per frame, `key=value` fields (stamp in seconds):
//! `stamp_s=… id=… distance_m=… lateral_m=… vx_mps=… vy_mps=… closing_mps=… ttc_s=… ttc_std_s=…`
//! (`ttc_s=none`: not closing), or `stamp_s=… none` when the lane holds no pedestrian.
//! A live node's consumer does the same per message of the same topic.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use lookout::ground::planner::{nearest_pedestrian_in_lane, EgoLane, LaneThreat};
use lookout::mcap_io::McapTopicSource;
use lookout::msgs::{from_cdr, RosMessage, TrackedObjects};

/// Nearest pedestrian in the ego lane and its time to collision, per frame of a replay.
#[derive(Parser, Debug)]
#[command(name = "planner_view")]
pub struct Args {
    /// A `lookout replay` (or `lookout track --detections`) output MCAP with ground objects.
    pub replay: PathBuf,
    /// The TrackedObjects topic; default: the only one in the file.
    #[arg(long)]
    pub topic: Option<String>,
    /// The ego's speed along base_link x, m/s.
    #[arg(long, default_value_t = 8.0)]
    pub ego_speed_mps: f64,
    /// Half the ego lane's width, m.
    #[arg(long, default_value_t = 1.75)]
    pub lane_half_width_m: f64,
    /// x of the ego's front in base_link, m (Autoware's base_link is the rear axle).
    #[arg(long, default_value_t = 0.0)]
    pub front_m: f64,
}

/// What one frame shows the planner.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameView {
    pub stamp_s: f64,
    pub threat: Option<LaneThreat>,
}

impl std::fmt::Display for FrameView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stamp_s={:.3}", self.stamp_s)?;
        let Some(t) = &self.threat else {
            return write!(f, " none");
        };
        write!(
            f,
            " id={} distance_m={:.2} lateral_m={:.2} vx_mps={:.2} vy_mps={:.2} closing_mps={:.2}",
            t.id,
            t.distance_m,
            t.lateral_m,
            t.velocity_mps[0],
            t.velocity_mps[1],
            t.closing_speed_mps
        )?;
        match (t.ttc_s, t.ttc_std_s) {
            (Some(ttc), Some(std)) => write!(f, " ttc_s={ttc:.2} ttc_std_s={std:.2}"),
            _ => write!(f, " ttc_s=none"),
        }
    }
}

/// Every frame of the replay's TrackedObjects topic, through the planner's view.
pub fn planner_view(args: &Args) -> anyhow::Result<Vec<FrameView>> {
    let schema = TrackedObjects::SCHEMA_NAME;
    let topic = match &args.topic {
        Some(t) => t.clone(),
        None => only_topic(&args.replay, schema)?,
    };
    let lane = EgoLane {
        half_width_m: args.lane_half_width_m,
        front_m: args.front_m,
    };
    let mut frames = Vec::new();
    let source = McapTopicSource::open(&args.replay, schema, std::slice::from_ref(&topic))
        .with_context(|| format!("{}", args.replay.display()))?;
    for msg in source {
        let msg = msg?;
        let objects: TrackedObjects = from_cdr(&msg.data)
            .with_context(|| format!("{}: {topic} message {}", args.replay.display(), msg.index))?;
        frames.push(FrameView {
            stamp_s: objects.header.stamp.as_secs_f64(),
            threat: nearest_pedestrian_in_lane(&objects, &lane, args.ego_speed_mps),
        });
    }
    Ok(frames)
}

fn only_topic(path: &Path, schema: &str) -> anyhow::Result<String> {
    let topics = McapTopicSource::topics_with_schema(path, schema)
        .with_context(|| format!("{}", path.display()))?;
    match topics.as_slice() {
        [t] => Ok(t.clone()),
        [] => anyhow::bail!(
            "{}: no {schema} topic (replay with ground.enabled and a calibration)",
            path.display()
        ),
        _ => anyhow::bail!(
            "{}: several {schema} topics ({}): pick one with --topic",
            path.display(),
            topics.join(", ")
        ),
    }
}

#[allow(dead_code)] // tests/planner_view.rs includes this file for `planner_view`, not `main`.
fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.ego_speed_mps.is_finite()
            && args.lane_half_width_m.is_finite()
            && args.lane_half_width_m > 0.0
            && args.front_m.is_finite(),
        "--ego-speed-mps, --lane-half-width-m (> 0) and --front-m must be finite numbers"
    );
    for frame in planner_view(&args)? {
        println!("{frame}");
    }
    Ok(())
}
