//! MOTChallenge text files: public detections in, tracker results out.
//! (Scaffold: filled in by the tracker work.)

/// A MOTChallenge file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum MotError {
    #[error("{path}:{line}: {message}")]
    Parse {
        path: std::path::PathBuf,
        line: usize,
        message: String,
    },
}
