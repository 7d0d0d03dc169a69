//! The YOLOX network (Ge et al. 2021, "YOLOX: Exceeding YOLO Series in 2021"; Megvii's
//! `yolox/models/{darknet,network_blocks,yolo_pafpn,yolo_head}.py`), built from the
//! convolutions of an ONNX export ([`super::onnx::OnnxGraph`]) by their PyTorch module paths:
//!
//! * backbone `CSPDarknet`: Focus stem (space-to-depth, then a 3x3 `BaseConv`), `dark2..dark5`
//!   (a stride-2 conv, then a `CSPLayer`; dark5 has `SPPBottleneck` with max-pools 5/9/13 before
//!   its CSP layer, which has no residuals);
//! * neck `YOLOPAFPN`: top-down (`lateral_conv0`, `C3_p4`, `reduce_conv1`, `C3_p3`) and bottom-up
//!   (`bu_conv2`, `C3_n3`, `bu_conv1`, `C3_n4`) paths with nearest-neighbour x2 upsampling;
//! * decoupled head per stride 8/16/32: `stems`, two `cls_convs` and two `reg_convs`, then
//!   `cls_preds`, `reg_preds`, `obj_preds`.
//!
//! Every `BaseConv` is conv (batch-norm folded at export) + SiLU. Nano and tiny use depthwise
//! separable convs (`DWConv`: a depthwise `dconv` then a 1x1 `pconv`) where the others use a
//! regular 3x3 conv; which one a module is, its channels, and each CSP layer's depth are read from
//! the file, so every family member loads. Residuals (`Bottleneck.use_add`) are the `Add` nodes.
//!
//! Input `N x 3 x S x S` f32 BGR in `0..255` (S a multiple of 32); output one [`YoloxHead`] per
//! stride: `N x (5 + classes) x S/stride x S/stride` holding raw `x, y, w, h` offsets, then
//! `sigmoid(obj)` and `sigmoid(cls)`, decoded by [`crate::detect::decode_yolox_head`].
//!
//! Two backends share this definition: candle ops on any device (the reference, and the CUDA
//! path), and on the CPU `forward_cpu`: the whole network on plain buffers in a reused
//! workspace, concatenations written in place, bias and SiLU fused into every convolution,
//! with the kernels of [`super::cpu`] (depthwise 3x3, 1x1 gemm, Focus, SPP pools) and
//! `darknet::cpu`/`darknet::winograd` (im2col + gemm, Winograd) for the regular convolutions.

mod forward_cpu;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;

use super::onnx::{OnnxConv, OnnxGraph};
use super::YoloxError;
use crate::darknet::cpu::{Chw, ConvGeometry};
use crate::darknet::winograd::{self, WinogradKernel};
pub use forward_cpu::LayerTime;
use forward_cpu::Workspace;

/// One detection level's raw output.
#[derive(Debug, Clone)]
pub struct YoloxHead {
    /// `N x (5 + classes) x grid_h x grid_w`: `x, y, w, h` raw, then objectness and class
    /// probabilities (sigmoids applied).
    pub output: Tensor,
    /// Input pixels per grid cell (8, 16, 32).
    pub stride_px: usize,
}

/// One convolution (+ SiLU unless it is a prediction conv), in the forms both backends read.
#[derive(Debug)]
struct Conv {
    module: String,
    geometry: ConvGeometry,
    c_in: usize,
    silu: bool,
    kernel: Tensor,
    bias: Tensor,
    kernel_host: Vec<f32>,
    bias_host: Vec<f32>,
    winograd: Option<WinogradKernel>,
    /// For 1x1 convolutions on the CPU, the kernel in `yolox::cpu::pointwise`'s order.
    pointwise_packed: Vec<f32>,
}

/// A `BaseConv`, or a `DWConv` (depthwise `dconv` then pointwise `pconv`).
#[derive(Debug)]
// Built once at load, a few dozen per network: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Block {
    Base(Conv),
    Depthwise { dconv: Conv, pconv: Conv },
}

#[derive(Debug)]
struct Bottleneck {
    conv1: Conv,
    conv2: Block,
    shortcut: bool,
}

/// `CSPLayer`: two 1x1 branches, bottlenecks on the first, concatenated, then a 1x1.
#[derive(Debug)]
struct Csp {
    conv1: Conv,
    conv2: Conv,
    conv3: Conv,
    m: Vec<Bottleneck>,
}

/// `SPPBottleneck`: 1x1, max-pools 5/9/13 (stride 1, same size) concatenated, 1x1.
#[derive(Debug)]
struct Spp {
    conv1: Conv,
    conv2: Conv,
}

/// One level of the decoupled head.
#[derive(Debug)]
struct HeadLevel {
    stem: Conv,
    cls_convs: [Block; 2],
    reg_convs: [Block; 2],
    cls_pred: Conv,
    reg_pred: Conv,
    obj_pred: Conv,
}

/// A YOLOX network ready to run on one candle device.
#[derive(Debug)]
pub struct Yolox {
    stem: Conv,
    dark2: (Block, Csp),
    dark3: (Block, Csp),
    dark4: (Block, Csp),
    dark5: (Block, Spp, Csp),
    lateral_conv0: Conv,
    c3_p4: Csp,
    reduce_conv1: Conv,
    c3_p3: Csp,
    bu_conv2: Block,
    c3_n3: Csp,
    bu_conv1: Block,
    c3_n4: Csp,
    head: [HeadLevel; 3],
    classes: usize,
    depthwise: bool,
    device: Device,
    path: PathBuf,
    cpu_kernels: bool,
    /// The CPU forward's buffers, kept across calls (one forward at a time uses them).
    workspace: Mutex<Workspace>,
}

/// SPP's max-pool window sizes (YOLOX's `kernel_sizes=(5, 9, 13)`).
const SPP_SIZES: [usize; 3] = [5, 9, 13];
/// The head's strides, one per PAFPN output (dark3, dark4, dark5 resolution).
pub const STRIDES_PX: [usize; 3] = [8, 16, 32];

/// Takes the convolutions out of the graph by module path as the structure is walked.
struct Builder<'a> {
    graph: OnnxGraph,
    device: &'a Device,
    path: &'a Path,
}

impl Builder<'_> {
    fn structure(&self, module: &str, message: impl Into<String>) -> YoloxError {
        YoloxError::Structure {
            path: self.path.to_path_buf(),
            module: module.to_owned(),
            message: message.into(),
        }
    }

    fn has(&self, module: &str) -> bool {
        self.graph.convs.contains_key(module)
    }

    /// The conv of `module`, which must read `c_in` channels (None: any).
    fn conv(&mut self, module: &str, c_in: usize, silu: bool) -> Result<Conv, YoloxError> {
        let Some(c) = self.graph.convs.remove(module) else {
            return Err(self.structure(module, "no convolution for this module in the graph"));
        };
        let OnnxConv {
            node,
            kernel,
            kernel_shape,
            bias,
            stride,
            padding,
            groups,
        } = c;
        let [filters, per_group, k, _] = kernel_shape;
        if per_group * groups != c_in {
            return Err(self.structure(
                module,
                format!(
                    "node {node} reads {} channels ({per_group} x {groups} groups), the \
                     structure gives it {c_in}",
                    per_group * groups
                ),
            ));
        }
        if 2 * padding + 1 != k {
            return Err(self.structure(
                module,
                format!("node {node}: padding {padding} for a {k}x{k} kernel (YOLOX pads (k-1)/2)"),
            ));
        }
        let geometry = ConvGeometry {
            filters,
            size: k,
            stride,
            padding,
            groups,
        };
        let candle = |source| YoloxError::Candle {
            context: format!("{}: module {module}", self.path.display()),
            source,
        };
        let kernel_t =
            Tensor::from_slice(&kernel, kernel_shape.to_vec(), self.device).map_err(candle)?;
        let bias_t = Tensor::from_slice(&bias, (1, filters, 1, 1), self.device).map_err(candle)?;
        let winograd = (self.device.is_cpu() && winograd::applies(&geometry, c_in))
            .then(|| WinogradKernel::new(&kernel, filters, c_in));
        let pointwise_packed = if self.device.is_cpu() && k == 1 && stride == 1 && groups == 1 {
            super::cpu::pack_pointwise(&kernel, filters, c_in)
        } else {
            Vec::new()
        };
        Ok(Conv {
            module: module.to_owned(),
            geometry,
            c_in,
            silu,
            kernel: kernel_t,
            bias: bias_t,
            kernel_host: kernel,
            bias_host: bias,
            winograd,
            pointwise_packed,
        })
    }

    /// A `BaseConv` or `DWConv` at `module` with `c_in` inputs; the stride is checked.
    fn block(&mut self, module: &str, c_in: usize, stride: usize) -> Result<Block, YoloxError> {
        let dconv_name = format!("{module}.dconv");
        let block = if self.has(&dconv_name) {
            let dconv = self.conv(&dconv_name, c_in, true)?;
            if dconv.geometry.groups != c_in || dconv.geometry.filters != c_in {
                return Err(self.structure(&dconv_name, "a dconv must be depthwise"));
            }
            let pconv = self.conv(&format!("{module}.pconv"), c_in, true)?;
            Block::Depthwise { dconv, pconv }
        } else {
            Block::Base(self.conv(module, c_in, true)?)
        };
        let first = match &block {
            Block::Base(c) => c,
            Block::Depthwise { dconv, .. } => dconv,
        };
        if first.geometry.stride != stride {
            return Err(self.structure(
                module,
                format!("stride {}, expected {stride}", first.geometry.stride),
            ));
        }
        Ok(block)
    }

    fn csp(&mut self, module: &str, c_in: usize) -> Result<Csp, YoloxError> {
        let conv1 = self.conv(&format!("{module}.conv1"), c_in, true)?;
        let conv2 = self.conv(&format!("{module}.conv2"), c_in, true)?;
        let hidden = conv1.geometry.filters;
        let mut m = Vec::new();
        while self.has(&format!("{module}.m.{}.conv1", m.len())) {
            let b = format!("{module}.m.{}", m.len());
            let conv1 = self.conv(&format!("{b}.conv1"), hidden, true)?;
            let conv2 = self.block(&format!("{b}.conv2"), conv1.geometry.filters, 1)?;
            if out_channels(&conv2) != hidden {
                return Err(self.structure(&b, "a bottleneck must keep its channels"));
            }
            let shortcut = self.graph.adds.contains(&b);
            m.push(Bottleneck {
                conv1,
                conv2,
                shortcut,
            });
        }
        if m.is_empty() {
            return Err(self.structure(module, "a CSP layer without bottlenecks (`m.0`)"));
        }
        let conv3 = self.conv(
            &format!("{module}.conv3"),
            hidden + conv2.geometry.filters,
            true,
        )?;
        Ok(Csp {
            conv1,
            conv2,
            conv3,
            m,
        })
    }

    fn head_level(&mut self, level: usize, c_in: usize) -> Result<HeadLevel, YoloxError> {
        let stem = self.conv(&format!("head.stems.{level}"), c_in, true)?;
        let w = stem.geometry.filters;
        let mut convs = |kind: &str| -> Result<[Block; 2], YoloxError> {
            let a = self.block(&format!("head.{kind}.{level}.0"), w, 1)?;
            let b = self.block(&format!("head.{kind}.{level}.1"), out_channels(&a), 1)?;
            Ok([a, b])
        };
        let cls_convs = convs("cls_convs")?;
        let reg_convs = convs("reg_convs")?;
        let cls_pred = self.conv(
            &format!("head.cls_preds.{level}"),
            out_channels(&cls_convs[1]),
            false,
        )?;
        let reg_in = out_channels(&reg_convs[1]);
        let reg_pred = self.conv(&format!("head.reg_preds.{level}"), reg_in, false)?;
        let obj_pred = self.conv(&format!("head.obj_preds.{level}"), reg_in, false)?;
        if reg_pred.geometry.filters != 4 || obj_pred.geometry.filters != 1 {
            return Err(self.structure(
                &format!("head.reg_preds.{level}"),
                "reg_preds must have 4 outputs and obj_preds 1",
            ));
        }
        Ok(HeadLevel {
            stem,
            cls_convs,
            reg_convs,
            cls_pred,
            reg_pred,
            obj_pred,
        })
    }
}

fn out_channels(b: &Block) -> usize {
    match b {
        Block::Base(c) => c.geometry.filters,
        Block::Depthwise { pconv, .. } => pconv.geometry.filters,
    }
}

impl Csp {
    fn out_channels(&self) -> usize {
        self.conv3.geometry.filters
    }
}

impl Yolox {
    /// Reads `path` (at most [`super::onnx::ONNX_BYTES_MAX`] bytes) and builds the network
    /// on `device`.
    pub fn load(path: &Path, device: &Device) -> Result<Self, YoloxError> {
        let io = |source| YoloxError::Io {
            path: path.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > super::onnx::ONNX_BYTES_MAX {
            return Err(YoloxError::Onnx {
                path: path.to_path_buf(),
                source: super::onnx::OnnxError::TooLarge { len },
            });
        }
        let bytes = std::fs::read(path).map_err(io)?;
        let graph = super::onnx::parse(&bytes).map_err(|source| YoloxError::Onnx {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_graph(graph, path, device)
    }

    /// Builds the network from a parsed graph (`path` names the file in errors). Every
    /// convolution of the graph must find its place in the YOLOX structure.
    pub fn from_graph(graph: OnnxGraph, path: &Path, device: &Device) -> Result<Self, YoloxError> {
        let mut b = Builder {
            graph,
            device,
            path,
        };
        let stem = b.conv("backbone.backbone.stem.conv", 12, true)?;
        if stem.geometry.size != 3 || stem.geometry.stride != 1 {
            return Err(b.structure(&stem.module, "the Focus conv must be 3x3, stride 1"));
        }
        let dark = |b: &mut Builder, name: &str, c_in: usize| -> Result<(Block, Csp), YoloxError> {
            let down = b.block(&format!("backbone.backbone.{name}.0"), c_in, 2)?;
            let csp = b.csp(&format!("backbone.backbone.{name}.1"), out_channels(&down))?;
            Ok((down, csp))
        };
        let dark2 = dark(&mut b, "dark2", stem.geometry.filters)?;
        let dark3 = dark(&mut b, "dark3", dark2.1.out_channels())?;
        let dark4 = dark(&mut b, "dark4", dark3.1.out_channels())?;
        let down5 = b.block("backbone.backbone.dark5.0", dark4.1.out_channels(), 2)?;
        let spp_conv1 = b.conv(
            "backbone.backbone.dark5.1.conv1",
            out_channels(&down5),
            true,
        )?;
        let spp_hidden = spp_conv1.geometry.filters;
        let spp_conv2 = b.conv("backbone.backbone.dark5.1.conv2", 4 * spp_hidden, true)?;
        let spp = Spp {
            conv1: spp_conv1,
            conv2: spp_conv2,
        };
        let csp5 = b.csp("backbone.backbone.dark5.2", spp.conv2.geometry.filters)?;
        let (c3, c4, c5) = (
            dark3.1.out_channels(),
            dark4.1.out_channels(),
            csp5.out_channels(),
        );
        let lateral_conv0 = b.conv("backbone.lateral_conv0", c5, true)?;
        let c3_p4 = b.csp("backbone.C3_p4", lateral_conv0.geometry.filters + c4)?;
        let reduce_conv1 = b.conv("backbone.reduce_conv1", c3_p4.out_channels(), true)?;
        let c3_p3 = b.csp("backbone.C3_p3", reduce_conv1.geometry.filters + c3)?;
        let bu_conv2 = b.block("backbone.bu_conv2", c3_p3.out_channels(), 2)?;
        let c3_n3 = b.csp(
            "backbone.C3_n3",
            out_channels(&bu_conv2) + reduce_conv1.geometry.filters,
        )?;
        let bu_conv1 = b.block("backbone.bu_conv1", c3_n3.out_channels(), 2)?;
        let c3_n4 = b.csp(
            "backbone.C3_n4",
            out_channels(&bu_conv1) + lateral_conv0.geometry.filters,
        )?;
        let head = [
            b.head_level(0, c3_p3.out_channels())?,
            b.head_level(1, c3_n3.out_channels())?,
            b.head_level(2, c3_n4.out_channels())?,
        ];
        let classes = head[0].cls_pred.geometry.filters;
        if head.iter().any(|h| h.cls_pred.geometry.filters != classes) {
            return Err(b.structure("head.cls_preds", "the levels predict different classes"));
        }
        if let Some((module, conv)) = b.graph.convs.iter().next() {
            return Err(b.structure(
                module,
                format!("node {} is not part of the YOLOX structure", conv.node),
            ));
        }
        let depthwise = matches!(dark2.0, Block::Depthwise { .. });
        Ok(Self {
            stem,
            dark2,
            dark3,
            dark4,
            dark5: (down5, spp, csp5),
            lateral_conv0,
            c3_p4,
            reduce_conv1,
            c3_p3,
            bu_conv2,
            c3_n3,
            bu_conv1,
            c3_n4,
            head,
            classes,
            depthwise,
            device: device.clone(),
            path: path.to_path_buf(),
            cpu_kernels: true,
            workspace: Mutex::new(Workspace::default()),
        })
    }

    /// Classes the head predicts.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Whether the 3x3 convolutions are depthwise separable (nano, tiny).
    pub fn is_depthwise(&self) -> bool {
        self.depthwise
    }

    /// The weights' precision (f32 as loaded; [`Yolox::with_dtype`] changes it).
    pub fn dtype(&self) -> DType {
        self.stem.kernel.dtype()
    }

    /// The network with its weights in `dtype` (f16 is for CUDA: the detector refuses it on
    /// the CPU, where candle's f16 ops would run instead of lookout's f32 kernels). Inputs stay
    /// f32 and heads come out f32: the forward converts at both ends.
    pub fn with_dtype(mut self, dtype: DType) -> Result<Self, YoloxError> {
        if dtype == self.dtype() {
            return Ok(self);
        }
        let path = self.path.clone();
        for conv in self.convs_mut() {
            let candle = |source| YoloxError::Candle {
                context: format!(
                    "{}: converting module {} to {dtype:?}",
                    path.display(),
                    conv.module
                ),
                source,
            };
            conv.kernel = conv.kernel.to_dtype(dtype).map_err(candle)?;
            conv.bias = conv.bias.to_dtype(dtype).map_err(candle)?;
        }
        Ok(self)
    }

    /// Every convolution of the network (the candle tensors of each are converted by
    /// [`Yolox::with_dtype`]).
    fn convs_mut(&mut self) -> Vec<&mut Conv> {
        fn block<'a>(b: &'a mut Block, out: &mut Vec<&'a mut Conv>) {
            match b {
                Block::Base(c) => out.push(c),
                Block::Depthwise { dconv, pconv } => {
                    out.push(dconv);
                    out.push(pconv);
                }
            }
        }
        fn csp<'a>(c: &'a mut Csp, out: &mut Vec<&'a mut Conv>) {
            out.push(&mut c.conv1);
            out.push(&mut c.conv2);
            out.push(&mut c.conv3);
            for b in &mut c.m {
                out.push(&mut b.conv1);
                block(&mut b.conv2, out);
            }
        }
        let mut out = vec![&mut self.stem];
        for (b, c) in [
            (&mut self.dark2.0, &mut self.dark2.1),
            (&mut self.dark3.0, &mut self.dark3.1),
            (&mut self.dark4.0, &mut self.dark4.1),
        ] {
            block(b, &mut out);
            csp(c, &mut out);
        }
        block(&mut self.dark5.0, &mut out);
        out.push(&mut self.dark5.1.conv1);
        out.push(&mut self.dark5.1.conv2);
        csp(&mut self.dark5.2, &mut out);
        out.push(&mut self.lateral_conv0);
        csp(&mut self.c3_p4, &mut out);
        out.push(&mut self.reduce_conv1);
        csp(&mut self.c3_p3, &mut out);
        block(&mut self.bu_conv2, &mut out);
        csp(&mut self.c3_n3, &mut out);
        block(&mut self.bu_conv1, &mut out);
        csp(&mut self.c3_n4, &mut out);
        for level in &mut self.head {
            out.push(&mut level.stem);
            for b in level.cls_convs.iter_mut().chain(level.reg_convs.iter_mut()) {
                block(b, &mut out);
            }
            out.push(&mut level.cls_pred);
            out.push(&mut level.reg_pred);
            out.push(&mut level.obj_pred);
        }
        out
    }

    /// Output channels of each CSP stage of the backbone (dark2..dark5), for a summary.
    pub fn widths(&self) -> [usize; 4] {
        [
            self.dark2.1.out_channels(),
            self.dark3.1.out_channels(),
            self.dark4.1.out_channels(),
            self.dark5.2.out_channels(),
        ]
    }

    /// Bottlenecks per backbone CSP layer (dark2..dark5).
    pub fn depths(&self) -> [usize; 4] {
        [
            self.dark2.1.m.len(),
            self.dark3.1.m.len(),
            self.dark4.1.m.len(),
            self.dark5.2.m.len(),
        ]
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// On the CPU device, whether to run lookout's kernels (the default) or candle's ops (the
    /// reference they are tested against).
    pub fn with_cpu_kernels(mut self, on: bool) -> Self {
        self.cpu_kernels = on;
        self
    }

    /// Runs the network on `input` (`N x 3 x H x W` f32 BGR 0..255, H and W multiples of 32).
    pub fn forward(&self, input: &Tensor) -> Result<Vec<YoloxHead>, YoloxError> {
        self.forward_impl(input, None)
    }

    /// [`Self::forward`] plus the wall time of each layer in execution order, for profiles
    /// (on the CPU kernels only: the candle path returns no times).
    pub fn forward_profiled(
        &self,
        input: &Tensor,
    ) -> Result<(Vec<YoloxHead>, Vec<LayerTime>), YoloxError> {
        let mut times = Vec::new();
        let heads = self.forward_impl(input, Some(&mut times))?;
        Ok((heads, times))
    }

    fn forward_impl(
        &self,
        input: &Tensor,
        times: Option<&mut Vec<LayerTime>>,
    ) -> Result<Vec<YoloxHead>, YoloxError> {
        let dims = input.dims();
        let ok = dims.len() == 4
            && dims[1] == 3
            && dims[2] > 0
            && dims[3] > 0
            && dims[2] % 32 == 0
            && dims[3] % 32 == 0
            && input.dtype() == DType::F32;
        if !ok {
            return Err(YoloxError::InputShape {
                shape: dims.to_vec(),
                message: format!(
                    "expected f32 N x 3 x H x W with H and W positive multiples of 32, got {:?}",
                    input.dtype()
                ),
            });
        }
        // lookout's CPU kernels read f32 weights; other precisions (f16 on CUDA) and other
        // devices run candle's ops on an input of the weights' type.
        let dtype = self.dtype();
        if self.cpu_kernels
            && self.device.is_cpu()
            && input.device().is_cpu()
            && dtype == DType::F32
        {
            return self.forward_cpu(input, times);
        }
        let f = Forward { path: &self.path };
        let input = input
            .to_dtype(dtype)
            .map_err(f.candle("converting the input to the weights' precision"))?;
        let x = f.focus(&input)?;
        let x = f.conv(&self.stem, &x)?;
        let x = f.csp(&self.dark2.1, &f.block(&self.dark2.0, &x)?)?;
        let x3 = f.csp(&self.dark3.1, &f.block(&self.dark3.0, &x)?)?;
        let x4 = f.csp(&self.dark4.1, &f.block(&self.dark4.0, &x3)?)?;
        let x = f.block(&self.dark5.0, &x4)?;
        let x = f.spp(&self.dark5.1, &x)?;
        let x5 = f.csp(&self.dark5.2, &x)?;

        let fpn_out0 = f.conv(&self.lateral_conv0, &x5)?;
        let up = f.upsample(&fpn_out0)?;
        let f_out0 = f.csp(&self.c3_p4, &f.cat(&[&up, &x4])?)?;
        let fpn_out1 = f.conv(&self.reduce_conv1, &f_out0)?;
        let up = f.upsample(&fpn_out1)?;
        let pan_out2 = f.csp(&self.c3_p3, &f.cat(&[&up, &x3])?)?;
        let down = f.block(&self.bu_conv2, &pan_out2)?;
        let pan_out1 = f.csp(&self.c3_n3, &f.cat(&[&down, &fpn_out1])?)?;
        let down = f.block(&self.bu_conv1, &pan_out1)?;
        let pan_out0 = f.csp(&self.c3_n4, &f.cat(&[&down, &fpn_out0])?)?;

        let mut heads = Vec::with_capacity(3);
        for ((level, x), stride_px) in self
            .head
            .iter()
            .zip([&pan_out2, &pan_out1, &pan_out0])
            .zip(STRIDES_PX)
        {
            let x = f.conv(&level.stem, x)?;
            let cls = f.block(&level.cls_convs[1], &f.block(&level.cls_convs[0], &x)?)?;
            let reg = f.block(&level.reg_convs[1], &f.block(&level.reg_convs[0], &x)?)?;
            let cls = f.sigmoid(&f.conv(&level.cls_pred, &cls)?)?;
            let box_ = f.conv(&level.reg_pred, &reg)?;
            let obj = f.sigmoid(&f.conv(&level.obj_pred, &reg)?)?;
            let output = f.cat(&[&box_, &obj, &cls])?;
            // The decoders read f32 heads, whatever the network's precision.
            let output = output
                .to_dtype(DType::F32)
                .map_err(f.candle("converting a head to f32"))?;
            heads.push(YoloxHead { output, stride_px });
        }
        Ok(heads)
    }
}

/// The candle forward's error context.
struct Forward<'a> {
    path: &'a Path,
}

impl Forward<'_> {
    fn candle(&self, what: &str) -> impl Fn(candle_core::Error) -> YoloxError + '_ {
        let context = format!("{}: {what}", self.path.display());
        move |source| YoloxError::Candle {
            context: context.clone(),
            source,
        }
    }

    /// Focus: space-to-depth, channels `[top-left, bottom-left, top-right, bottom-right]`.
    fn focus(&self, x: &Tensor) -> Result<Tensor, YoloxError> {
        let e = self.candle("focus");
        let (n, c, h, w) = x.dims4().map_err(&e)?;
        let r = x.reshape((n, c, h / 2, 2, w / 2, 2)).map_err(&e)?;
        let pick = |row: usize, col: usize| -> candle_core::Result<Tensor> {
            r.narrow(3, row, 1)?
                .narrow(5, col, 1)?
                .reshape((n, c, h / 2, w / 2))
        };
        let parts = [pick(0, 0), pick(1, 0), pick(0, 1), pick(1, 1)]
            .into_iter()
            .collect::<candle_core::Result<Vec<_>>>()
            .map_err(&e)?;
        Tensor::cat(&parts, 1)
            .and_then(|t| t.contiguous())
            .map_err(&e)
    }

    fn cat(&self, parts: &[&Tensor]) -> Result<Tensor, YoloxError> {
        Tensor::cat(parts, 1).map_err(self.candle("concat"))
    }

    fn sigmoid(&self, x: &Tensor) -> Result<Tensor, YoloxError> {
        candle_nn::ops::sigmoid(x).map_err(self.candle("sigmoid"))
    }

    fn upsample(&self, x: &Tensor) -> Result<Tensor, YoloxError> {
        let e = self.candle("upsample");
        let (_, _, h, w) = x.dims4().map_err(&e)?;
        x.upsample_nearest2d(2 * h, 2 * w).map_err(&e)
    }

    fn block(&self, b: &Block, x: &Tensor) -> Result<Tensor, YoloxError> {
        match b {
            Block::Base(c) => self.conv(c, x),
            Block::Depthwise { dconv, pconv } => self.conv(pconv, &self.conv(dconv, x)?),
        }
    }

    fn csp(&self, csp: &Csp, x: &Tensor) -> Result<Tensor, YoloxError> {
        let mut x1 = self.conv(&csp.conv1, x)?;
        let x2 = self.conv(&csp.conv2, x)?;
        for b in &csp.m {
            let y = self.block(&b.conv2, &self.conv(&b.conv1, &x1)?)?;
            x1 = if b.shortcut {
                (y + &x1).map_err(self.candle(&b.conv1.module))?
            } else {
                y
            };
        }
        self.conv(&csp.conv3, &self.cat(&[&x1, &x2])?)
    }

    /// Max-pools of 5, 9, 13 with stride 1 and `k / 2` padding. Edge replication stands in for
    /// the `-inf` padding: a window reaching past the edge already holds the edge pixel it
    /// would replicate.
    fn spp(&self, spp: &Spp, x: &Tensor) -> Result<Tensor, YoloxError> {
        let x = self.conv(&spp.conv1, x)?;
        let e = self.candle(&spp.conv1.module);
        let mut parts = vec![x.clone()];
        for k in SPP_SIZES {
            let p = k / 2;
            let pooled = x
                .pad_with_same(2, p, p)
                .and_then(|t| t.pad_with_same(3, p, p))
                .and_then(|t| t.max_pool2d_with_stride(k, 1))
                .map_err(&e)?;
            parts.push(pooled);
        }
        let refs: Vec<&Tensor> = parts.iter().collect();
        self.conv(&spp.conv2, &self.cat(&refs)?)
    }

    fn conv(&self, c: &Conv, x: &Tensor) -> Result<Tensor, YoloxError> {
        let e = self.candle(&c.module);
        let (_, c_in, _, _) = x.dims4().map_err(&e)?;
        if c_in != c.c_in {
            return Err(YoloxError::InputShape {
                shape: x.dims().to_vec(),
                message: format!("module {} reads {} channels", c.module, c.c_in),
            });
        }
        let g = &c.geometry;
        // candle's grouped conv2d runs one convolution per group: a launch or more per channel
        // on a GPU, so depthwise layers there go tap by tap instead. On the CPU candle's conv2d
        // stays the reference the CPU kernels are tested against.
        let by_taps = !x.device().is_cpu() && g.groups == c_in && g.filters == c_in && g.groups > 1;
        let y = if by_taps {
            depthwise_by_taps(x, &c.kernel, g.stride, g.padding)
        } else {
            x.conv2d(&c.kernel, g.padding, g.stride, 1, g.groups)
        }
        .and_then(|y| y.broadcast_add(&c.bias))
        .map_err(&e)?;
        if c.silu {
            y.silu().map_err(&e)
        } else {
            Ok(y)
        }
    }
}

/// Depthwise convolution (no bias) in candle ops on any device: `x` (`N x C x H x W`) with
/// `kernel` (`C x 1 x k x k`), zero padding `padding`, stride `stride`; the same result as
/// `x.conv2d(kernel, padding, stride, 1, C)` up to the order of the sums. One multiply and one
/// add per tap over the whole batch (about 2 k² launches on a GPU, where candle's grouped
/// conv2d makes C convolutions), then every `stride`-th row and column.
pub fn depthwise_by_taps(
    x: &Tensor,
    kernel: &Tensor,
    stride: usize,
    padding: usize,
) -> candle_core::Result<Tensor> {
    let (_, c, h, w) = x.dims4()?;
    let (filters, per_group, k, k_w) = kernel.dims4()?;
    if filters != c
        || per_group != 1
        || k != k_w
        || stride == 0
        || h + 2 * padding < k
        || w + 2 * padding < k
    {
        candle_core::bail!(
            "depthwise_by_taps: input {:?} and kernel {:?} (stride {stride}, padding {padding}) \
             do not form a depthwise convolution",
            x.dims(),
            kernel.dims()
        );
    }
    let xp = x
        .pad_with_zeros(2, padding, padding)?
        .pad_with_zeros(3, padding, padding)?;
    // Stride-1 output size; every stride-th position of it is the strided output.
    let (h1, w1) = (h + 2 * padding + 1 - k, w + 2 * padding + 1 - k);
    // Row t of `taps` holds every channel's weight of tap t (row-major over the k x k window).
    let taps = kernel.reshape((c, k * k))?.t()?.contiguous()?;
    let mut acc: Option<Tensor> = None;
    for dy in 0..k {
        for dx in 0..k {
            let weight = taps.get(dy * k + dx)?.reshape((1, c, 1, 1))?;
            let term = xp
                .narrow(2, dy, h1)?
                .narrow(3, dx, w1)?
                .broadcast_mul(&weight)?;
            acc = Some(match acc {
                None => term,
                Some(a) => (a + term)?,
            });
        }
    }
    let y = acc.ok_or_else(|| candle_core::Error::Msg("depthwise_by_taps: empty kernel".into()))?;
    if stride == 1 {
        return Ok(y);
    }
    let every = |n: usize| -> candle_core::Result<Tensor> {
        let idx: Vec<u32> = (0..n).step_by(stride).map(|i| i as u32).collect();
        Tensor::new(idx.as_slice(), x.device())
    };
    y.index_select(&every(h1)?, 2)?.index_select(&every(w1)?, 3)
}

/// Depthwise convolution + bias of one batch item (`groups == channels == filters`): each
/// channel of `input` (`in_shape`) with its own `k x k` kernel into `out`
/// (`geometry.output(in_shape)`), zero padding, any stride. One task per channel; each tap of
/// the kernel is one pass over the output rows it reaches, so the inner loop (stride 1) is a
/// contiguous multiply-add the compiler vectorises.
pub fn depthwise_conv(
    input: &[f32],
    in_shape: Chw,
    kernel: &[f32],
    bias: &[f32],
    geometry: &ConvGeometry,
    out: &mut [f32],
) {
    let g = geometry;
    let os = g.output(in_shape);
    let (k, s, p) = (g.size, g.stride, g.padding);
    let (h, w) = (in_shape.h, in_shape.w);
    debug_assert_eq!(input.len(), in_shape.floats());
    debug_assert_eq!(out.len(), os.floats());
    debug_assert_eq!(kernel.len(), in_shape.c * k * k);
    out.par_chunks_mut(os.plane())
        .enumerate()
        .for_each(|(ch, o)| {
            let inp = &input[ch * in_shape.plane()..][..in_shape.plane()];
            let kern = &kernel[ch * k * k..][..k * k];
            o.fill(bias[ch]);
            for ky in 0..k {
                for kx in 0..k {
                    let wv = kern[ky * k + kx];
                    // output columns whose input column ox * s + kx - p lies in 0..w
                    let lo = p.saturating_sub(kx).div_ceil(s);
                    let hi = if w + p > kx {
                        ((w + p - kx - 1) / s + 1).min(os.w)
                    } else {
                        0
                    };
                    if lo >= hi {
                        continue;
                    }
                    for oy in 0..os.h {
                        let iy = oy * s + ky;
                        if iy < p || iy - p >= h {
                            continue;
                        }
                        let row_in = &inp[(iy - p) * w..][..w];
                        let row_out = &mut o[oy * os.w..][..os.w];
                        if s == 1 {
                            let first_in = lo + kx - p;
                            let src = &row_in[first_in..first_in + (hi - lo)];
                            for (d, &v) in row_out[lo..hi].iter_mut().zip(src) {
                                *d += wv * v;
                            }
                        } else {
                            for ox in lo..hi {
                                row_out[ox] += wv * row_in[ox * s + kx - p];
                            }
                        }
                    }
                }
            }
        });
}
