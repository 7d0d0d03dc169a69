//! YOLOX networks in candle, from the ONNX files YOLOX's own export tool writes: the ONNX
//! decoder ([`onnx`]: the graph's convolutions by PyTorch module path) and the network
//! ([`model`]: Focus, CSPDarknet, SPP, PAFPN, decoupled head; any width and depth, depthwise or
//! regular convolutions, so nano, tiny, s, m, l and x all load).
//!
//! Input `N x 3 x S x S` f32 BGR in `0..255`, letterboxed YOLOX-style by
//! [`crate::preprocess::Letterbox::yolox`]; output the raw heads ([`YoloxHead`]), decoded by
//! [`crate::detect::decode_yolox_head`] (grid/stride/exp) and filtered by lookout's NMS.

pub mod cpu;
pub mod model;
pub mod onnx;

use std::path::PathBuf;

pub use model::{Yolox, YoloxHead, STRIDES_PX};
pub use onnx::{OnnxError, ONNX_BYTES_MAX};

/// A YOLOX network that cannot be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum YoloxError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Onnx { path: PathBuf, source: OnnxError },
    /// The graph's convolutions do not form a YOLOX network: `module` is the PyTorch module path
    /// at fault (missing, or with the wrong shape).
    #[error("{path}: module {module}: {message}")]
    Structure {
        path: PathBuf,
        module: String,
        message: String,
    },
    #[error("model input of shape {shape:?}: {message}")]
    InputShape { shape: Vec<usize>, message: String },
    #[error("{context}: {source}")]
    Candle {
        context: String,
        source: candle_core::Error,
    },
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;

    use candle_core::{Device, Tensor};

    use super::onnx::{OnnxConv, OnnxGraph};
    use super::*;

    /// Deterministic pseudo-random floats in `[-0.5, 0.5)`.
    fn random(len: usize, seed: &mut u32) -> Vec<f32> {
        (0..len)
            .map(|_| {
                *seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (*seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// Builds a graph the way YOLOX's modules are nested.
    struct Synth {
        g: OnnxGraph,
        seed: u32,
        depthwise: bool,
    }

    impl Synth {
        #[allow(clippy::too_many_arguments)]
        fn conv(&mut self, m: &str, c_in: usize, c_out: usize, k: usize, s: usize, groups: usize) {
            let per = c_in / groups;
            let scale = 2.0 / ((per * k * k) as f32).sqrt();
            let kernel = random(c_out * per * k * k, &mut self.seed)
                .into_iter()
                .map(|v| v * scale)
                .collect();
            let bias = random(c_out, &mut self.seed);
            self.g.convs.insert(
                m.to_owned(),
                OnnxConv {
                    node: format!("/{}/Conv", m.replace('.', "/")),
                    kernel,
                    kernel_shape: [c_out, per, k, k],
                    bias,
                    stride: s,
                    padding: k / 2,
                    groups,
                },
            );
        }

        /// YOLOX's `Conv`: a DWConv when depthwise, else a 3x3 BaseConv.
        fn block(&mut self, m: &str, c_in: usize, c_out: usize, s: usize) {
            if self.depthwise {
                self.conv(&format!("{m}.dconv"), c_in, c_in, 3, s, c_in);
                self.conv(&format!("{m}.pconv"), c_in, c_out, 1, 1, 1);
            } else {
                self.conv(m, c_in, c_out, 3, s, 1);
            }
        }

        fn csp(&mut self, m: &str, c_in: usize, c_out: usize, n: usize, shortcut: bool) {
            let hidden = c_out / 2;
            self.conv(&format!("{m}.conv1"), c_in, hidden, 1, 1, 1);
            self.conv(&format!("{m}.conv2"), c_in, hidden, 1, 1, 1);
            for i in 0..n {
                self.conv(&format!("{m}.m.{i}.conv1"), hidden, hidden, 1, 1, 1);
                self.block(&format!("{m}.m.{i}.conv2"), hidden, hidden, 1);
                if shortcut {
                    self.g.adds.insert(format!("{m}.m.{i}"));
                }
            }
            self.conv(&format!("{m}.conv3"), 2 * hidden, c_out, 1, 1, 1);
        }
    }

    /// The graph YOLOX's `YOLOX(YOLOPAFPN(depth, width, depthwise), YOLOXHead(...))` exports,
    /// with random weights scaled by `1 / sqrt(fan_in)` so activations stay in range.
    pub(crate) fn synthetic_graph(
        depth: f64,
        width: f64,
        depthwise: bool,
        classes: usize,
    ) -> OnnxGraph {
        let mut y = Synth {
            g: OnnxGraph {
                input: "images".into(),
                ..OnnxGraph::default()
            },
            seed: 7,
            depthwise,
        };
        let base = (width * 64.0) as usize;
        let base_depth = ((depth * 3.0).round() as usize).max(1);
        let bb = "backbone.backbone";
        y.conv(&format!("{bb}.stem.conv"), 12, base, 3, 1, 1);
        let mut c = base;
        for (i, n) in [(2, base_depth), (3, base_depth * 3), (4, base_depth * 3)] {
            y.block(&format!("{bb}.dark{i}.0"), c, 2 * c, 2);
            y.csp(&format!("{bb}.dark{i}.1"), 2 * c, 2 * c, n, true);
            c *= 2;
        }
        y.block(&format!("{bb}.dark5.0"), c, 2 * c, 2);
        c *= 2;
        y.conv(&format!("{bb}.dark5.1.conv1"), c, c / 2, 1, 1, 1);
        y.conv(&format!("{bb}.dark5.1.conv2"), 2 * c, c, 1, 1, 1);
        y.csp(&format!("{bb}.dark5.2"), c, c, base_depth, false);
        let w = |ch: usize| (ch as f64 * width) as usize;
        let n = ((3.0 * depth).round() as usize).max(1);
        y.conv("backbone.lateral_conv0", w(1024), w(512), 1, 1, 1);
        y.csp("backbone.C3_p4", 2 * w(512), w(512), n, false);
        y.conv("backbone.reduce_conv1", w(512), w(256), 1, 1, 1);
        y.csp("backbone.C3_p3", 2 * w(256), w(256), n, false);
        y.block("backbone.bu_conv2", w(256), w(256), 2);
        y.csp("backbone.C3_n3", 2 * w(256), w(512), n, false);
        y.block("backbone.bu_conv1", w(512), w(512), 2);
        y.csp("backbone.C3_n4", 2 * w(512), w(1024), n, false);
        for (level, c_in) in [w(256), w(512), w(1024)].into_iter().enumerate() {
            let hw = w(256);
            y.conv(&format!("head.stems.{level}"), c_in, hw, 1, 1, 1);
            for kind in ["cls_convs", "reg_convs"] {
                for j in 0..2 {
                    y.block(&format!("head.{kind}.{level}.{j}"), hw, hw, 1);
                }
            }
            y.conv(&format!("head.cls_preds.{level}"), hw, classes, 1, 1, 1);
            y.conv(&format!("head.reg_preds.{level}"), hw, 4, 1, 1, 1);
            y.conv(&format!("head.obj_preds.{level}"), hw, 1, 1, 1, 1);
        }
        y.g
    }

    /// The CPU kernels against candle's ops on one random input; returns the largest
    /// difference relative to the largest magnitude of each head.
    fn kernels_vs_reference(graph: OnnxGraph, size: usize) -> f32 {
        let device = Device::Cpu;
        let net = Yolox::from_graph(graph, Path::new("synthetic.onnx"), &device).unwrap();
        let input = Tensor::rand(0f32, 255f32, (2, 3, size, size), &device).unwrap();
        let fast = net.forward(&input).unwrap();
        let net = net.with_cpu_kernels(false);
        let reference = net.forward(&input).unwrap();
        let mut worst = 0f32;
        for ((a, b), stride) in fast.iter().zip(&reference).zip(STRIDES_PX) {
            assert_eq!(a.stride_px, stride);
            assert_eq!(a.output.dims(), b.output.dims());
            assert_eq!(a.output.dims()[1], 5 + net.classes());
            assert_eq!(a.output.dims()[2], size / stride);
            let a: Vec<f32> = a.output.flatten_all().unwrap().to_vec1().unwrap();
            let b: Vec<f32> = b.output.flatten_all().unwrap().to_vec1().unwrap();
            let scale = b.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
            for (x, y) in a.iter().zip(&b) {
                assert!(x.is_finite());
                worst = worst.max((x - y).abs() / scale);
            }
        }
        worst
    }

    /// YOLOX-S (depth 0.33, width 0.5, regular convolutions): every module found, the widths
    /// and depths read back, and the CPU kernels (gemm and Winograd) match candle's ops.
    #[test]
    fn yolox_s_structure_matches_the_reference_path() {
        let g = synthetic_graph(0.33, 0.50, false, 80);
        let net = Yolox::from_graph(g.clone(), Path::new("s.onnx"), &Device::Cpu).unwrap();
        assert!(!net.is_depthwise());
        assert_eq!(net.widths(), [64, 128, 256, 512]);
        assert_eq!(net.depths(), [1, 3, 3, 1]);
        let worst = kernels_vs_reference(g, 64);
        assert!(worst < 1e-3, "relative difference {worst}");
    }

    /// YOLOX-Nano's structure (depth 0.33, width 0.25, depthwise): the depthwise kernel against
    /// candle's grouped convolution, on a non-square-multiple input.
    #[test]
    fn yolox_nano_structure_matches_the_reference_path() {
        let g = synthetic_graph(0.33, 0.25, true, 3);
        let net = Yolox::from_graph(g.clone(), Path::new("nano.onnx"), &Device::Cpu).unwrap();
        assert!(net.is_depthwise());
        assert_eq!(net.widths(), [32, 64, 128, 256]);
        let worst = kernels_vs_reference(g, 96);
        assert!(worst < 1e-3, "relative difference {worst}");
    }

    #[test]
    fn a_missing_or_extra_module_is_named() {
        let mut g = synthetic_graph(0.33, 0.25, true, 3);
        g.convs.remove("backbone.C3_p3.m.0.conv2.pconv");
        let e = Yolox::from_graph(g, Path::new("x.onnx"), &Device::Cpu).unwrap_err();
        assert!(
            e.to_string()
                .contains("module backbone.C3_p3.m.0.conv2.pconv"),
            "{e}"
        );
        let mut g = synthetic_graph(0.33, 0.25, true, 3);
        let extra = g.convs["head.obj_preds.0"].clone();
        g.convs.insert("head.extra".into(), extra);
        let e = Yolox::from_graph(g, Path::new("x.onnx"), &Device::Cpu).unwrap_err();
        assert!(e.to_string().contains("head.extra"), "{e}");
        let mut g = synthetic_graph(0.33, 0.25, true, 3);
        g.convs
            .get_mut("backbone.lateral_conv0")
            .unwrap()
            .kernel_shape[1] = 7;
        let e = Yolox::from_graph(g, Path::new("x.onnx"), &Device::Cpu).unwrap_err();
        assert!(e.to_string().contains("lateral_conv0"), "{e}");
    }

    #[test]
    fn depthwise_kernel_strides_and_edges() {
        use crate::darknet::cpu::{Chw, ConvGeometry};
        let device = Device::Cpu;
        let mut seed = 3u32;
        for (h, w, s) in [(7, 9, 1), (7, 9, 2), (1, 1, 1), (2, 5, 2)] {
            let c = 3;
            let input = random(c * h * w, &mut seed);
            let kernel = random(c * 9, &mut seed);
            let bias = random(c, &mut seed);
            let g = ConvGeometry {
                filters: c,
                size: 3,
                stride: s,
                padding: 1,
                groups: c,
            };
            let os = g.output(Chw { c, h, w });
            let mut out = vec![0f32; os.floats()];
            model::depthwise_conv(&input, Chw { c, h, w }, &kernel, &bias, &g, &mut out);
            let x = Tensor::from_vec(input, (1, c, h, w), &device).unwrap();
            let k = Tensor::from_vec(kernel, (c, 1, 3, 3), &device).unwrap();
            let b = Tensor::from_vec(bias, (1, c, 1, 1), &device).unwrap();
            let want: Vec<f32> = x
                .conv2d(&k, 1, s, 1, c)
                .unwrap()
                .broadcast_add(&b)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(want.len(), out.len());
            for (a, b) in out.iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "{h}x{w}/{s}: {a} vs {b}");
            }
        }
    }

    /// f16 weights (what `precision: f16` gives on CUDA) run candle's ops end to end: every
    /// convolution converted (a missed one would be a dtype error), f32 heads out, close to
    /// the f32 network; YOLOX-S (regular convs) and nano (depthwise).
    #[test]
    fn f16_weights_give_f32_heads_close_to_f32() {
        for (width, depthwise) in [(0.50, false), (0.25, true)] {
            let g = synthetic_graph(0.33, width, depthwise, 3);
            let net = Yolox::from_graph(g, Path::new("f16.onnx"), &Device::Cpu)
                .unwrap()
                .with_cpu_kernels(false);
            let input = Tensor::rand(0f32, 255f32, (1, 3, 64, 64), &Device::Cpu).unwrap();
            let want = net.forward(&input).unwrap();
            let half = net.with_dtype(candle_core::DType::F16).unwrap();
            assert_eq!(half.dtype(), candle_core::DType::F16);
            let got = half.forward(&input).unwrap();
            for (a, b) in got.iter().zip(&want) {
                assert_eq!(a.output.dtype(), candle_core::DType::F32);
                let a: Vec<f32> = a.output.flatten_all().unwrap().to_vec1().unwrap();
                let b: Vec<f32> = b.output.flatten_all().unwrap().to_vec1().unwrap();
                let scale = b.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
                let worst = a
                    .iter()
                    .zip(&b)
                    .fold(0f32, |m, (x, y)| m.max((x - y).abs() / scale));
                assert!(
                    worst < 0.05,
                    "depthwise {depthwise}: relative difference {worst}"
                );
            }
        }
    }

    /// The GPU's depthwise convolution (candle ops tap by tap) against candle's grouped conv2d,
    /// run here on the CPU: strides 1 and 2, odd and even sizes, a 1-pixel image, and k = 5.
    #[test]
    fn depthwise_by_taps_equals_grouped_conv2d() {
        let device = Device::Cpu;
        let mut seed = 5u32;
        for (n, c, h, w, k, s) in [
            (2, 4, 7, 9, 3, 1),
            (2, 4, 7, 9, 3, 2),
            (1, 3, 8, 8, 3, 2),
            (1, 2, 1, 1, 3, 1),
            (1, 3, 6, 5, 5, 2),
        ] {
            let x =
                Tensor::from_vec(random(n * c * h * w, &mut seed), (n, c, h, w), &device).unwrap();
            let kernel =
                Tensor::from_vec(random(c * k * k, &mut seed), (c, 1, k, k), &device).unwrap();
            let want = x.conv2d(&kernel, k / 2, s, 1, c).unwrap();
            let got = model::depthwise_by_taps(&x, &kernel, s, k / 2).unwrap();
            assert_eq!(got.dims(), want.dims(), "{h}x{w} k{k} s{s}");
            let diff = (got - want)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(diff < 1e-5, "{h}x{w} k{k} s{s}: max |diff| {diff}");
        }
        // Not a depthwise kernel: an error, not a panic.
        let x = Tensor::zeros((1, 3, 4, 4), candle_core::DType::F32, &device).unwrap();
        let kernel = Tensor::zeros((3, 2, 3, 3), candle_core::DType::F32, &device).unwrap();
        assert!(model::depthwise_by_taps(&x, &kernel, 1, 1).is_err());
    }
}
