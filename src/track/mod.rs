//! Multi-object tracking: Kalman filters on nalgebra, ByteTrack-style association.
//! (Scaffold: filled in by the tracker work.)

/// A tracker update that cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    #[error("singular innovation covariance for track {track_id}")]
    SingularInnovation { track_id: u64 },
}

/// Placeholder until the tracker lands.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TrackerConfig(pub serde_json::Value);

impl TrackerConfig {
    /// Placeholder validation.
    pub fn validate(&self) -> Result<(), (String, String)> {
        Ok(())
    }
}
