//! CPU kernels for the darknet layers on plain `C x H x W` f32 buffers (one batch item, NCHW,
//! row-major), used by [`super::model::Darknet`]'s CPU forward pass instead of candle's ops.
//!
//! Why not candle's CPU ops: candle 0.11.1's conv2d reorders the kernel on every call,
//! transposes NCHW to NHWC and back, runs its im2col for small layers on one thread and
//! allocates every intermediate (see `BENCHMARKS.md`, "Detector forward pass (CPU)"). Here:
//!
//! * convolution = im2col into a reused scratch buffer (skipped for 1x1/stride 1 layers, whose
//!   input already is the `K x HW` matrix), then one `gemm` call that writes straight into the
//!   layer's output buffer, `out[filters x HW] = kernel[filters x K] * cols[K x HW]`; the
//!   folded kernel as loaded (`filters x C x k x k`) is that left matrix, so nothing is
//!   reordered per call; strided layers first split the input rows into column phases, so
//!   that every im2col row is a contiguous copy (the 3x3 stride-1 layers with many channels
//!   run as Winograd instead, [`super::winograd`], chosen by the model);
//! * bias + activation fused in one pass over the output, split across threads by channel;
//! * max-pool, upsample, route and shortcut split across threads by channel (rayon's global
//!   pool, the same one candle and `gemm` use, so nothing is oversubscribed).
//!
//! Semantics are darknet's (AlexeyAB): zero padding for convolutions, max-pool windows clipped
//! to the image (darknet fills the padding with `-FLT_MAX`), nearest-neighbour upsampling.

use rayon::prelude::*;

use super::cfg::Activation;

/// Grows `buf` to `len` floats (no allocation once it has been that large): the workspaces of
/// the darknet and YOLOX CPU forwards and their kernels' scratch.
pub fn ensure_len(buf: &mut Vec<f32>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
}

/// Shape of one batch item's activation, `channels x height x width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chw {
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl Chw {
    /// Floats in one batch item.
    pub fn floats(self) -> usize {
        self.c * self.h * self.w
    }

    pub fn plane(self) -> usize {
        self.h * self.w
    }
}

/// A convolution's geometry; the kernel is `filters x (c_in / groups) x size x size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub filters: usize,
    pub size: usize,
    pub stride: usize,
    pub padding: usize,
    pub groups: usize,
}

impl ConvGeometry {
    pub fn output(&self, input: Chw) -> Chw {
        Chw {
            c: self.filters,
            h: (input.h + 2 * self.padding - self.size) / self.stride + 1,
            w: (input.w + 2 * self.padding - self.size) / self.stride + 1,
        }
    }

    /// Whether the input already is the gemm's right-hand matrix (no im2col needed).
    fn is_pointwise(&self) -> bool {
        self.size == 1 && self.stride == 1 && self.padding == 0
    }

    /// Floats of im2col scratch this layer needs for `input` (plus, for strides above 1, the
    /// group's input split into column phases).
    pub fn scratch_len(&self, input: Chw) -> usize {
        if self.is_pointwise() {
            0
        } else {
            let out = self.output(input);
            input.c / self.groups * (self.size * self.size * out.plane() + self.phased_plane(input))
        }
    }

    /// Floats of one channel split into `stride` column phases (0 for stride 1).
    fn phased_plane(&self, input: Chw) -> usize {
        if self.stride > 1 {
            input.h * self.stride * input.w.div_ceil(self.stride)
        } else {
            0
        }
    }
}

/// Darknet's activations as scalar functions (`activations.h`).
#[inline]
pub fn activate_scalar(x: f32, activation: Activation) -> f32 {
    match activation {
        Activation::Linear => x,
        // max(x, 0.1 x) is x for x > 0 and 0.1 x otherwise; branch-free so it vectorises.
        Activation::Leaky => x.max(0.1 * x),
        Activation::Relu => x.max(0.0),
        Activation::Logistic => 1.0 / (1.0 + (-x).exp()),
        Activation::Mish => {
            // darknet's softplus with threshold 20
            let softplus = if x > 20.0 {
                x
            } else if x < -20.0 {
                x.exp()
            } else {
                x.exp().ln_1p()
            };
            x * softplus.tanh()
        }
    }
}

/// `plane[i] = act(plane[i] + bias)`, with the common activations as their own loops so the
/// compiler vectorises them.
#[inline]
pub(super) fn bias_activate_plane(plane: &mut [f32], bias: f32, activation: Activation) {
    match activation {
        Activation::Linear => plane.iter_mut().for_each(|v| *v += bias),
        Activation::Leaky => plane.iter_mut().for_each(|v| {
            let x = *v + bias;
            *v = x.max(0.1 * x);
        }),
        Activation::Relu => plane.iter_mut().for_each(|v| *v = (*v + bias).max(0.0)),
        act => plane
            .iter_mut()
            .for_each(|v| *v = activate_scalar(*v + bias, act)),
    }
}

/// Minimum floats per parallel task, so that tiny layers do not pay for task splitting.
const MIN_TASK_FLOATS: usize = 16 * 1024;

/// How many planes of `plane` floats one parallel task should take (the darknet and YOLOX
/// kernels' split across threads).
pub fn planes_per_task(plane: usize) -> usize {
    MIN_TASK_FLOATS.div_ceil(plane.max(1)).max(1)
}

/// Convolution + bias + activation of one batch item: `input` (`in_shape`) into `out`
/// (`geometry.output(in_shape)`), using `scratch` (at least `geometry.scratch_len(in_shape)`
/// floats) for the im2col matrix. `kernel` is `filters x (c_in / groups) x size x size`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    input: &[f32],
    in_shape: Chw,
    kernel: &[f32],
    bias: &[f32],
    geometry: &ConvGeometry,
    activation: Activation,
    out: &mut [f32],
    scratch: &mut [f32],
) {
    let out_shape = geometry.output(in_shape);
    let groups = geometry.groups;
    let c_per_group = in_shape.c / groups;
    let f_per_group = geometry.filters / groups;
    let k_len = c_per_group * geometry.size * geometry.size;
    let n = out_shape.plane();
    debug_assert_eq!(input.len(), in_shape.floats());
    debug_assert_eq!(out.len(), out_shape.floats());
    debug_assert_eq!(kernel.len(), geometry.filters * k_len);
    for g in 0..groups {
        let group_in =
            &input[g * c_per_group * in_shape.plane()..][..c_per_group * in_shape.plane()];
        let rhs: &[f32] = if geometry.is_pointwise() {
            group_in
        } else {
            let group_shape = Chw {
                c: c_per_group,
                ..in_shape
            };
            let (cols, rest) = scratch.split_at_mut(k_len * n);
            let source = if geometry.stride > 1 {
                let phased = &mut rest[..c_per_group * geometry.phased_plane(in_shape)];
                split_phases(group_in, group_shape, geometry.stride, phased);
                &*phased
            } else {
                group_in
            };
            im2col(source, group_shape, geometry, out_shape, cols);
            cols
        };
        let lhs = &kernel[g * f_per_group * k_len..][..f_per_group * k_len];
        let dst = &mut out[g * f_per_group * n..][..f_per_group * n];
        sgemm_row_major(f_per_group, n, k_len, lhs, rhs, dst);
    }
    let plane = out_shape.plane();
    out.par_chunks_mut(plane * planes_per_task(plane))
        .enumerate()
        .for_each(|(task, chunk)| {
            let first = task * planes_per_task(plane);
            for (i, p) in chunk.chunks_exact_mut(plane).enumerate() {
                bias_activate_plane(p, bias[first + i], activation);
            }
        });
}

/// `dst[m x n] = lhs[m x k] * rhs[k x n]`, all row-major and contiguous, on rayon's pool.
fn sgemm_row_major(m: usize, n: usize, k: usize, lhs: &[f32], rhs: &[f32], dst: &mut [f32]) {
    assert!(lhs.len() >= m * k && rhs.len() >= k * n && dst.len() >= m * n);
    let threads = rayon::current_num_threads();
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every index the strides reach (row i < m at i * n or
    // i * k, column j < n or k at + j) inside the three slices; `dst` is exclusively borrowed
    // and does not alias `lhs` or `rhs`; read_dst = false, so `dst`'s old contents are unused.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Splits every input row into `stride` phases, `phased[c][y][p][i] =
/// input[c][y][i * stride + p]` (0 past the row's end), so that a strided convolution's im2col rows become contiguous
/// copies (a strided gather per element took as long as the layer's gemm).
fn split_phases(input: &[f32], shape: Chw, stride: usize, phased: &mut [f32]) {
    let wp = shape.w.div_ceil(stride);
    phased
        .par_chunks_mut(stride * wp * shape.h)
        .zip(input.par_chunks(shape.plane()))
        .for_each(|(dst, channel)| {
            for (row, out) in channel
                .chunks_exact(shape.w)
                .zip(dst.chunks_exact_mut(stride * wp))
            {
                if stride == 2 {
                    let (even, odd) = out.split_at_mut(wp);
                    for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(row.chunks(2)) {
                        *e = pair[0];
                        *o = pair.get(1).copied().unwrap_or(0.0);
                    }
                } else {
                    for (p, phase) in out.chunks_exact_mut(wp).enumerate() {
                        for (i, v) in phase.iter_mut().enumerate() {
                            *v = row.get(i * stride + p).copied().unwrap_or(0.0);
                        }
                    }
                }
            }
        });
}

/// The im2col matrix: row `(c, ky, kx)`, column `oy * out_w + ox`, holding
/// `input[c, oy * stride + ky - pad, ox * stride + kx - pad]` or 0 outside the image.
/// For strides above 1, `input` is the [`split_phases`] form of the input.
fn im2col(input: &[f32], in_shape: Chw, g: &ConvGeometry, out_shape: Chw, cols: &mut [f32]) {
    let (k, s, pad) = (g.size, g.stride, g.padding);
    let n = out_shape.plane();
    let rows_per_task = planes_per_task(n);
    cols.par_chunks_mut(n * rows_per_task)
        .enumerate()
        .for_each(|(task, chunk)| {
            for (i, row) in chunk.chunks_exact_mut(n).enumerate() {
                let r = task * rows_per_task + i;
                let (c, ky, kx) = (r / (k * k), (r / k) % k, r % k);
                let wp = in_shape.w.div_ceil(s);
                let channel_len = in_shape.h * s * wp;
                let channel = &input[c * channel_len..][..channel_len];
                // Output columns whose input column lies inside the image: ox in [x0, x1).
                let x0 = pad.saturating_sub(kx).div_ceil(s).min(out_shape.w);
                let x1 = if in_shape.w + pad > kx {
                    ((in_shape.w + pad - kx - 1) / s + 1).clamp(x0, out_shape.w)
                } else {
                    x0
                };
                for (oy, out_row) in row.chunks_exact_mut(out_shape.w).enumerate() {
                    let iy = (oy * s + ky) as isize - pad as isize;
                    if iy < 0 || iy >= in_shape.h as isize {
                        out_row.fill(0.0);
                        continue;
                    }
                    out_row[..x0].fill(0.0);
                    out_row[x1..].fill(0.0);
                    if x1 == x0 {
                        continue;
                    }
                    // Input columns ix0, ix0 + s, ...: one phase, consecutive within it.
                    let ix0 = x0 * s + kx - pad;
                    let phase = &channel[(iy as usize * s + ix0 % s) * wp..][..wp];
                    out_row[x0..x1].copy_from_slice(&phase[ix0 / s..][..x1 - x0]);
                }
            }
        });
}

/// Darknet max-pool of one batch item: window `size`, `stride`, total padding `padding`
/// (`padding / 2` before), windows clipped to the image.
pub fn max_pool(
    input: &[f32],
    in_shape: Chw,
    size: usize,
    stride: usize,
    padding: usize,
    out: &mut [f32],
) -> Chw {
    let out_shape = max_pool_output(in_shape, size, stride, padding);
    let before = padding / 2;
    let plane = out_shape.plane();
    let per_task = planes_per_task(plane);
    out.par_chunks_mut(plane * per_task)
        .enumerate()
        .for_each(|(task, chunk)| {
            for (i, o) in chunk.chunks_exact_mut(plane).enumerate() {
                let c = task * per_task + i;
                let channel = &input[c * in_shape.plane()..][..in_shape.plane()];
                if size == 2 && stride == 2 && before == 0 {
                    max_pool_2x2(channel, in_shape.w, out_shape, o);
                    continue;
                }
                for oy in 0..out_shape.h {
                    let y0 = (oy * stride).saturating_sub(before);
                    let y1 = (oy * stride + size - before).min(in_shape.h);
                    let o_row = &mut o[oy * out_shape.w..][..out_shape.w];
                    for (ox, v) in o_row.iter_mut().enumerate() {
                        let x0 = (ox * stride).saturating_sub(before);
                        let x1 = (ox * stride + size - before).min(in_shape.w);
                        let mut m = f32::NEG_INFINITY;
                        for y in y0..y1 {
                            for &p in &channel[y * in_shape.w + x0..y * in_shape.w + x1] {
                                m = m.max(p);
                            }
                        }
                        *v = m;
                    }
                }
            }
        });
    out_shape
}

/// The 2x2 stride-2 max-pool of one channel (the common darknet down-sampling), with the
/// window clipped at the right and bottom edges of odd-sized inputs.
fn max_pool_2x2(channel: &[f32], in_w: usize, out_shape: Chw, out: &mut [f32]) {
    let in_h = channel.len() / in_w.max(1);
    for (oy, o_row) in out.chunks_exact_mut(out_shape.w).enumerate() {
        let r0 = &channel[2 * oy * in_w..][..in_w];
        // A bottom window of an odd-height input holds one row: reuse it.
        let r1 = if 2 * oy + 1 < in_h {
            &channel[(2 * oy + 1) * in_w..][..in_w]
        } else {
            r0
        };
        let full = (in_w / 2).min(out_shape.w);
        for ((o, a), b) in o_row[..full]
            .iter_mut()
            .zip(r0.chunks_exact(2))
            .zip(r1.chunks_exact(2))
        {
            *o = a[0].max(a[1]).max(b[0].max(b[1]));
        }
        for (ox, o) in o_row.iter_mut().enumerate().skip(full) {
            *o = r0[2 * ox].max(r1[2 * ox]);
        }
    }
}

pub fn max_pool_output(in_shape: Chw, size: usize, stride: usize, padding: usize) -> Chw {
    Chw {
        c: in_shape.c,
        h: (in_shape.h + padding - size) / stride + 1,
        w: (in_shape.w + padding - size) / stride + 1,
    }
}

/// Nearest-neighbour upsampling of one batch item by `stride`.
pub fn upsample(input: &[f32], in_shape: Chw, stride: usize, out: &mut [f32]) {
    let out_w = in_shape.w * stride;
    let plane = in_shape.plane() * stride * stride;
    let per_task = planes_per_task(plane);
    out.par_chunks_mut(plane * per_task)
        .enumerate()
        .for_each(|(task, chunk)| {
            for (i, o) in chunk.chunks_exact_mut(plane).enumerate() {
                let c = task * per_task + i;
                let channel = &input[c * in_shape.plane()..][..in_shape.plane()];
                for (oy, o_row) in o.chunks_exact_mut(out_w).enumerate() {
                    let in_row = &channel[(oy / stride) * in_shape.w..][..in_shape.w];
                    for (o, &v) in o_row.chunks_exact_mut(stride).zip(in_row) {
                        o.fill(v);
                    }
                }
            }
        });
}

/// `out = act(a + b)`, element-wise.
pub fn shortcut(a: &[f32], b: &[f32], activation: Activation, out: &mut [f32]) {
    out.par_chunks_mut(MIN_TASK_FLOATS)
        .zip(a.par_chunks(MIN_TASK_FLOATS))
        .zip(b.par_chunks(MIN_TASK_FLOATS))
        .for_each(|((o, a), b)| {
            for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
                *o = activate_scalar(a + b, activation);
            }
        });
}

/// Seeded values in [-0.5, 0.5) for the kernels' tests (an LCG: no dependency).
#[cfg(test)]
pub(crate) fn test_random(len: usize, seed: u32) -> Vec<f32> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    use super::test_random as random;

    /// Our convolution against candle's conv2d on random inputs, for the layer shapes of the
    /// shipped models (3x3 stride 1 and 2, 1x1) plus odd sizes and groups.
    #[test]
    fn conv2d_matches_candle() {
        let cases = [
            // (c_in, h, w, filters, size, stride, padding, groups)
            (3, 20, 24, 16, 3, 1, 1, 1),
            (3, 21, 17, 8, 3, 2, 1, 1),
            (16, 13, 13, 32, 3, 1, 1, 1),
            (32, 9, 11, 24, 1, 1, 0, 1),
            (8, 10, 10, 12, 3, 1, 1, 2),
            (4, 7, 5, 6, 5, 2, 2, 1),
            (64, 6, 6, 40, 3, 1, 0, 1),
        ];
        let device = Device::Cpu;
        for (seed, &(c, h, w, filters, size, stride, padding, groups)) in cases.iter().enumerate() {
            let geometry = ConvGeometry {
                filters,
                size,
                stride,
                padding,
                groups,
            };
            let in_shape = Chw { c, h, w };
            let input = random(in_shape.floats(), seed as u32 + 1);
            let kernel = random(filters * c / groups * size * size, seed as u32 + 100);
            let bias = random(filters, seed as u32 + 200);
            let out_shape = geometry.output(in_shape);
            let mut out = vec![f32::NAN; out_shape.floats()];
            let mut scratch = vec![f32::NAN; geometry.scratch_len(in_shape)];
            conv2d(
                &input,
                in_shape,
                &kernel,
                &bias,
                &geometry,
                Activation::Leaky,
                &mut out,
                &mut scratch,
            );

            let x = Tensor::from_vec(input, (1, c, h, w), &device).unwrap();
            let k = Tensor::from_vec(kernel, (filters, c / groups, size, size), &device).unwrap();
            let b = Tensor::from_vec(bias, (1, filters, 1, 1), &device).unwrap();
            let reference = x
                .conv2d(&k, padding, stride, 1, groups)
                .unwrap()
                .broadcast_add(&b)
                .unwrap();
            let reference = candle_nn::ops::leaky_relu(&reference, 0.1).unwrap();
            assert_eq!(
                reference.dims(),
                &[1, out_shape.c, out_shape.h, out_shape.w]
            );
            let reference = reference.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            for (i, (a, b)) in out.iter().zip(&reference).enumerate() {
                let tol = 1e-4 * b.abs().max(1.0);
                assert!(
                    (a - b).abs() <= tol,
                    "case {seed} index {i}: ours {a}, candle {b}"
                );
            }
        }
    }

    #[test]
    fn max_pool_clips_windows_like_darknet() {
        // 2x2/1 with padding 1 on a 2x2 input: window (y, x) covers rows y..y+1, cols x..x+1,
        // out-of-range cells ignored.
        let input = [1f32, -4.0, -3.0, -2.0];
        let shape = Chw { c: 1, h: 2, w: 2 };
        let mut out = [0f32; 4];
        let o = max_pool(&input, shape, 2, 1, 1, &mut out);
        assert_eq!(o, Chw { c: 1, h: 2, w: 2 });
        assert_eq!(out, [1.0, -2.0, -2.0, -2.0]);
        // 2x2/2 with darknet's default padding 1 on 4x4: plain 2x2 blocks.
        let input: Vec<f32> = (0..32).map(|v| v as f32).collect();
        let shape = Chw { c: 2, h: 4, w: 4 };
        let mut out = vec![0f32; 8];
        let o = max_pool(&input, shape, 2, 2, 1, &mut out);
        assert_eq!(o, Chw { c: 2, h: 2, w: 2 });
        assert_eq!(out, [5.0, 7.0, 13.0, 15.0, 21.0, 23.0, 29.0, 31.0]);
    }

    /// The 2x2/2 fast path against the general window loop, on even and odd sizes.
    #[test]
    fn max_pool_2x2_fast_path_matches_general_loop() {
        for (h, w) in [(4, 6), (5, 7), (13, 13), (1, 3)] {
            let shape = Chw { c: 3, h, w };
            let input = random(shape.floats(), (h * 100 + w) as u32);
            let out_shape = max_pool_output(shape, 2, 2, 1);
            let mut fast = vec![f32::NAN; out_shape.floats()];
            max_pool(&input, shape, 2, 2, 1, &mut fast);
            // the general loop, written out: window rows 2y..2y+2, cols 2x..2x+2, clipped
            let mut reference = Vec::new();
            for c in 0..3 {
                for y in 0..out_shape.h {
                    for x in 0..out_shape.w {
                        let mut m = f32::NEG_INFINITY;
                        for yy in 2 * y..(2 * y + 2).min(h) {
                            for xx in 2 * x..(2 * x + 2).min(w) {
                                m = m.max(input[c * h * w + yy * w + xx]);
                            }
                        }
                        reference.push(m);
                    }
                }
            }
            assert_eq!(fast, reference, "{h}x{w}");
        }
    }

    #[test]
    fn upsample_repeats_pixels() {
        let input = [1f32, 2.0, 3.0, 4.0];
        let mut out = [0f32; 16];
        upsample(&input, Chw { c: 1, h: 2, w: 2 }, 2, &mut out);
        assert_eq!(
            out,
            [1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0]
        );
    }
}
