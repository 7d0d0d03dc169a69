//! The darknet forward on lookout's CPU kernels: the backend of the CPU device (unless
//! [`Darknet::with_cpu_kernels`] turned it off).
//!
//! Input a contiguous `N x C x H x W` f32 CPU tensor; output the [`YoloHead`]s as CPU tensors.
//! Every layer reads and writes plain `f32` buffers, one per layer, kept in a `Workspace`
//! reused across calls, so a steady-state frame allocates only its head tensors:
//! convolutions run as Winograd F(4x4, 3x3) (`darknet::winograd`) where the kernel was
//! transformed at load and the input has enough channels, else as im2col + gemm
//! (`darknet::cpu::conv2d`), both with the bias and activation fused; max-pool, upsample,
//! route and shortcut are `darknet::cpu`'s threaded copies. Batch items run one after another.
//! Outputs match `forward_candle` (the tests below compare them).

use std::time::{Duration, Instant};

use candle_core::{CpuStorage, Device, Storage, Tensor};

use super::{geometry, Darknet, YoloHead};
use crate::darknet::cfg::Layer;
use crate::darknet::cpu::{self, ensure_len, Chw};
use crate::darknet::winograd;
use crate::darknet::DarknetError;

/// The CPU forward's buffers: every layer's output (`N x C x H x W`), grown on first use.
#[derive(Default)]
pub(super) struct Workspace {
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

impl Darknet {
    /// The forward on the CPU kernels of `darknet::cpu`, into the reused workspace.
    pub(super) fn forward_cpu(
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
        // The whole forward runs on one of rayon's worker threads: each layer's parallel loop
        // is then a fork-join inside the pool, not a hand-over from this thread and back (two
        // context switches per layer).
        rayon::scope(|_| {
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
                let shape = match &block.layer {
                    Layer::Convolutional(spec) => {
                        let conv = self.folded_conv(index)?;
                        let geometry = geometry(spec);
                        let per_filter = geometry.size * geometry.size * geometry.filters;
                        if xs.c * per_filter != conv.kernel_host.0.len() * geometry.groups {
                            return Err(arch(format!("convolution input has {} channels", xs.c)));
                        }
                        let os = geometry.output(xs);
                        ensure_len(out, n * os.floats());
                        if let Some(wk) = conv.winograd.as_ref().filter(|_| winograd::pays_off(xs))
                        {
                            ensure_len(
                                &mut ws.scratch,
                                winograd::scratch_len(xs, geometry.filters),
                            );
                            for b in 0..n {
                                winograd::conv3x3(
                                    &x[b * xs.floats()..][..xs.floats()],
                                    xs,
                                    wk,
                                    &conv.bias,
                                    spec.activation,
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
                                    &conv.kernel_host.0,
                                    &conv.bias,
                                    &geometry,
                                    spec.activation,
                                    &mut out[b * os.floats()..][..os.floats()],
                                    &mut ws.scratch,
                                );
                            }
                        }
                        os
                    }
                    &Layer::MaxPool {
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
                    Layer::Route {
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
                                return Err(arch(format!(
                                    "route inputs differ in size at layer {l}"
                                )));
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
                    &Layer::Upsample { stride } => {
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
                    &Layer::Shortcut { from, activation } => {
                        if ws.shapes.get(from) != Some(&xs) {
                            return Err(arch(format!(
                                "shortcut from layer {from} of another shape"
                            )));
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
                    Layer::Yolo(y) => {
                        let output = Tensor::from_slice(
                            &x[..n * xs.floats()],
                            (n, xs.c, xs.h, xs.w),
                            &Device::Cpu,
                        )
                        .map_err(|e| candle("head output", e))?;
                        heads.push(YoloHead {
                            output,
                            anchors: y.head_anchors(),
                            stride_px: input_h / xs.h.max(1),
                            classes: y.classes,
                            scale_x_y: y.scale_x_y,
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{net, net_with_random_weights};
    use super::*;

    /// lookout's CPU kernels against candle's ops on the network touching every layer kind,
    /// twice (the second call reuses the workspace).
    #[test]
    fn cpu_kernels_match_candle_ops() {
        let device = Device::Cpu;
        let reference_net = net(&device).with_cpu_kernels(false);
        let net = net(&device);
        let input = Tensor::rand(0f32, 1f32, (2, 3, 64, 96), &device).unwrap();
        let reference = reference_net.forward(&input).unwrap();
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
            .filter(|(_, b)| b.conv.as_ref().is_some_and(|c| c.winograd.is_some()))
            .map(|(i, _)| i)
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
}
