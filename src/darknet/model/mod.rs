//! The darknet network: built once from a parsed cfg and its weights, then run as a forward
//! pass that returns the raw YOLO head outputs.
//!
//! * Input: `N x C x H x W` f32 (C = the cfg's `channels`, 3 for RGB in `[0, 1]`), H and W
//!   multiples of 32.
//! * Output: one [`YoloHead`] per `[yolo]` layer, in cfg order, each holding the tensor
//!   `N x (A * (5 + classes)) x H/stride x W/stride` laid out as darknet's `entry_index`
//!   (per anchor: tx, ty, tw, th, objectness, class logits; each a `H x W` plane). Nothing is
//!   activated yet; [`crate::detect::decode`] does that.
//!
//! This file is the network definition: each layer is the cfg's [`Layer`] as parsed, with the
//! folded weights of a convolution beside it (`Block`), checked for consistency at load.
//! At load, batch-norm is folded into each convolution's kernel and bias (see
//! [`super::weights::ConvWeights::folded`]). The forward runs on one of two backends:
//!
//! * `forward_cpu`: on the CPU device, the whole forward on plain buffers with the kernels of
//!   `darknet::cpu` (im2col + AVX-512/AVX2 gemm straight into the output, fused bias +
//!   activation, threaded pooling/upsample/route) and, for the 3x3 stride-1 layers with at
//!   least 32 input channels, Winograd F(4x4, 3x3) (`darknet::winograd`, kernels transformed at
//!   load), reusing one set of per-layer buffers across calls, so a steady-state frame
//!   allocates only its head tensors;
//! * `forward_candle`: the same layers as candle ops, on any device (CUDA in f32 or f16
//!   included), and on the CPU the reference the CPU kernels are tested against.
//!
//! Layer semantics follow darknet (AlexeyAB fork): max-pool padding `size - 1` split as
//! `padding / 2` before and the rest after, route `groups`/`group_id` channel slices,
//! nearest-neighbour upsample, shortcut sum then activation.

mod forward_candle;
mod forward_cpu;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use candle_core::{DType, Device, Tensor};

use super::cfg::{ConvSpec, Layer, NetConfig};
use super::cpu::ConvGeometry;
use super::weights::{load_weights, ConvWeights, NetWeights};
use super::winograd::{self, WinogradKernel};
use super::DarknetError;
use forward_cpu::Workspace;

/// One detection head's raw output plus what decoding needs to interpret it.
#[derive(Debug, Clone)]
pub struct YoloHead {
    /// `N x (A * (5 + classes)) x grid_h x grid_w`, un-activated.
    pub output: Tensor,
    /// This head's anchors (the cfg's `anchors` selected by `mask`), `(w, h)` in input pixels.
    pub anchors: Vec<(f32, f32)>,
    /// Input pixels per grid cell.
    pub stride_px: usize,
    pub classes: usize,
    /// Grid-sensitivity factor (1.0 = plain YOLOv3 decoding).
    pub scale_x_y: f32,
}

/// One layer of the network: the cfg's layer as parsed, and for a convolution its weights.
#[derive(Debug)]
struct Block {
    layer: Layer,
    /// The folded weights: `Some` exactly when `layer` is a convolution (built so by
    /// [`Darknet::from_parts`]).
    conv: Option<FoldedConv>,
}

/// A convolution's weights with batch-norm folded in, in the forms the two backends read.
#[derive(Debug)]
struct FoldedConv {
    /// Folded kernel `filters x in/groups x k x k` on the network's device (candle backend).
    kernel: Tensor,
    /// Folded bias, `filters` values (the CPU kernels and the fused CPU candle op).
    bias: Vec<f32>,
    /// Folded bias as `1 x filters x 1 x 1` on the network's device (candle backend elsewhere).
    bias_tensor: Tensor,
    /// The folded kernel on the host, `filters x (in/groups * k * k)` row-major: the left
    /// matrix of the CPU convolution's gemm, as is.
    kernel_host: HostFloats,
    /// The kernel transformed for Winograd F(4x4, 3x3), for the 3x3 stride-1 layers
    /// where that path is faster (built at load, on the CPU device only).
    winograd: Option<WinogradKernel>,
}

/// The CPU kernels' view of a `[convolutional]` layer.
fn geometry(conv: &ConvSpec) -> ConvGeometry {
    ConvGeometry {
        filters: conv.filters,
        size: conv.size,
        stride: conv.stride,
        padding: conv.padding,
        groups: conv.groups,
    }
}

/// A darknet network ready to run on one candle device.
#[derive(Debug)]
pub struct Darknet {
    blocks: Vec<Block>,
    /// Whether each layer's output is read by a later route/shortcut (kept until the end).
    needed_later: Vec<bool>,
    channels: usize,
    device: Device,
    cfg_path: PathBuf,
    /// Per-layer output buffers and im2col scratch of the CPU forward, reused across calls
    /// (a second concurrent caller waits: both would need the same memory bandwidth anyway).
    workspace: Mutex<Workspace>,
    /// On the CPU device: run the CPU kernels (true) or candle's own ops (false).
    cpu_kernels: bool,
    /// Precision of the weights and activations of the candle path (f32, or f16 on CUDA).
    dtype: DType,
}

/// Host floats that print as their count (a kernel has up to millions of values).
struct HostFloats(Vec<f32>);

impl std::fmt::Debug for HostFloats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{} f32]", self.0.len())
    }
}

impl Darknet {
    /// Loads `cfg_path` and `weights_path` onto `device`.
    pub fn load(
        cfg_path: &Path,
        weights_path: &Path,
        device: &Device,
    ) -> Result<Self, DarknetError> {
        let cfg = NetConfig::from_file(cfg_path)?;
        let weights = load_weights(&cfg, cfg_path, weights_path)?;
        Self::from_parts(&cfg, &weights, cfg_path, device)
    }

    /// Builds the network from an already parsed cfg and weights; `cfg_path` names the cfg in
    /// errors.
    pub fn from_parts(
        cfg: &NetConfig,
        weights: &NetWeights,
        cfg_path: &Path,
        device: &Device,
    ) -> Result<Self, DarknetError> {
        let channels = cfg.output_channels(cfg_path)?;
        let mut blocks = Vec::with_capacity(cfg.layers.len());
        let mut needed_later = vec![false; cfg.layers.len()];
        for (index, layer) in cfg.layers.iter().enumerate() {
            let arch = |message: String| DarknetError::Architecture {
                path: cfg_path.to_path_buf(),
                layer: index,
                message,
            };
            let mut conv = None;
            match layer {
                Layer::Convolutional(spec) => {
                    let Some(Some(w)) = weights.layers.get(index) else {
                        return Err(arch("convolution without weights".into()));
                    };
                    conv = Some(FoldedConv::new(w, spec, device).map_err(|source| {
                        DarknetError::Candle {
                            context: format!("{}: building layer {index}", cfg_path.display()),
                            source,
                        }
                    })?);
                }
                &Layer::MaxPool { size, padding, .. } => {
                    // A window lying wholly in the padding would differ from darknet's
                    // -FLT_MAX fill with the edge-replicating padding of the candle backend.
                    if padding - padding / 2 >= size {
                        return Err(arch(format!(
                            "maxpool padding {padding} too large for size {size}"
                        )));
                    }
                }
                Layer::Route { layers, .. } => {
                    for &l in layers {
                        needed_later[l] = true;
                    }
                }
                Layer::Upsample { .. } => {}
                &Layer::Shortcut { from, .. } => needed_later[from] = true,
                Layer::Yolo(y) => {
                    let expected = y.mask.len() * (y.classes + 5);
                    let input = if index == 0 {
                        cfg.channels
                    } else {
                        channels[index - 1]
                    };
                    if input != expected {
                        return Err(arch(format!(
                            "yolo input has {input} channels, mask x (classes + 5) = {expected}"
                        )));
                    }
                    // The parser checks this too; the forward's head anchors rely on it.
                    if let Some(m) = y.mask.iter().find(|&&m| m >= y.anchors.len()) {
                        return Err(arch(format!(
                            "yolo mask {m} names none of the {} anchors",
                            y.anchors.len()
                        )));
                    }
                }
            }
            blocks.push(Block {
                layer: layer.clone(),
                conv,
            });
        }
        Ok(Self {
            blocks,
            needed_later,
            channels: cfg.channels,
            device: device.clone(),
            cfg_path: cfg_path.to_path_buf(),
            workspace: Mutex::new(Workspace::default()),
            cpu_kernels: true,
            dtype: DType::F32,
        })
    }

    /// Converts the weights to `dtype` (`F32`, or `F16` / `BF16` on a CUDA device; lookout's
    /// CPU kernels are f32 only). The forward still takes and returns f32: the input is cast
    /// on the device and the heads cast back.
    pub fn with_dtype(mut self, dtype: DType) -> Result<Self, DarknetError> {
        if dtype == self.dtype {
            return Ok(self);
        }
        if self.device.is_cpu() || !matches!(dtype, DType::F32 | DType::F16 | DType::BF16) {
            return Err(DarknetError::Precision {
                message: format!(
                    "{dtype:?} weights need a CUDA device (this network is on {:?})",
                    self.device.location()
                ),
            });
        }
        for (index, block) in self.blocks.iter_mut().enumerate() {
            if let Some(conv) = &mut block.conv {
                let candle = |source| DarknetError::Candle {
                    context: format!(
                        "{}: converting layer {index} to {dtype:?}",
                        self.cfg_path.display()
                    ),
                    source,
                };
                conv.kernel = conv.kernel.to_dtype(dtype).map_err(candle)?;
                conv.bias_tensor = conv.bias_tensor.to_dtype(dtype).map_err(candle)?;
            }
        }
        self.dtype = dtype;
        Ok(self)
    }

    /// Precision of the weights.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// On the CPU device, whether to run lookout's own kernels (the default) or candle's CPU
    /// ops (the reference the kernels are tested against, and the baseline in BENCHMARKS.md).
    pub fn with_cpu_kernels(mut self, on: bool) -> Self {
        self.cpu_kernels = on;
        self
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Runs the network on `input` (`N x C x H x W` f32, H and W multiples of 32) and returns
    /// the raw output of every `[yolo]` layer in cfg order.
    pub fn forward(&self, input: &Tensor) -> Result<Vec<YoloHead>, DarknetError> {
        self.forward_impl(input, None)
    }

    /// [`Self::forward`] plus the wall time of each layer (cfg order), for profiling.
    pub fn forward_profiled(
        &self,
        input: &Tensor,
    ) -> Result<(Vec<YoloHead>, Vec<Duration>), DarknetError> {
        let mut times = Vec::with_capacity(self.blocks.len());
        let heads = self.forward_impl(input, Some(&mut times))?;
        Ok((heads, times))
    }

    /// One line per layer naming its kind and geometry (for profiles).
    pub fn layer_descriptions(&self) -> Vec<String> {
        self.blocks
            .iter()
            .map(|b| match &b.layer {
                Layer::Convolutional(c) => format!(
                    "conv {}x{}/{} {} {:?}",
                    c.size, c.size, c.stride, c.filters, c.activation
                ),
                Layer::MaxPool { size, stride, .. } => format!("maxpool {size}x{size}/{stride}"),
                Layer::Route { layers, groups, .. } => format!("route {layers:?} groups {groups}"),
                Layer::Upsample { stride } => format!("upsample x{stride}"),
                Layer::Shortcut { from, .. } => format!("shortcut {from}"),
                Layer::Yolo(_) => "yolo".to_owned(),
            })
            .collect()
    }

    /// Checks the input, then runs the backend for the network's device.
    fn forward_impl(
        &self,
        input: &Tensor,
        times: Option<&mut Vec<Duration>>,
    ) -> Result<Vec<YoloHead>, DarknetError> {
        let dims = input.dims();
        let shape_ok = dims.len() == 4
            && dims[1] == self.channels
            && dims[2] > 0
            && dims[3] > 0
            && dims[2] % 32 == 0
            && dims[3] % 32 == 0;
        if !shape_ok || input.dtype() != DType::F32 {
            return Err(DarknetError::InputShape {
                shape: dims.to_vec(),
                message: format!(
                    "expected f32 N x {} x H x W with H and W positive multiples of 32, got {:?}",
                    self.channels,
                    input.dtype()
                ),
            });
        }
        if self.cpu_kernels && self.device.is_cpu() && input.device().is_cpu() {
            self.forward_cpu(input, times)
        } else {
            self.forward_candle(input, times)
        }
    }

    /// The folded weights of convolution `index`. [`Self::from_parts`] gives every
    /// convolution its weights, so the error only guards the pairing.
    fn folded_conv(&self, index: usize) -> Result<&FoldedConv, DarknetError> {
        self.blocks
            .get(index)
            .and_then(|b| b.conv.as_ref())
            .ok_or_else(|| DarknetError::Architecture {
                path: self.cfg_path.clone(),
                layer: index,
                message: "convolution without weights".into(),
            })
    }
}

impl FoldedConv {
    /// Folds `w` (the weights of the convolution `spec`) and places it on `device`; the
    /// Winograd kernel is built only on the CPU device, for the layers where it applies.
    fn new(w: &ConvWeights, spec: &ConvSpec, device: &Device) -> candle_core::Result<Self> {
        let (kernel_host, bias) = w.folded();
        let [filters, c_in, _, _] = w.kernel_shape;
        let winograd = (device.is_cpu() && winograd::applies(&geometry(spec), c_in))
            .then(|| WinogradKernel::new(&kernel_host, filters, c_in));
        let kernel = Tensor::from_slice(&kernel_host, w.kernel_shape.to_vec(), device)?;
        let bias_tensor = Tensor::from_vec(bias.clone(), (1, bias.len(), 1, 1), device)?;
        Ok(Self {
            kernel,
            bias,
            bias_tensor,
            kernel_host: HostFloats(kernel_host),
            winograd,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::darknet::weights::parse_weights;

    /// A small network touching every layer kind, with deterministic pseudo-random weights.
    pub(super) const CFG: &str = "[net]\nchannels=3\n\
        [convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=2\npad=1\nactivation=leaky\n\
        [convolutional]\nfilters=8\nsize=3\npad=1\nactivation=mish\n\
        [route]\nlayers=-1\ngroups=2\ngroup_id=1\n\
        [convolutional]\nfilters=8\nsize=1\nactivation=logistic\n\
        [shortcut]\nfrom=-3\nactivation=leaky\n\
        [maxpool]\nsize=2\nstride=2\n\
        [maxpool]\nsize=2\nstride=1\n\
        [upsample]\nstride=2\n\
        [route]\nlayers=-1,0\n\
        [convolutional]\nfilters=14\nsize=1\nactivation=linear\n\
        [yolo]\nmask=0,1\nanchors=10,14, 23,27\nclasses=2\nnum=2\nscale_x_y=1.05\n";

    /// [`CFG`] with its weights.
    pub(super) fn net(device: &Device) -> Darknet {
        let counts = [8 + 24 + 8 * 27, 8 + 8 * 72, 8 + 8 * 4, 14 + 14 * 16];
        net_with_random_weights(CFG, counts.iter().sum(), device)
    }

    /// `cfg` with `floats` pseudo-random weights (floats 24..32, the first layer's batch-norm
    /// variances if it has batch-norm, made positive).
    pub(super) fn net_with_random_weights(cfg: &str, floats: usize, device: &Device) -> Darknet {
        let cfg = NetConfig::parse(cfg, Path::new("t.cfg")).unwrap();
        let mut bytes = Vec::new();
        for v in [0i32, 2, 0] {
            bytes.extend(v.to_le_bytes());
        }
        bytes.extend(0u64.to_le_bytes());
        let mut state = 12345u32;
        for i in 0..floats {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let r = (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
            // batch-norm variances (floats 24..32 of layer 0) must be positive
            let v = if (24..32).contains(&i) {
                r.abs() + 0.5
            } else {
                r
            };
            bytes.extend(v.to_le_bytes());
        }
        let w = parse_weights(&cfg, &bytes, Path::new("t.cfg"), Path::new("t.weights")).unwrap();
        Darknet::from_parts(&cfg, &w, Path::new("t.cfg"), device).unwrap()
    }

    /// The head's shape, stride and anchors, on both backends.
    #[test]
    fn forward_head_shape_stride_and_anchors() {
        let device = Device::Cpu;
        let input = Tensor::rand(0f32, 1f32, (2, 3, 64, 96), &device).unwrap();
        for kernels in [true, false] {
            let heads = net(&device)
                .with_cpu_kernels(kernels)
                .forward(&input)
                .unwrap();
            assert_eq!(heads.len(), 1);
            let h = &heads[0];
            // stride 2 conv, 2x2/2 pool, 2x2/1 pool, upsample x2: 64x96 -> 32x48
            assert_eq!(h.output.dims(), &[2, 14, 32, 48]);
            assert_eq!(h.stride_px, 2);
            assert_eq!(h.anchors, vec![(10.0, 14.0), (23.0, 27.0)]);
            assert_eq!(h.classes, 2);
            assert!((h.scale_x_y - 1.05).abs() < 1e-6);
        }
    }

    #[test]
    fn every_convolution_gets_its_weights_and_other_layers_none() {
        let net = net(&Device::Cpu);
        for block in &net.blocks {
            let is_conv = matches!(block.layer, Layer::Convolutional(_));
            assert_eq!(block.conv.is_some(), is_conv, "{:?}", block.layer);
        }
        assert_eq!(net.layer_descriptions()[0], "conv 3x3/2 8 Leaky");
    }

    #[test]
    fn input_not_multiple_of_32_is_an_error() {
        let device = Device::Cpu;
        let net = net(&device);
        for (h, w) in [(64, 100), (40, 64), (0, 64)] {
            let input = Tensor::zeros((1, 3, h, w), DType::F32, &device).unwrap();
            let err = net.forward(&input).unwrap_err();
            assert!(matches!(err, DarknetError::InputShape { .. }), "{err}");
        }
        let wrong_channels = Tensor::zeros((1, 1, 64, 64), DType::F32, &device).unwrap();
        assert!(net.forward(&wrong_channels).is_err());
    }
}
