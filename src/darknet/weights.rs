//! Darknet `.weights` reader: the header, then per `[convolutional]` layer in cfg order the
//! biases, (with batch-norm: scales, rolling means, rolling variances) and the kernel, all
//! little-endian `f32` (darknet's `load_convolutional_weights`).
//!
//! The file must hold exactly the floats the cfg asks for: too few or too many is a
//! [`DarknetError`] naming both files and the layer, never a panic or a silently half-loaded net.

use std::path::Path;

use super::cfg::{Layer, NetConfig};
use super::DarknetError;

/// The `.weights` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightsHeader {
    pub major: i32,
    pub minor: i32,
    pub revision: i32,
    /// Images seen in training (stored as u64 from format 0.2 on, u32 before).
    pub seen: u64,
}

/// Batch-norm statistics of one convolution, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm {
    pub scales: Vec<f32>,
    pub rolling_mean: Vec<f32>,
    pub rolling_var: Vec<f32>,
}

/// The stored parameters of one `[convolutional]` layer.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvWeights {
    /// `filters` biases (the batch-norm shift when `bn` is present).
    pub biases: Vec<f32>,
    pub bn: Option<BatchNorm>,
    /// Kernel, `filters x (in_channels / groups) x size x size`, row-major.
    pub kernel: Vec<f32>,
    /// Kernel shape `[filters, in_channels / groups, size, size]`.
    pub kernel_shape: [usize; 4],
}

/// All parameters of a network: one entry per cfg layer, `Some` for convolutions.
#[derive(Debug, Clone)]
pub struct NetWeights {
    pub header: WeightsHeader,
    pub layers: Vec<Option<ConvWeights>>,
}

/// Darknet's epsilon inside the square root of the batch-norm variance (AlexeyAB's
/// `normalize_cpu`: `(x - mean) / sqrt(var + .00001f)`). OpenCV's importer uses 1e-6; the
/// difference is far below the parity tolerances.
pub const BATCH_NORM_EPS: f32 = 1e-5;

impl ConvWeights {
    /// The kernel and bias with batch-norm folded in:
    /// `w' = w * s / sqrt(var + eps)`, `b' = b - mean * s / sqrt(var + eps)`.
    pub fn folded(&self) -> (Vec<f32>, Vec<f32>) {
        let Some(bn) = &self.bn else {
            return (self.kernel.clone(), self.biases.clone());
        };
        let filters = self.biases.len();
        let per_filter = self.kernel.len() / filters.max(1);
        let mut kernel = self.kernel.clone();
        let mut bias = Vec::with_capacity(filters);
        for f in 0..filters {
            let k = bn.scales[f] / (bn.rolling_var[f] + BATCH_NORM_EPS).sqrt();
            for w in &mut kernel[f * per_filter..(f + 1) * per_filter] {
                *w *= k;
            }
            bias.push(self.biases[f] - bn.rolling_mean[f] * k);
        }
        (kernel, bias)
    }
}

/// Reads a `.weights` file for the network `cfg` (parsed from `cfg_path`).
pub fn load_weights(
    cfg: &NetConfig,
    cfg_path: &Path,
    weights_path: &Path,
) -> Result<NetWeights, DarknetError> {
    let bytes = std::fs::read(weights_path).map_err(|source| DarknetError::Io {
        path: weights_path.to_path_buf(),
        source,
    })?;
    parse_weights(cfg, &bytes, cfg_path, weights_path)
}

/// Parses `.weights` bytes for `cfg`; the paths only name the sources in errors.
pub fn parse_weights(
    cfg: &NetConfig,
    bytes: &[u8],
    cfg_path: &Path,
    weights_path: &Path,
) -> Result<NetWeights, DarknetError> {
    let header_err = |message: String| DarknetError::WeightsHeader {
        path: weights_path.to_path_buf(),
        message,
    };
    let i32_at = |at: usize| -> Option<i32> {
        let b = bytes.get(at..at + 4)?;
        Some(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (Some(major), Some(minor), Some(revision)) = (i32_at(0), i32_at(4), i32_at(8)) else {
        return Err(header_err(format!(
            "{} bytes is shorter than the 12-byte version header",
            bytes.len()
        )));
    };
    // darknet: `seen` is a size_t from version 0.2 on (unless the version fields are the
    // transposed-format markers above 1000), an int before.
    let seen_is_u64 = major * 10 + minor >= 2 && major < 1000 && minor < 1000;
    let (seen, body_start) = if seen_is_u64 {
        let b = bytes
            .get(12..20)
            .ok_or_else(|| header_err("file ends inside the 20-byte header".into()))?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        (u64::from_le_bytes(a), 20)
    } else {
        let b = bytes
            .get(12..16)
            .ok_or_else(|| header_err("file ends inside the 16-byte header".into()))?;
        (u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])), 16)
    };
    let header = WeightsHeader {
        major,
        minor,
        revision,
        seen,
    };

    let body = &bytes[body_start..];
    let total_floats = body.len() / 4;
    let channels = cfg.output_channels(cfg_path)?;
    let mut cursor = FloatCursor {
        body,
        pos: 0,
        total_floats,
        cfg_path,
        weights_path,
    };
    let mut layers = Vec::with_capacity(cfg.layers.len());
    for (index, layer) in cfg.layers.iter().enumerate() {
        let Layer::Convolutional(conv) = layer else {
            layers.push(None);
            continue;
        };
        let in_channels = if index == 0 {
            cfg.channels
        } else {
            channels[index - 1]
        };
        let n = conv.filters;
        let per_group_in = in_channels / conv.groups;
        let kernel_shape = [n, per_group_in, conv.size, conv.size];
        let biases = cursor.take(n, index, "biases")?;
        let bn = if conv.batch_normalize {
            Some(BatchNorm {
                scales: cursor.take(n, index, "batch-norm scales")?,
                rolling_mean: cursor.take(n, index, "batch-norm rolling means")?,
                rolling_var: cursor.take(n, index, "batch-norm rolling variances")?,
            })
        } else {
            None
        };
        let kernel = cursor.take(kernel_shape.iter().product(), index, "kernel")?;
        layers.push(Some(ConvWeights {
            biases,
            bn,
            kernel,
            kernel_shape,
        }));
    }
    let extra_bytes = body.len() - cursor.pos * 4;
    if extra_bytes != 0 {
        return Err(DarknetError::WeightsTrailing {
            cfg: cfg_path.to_path_buf(),
            weights: weights_path.to_path_buf(),
            extra_bytes,
            used_floats: cursor.pos,
        });
    }
    Ok(NetWeights { header, layers })
}

struct FloatCursor<'a> {
    body: &'a [u8],
    /// Next float index.
    pos: usize,
    total_floats: usize,
    cfg_path: &'a Path,
    weights_path: &'a Path,
}

impl FloatCursor<'_> {
    fn take(
        &mut self,
        n: usize,
        layer: usize,
        what: &'static str,
    ) -> Result<Vec<f32>, DarknetError> {
        if self.pos + n > self.total_floats {
            return Err(DarknetError::WeightsTooShort {
                cfg: self.cfg_path.to_path_buf(),
                weights: self.weights_path.to_path_buf(),
                layer,
                what,
                needed_floats: n,
                left_floats: self.total_floats - self.pos,
            });
        }
        let bytes = &self.body[self.pos * 4..(self.pos + n) * 4];
        self.pos += n;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "[net]\nchannels=2\n\
        [convolutional]\nbatch_normalize=1\nfilters=3\nsize=3\npad=1\nactivation=leaky\n\
        [maxpool]\nsize=2\nstride=2\n\
        [convolutional]\nfilters=2\nsize=1\nactivation=linear\n";

    fn cfg() -> NetConfig {
        NetConfig::parse(CFG, Path::new("t.cfg")).unwrap()
    }

    /// 3 + 3*3 + 3*2*3*3 = 66 floats for layer 0, 2 + 2*3 = 8 for layer 2.
    const NEEDED: usize = 66 + 8;

    fn file(floats: usize, major: i32, minor: i32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(major.to_le_bytes());
        b.extend(minor.to_le_bytes());
        b.extend(0i32.to_le_bytes());
        if major * 10 + minor >= 2 {
            b.extend(1234u64.to_le_bytes());
        } else {
            b.extend(1234u32.to_le_bytes());
        }
        for i in 0..floats {
            b.extend((i as f32).to_le_bytes());
        }
        b
    }

    #[test]
    fn reads_layers_in_darknet_order() {
        for (major, minor) in [(0, 2), (0, 1)] {
            let w = parse_weights(
                &cfg(),
                &file(NEEDED, major, minor),
                Path::new("t.cfg"),
                Path::new("t.weights"),
            )
            .unwrap();
            assert_eq!(w.header.seen, 1234);
            let l0 = w.layers[0].as_ref().unwrap();
            assert_eq!(l0.biases, vec![0.0, 1.0, 2.0]);
            let bn = l0.bn.as_ref().unwrap();
            assert_eq!(bn.scales, vec![3.0, 4.0, 5.0]);
            assert_eq!(bn.rolling_var, vec![9.0, 10.0, 11.0]);
            assert_eq!(l0.kernel_shape, [3, 2, 3, 3]);
            assert_eq!(l0.kernel[0], 12.0);
            assert!(w.layers[1].is_none());
            let l2 = w.layers[2].as_ref().unwrap();
            assert!(l2.bn.is_none());
            assert_eq!(l2.biases, vec![66.0, 67.0]);
            assert_eq!(l2.kernel_shape, [2, 3, 1, 1]);
        }
    }

    #[test]
    fn too_short_names_both_files_and_layer() {
        let err = parse_weights(
            &cfg(),
            &file(NEEDED - 1, 0, 2),
            Path::new("a.cfg"),
            Path::new("b.weights"),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("a.cfg") && msg.contains("b.weights"), "{msg}");
        assert!(msg.contains("layer 2"), "{msg}");
    }

    #[test]
    fn too_long_is_an_error() {
        let mut bytes = file(NEEDED, 0, 2);
        bytes.extend([0u8; 2]);
        let err =
            parse_weights(&cfg(), &bytes, Path::new("a.cfg"), Path::new("b.weights")).unwrap_err();
        assert!(matches!(
            err,
            DarknetError::WeightsTrailing { extra_bytes: 2, .. }
        ));
    }

    #[test]
    fn short_header_is_an_error() {
        let err = parse_weights(
            &cfg(),
            &[0u8; 7],
            Path::new("a.cfg"),
            Path::new("b.weights"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("b.weights"));
    }

    #[test]
    fn folding_matches_batch_norm() {
        let w = ConvWeights {
            biases: vec![0.5],
            bn: Some(BatchNorm {
                scales: vec![2.0],
                rolling_mean: vec![1.0],
                rolling_var: vec![4.0],
            }),
            kernel: vec![1.0, -3.0],
            kernel_shape: [1, 2, 1, 1],
        };
        let (k, b) = w.folded();
        // conv(x) = x0 - 3 x1; bn = (conv - 1) * 2 / sqrt(4 + eps) + 0.5
        let x = [0.7f32, 0.2];
        let conv = x[0] - 3.0 * x[1];
        let expected = (conv - 1.0) * 2.0 / (4.0f32 + BATCH_NORM_EPS).sqrt() + 0.5;
        let got = k[0] * x[0] + k[1] * x[1] + b[0];
        assert!((got - expected).abs() < 1e-6);
    }
}
