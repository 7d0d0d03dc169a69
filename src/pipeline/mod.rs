//! The replay engine. (Scaffold: being written.)

pub mod stats;

/// A pipeline that stopped.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("interrupted")]
    Interrupted,
}
