//! YOLO output decoding, class-aware NMS, class mapping, and the `Detector` stage.
//! (Scaffold placeholder; replaced by the detector work.)

/// Placeholder until the detector lands.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct DetectorConfig(pub serde_json::Value);

impl DetectorConfig {
    /// Placeholder validation.
    pub fn validate(&self) -> Result<(), (String, String)> {
        Ok(())
    }
}
