//! The darknet network in candle: built once from a parsed cfg and its weights, then run as a
//! forward pass that returns the raw YOLO head outputs.
//!
//! * Input: `N x C x H x W` f32 (C = the cfg's `channels`, 3 for RGB in `[0, 1]`), H and W
//!   multiples of 32.
//! * Output: one [`YoloHead`] per `[yolo]` layer, in cfg order, each holding the tensor
//!   `N x (A * (5 + classes)) x H/stride x W/stride` laid out as darknet's `entry_index`
//!   (per anchor: tx, ty, tw, th, objectness, class logits; each a `H x W` plane). Nothing is
//!   activated yet; [`crate::detect::decode`] does that.
//!
//! At load, batch-norm is folded into each convolution's kernel and bias (see
//! [`super::weights::ConvWeights::folded`]). On the CPU device the whole forward runs on plain
//! buffers with the kernels of [`super::cpu`] (im2col + AVX-512/AVX2 gemm straight into the
//! output, fused bias + activation, threaded pooling/upsample/route) and, for the 3x3 stride-1
//! layers with at least 32 input channels, Winograd F(4x4, 3x3) (`winograd.rs`, kernels
//! transformed at load), reusing one set of per-layer buffers across calls, so a steady-state
//! frame allocates only its head tensors.
//! Other devices run the same layers as candle ops (with the bias add and activation as one
//! in-place pass on CPU tensors, kept as the reference the CPU kernels are tested against).
//! Layer semantics follow darknet (AlexeyAB fork): max-pool padding `size - 1` split as
//! `padding / 2` before and the rest after, route `groups`/`group_id` channel slices,
//! nearest-neighbour upsample, shortcut sum then activation.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use candle_core::{CpuStorage, DType, Device, Layout, Storage, Tensor};

use super::cfg::{Activation, Layer, NetConfig};
use super::cpu::{self, Chw, ConvGeometry};
use super::weights::{load_weights, NetWeights};
use super::winograd::{self, WinogradKernel};
use super::DarknetError;

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

#[derive(Debug)]
enum Block {
    Conv {
        /// Folded kernel `filters x in/groups x k x k`.
        kernel: Tensor,
        /// Folded bias, `filters` values (used by the fused CPU op).
        bias: Vec<f32>,
        /// Folded bias as `1 x filters x 1 x 1` (used on other devices).
        bias_tensor: Tensor,
        /// The folded kernel on the host, `filters x (in/groups * k * k)` row-major: the left
        /// matrix of the CPU convolution's gemm, as is.
        kernel_host: HostFloats,
        /// The kernel transformed for Winograd F(4x4, 3x3), for the 3x3 stride-1 layers
        /// where that path is faster (built at load, on the CPU device only).
        winograd: Option<WinogradKernel>,
        geometry: ConvGeometry,
        stride: usize,
        padding: usize,
        groups: usize,
        activation: Activation,
    },
    MaxPool {
        size: usize,
        stride: usize,
        padding: usize,
    },
    Route {
        layers: Vec<usize>,
        groups: usize,
        group_id: usize,
    },
    Upsample {
        stride: usize,
    },
    Shortcut {
        from: usize,
        activation: Activation,
    },
    Yolo {
        anchors: Vec<(f32, f32)>,
        classes: usize,
        scale_x_y: f32,
    },
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
    /// On the CPU device: run [`cpu`]'s kernels (true) or candle's own ops (false).
    cpu_kernels: bool,
    /// Precision of the weights and activations of the candle path (f32, or f16 on CUDA).
    dtype: DType,
}

/// The CPU forward's buffers: every layer's output (`N x C x H x W`), grown on first use.
#[derive(Default)]
struct Workspace {
    outputs: Vec<Vec<f32>>,
    shapes: Vec<Chw>,
    scratch: Vec<f32>,
}

impl std::fmt::Debug for Workspace {
    // Sizes only: the buffers hold millions of floats.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let floats: usize = self.outputs.iter().map(Vec::len).sum::<usize>() + self.scratch.len();
        f.debug_struct("Workspace")
            .field("layers", &self.outputs.len())
            .field("floats", &floats)
            .finish()
    }
}

/// Host floats that print as their count (a kernel has up to millions of values).
struct HostFloats(Vec<f32>);

impl std::fmt::Debug for HostFloats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{} f32]", self.0.len())
    }
}

/// Grows `buf` to `len` floats (no allocation once it has been that large).
fn ensure_len(buf: &mut Vec<f32>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0.0);
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
            let candle = |source| DarknetError::Candle {
                context: format!("{}: building layer {index}", cfg_path.display()),
                source,
            };
            let block = match layer {
                Layer::Convolutional(conv) => {
                    let Some(Some(w)) = weights.layers.get(index) else {
                        return Err(DarknetError::Architecture {
                            path: cfg_path.to_path_buf(),
                            layer: index,
                            message: "convolution without weights".into(),
                        });
                    };
                    let (kernel_host, bias) = w.folded();
                    let [filters, c_in, _, _] = w.kernel_shape;
                    let geometry = ConvGeometry {
                        filters: conv.filters,
                        size: conv.size,
                        stride: conv.stride,
                        padding: conv.padding,
                        groups: conv.groups,
                    };
                    let winograd = (device.is_cpu() && winograd::applies(&geometry, c_in))
                        .then(|| WinogradKernel::new(&kernel_host, filters, c_in));
                    let kernel = Tensor::from_slice(&kernel_host, w.kernel_shape.to_vec(), device)
                        .map_err(candle)?;
                    let bias_tensor = Tensor::from_vec(bias.clone(), (1, bias.len(), 1, 1), device)
                        .map_err(candle)?;
                    Block::Conv {
                        kernel,
                        bias,
                        bias_tensor,
                        kernel_host: HostFloats(kernel_host),
                        winograd,
                        geometry,
                        stride: conv.stride,
                        padding: conv.padding,
                        groups: conv.groups,
                        activation: conv.activation,
                    }
                }
                &Layer::MaxPool {
                    size,
                    stride,
                    padding,
                } => {
                    // A window lying wholly in the padding would differ from darknet's
                    // -FLT_MAX fill with the edge-replicating padding used below.
                    if padding - padding / 2 >= size {
                        return Err(DarknetError::Architecture {
                            path: cfg_path.to_path_buf(),
                            layer: index,
                            message: format!("maxpool padding {padding} too large for size {size}"),
                        });
                    }
                    Block::MaxPool {
                        size,
                        stride,
                        padding,
                    }
                }
                Layer::Route {
                    layers,
                    groups,
                    group_id,
                } => {
                    for &l in layers {
                        needed_later[l] = true;
                    }
                    Block::Route {
                        layers: layers.clone(),
                        groups: *groups,
                        group_id: *group_id,
                    }
                }
                &Layer::Upsample { stride } => Block::Upsample { stride },
                &Layer::Shortcut { from, activation } => {
                    needed_later[from] = true;
                    Block::Shortcut { from, activation }
                }
                Layer::Yolo(y) => {
                    let expected = y.mask.len() * (y.classes + 5);
                    let input = if index == 0 {
                        cfg.channels
                    } else {
                        channels[index - 1]
                    };
                    if input != expected {
                        return Err(DarknetError::Architecture {
                            path: cfg_path.to_path_buf(),
                            layer: index,
                            message: format!(
                                "yolo input has {input} channels, mask x (classes + 5) = {expected}"
                            ),
                        });
                    }
                    Block::Yolo {
                        anchors: y.mask.iter().map(|&m| y.anchors[m]).collect(),
                        classes: y.classes,
                        scale_x_y: y.scale_x_y,
                    }
                }
            };
            blocks.push(block);
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
            if let Block::Conv {
                kernel,
                bias_tensor,
                ..
            } = block
            {
                let candle = |source| DarknetError::Candle {
                    context: format!(
                        "{}: converting layer {index} to {dtype:?}",
                        self.cfg_path.display()
                    ),
                    source,
                };
                *kernel = kernel.to_dtype(dtype).map_err(candle)?;
                *bias_tensor = bias_tensor.to_dtype(dtype).map_err(candle)?;
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
            .map(|b| match b {
                Block::Conv {
                    geometry,
                    activation,
                    ..
                } => format!(
                    "conv {}x{}/{} {} {:?}",
                    geometry.size, geometry.size, geometry.stride, geometry.filters, activation
                ),
                Block::MaxPool { size, stride, .. } => format!("maxpool {size}x{size}/{stride}"),
                Block::Route { layers, groups, .. } => format!("route {layers:?} groups {groups}"),
                Block::Upsample { stride } => format!("upsample x{stride}"),
                Block::Shortcut { from, .. } => format!("shortcut {from}"),
                Block::Yolo { .. } => "yolo".to_owned(),
            })
            .collect()
    }

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

    /// The forward as candle ops on any device.
    fn forward_candle(
        &self,
        input: &Tensor,
        mut times: Option<&mut Vec<Duration>>,
    ) -> Result<Vec<YoloHead>, DarknetError> {
        let input_h = input.dims()[2];
        let x0 = input
            .to_device(&self.device)
            .and_then(|x| x.to_dtype(self.dtype))
            .map_err(|source| DarknetError::Candle {
                context: "moving the input to the model's device".into(),
                source,
            })?;
        let mut outputs: Vec<Option<Tensor>> = Vec::with_capacity(self.blocks.len());
        let mut heads = Vec::new();
        let mut x = x0;
        for (index, block) in self.blocks.iter().enumerate() {
            let started = Instant::now();
            let candle = |source| DarknetError::Candle {
                context: format!("{}: layer {index}", self.cfg_path.display()),
                source,
            };
            let get = |l: usize| -> Result<&Tensor, DarknetError> {
                outputs
                    .get(l)
                    .and_then(Option::as_ref)
                    .ok_or_else(|| DarknetError::Architecture {
                        path: self.cfg_path.clone(),
                        layer: index,
                        message: format!("layer {l} output not available"),
                    })
            };
            x = match block {
                Block::Conv {
                    kernel,
                    bias,
                    bias_tensor,
                    stride,
                    padding,
                    groups,
                    activation,
                    ..
                } => {
                    let y = x
                        .conv2d(kernel, *padding, *stride, 1, *groups)
                        .map_err(candle)?;
                    bias_activation(y, bias, bias_tensor, *activation).map_err(candle)?
                }
                &Block::MaxPool {
                    size,
                    stride,
                    padding,
                } => {
                    let before = padding / 2;
                    let after = padding - before;
                    let padded = if padding > 0 {
                        // Replicating the edge equals darknet's -FLT_MAX fill for max-pooling:
                        // every window holds at least one real pixel (checked at load), and
                        // windows are contiguous, so they hold the replicated edge pixel itself.
                        x.pad_with_same(2, before, after)
                            .and_then(|t| t.pad_with_same(3, before, after))
                            .map_err(candle)?
                    } else {
                        x.clone()
                    };
                    padded
                        .max_pool2d_with_stride(size, stride)
                        .map_err(candle)?
                }
                Block::Route {
                    layers,
                    groups,
                    group_id,
                } => {
                    let mut parts = Vec::with_capacity(layers.len());
                    for &l in layers {
                        let t = get(l)?;
                        if *groups > 1 {
                            let c = t.dim(1).map_err(candle)? / groups;
                            parts.push(t.narrow(1, group_id * c, c).map_err(candle)?);
                        } else {
                            parts.push(t.clone());
                        }
                    }
                    if parts.len() == 1 {
                        parts[0].contiguous().map_err(candle)?
                    } else {
                        Tensor::cat(&parts, 1).map_err(candle)?
                    }
                }
                &Block::Upsample { stride } => {
                    let (_, _, h, w) = x.dims4().map_err(candle)?;
                    x.upsample_nearest2d(h * stride, w * stride)
                        .map_err(candle)?
                }
                &Block::Shortcut { from, activation } => {
                    let sum = (&x + get(from)?).map_err(candle)?;
                    activate(&sum, activation).map_err(candle)?
                }
                Block::Yolo {
                    anchors,
                    classes,
                    scale_x_y,
                } => {
                    let grid_h = x.dim(2).map_err(candle)?;
                    heads.push(YoloHead {
                        output: x.to_dtype(DType::F32).map_err(candle)?,
                        anchors: anchors.clone(),
                        stride_px: input_h / grid_h.max(1),
                        classes: *classes,
                        scale_x_y: *scale_x_y,
                    });
                    x
                }
            };
            outputs.push(if self.needed_later[index] {
                Some(x.clone())
            } else {
                None
            });
            if let Some(times) = times.as_deref_mut() {
                times.push(started.elapsed());
            }
        }
        Ok(heads)
    }

    /// The forward on the CPU kernels of [`cpu`], into the reused workspace.
    fn forward_cpu(
        &self,
        input: &Tensor,
        mut times: Option<&mut Vec<Duration>>,
    ) -> Result<Vec<YoloHead>, DarknetError> {
        let candle = |context: &str, source| DarknetError::Candle {
            context: format!("{}: {context}", self.cfg_path.display()),
            source,
        };
        let (n, c, h, w) = input.dims4().map_err(|e| candle("input shape", e))?;
        let input_h = h;
        let input = input
            .contiguous()
            .map_err(|e| candle("contiguous input", e))?;
        let (storage, layout) = input.storage_and_layout();
        let data: &[f32] = match (&*storage, layout.contiguous_offsets()) {
            (Storage::Cpu(CpuStorage::F32(v)), Some((start, end))) => &v[start..end],
            _ => {
                return Err(DarknetError::InputShape {
                    shape: input.dims().to_vec(),
                    message: "expected a contiguous f32 CPU tensor".into(),
                })
            }
        };
        // A panic in another forward cannot leave the buffers inconsistent in a way that
        // matters: every layer overwrites its whole output before it is read.
        let mut guard = self
            .workspace
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ws = &mut *guard;
        ws.outputs.resize_with(self.blocks.len(), Vec::new);
        ws.shapes.clear();
        let in_shape = Chw { c, h, w };
        let mut heads = Vec::new();
        for (index, block) in self.blocks.iter().enumerate() {
            let started = Instant::now();
            let arch = |message: String| DarknetError::Architecture {
                path: self.cfg_path.clone(),
                layer: index,
                message,
            };
            let (done, rest) = ws.outputs.split_at_mut(index);
            let out = &mut rest[0];
            let (x, xs): (&[f32], Chw) = if index == 0 {
                (data, in_shape)
            } else {
                (&done[index - 1], ws.shapes[index - 1])
            };
            let shape = match block {
                Block::Conv {
                    kernel_host,
                    winograd,
                    bias,
                    geometry,
                    activation,
                    ..
                } => {
                    let per_filter = geometry.size * geometry.size * geometry.filters;
                    if xs.c * per_filter != kernel_host.0.len() * geometry.groups {
                        return Err(arch(format!("convolution input has {} channels", xs.c)));
                    }
                    let os = geometry.output(xs);
                    ensure_len(out, n * os.floats());
                    if let Some(wk) = winograd.as_ref().filter(|_| winograd::pays_off(xs)) {
                        ensure_len(&mut ws.scratch, winograd::scratch_len(xs, geometry.filters));
                        for b in 0..n {
                            winograd::conv3x3(
                                &x[b * xs.floats()..][..xs.floats()],
                                xs,
                                wk,
                                bias,
                                *activation,
                                &mut out[b * os.floats()..][..os.floats()],
                                &mut ws.scratch,
                            );
                        }
                    } else {
                        ensure_len(&mut ws.scratch, geometry.scratch_len(xs));
                        for b in 0..n {
                            cpu::conv2d(
                                &x[b * xs.floats()..][..xs.floats()],
                                xs,
                                &kernel_host.0,
                                bias,
                                geometry,
                                *activation,
                                &mut out[b * os.floats()..][..os.floats()],
                                &mut ws.scratch,
                            );
                        }
                    }
                    os
                }
                &Block::MaxPool {
                    size,
                    stride,
                    padding,
                } => {
                    let os = cpu::max_pool_output(xs, size, stride, padding);
                    ensure_len(out, n * os.floats());
                    for b in 0..n {
                        cpu::max_pool(
                            &x[b * xs.floats()..][..xs.floats()],
                            xs,
                            size,
                            stride,
                            padding,
                            &mut out[b * os.floats()..][..os.floats()],
                        );
                    }
                    os
                }
                Block::Route {
                    layers,
                    groups,
                    group_id,
                } => {
                    let mut os = Chw { c: 0, h: 0, w: 0 };
                    for &l in layers {
                        let ls = *ws
                            .shapes
                            .get(l)
                            .ok_or_else(|| arch(format!("layer {l} output not available")))?;
                        if os.c > 0 && (ls.h != os.h || ls.w != os.w) {
                            return Err(arch(format!("route inputs differ in size at layer {l}")));
                        }
                        os = Chw {
                            c: os.c + ls.c / groups,
                            h: ls.h,
                            w: ls.w,
                        };
                    }
                    ensure_len(out, n * os.floats());
                    for b in 0..n {
                        let mut at = b * os.floats();
                        for &l in layers {
                            let ls = ws.shapes[l];
                            let part = ls.c / groups * ls.plane();
                            let src = &done[l][b * ls.floats() + group_id * part..][..part];
                            out[at..at + part].copy_from_slice(src);
                            at += part;
                        }
                    }
                    os
                }
                &Block::Upsample { stride } => {
                    let os = Chw {
                        c: xs.c,
                        h: xs.h * stride,
                        w: xs.w * stride,
                    };
                    ensure_len(out, n * os.floats());
                    for b in 0..n {
                        cpu::upsample(
                            &x[b * xs.floats()..][..xs.floats()],
                            xs,
                            stride,
                            &mut out[b * os.floats()..][..os.floats()],
                        );
                    }
                    os
                }
                &Block::Shortcut { from, activation } => {
                    if ws.shapes.get(from) != Some(&xs) {
                        return Err(arch(format!("shortcut from layer {from} of another shape")));
                    }
                    ensure_len(out, n * xs.floats());
                    cpu::shortcut(
                        &x[..n * xs.floats()],
                        &done[from][..n * xs.floats()],
                        activation,
                        &mut out[..n * xs.floats()],
                    );
                    xs
                }
                Block::Yolo {
                    anchors,
                    classes,
                    scale_x_y,
                } => {
                    let output = Tensor::from_slice(
                        &x[..n * xs.floats()],
                        (n, xs.c, xs.h, xs.w),
                        &Device::Cpu,
                    )
                    .map_err(|e| candle("head output", e))?;
                    heads.push(YoloHead {
                        output,
                        anchors: anchors.clone(),
                        stride_px: input_h / xs.h.max(1),
                        classes: *classes,
                        scale_x_y: *scale_x_y,
                    });
                    // Later layers may route to this one: its output is its input.
                    ensure_len(out, n * xs.floats());
                    out[..n * xs.floats()].copy_from_slice(&x[..n * xs.floats()]);
                    xs
                }
            };
            ws.shapes.push(shape);
            if let Some(times) = times.as_deref_mut() {
                times.push(started.elapsed());
            }
        }
        Ok(heads)
    }
}

/// `act(y + bias)`: in place on CPU f32 tensors (`y` is a fresh convolution output nobody else
/// holds), as separate candle ops elsewhere.
fn bias_activation(
    y: Tensor,
    bias: &[f32],
    bias_tensor: &Tensor,
    activation: Activation,
) -> candle_core::Result<Tensor> {
    if y.device().is_cpu() && y.dtype() == DType::F32 && y.is_contiguous() {
        y.inplace_op1(&BiasActivation { bias, activation })?;
        Ok(y)
    } else {
        activate(&y.broadcast_add(bias_tensor)?, activation)
    }
}

/// The activation as candle ops (any device).
fn activate(x: &Tensor, activation: Activation) -> candle_core::Result<Tensor> {
    match activation {
        Activation::Linear => Ok(x.clone()),
        Activation::Leaky => candle_nn::ops::leaky_relu(x, 0.1),
        Activation::Relu => x.relu(),
        Activation::Logistic => candle_nn::ops::sigmoid(x),
        Activation::Mish => {
            // x * tanh(ln(1 + e^x)); for large x, e^x = inf gives tanh(inf) = 1, as darknet.
            let softplus = (x.exp()? + 1.0)?.log()?;
            x * softplus.tanh()?
        }
    }
}

struct BiasActivation<'a> {
    bias: &'a [f32],
    activation: Activation,
}

impl candle_core::InplaceOp1 for BiasActivation<'_> {
    fn name(&self) -> &'static str {
        "darknet-bias-activation"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("bias-activation expects f32");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("bias-activation expects a contiguous tensor");
        };
        let (n, c, h, w) = layout.shape().dims4()?;
        if c != self.bias.len() || end - start != n * c * h * w {
            candle_core::bail!("bias-activation: {c} channels, {} biases", self.bias.len());
        }
        let plane = h * w;
        for (i, chunk) in data[start..end].chunks_exact_mut(plane).enumerate() {
            let b = self.bias[i % c];
            let act = self.activation;
            for v in chunk {
                *v = cpu::activate_scalar(*v + b, act);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::darknet::weights::parse_weights;

    /// A small network touching every block kind, with deterministic pseudo-random weights.
    const CFG: &str = "[net]\nchannels=3\n\
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

    fn net(device: &Device) -> Darknet {
        let counts = [8 + 24 + 8 * 27, 8 + 8 * 72, 8 + 8 * 4, 14 + 14 * 16];
        net_with_random_weights(CFG, counts.iter().sum(), device)
    }

    /// `cfg` with `floats` pseudo-random weights (floats 24..32, the first layer's batch-norm
    /// variances if it has batch-norm, made positive).
    fn net_with_random_weights(cfg: &str, floats: usize, device: &Device) -> Darknet {
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

    fn net_candle_ops(device: &Device) -> Darknet {
        net(device).with_cpu_kernels(false)
    }

    #[test]
    fn forward_shapes_and_fused_matches_unfused() {
        let device = Device::Cpu;
        let net = net(&device);
        let input = Tensor::rand(0f32, 1f32, (2, 3, 64, 96), &device).unwrap();
        let heads = net.forward(&input).unwrap();
        assert_eq!(heads.len(), 1);
        let h = &heads[0];
        // stride 2 conv, 2x2/2 pool, 2x2/1 pool, upsample x2: 64x96 -> 32x48
        assert_eq!(h.output.dims(), &[2, 14, 32, 48]);
        assert_eq!(h.stride_px, 2);
        assert_eq!(h.anchors, vec![(10.0, 14.0), (23.0, 27.0)]);

        // lookout's CPU kernels against candle's ops, twice (the second call reuses buffers)
        let reference = net_candle_ops(&device).forward(&input).unwrap();
        for _ in 0..2 {
            let ours = net.forward(&input).unwrap();
            assert_eq!(ours.len(), reference.len());
            for (a, b) in ours.iter().zip(&reference) {
                assert_eq!(a.output.dims(), b.output.dims());
                let a = a.output.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let b = b.output.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                for (x, y) in a.iter().zip(&b) {
                    assert!((x - y).abs() <= 1e-4 * y.abs().max(1.0), "{x} vs {y}");
                }
            }
        }

        // the fused CPU op against the plain candle ops
        let y = Tensor::randn(0f32, 3f32, (2, 3, 4, 5), &device).unwrap();
        let bias = vec![0.5f32, -1.0, 2.0];
        let bias_t = Tensor::from_vec(bias.clone(), (1, 3, 1, 1), &device).unwrap();
        for act in [
            Activation::Linear,
            Activation::Leaky,
            Activation::Mish,
            Activation::Logistic,
            Activation::Relu,
        ] {
            let reference = activate(&y.broadcast_add(&bias_t).unwrap(), act)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let fused = bias_activation(y.copy().unwrap(), &bias, &bias_t, act)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            for (a, b) in reference.iter().zip(&fused) {
                assert!((a - b).abs() < 1e-5, "{act:?}: {a} vs {b}");
            }
        }
    }

    /// The 3x3 stride-1 layers with enough input channels run as Winograd F(4x4, 3x3) on the
    /// CPU kernels: the whole forward against candle's conv2d, on a batch of two. The last
    /// Winograd layer sees 4x6 (64x96 input) and 6x2 (96x32) images, which do not fill whole
    /// 4x4 tiles.
    #[test]
    fn winograd_layers_match_candle_conv2d() {
        const WINO_CFG: &str = "[net]\nchannels=3\n\
            [convolutional]\nfilters=32\nsize=3\nstride=2\npad=1\nactivation=leaky\n\
            [convolutional]\nfilters=40\nsize=3\npad=1\nactivation=leaky\n\
            [maxpool]\nsize=2\nstride=2\n\
            [convolutional]\nfilters=36\nsize=3\npad=1\nactivation=linear\n\
            [maxpool]\nsize=2\nstride=2\n\
            [maxpool]\nsize=2\nstride=2\n\
            [convolutional]\nfilters=33\nsize=3\npad=1\nactivation=mish\n\
            [convolutional]\nfilters=14\nsize=1\nactivation=linear\n\
            [yolo]\nmask=0,1\nanchors=10,14, 23,27\nclasses=2\nnum=2\n";
        let device = Device::Cpu;
        let floats = (32 + 32 * 27)
            + (40 + 40 * 32 * 9)
            + (36 + 36 * 40 * 9)
            + (33 + 33 * 36 * 9)
            + (14 + 14 * 33);
        let net = net_with_random_weights(WINO_CFG, floats, &device);
        let winograd_layers: Vec<usize> = net
            .blocks
            .iter()
            .enumerate()
            .filter_map(|(i, b)| match b {
                Block::Conv {
                    winograd: Some(_), ..
                } => Some(i),
                _ => None,
            })
            .collect();
        assert_eq!(winograd_layers, [1, 3, 6]);
        let reference_net =
            net_with_random_weights(WINO_CFG, floats, &device).with_cpu_kernels(false);
        for (h, w) in [(64, 96), (96, 32)] {
            let input = Tensor::rand(0f32, 1f32, (2, 3, h, w), &device).unwrap();
            let ours = net.forward(&input).unwrap();
            let reference = reference_net.forward(&input).unwrap();
            let a = ours[0]
                .output
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let b = reference[0]
                .output
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            assert_eq!(a.len(), 2 * 14 * (h / 16) * (w / 16));
            assert_eq!(a.len(), b.len());
            // Relative to the output's scale: random weights make activations grow, and an
            // output near 0 carries the rounding of those large terms.
            let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
            let worst = a
                .iter()
                .zip(&b)
                .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            eprintln!("{h}x{w}: max error {worst} at scale {scale}");
            assert!(
                worst <= 1e-5 * scale,
                "{h}x{w}: max error {worst} at scale {scale}"
            );
        }
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

    #[test]
    fn maxpool_padding_matches_darknet() {
        // darknet 2x2/1 max-pool with padding 1 on a 2x2 input: window (y, x) covers
        // rows y..y+1, cols x..x+1, out-of-range cells ignored.
        let device = Device::Cpu;
        let x = Tensor::from_vec(vec![1f32, -4.0, -3.0, -2.0], (1, 1, 2, 2), &device).unwrap();
        let padded = x
            .pad_with_same(2, 0, 1)
            .unwrap()
            .pad_with_same(3, 0, 1)
            .unwrap();
        let y = padded.max_pool2d_with_stride(2, 1).unwrap();
        let v = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(v, vec![1.0, -2.0, -2.0, -2.0]);
    }
}
