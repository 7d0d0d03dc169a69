//! The replay engine. (Scaffold.)

/// A pipeline that stopped.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("interrupted")]
    Interrupted,
}
