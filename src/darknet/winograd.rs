//! Winograd F(4x4, 3x3) convolution for 3x3, stride-1, padding-1 layers (one batch item, NCHW
//! f32), used by [`super::cpu`] for the layer shapes where it beats im2col + gemm.
//!
//! Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016): each 4x4
//! block of outputs is `A^T [ (G g G^T) ⊙ (B^T d B) ] A` for the 6x6 input patch `d` around it
//! and the 3x3 kernel `g`, so the channel sum becomes 36 independent matrix products
//! `M[ξ] (filters x tiles) = U[ξ] (filters x channels) * V[ξ] (channels x tiles)`, one per
//! point ξ of the 6x6 transformed domain: 36 * 2 multiply-adds per 16 outputs and channel pair
//! instead of 9 * 16, 4x fewer (less at image edges that do not fill a tile).
//!
//! * `U = G g G^T` is computed once at load ([`WinogradKernel::new`], in f64);
//! * the input transform `V = B^T d B` and the output transform `A^T M A` (fused with bias and
//!   activation) run on 16 tiles at a time, so that each step is a 16-lane vector operation
//!   (AVX-512 when the CPU has it, chosen at run time), split across threads by channel;
//! * the 36 products are single-threaded `gemm` calls spread over rayon's pool (no nested
//!   parallelism), each deterministic, so results do not depend on the thread count.
//!
//! Scratch layout: `V` as `channels x 36 x tiles`, `M` as `filters x 36 x tiles` (row-major),
//! so that both transforms work on contiguous per-channel blocks and the gemm reads and writes
//! them with a row stride of `36 * tiles`.
//!
//! The f32 results differ from the direct convolution by rounding only (the transforms have
//! small integer and 1/24..1/4 coefficients; measured errors are in the tests).

use rayon::prelude::*;

use super::cfg::Activation;
use super::cpu::{bias_activate_plane, Chw, ConvGeometry};

/// Output pixels per tile side.
const TILE: usize = 4;
/// Input pixels per tile side (`TILE + 3 - 1`).
const ALPHA: usize = 6;
/// Points of the transformed domain.
const POINTS: usize = ALPHA * ALPHA;
/// Tiles transformed together (one AVX-512 register of f32).
const LANES: usize = 16;

type Lanes = [f32; LANES];

/// `G` of F(4, 3): the kernel transform, 6x3.
const G: [[f64; 3]; ALPHA] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// A 3x3 kernel transformed for F(4x4, 3x3): `U[ξ][filter][channel]`, 36 row-major
/// `filters x channels` matrices (the left operands of the 36 products).
pub struct WinogradKernel {
    filters: usize,
    channels: usize,
    u: Vec<f32>,
}

impl std::fmt::Debug for WinogradKernel {
    // Sizes only: `u` holds up to tens of millions of floats.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WinogradKernel")
            .field("filters", &self.filters)
            .field("channels", &self.channels)
            .finish()
    }
}

impl WinogradKernel {
    /// Transforms `kernel` (`filters x channels x 3 x 3`, row-major).
    pub fn new(kernel: &[f32], filters: usize, channels: usize) -> Self {
        assert_eq!(kernel.len(), filters * channels * 9, "3x3 kernel size");
        let mut u = vec![0f32; POINTS * filters * channels];
        for f in 0..filters {
            for c in 0..channels {
                let g = &kernel[(f * channels + c) * 9..][..9];
                // t = G g (6x3), then U = t G^T (6x6), in f64 so that only the final rounding
                // to f32 is lost.
                let mut t = [[0f64; 3]; ALPHA];
                for (i, row) in t.iter_mut().enumerate() {
                    for (j, v) in row.iter_mut().enumerate() {
                        *v = (0..3).map(|k| G[i][k] * f64::from(g[k * 3 + j])).sum();
                    }
                }
                for i in 0..ALPHA {
                    for j in 0..ALPHA {
                        let v: f64 = (0..3).map(|k| t[i][k] * G[j][k]).sum();
                        u[((i * ALPHA + j) * filters + f) * channels + c] = v as f32;
                    }
                }
            }
        }
        Self {
            filters,
            channels,
            u,
        }
    }
}

/// Whether a convolution can run as Winograd F(4x4, 3x3): 3x3, stride 1, padding 1, no
/// groups, and enough input channels (`c_in`) for the 36 products to outweigh the transforms
/// (measured on the shipped models' shapes, see `BENCHMARKS.md`: with 3 or 16 input channels
/// im2col + gemm is faster).
pub fn applies(geometry: &ConvGeometry, c_in: usize) -> bool {
    geometry.size == 3
        && geometry.stride == 1
        && geometry.padding == 1
        && geometry.groups == 1
        && c_in >= MIN_CHANNELS
}

/// Fewest input channels for which [`applies`] chooses Winograd.
const MIN_CHANNELS: usize = 32;

/// Whether Winograd beats im2col + gemm on this input (a pure function of the shape, so the
/// choice, and with it the rounding of the result, is the same on every run).
pub fn pays_off(input: Chw) -> bool {
    input.c >= MIN_CHANNELS
}

/// The tile grid of an `h x w` output: `(tile rows, tile columns)`.
fn tiles(shape: Chw) -> (usize, usize) {
    (shape.h.div_ceil(TILE), shape.w.div_ceil(TILE))
}

/// Floats of scratch [`conv3x3`] needs for `input` and `filters` (the `V` and `M` matrices).
pub fn scratch_len(input: Chw, filters: usize) -> usize {
    let (th, tw) = tiles(input);
    POINTS * th * tw * (input.c + filters)
}

/// 3x3, stride 1, padding 1 convolution + bias + activation of one batch item: `input`
/// (`in_shape`) into `out` (`filters x h x w`), with `scratch` of at least
/// [`scratch_len`] floats.
pub fn conv3x3(
    input: &[f32],
    in_shape: Chw,
    kernel: &WinogradKernel,
    bias: &[f32],
    activation: Activation,
    out: &mut [f32],
    scratch: &mut [f32],
) {
    let (th, tw) = tiles(in_shape);
    let n_tiles = th * tw;
    let (c, k) = (in_shape.c, kernel.filters);
    assert_eq!(c, kernel.channels, "input channels");
    assert_eq!(input.len(), in_shape.floats());
    assert_eq!(out.len(), k * in_shape.plane());
    assert_eq!(bias.len(), k);
    let (v, rest) = scratch.split_at_mut(POINTS * n_tiles * c);
    let m = &mut rest[..POINTS * n_tiles * k];
    let block = POINTS * n_tiles;

    // Input transform, by channel.
    let plane = in_shape.plane();
    v.par_chunks_mut(block)
        .zip(input.par_chunks(plane))
        .for_each_init(
            || vec![0f32; ALPHA * padded_row_len(tw)],
            |rows, (v_c, in_c)| input_transform(in_c, in_shape, th, tw, rows, v_c),
        );

    // The 36 products, one single-threaded gemm each. Rows of V and M are `block` apart.
    let (v_addr, m_addr, u_addr) = (
        v.as_ptr() as usize,
        m.as_mut_ptr() as usize,
        kernel.u.as_ptr() as usize,
    );
    (0..POINTS).into_par_iter().for_each(|xi| {
        // SAFETY: for point ξ the gemm reads U[ξ] (k x c at xi * k * c, inside `kernel.u`
        // of 36 * k * c floats), reads V's columns [ξ * tiles, (ξ + 1) * tiles) of its c rows
        // (row r at r * block, inside `v` of c * block floats) and writes the same columns of
        // M's k rows (inside `m` of k * block floats). Different ξ touch disjoint columns, so
        // the concurrent writes never overlap, and nothing else accesses `m` or `v` until
        // the parallel loop has joined. read_dst = false: M's old contents are unused.
        unsafe {
            gemm::gemm(
                k,
                n_tiles,
                c,
                (m_addr as *mut f32).add(xi * n_tiles),
                1,
                block as isize,
                false,
                (u_addr as *const f32).add(xi * k * c),
                1,
                c as isize,
                (v_addr as *const f32).add(xi * n_tiles),
                1,
                block as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    });

    // Output transform + bias + activation, by filter.
    let out_shape = Chw { c: k, ..in_shape };
    out.par_chunks_mut(plane)
        .zip(m.par_chunks(block))
        .zip(bias.par_iter())
        .for_each_init(
            || vec![0f32; TILE * TILE * tw.div_ceil(LANES) * LANES],
            |rows, ((out_k, m_k), &b)| {
                output_transform(m_k, out_shape, th, tw, b, activation, rows, out_k);
            },
        );
}

/// Floats in one zero-padded input row copy: one pixel of padding on the left, and on the
/// right up to the last lane's tile.
fn padded_row_len(tw: usize) -> usize {
    TILE * tw.div_ceil(LANES) * LANES + 2
}

/// `V[ξ][t] = (B^T d_t B)[ξ]` for every tile t of one channel, into `v_c` (`36 x tiles`).
/// `rows` holds six padded input rows.
fn input_transform(
    in_c: &[f32],
    shape: Chw,
    th: usize,
    tw: usize,
    rows: &mut [f32],
    v_c: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked just above).
        unsafe { input_transform_avx512(in_c, shape, th, tw, rows, v_c) };
        return;
    }
    input_transform_generic(in_c, shape, th, tw, rows, v_c);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn input_transform_avx512(
    in_c: &[f32],
    shape: Chw,
    th: usize,
    tw: usize,
    rows: &mut [f32],
    v_c: &mut [f32],
) {
    input_transform_generic(in_c, shape, th, tw, rows, v_c);
}

/// `B^T x` of F(4, 3) on six lane vectors.
#[inline(always)]
fn bt(x: [Lanes; ALPHA]) -> [Lanes; ALPHA] {
    let mut r = [[0f32; LANES]; ALPHA];
    for l in 0..LANES {
        let [d0, d1, d2, d3, d4, d5] = [x[0][l], x[1][l], x[2][l], x[3][l], x[4][l], x[5][l]];
        r[0][l] = 4.0 * d0 - 5.0 * d2 + d4;
        r[1][l] = -4.0 * (d1 + d2) + d3 + d4;
        r[2][l] = 4.0 * (d1 - d2) - d3 + d4;
        r[3][l] = 2.0 * (d3 - d1) - d2 + d4;
        r[4][l] = 2.0 * (d1 - d3) - d2 + d4;
        r[5][l] = 4.0 * d1 - 5.0 * d3 + d5;
    }
    r
}

/// `A^T x` of F(4, 3) on six lane vectors.
#[inline(always)]
fn at(x: [Lanes; ALPHA]) -> [Lanes; TILE] {
    let mut r = [[0f32; LANES]; TILE];
    for l in 0..LANES {
        let [m0, m1, m2, m3, m4, m5] = [x[0][l], x[1][l], x[2][l], x[3][l], x[4][l], x[5][l]];
        let (s12, d12, s34, d34) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
        r[0][l] = m0 + s12 + s34;
        r[1][l] = d12 + 2.0 * d34;
        r[2][l] = s12 + 4.0 * s34;
        r[3][l] = d12 + 8.0 * d34 + m5;
    }
    r
}

#[inline(always)]
fn input_transform_generic(
    in_c: &[f32],
    shape: Chw,
    th: usize,
    tw: usize,
    rows: &mut [f32],
    v_c: &mut [f32],
) {
    let n_tiles = th * tw;
    let row_len = padded_row_len(tw);
    for ty in 0..th {
        // The six input rows of this tile row, zero-padded: padded column x is input
        // column x - 1.
        for (i, row) in rows.chunks_exact_mut(row_len).enumerate() {
            let y = (ty * TILE + i) as isize - 1;
            if y < 0 || y >= shape.h as isize {
                row.fill(0.0);
            } else {
                row[0] = 0.0;
                row[1..=shape.w].copy_from_slice(&in_c[y as usize * shape.w..][..shape.w]);
                row[shape.w + 1..].fill(0.0);
            }
        }
        for tx0 in (0..tw).step_by(LANES) {
            // d[i][j][l] = padded input (row i, column 4 (tx0 + l) + j); rows first: B^T d.
            let mut cols = [[[0f32; LANES]; ALPHA]; ALPHA];
            for j in 0..ALPHA {
                let mut d = [[0f32; LANES]; ALPHA];
                for (i, di) in d.iter_mut().enumerate() {
                    let row = &rows[i * row_len + TILE * tx0..][..TILE * LANES + 2];
                    for (l, v) in di.iter_mut().enumerate() {
                        *v = row[TILE * l + j];
                    }
                }
                // column j of B^T d
                let r = bt(d);
                for i in 0..ALPHA {
                    cols[i][j] = r[i];
                }
            }
            // (B^T d) B: the same transform along each row.
            let valid = LANES.min(tw - tx0);
            let t0 = ty * tw + tx0;
            for (i, row) in cols.into_iter().enumerate() {
                let r = bt(row);
                for (j, lanes) in r.iter().enumerate() {
                    v_c[(i * ALPHA + j) * n_tiles + t0..][..valid].copy_from_slice(&lanes[..valid]);
                }
            }
        }
    }
}

/// One filter's output plane from its `M` block (`36 x tiles`), plus bias and activation.
/// `rows` holds four output rows of whole lane groups.
#[allow(clippy::too_many_arguments)]
fn output_transform(
    m_k: &[f32],
    shape: Chw,
    th: usize,
    tw: usize,
    bias: f32,
    activation: Activation,
    rows: &mut [f32],
    out_k: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked just above).
        unsafe { output_transform_avx512(m_k, shape, th, tw, bias, activation, rows, out_k) };
        return;
    }
    output_transform_generic(m_k, shape, th, tw, bias, activation, rows, out_k);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn output_transform_avx512(
    m_k: &[f32],
    shape: Chw,
    th: usize,
    tw: usize,
    bias: f32,
    activation: Activation,
    rows: &mut [f32],
    out_k: &mut [f32],
) {
    output_transform_generic(m_k, shape, th, tw, bias, activation, rows, out_k);
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn output_transform_generic(
    m_k: &[f32],
    shape: Chw,
    th: usize,
    tw: usize,
    bias: f32,
    activation: Activation,
    rows: &mut [f32],
    out_k: &mut [f32],
) {
    let n_tiles = th * tw;
    let row_len = rows.len() / TILE;
    for ty in 0..th {
        for tx0 in (0..tw).step_by(LANES) {
            let valid = LANES.min(tw - tx0);
            let t0 = ty * tw + tx0;
            // A^T m along each of the six rows of the 6x6 block.
            let mut half = [[[0f32; LANES]; TILE]; ALPHA];
            for (i, h) in half.iter_mut().enumerate() {
                let mut x = [[0f32; LANES]; ALPHA];
                for (j, lanes) in x.iter_mut().enumerate() {
                    lanes[..valid].copy_from_slice(&m_k[(i * ALPHA + j) * n_tiles + t0..][..valid]);
                }
                *h = at(x);
            }
            // then down each column: output (a, b) = A^T half[.][b] at row a.
            for b in 0..TILE {
                let col = [
                    half[0][b], half[1][b], half[2][b], half[3][b], half[4][b], half[5][b],
                ];
                let o = at(col);
                for (a, lanes) in o.iter().enumerate() {
                    let row = &mut rows[a * row_len + TILE * tx0..][..TILE * LANES];
                    for (l, &v) in lanes.iter().enumerate() {
                        row[TILE * l + b] = v;
                    }
                }
            }
        }
        for a in 0..TILE {
            let y = ty * TILE + a;
            if y >= shape.h {
                break;
            }
            let dst = &mut out_k[y * shape.w..][..shape.w];
            dst.copy_from_slice(&rows[a * row_len..][..shape.w]);
            bias_activate_plane(dst, bias, activation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::darknet::cpu::conv2d;

    fn random(len: usize, seed: u32) -> Vec<f32> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// Winograd against the im2col + gemm convolution (itself tested against candle) on
    /// random inputs: sizes that do and do not fill whole tiles and lane groups, one pixel
    /// wide and high images, few and many channels, each activation.
    #[test]
    fn matches_im2col_convolution() {
        let cases = [
            // (c_in, h, w, filters, activation)
            (3, 20, 24, 16, Activation::Leaky),
            (16, 13, 13, 32, Activation::Linear),
            (7, 9, 11, 5, Activation::Relu),
            (1, 1, 1, 1, Activation::Linear),
            (2, 1, 70, 3, Activation::Leaky),
            (5, 67, 2, 4, Activation::Mish),
            (64, 26, 26, 40, Activation::Leaky),
            (130, 6, 5, 17, Activation::Logistic),
            (8, 104, 104, 8, Activation::Leaky),
        ];
        for (seed, &(c, h, w, filters, activation)) in cases.iter().enumerate() {
            let seed = seed as u32;
            let in_shape = Chw { c, h, w };
            let geometry = ConvGeometry {
                filters,
                size: 3,
                stride: 1,
                padding: 1,
                groups: 1,
            };
            let input = random(in_shape.floats(), seed + 1);
            let kernel = random(filters * c * 9, seed + 100);
            let bias = random(filters, seed + 200);
            let n_out = filters * h * w;

            let mut reference = vec![f32::NAN; n_out];
            let mut scratch = vec![f32::NAN; geometry.scratch_len(in_shape)];
            conv2d(
                &input,
                in_shape,
                &kernel,
                &bias,
                &geometry,
                activation,
                &mut reference,
                &mut scratch,
            );

            let wk = WinogradKernel::new(&kernel, filters, c);
            let mut ours = vec![f32::NAN; n_out];
            let mut scratch = vec![f32::NAN; scratch_len(in_shape, filters)];
            conv3x3(
                &input,
                in_shape,
                &wk,
                &bias,
                activation,
                &mut ours,
                &mut scratch,
            );
            // Rounding grows with the number of summed products (9 c) of magnitude <= 0.25.
            let tol = 2e-6 * (9.0 * c as f32).sqrt().max(1.0) * 4.0;
            let mut worst = 0f32;
            for (i, (a, b)) in ours.iter().zip(&reference).enumerate() {
                let err = (a - b).abs();
                assert!(
                    err <= tol * b.abs().max(1.0),
                    "case {seed} ({c}x{h}x{w} -> {filters}) index {i}: winograd {a}, im2col {b}"
                );
                worst = worst.max(err);
            }
            eprintln!("case {seed}: max abs error {worst:e} (tol {tol:e})");
        }
    }
}

#[cfg(test)]
mod timing {
    use super::*;
    use crate::darknet::cpu::conv2d;
    use std::time::Instant;

    #[test]
    #[ignore]
    fn time_shapes() {
        let shapes = [
            (3, 416, 416, 16),
            (16, 208, 208, 32),
            (64, 104, 104, 64),
            (32, 104, 104, 32),
            (32, 104, 104, 64),
            (128, 52, 52, 128),
            (64, 52, 52, 64),
            (64, 52, 52, 128),
            (256, 26, 26, 256),
            (128, 26, 26, 128),
            (128, 26, 26, 256),
            (384, 26, 26, 256),
            (512, 13, 13, 512),
            (256, 13, 13, 512),
            (512, 13, 13, 1024),
        ];
        for (c, h, w, k) in shapes {
            let s = Chw { c, h, w };
            let g = ConvGeometry {
                filters: k,
                size: 3,
                stride: 1,
                padding: 1,
                groups: 1,
            };
            let input = vec![0.1f32; s.floats()];
            let kernel = vec![0.01f32; k * c * 9];
            let bias = vec![0f32; k];
            let mut out = vec![0f32; k * h * w];
            let mut scr = vec![0f32; g.scratch_len(s).max(scratch_len(s, k))];
            let wk = WinogradKernel::new(&kernel, k, c);
            let mut best = [f64::MAX; 2];
            for _ in 0..15 {
                let t = Instant::now();
                conv2d(
                    &input,
                    s,
                    &kernel,
                    &bias,
                    &g,
                    Activation::Leaky,
                    &mut out,
                    &mut scr,
                );
                best[0] = best[0].min(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                conv3x3(&input, s, &wk, &bias, Activation::Leaky, &mut out, &mut scr);
                best[1] = best[1].min(t.elapsed().as_secs_f64() * 1e3);
            }
            eprintln!(
                "{c}x{h}x{w} -> {k}: im2col {:.2} ms, winograd {:.2} ms",
                best[0], best[1]
            );
        }
    }
}
