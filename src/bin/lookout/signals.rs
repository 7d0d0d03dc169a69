//! SIGINT (Ctrl-C), SIGTERM and SIGHUP (what systemd, docker and `ros2 launch` send), all
//! handled alike (ctrlc's `termination` feature):
//!
//! - a subcommand that winds down ([`graceful_stop`]: `replay`): the first signal stops
//!   reading; everything read is processed and every output finished and renamed into place
//!   (exit 130). The second drops the frames still in flight and the mp4 encoding (ffmpeg is
//!   killed) and finishes the rest at once ([`lookout::output::request_abort`]).
//! - otherwise, and on a third signal: every unfinished output is removed (no temporary file
//!   left; a previous file at an output path is untouched), what was dropped is said, exit 130.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Context;

/// Whether the running subcommand winds down on a signal (else a signal exits at once).
static GRACEFUL: AtomicBool = AtomicBool::new(false);
static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Installs the handler, once, before any output is created.
pub fn install() -> anyhow::Result<()> {
    let stop = STOP
        .get_or_init(|| Arc::new(AtomicBool::new(false)))
        .clone();
    let count = AtomicU32::new(0);
    ctrlc::set_handler(move || {
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        let graceful = GRACEFUL.load(Ordering::SeqCst);
        if graceful && n == 1 {
            stop.store(true, Ordering::SeqCst);
            crate::errln!(
                "\nstopping: finishing the outputs with what was processed (interrupt again to drop the video and the frames in flight)"
            );
        } else if graceful && n == 2 {
            lookout::output::request_abort();
            crate::errln!(
                "stopping now: the frames in flight and the video are dropped, the MCAP and the small files finished (interrupt again to exit at once, dropping every unfinished output)"
            );
        } else {
            let dropped = lookout::output::remove_unfinished();
            if dropped.is_empty() {
                crate::errln!("\ninterrupted");
            } else {
                let names: Vec<String> =
                    dropped.iter().map(|p| p.display().to_string()).collect();
                crate::errln!(
                    "\ninterrupted: not written (unfinished, removed): {}",
                    names.join(", ")
                );
            }
            std::process::exit(130);
        }
    })
    .context("cannot install the handler of SIGINT, SIGTERM and SIGHUP")
}

/// The stop flag of a subcommand that winds down on a signal: stages poll it and finish,
/// leaving valid outputs.
pub fn graceful_stop() -> Arc<AtomicBool> {
    GRACEFUL.store(true, Ordering::SeqCst);
    STOP.get_or_init(|| Arc::new(AtomicBool::new(false)))
        .clone()
}
