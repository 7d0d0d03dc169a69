//! `--config FILE` and `--set KEY=VALUE`, shared by the subcommands that run the engine.
//!
//! Without `--config` the configuration is the parameter file built into the binary
//! ([`lookout::config::DEFAULT_PARAMS_YAML`], `configs/lookout.param.yaml` at build time): an
//! installed binary never reads the source tree it was compiled in. Which one was used is
//! logged at info level (stderr; `RUST_LOG=info`).

use std::path::{Path, PathBuf};

use clap::Args;
use lookout::config::Config;

/// Configuration shared by the subcommands that run the engine.
#[derive(Args)]
pub struct ConfigArgs {
    /// ROS 2 parameter file (`/**: ros__parameters:`); default: the built-in copy of
    /// configs/lookout.param.yaml.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// A partial parameter file laid over the configuration (repeatable, in order), as ROS 2
    /// merges several `--params-file`: e.g. `--overlay configs/pets09-view001.param.yaml`.
    #[arg(long, value_name = "FILE")]
    pub overlay: Vec<PathBuf>,
    /// Override one parameter, e.g. `--set detector.confidence_min=0.4` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

impl ConfigArgs {
    /// The built-in defaults with `overrides` (for subcommands without `--config`).
    pub fn defaults_with(overrides: Vec<String>) -> Self {
        Self {
            config: None,
            overlay: Vec::new(),
            overrides,
        }
    }

    /// Reads the file (or the built-in defaults), applies `--set` and then `extra` (the
    /// subcommand's own flags, which win), and validates.
    pub fn load(&self, extra: Vec<String>) -> anyhow::Result<Config> {
        let mut overrides = self.overrides.clone();
        overrides.extend(extra);
        let mut overlays = Vec::with_capacity(self.overlay.len());
        for path in &self.overlay {
            tracing::info!("config overlay: {}", path.display());
            overlays.push((read_config(path)?, path.clone()));
        }
        match &self.config {
            Some(path) => {
                tracing::info!("config: {}", path.display());
                Ok(Config::from_layers(
                    &read_config(path)?,
                    path,
                    &overlays,
                    &overrides,
                )?)
            }
            None => {
                tracing::info!("config: built-in defaults (configs/lookout.param.yaml)");
                Ok(Config::from_layers(
                    lookout::config::DEFAULT_PARAMS_YAML,
                    Path::new("<built-in configs/lookout.param.yaml>"),
                    &overlays,
                    &overrides,
                )?)
            }
        }
    }

    /// The files read: `--config` and every `--overlay` (no output may be one of them).
    pub fn files(&self) -> impl Iterator<Item = Option<&Path>> {
        std::iter::once(self.config.as_deref())
            .chain(self.overlay.iter().map(|p| Some(p.as_path())))
    }
}

fn read_config(path: &Path) -> Result<String, lookout::config::ConfigError> {
    lookout::capped_read::read_to_string_capped(path, lookout::capped_read::MAX_CONFIG_BYTES)
        .map_err(|source| lookout::config::ConfigError::Read {
            path: path.to_owned(),
            source,
        })
}

/// The name a `clap::ValueEnum` value is spelled with on the command line, which is also its
/// spelling in the parameter file: the form `--set`-style overrides take.
pub fn value_name<T: clap::ValueEnum>(value: &T) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout::detect::{ModelKind, Precision};
    use lookout::image_codec::RawEncoding;

    #[test]
    fn command_line_names_are_the_parameter_file_names() {
        // An override built from a flag must parse as the same value in the config.
        for m in [ModelKind::Yolov4Tiny, ModelKind::Yolov3Tiny] {
            assert_eq!(value_name(&m), m.name());
            let c = ConfigArgs::defaults_with(vec![format!("detector.model={}", value_name(&m))])
                .load(Vec::new())
                .unwrap();
            assert_eq!(c.detector.model, m);
        }
        for p in [Precision::F32, Precision::F16] {
            assert_eq!(
                serde_json::to_value(p).unwrap(),
                serde_json::Value::String(value_name(&p))
            );
        }
        assert_eq!(value_name(&RawEncoding::Bgr8), RawEncoding::Bgr8.as_str());
        assert_eq!(value_name(&RawEncoding::Rgb8), RawEncoding::Rgb8.as_str());
    }
}
