//! `lookout_node`: the ROS 2 node (feature `ros`). Camera topics in, `vision_msgs` out.
//!
//! ```text
//! lookout_node --ros-args --params-file configs/lookout.param.yaml [-r __ns:=/perception]
//! ```
//!
//! Glue only: the node lives in `lookout::ros::node`. Exit codes: 0 after SIGINT, SIGTERM or
//! SIGHUP (what a terminal, `ros2 launch`, systemd and docker send: each stops the node
//! cleanly), 1 when the node cannot start (bad parameters, model not found, ROS errors) or its
//! engine thread panicked (so that launch's `respawn` or a supervisor restarts it).

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn main() -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        // ctrlc's `termination` feature: SIGINT, SIGTERM and SIGHUP alike.
        if let Err(e) = ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed)) {
            eprintln!("lookout_node: cannot install the SIGINT/SIGTERM/SIGHUP handler: {e}");
            return ExitCode::FAILURE;
        }
    }
    match lookout::ros::node::run(stop) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Every `RosError` message already includes its cause.
            eprintln!("lookout_node: {e}");
            ExitCode::FAILURE
        }
    }
}
