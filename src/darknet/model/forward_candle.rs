//! The darknet forward as candle ops: the backend for every device other than the CPU kernels'
//! (CUDA, in f32 or f16), and on the CPU the reference the CPU kernels are tested against.
//!
//! Input `N x C x H x W` f32 on any device (moved to the network's device and cast to its
//! dtype); output the [`YoloHead`]s as f32 on the network's device. Each layer is a candle op:
//! `conv2d` then bias + activation (one fused in-place pass on contiguous CPU f32 tensors,
//! separate ops elsewhere), max-pool on an edge-replicated padding (equal to darknet's
//! `-FLT_MAX` fill, see below), route as `narrow` + `cat`, nearest-neighbour upsample, shortcut
//! sum then activation. Only the outputs a later route or shortcut reads are kept.

use std::time::{Duration, Instant};

use candle_core::{CpuStorage, DType, Layout, Tensor};

use super::{Darknet, YoloHead};
use crate::darknet::cfg::{Activation, Layer};
use crate::darknet::cpu;
use crate::darknet::DarknetError;

impl Darknet {
    /// The forward as candle ops on any device.
    pub(super) fn forward_candle(
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
            x = match &block.layer {
                Layer::Convolutional(spec) => {
                    let conv = self.folded_conv(index)?;
                    let y = x
                        .conv2d(&conv.kernel, spec.padding, spec.stride, 1, spec.groups)
                        .map_err(candle)?;
                    bias_activation(y, &conv.bias, &conv.bias_tensor, spec.activation)
                        .map_err(candle)?
                }
                &Layer::MaxPool {
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
                Layer::Route {
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
                &Layer::Upsample { stride } => {
                    let (_, _, h, w) = x.dims4().map_err(candle)?;
                    x.upsample_nearest2d(h * stride, w * stride)
                        .map_err(candle)?
                }
                &Layer::Shortcut { from, activation } => {
                    let sum = (&x + get(from)?).map_err(candle)?;
                    activate(&sum, activation).map_err(candle)?
                }
                Layer::Yolo(y) => {
                    let grid_h = x.dim(2).map_err(candle)?;
                    heads.push(YoloHead {
                        output: x.to_dtype(DType::F32).map_err(candle)?,
                        anchors: y.head_anchors(),
                        stride_px: input_h / grid_h.max(1),
                        classes: y.classes,
                        scale_x_y: y.scale_x_y,
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
    use candle_core::Device;

    /// The fused CPU op against the plain candle ops.
    #[test]
    fn fused_bias_activation_matches_unfused() {
        let device = Device::Cpu;
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
