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

/// A 3x3 kernel transformed for F(4x4, 3x3): `U[filter][ξ][channel]`, that is 36
/// `filters x channels` matrices with a row stride of `36 * channels` (the left operands of
/// the 36 products; gemm packs them either way, and this layout lets the transform be split
/// by filter).
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
    /// Transforms `kernel` (`filters x channels x 3 x 3`, row-major), in f64 so that only
    /// the final rounding to f32 is lost; split across threads by filter (a few ms for the
    /// largest shipped layer, part of the model's start-up).
    pub fn new(kernel: &[f32], filters: usize, channels: usize) -> Self {
        assert_eq!(kernel.len(), filters * channels * 9, "3x3 kernel size");
        let mut u = vec![0f32; POINTS * filters * channels];
        advise_huge_pages(&mut u);
        u.par_chunks_mut(POINTS * channels)
            .zip(kernel.par_chunks(9 * channels))
            .for_each(|(u_f, g_f)| {
                // Blocks of channels as lanes, so that the arithmetic vectorises and U's
                // rows (`ξ`, channel) are written contiguously.
                for c0 in (0..channels).step_by(KT_LANES) {
                    let n = KT_LANES.min(channels - c0);
                    let mut g = [[0f64; KT_LANES]; 9];
                    for (l, g_c) in g_f[c0 * 9..][..n * 9].chunks_exact(9).enumerate() {
                        for (tap, &v) in g_c.iter().enumerate() {
                            g[tap][l] = f64::from(v);
                        }
                    }
                    // t = G g (6x3), column by column, then U = t G^T row by row.
                    let mut t = [[[0f64; KT_LANES]; 3]; ALPHA];
                    for b in 0..3 {
                        let col = g_transform([g[b], g[3 + b], g[6 + b]]);
                        for (row, v) in t.iter_mut().zip(col) {
                            row[b] = v;
                        }
                    }
                    for (i, row) in t.iter().enumerate() {
                        for (j, v) in g_transform(*row).into_iter().enumerate() {
                            let dst = &mut u_f[(i * ALPHA + j) * channels + c0..][..n];
                            for (d, &x) in dst.iter_mut().zip(&v) {
                                *d = x as f32;
                            }
                        }
                    }
                }
            });
        Self {
            filters,
            channels,
            u,
        }
    }
}

/// Asks Linux to back `buf` (fresh, untouched) with transparent huge pages where the system
/// allows it on request (`madvise` mode): the transformed kernels of yolov3-tiny are 130 MB,
/// and faulting them in 4 KiB pages took most of the transform's 100 ms at start-up. Only a
/// hint: without it (other systems, THP off) the same memory is used in small pages.
fn advise_huge_pages(buf: &mut [f32]) {
    #[cfg(target_os = "linux")]
    {
        const HUGE_PAGE: usize = 2 << 20;
        let start = buf.as_mut_ptr() as usize;
        let end = start + std::mem::size_of_val(buf);
        let aligned = start.next_multiple_of(HUGE_PAGE);
        if end > aligned + HUGE_PAGE {
            let len = (end - aligned) / HUGE_PAGE * HUGE_PAGE;
            // SAFETY: [aligned, aligned + len) lies inside `buf`, which we borrow mutably;
            // MADV_HUGEPAGE changes only how the kernel backs the pages, never their contents,
            // so no Rust-visible memory changes. The result is ignored: it is a hint.
            unsafe {
                libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
            }
        }
    }
}

/// Channels transformed together by [`WinogradKernel::new`].
const KT_LANES: usize = 8;

type KtLanes = [f64; KT_LANES];

/// `G x` of F(4, 3) for a 3-vector `x` of lanes (multiplications by the f64 reciprocals, not
/// divisions, which made the transform of yolov3-tiny take 150 ms).
#[inline(always)]
fn g_transform([g0, g1, g2]: [KtLanes; 3]) -> [KtLanes; ALPHA] {
    const SIXTH: f64 = 1.0 / 6.0;
    const TWELFTH: f64 = 1.0 / 12.0;
    const TWENTY_FOURTH: f64 = 1.0 / 24.0;
    let mut r = [[0f64; KT_LANES]; ALPHA];
    for l in 0..KT_LANES {
        let (outer, inner) = (g0[l] + g2[l], g2[l] * SIXTH + g0[l] * TWENTY_FOURTH);
        r[0][l] = g0[l] * 0.25;
        r[1][l] = -(outer + g1[l]) * SIXTH;
        r[2][l] = -(outer - g1[l]) * SIXTH;
        r[3][l] = inner + g1[l] * TWELFTH;
        r[4][l] = inner - g1[l] * TWELFTH;
        r[5][l] = g2[l];
    }
    r
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
    input.c >= MIN_CHANNELS && gather_indices_fit(tiles(input))
}

/// Largest float offset into a padded plane that the AVX-512 gathers and scatters can address:
/// `_mm512_i32gather_ps` / `_mm512_mask_i32scatter_ps` read their indices as *signed* 32-bit
/// integers, so an offset of 2^31 or more would wrap to a negative one and address memory
/// before the plane.
const GATHER_INDEX_MAX: usize = i32::MAX as usize;

/// Whether every tile offset of a `(tile rows, tile columns)` grid's padded plane fits a signed
/// 32-bit gather index (offsets are below the plane's length, [`per_task_len`]). Planes this
/// large (about 46000 px square) are far beyond any network input the configuration allows,
/// but [`pays_off`] checks it anyway so that such a plane takes im2col instead of panicking.
fn gather_indices_fit((th, tw): (usize, usize)) -> bool {
    (TILE * th + 2)
        .checked_mul(TILE * tw + 2)
        .is_some_and(|len| len - 1 <= GATHER_INDEX_MAX)
}

/// The tile grid of an `h x w` output: `(tile rows, tile columns)`.
fn tiles(shape: Chw) -> (usize, usize) {
    (shape.h.div_ceil(TILE), shape.w.div_ceil(TILE))
}

/// Floats of scratch [`conv3x3`] needs for `input` and `filters` (the `V` and `M` matrices).
pub fn scratch_len(input: Chw, filters: usize) -> usize {
    let (th, tw) = tiles(input);
    POINTS * th * tw * (input.c + filters) + TASKS * per_task_len(th, tw)
}

/// Parallel tasks per transform (a few per thread of a 2-core machine, for balance); each
/// has its own slice of scratch for a padded input or staged output plane, so that a frame
/// allocates nothing.
const TASKS: usize = 8;

/// Floats of one task's plane buffer: the larger of the padded input and staged output.
fn per_task_len(th: usize, tw: usize) -> usize {
    (TILE * th + 2) * (TILE * tw + 2)
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
    // Signed 32-bit tile offsets (gather indices) into the padded planes; callers check
    // [`pays_off`], which refuses larger planes.
    assert!(gather_indices_fit((th, tw)), "plane too large");
    let (v, rest) = scratch.split_at_mut(POINTS * n_tiles * c);
    let (m, rest) = rest.split_at_mut(POINTS * n_tiles * k);
    let buf_len = per_task_len(th, tw);
    let task_bufs = &mut rest[..TASKS * buf_len];
    let block = POINTS * n_tiles;

    // Input transform, by channel, in TASKS groups of channels.
    let plane = in_shape.plane();
    let per_task = c.div_ceil(TASKS);
    v.par_chunks_mut(block * per_task)
        .zip(input.par_chunks(plane * per_task))
        .zip(task_bufs.par_chunks_mut(buf_len))
        .for_each(|((v_g, in_g), padded)| {
            for (v_c, in_c) in v_g.chunks_exact_mut(block).zip(in_g.chunks_exact(plane)) {
                input_transform(in_c, in_shape, th, tw, padded, v_c);
            }
        });

    // The 36 products, one single-threaded gemm each. Rows of V and M are `block` apart.
    let (v_addr, m_addr, u_addr) = (
        v.as_ptr() as usize,
        m.as_mut_ptr() as usize,
        kernel.u.as_ptr() as usize,
    );
    (0..POINTS).into_par_iter().for_each(|xi| {
        // SAFETY: for point ξ the gemm reads U[.][ξ] (k rows of c floats at f * 36 c + ξ c,
        // inside `kernel.u` of 36 * k * c floats), reads V's columns [ξ * tiles, (ξ + 1) * tiles) of its c rows
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
                (u_addr as *const f32).add(xi * c),
                1,
                (POINTS * c) as isize,
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

    // Output transform + bias + activation, by filter, in TASKS groups of filters.
    let out_shape = Chw { c: k, ..in_shape };
    let per_task = k.div_ceil(TASKS);
    out.par_chunks_mut(plane * per_task)
        .zip(m.par_chunks(block * per_task))
        .zip(bias.par_chunks(per_task))
        .zip(task_bufs.par_chunks_mut(buf_len))
        .for_each(|(((out_g, m_g), bias_g), staged)| {
            let filters = out_g.chunks_exact_mut(plane).zip(m_g.chunks_exact(block));
            for ((out_k, m_k), &b) in filters.zip(bias_g) {
                output_transform(m_k, out_shape, th, tw, b, activation, staged, out_k);
            }
        });
}

/// `V[ξ][t] = (B^T d_t B)[ξ]` for every tile t of one channel, into `v_c` (`36 x tiles`).
/// `padded` holds the channel zero-padded to whole tiles.
fn input_transform(
    in_c: &[f32],
    shape: Chw,
    th: usize,
    tw: usize,
    padded: &mut [f32],
    v_c: &mut [f32],
) {
    if !avx512::input_transform(in_c, shape, th, tw, padded, v_c) {
        input_transform_generic(in_c, shape, th, tw, padded, v_c);
    }
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
#[allow(clippy::needless_range_loop)] // j indexes two arrays in transposed order
fn input_transform_generic(
    in_c: &[f32],
    shape: Chw,
    th: usize,
    tw: usize,
    padded: &mut [f32],
    v_c: &mut [f32],
) {
    let n_tiles = th * tw;
    let pw = TILE * tw + 2;
    let padded = pad_channel(in_c, shape, th, tw, padded);
    // Tiles in lane groups across tile rows, so that small images fill the lanes too.
    for t0 in (0..n_tiles).step_by(LANES) {
        let valid = LANES.min(n_tiles - t0);
        let offsets = tile_offsets(t0, n_tiles, tw, pw);
        // d[i][j][l] = padded (row 4 ty + i, column 4 tx + j) of tile t0 + l; first B^T d.
        let mut cols = [[[0f32; LANES]; ALPHA]; ALPHA];
        for j in 0..ALPHA {
            let mut d = [[0f32; LANES]; ALPHA];
            for (i, di) in d.iter_mut().enumerate() {
                for (v, &o) in di.iter_mut().zip(&offsets) {
                    // SAFETY: o <= 4 (th - 1) pw + 4 (tw - 1) (tile_offsets), and i, j <= 5,
                    // so the index is at most (4 th + 1) pw + 4 tw + 1 < (4 th + 2) pw, the
                    // length of `padded`. Unchecked so that the 16 loads become one gather.
                    *v = unsafe { *padded.get_unchecked(o as usize + i * pw + j) };
                }
            }
            // column j of B^T d
            let r = bt(d);
            for i in 0..ALPHA {
                cols[i][j] = r[i];
            }
        }
        // (B^T d) B: the same transform along each row.
        for (i, row) in cols.into_iter().enumerate() {
            let r = bt(row);
            for (j, lanes) in r.iter().enumerate() {
                v_c[(i * ALPHA + j) * n_tiles + t0..][..valid].copy_from_slice(&lanes[..valid]);
            }
        }
    }
}

/// Copies one input channel into `padded`, zero-padded to whole tiles: padded (y, x) is input
/// (y - 1, x - 1); returns the `(4 th + 2) x (4 tw + 2)` plane.
#[inline(always)]
fn pad_channel<'a>(
    in_c: &[f32],
    shape: Chw,
    th: usize,
    tw: usize,
    padded: &'a mut [f32],
) -> &'a [f32] {
    let pw = TILE * tw + 2;
    let padded = &mut padded[..(TILE * th + 2) * pw];
    padded[..pw].fill(0.0);
    for (y, row) in padded[pw..].chunks_exact_mut(pw).enumerate() {
        if y < shape.h {
            row[0] = 0.0;
            row[1..=shape.w].copy_from_slice(&in_c[y * shape.w..][..shape.w]);
            row[shape.w + 1..].fill(0.0);
        } else {
            row.fill(0.0);
        }
    }
    padded
}

/// Where tiles `t0..t0 + LANES` start in a plane `width` floats wide (the top-left pixel of
/// each tile's block); lanes past the last tile repeat it.
#[inline(always)]
fn tile_offsets(t0: usize, n_tiles: usize, tw: usize, width: usize) -> [u32; LANES] {
    let mut offsets = [0u32; LANES];
    for (l, o) in offsets.iter_mut().enumerate() {
        let t = (t0 + l).min(n_tiles - 1);
        // Offsets are at most i32::MAX (checked in conv3x3), so the u32 bits read as the same
        // non-negative i32 by the gathers.
        *o = ((t / tw) * TILE * width + (t % tw) * TILE) as u32;
    }
    offsets
}

/// One filter's output plane from its `M` block (`36 x tiles`), plus bias and activation.
/// `staged` holds the plane in whole tiles.
#[allow(clippy::too_many_arguments)]
fn output_transform(
    m_k: &[f32],
    shape: Chw,
    th: usize,
    tw: usize,
    bias: f32,
    activation: Activation,
    staged: &mut [f32],
    out_k: &mut [f32],
) {
    if !avx512::output_transform(m_k, shape, th, tw, bias, activation, staged, out_k) {
        output_transform_generic(m_k, shape, th, tw, bias, activation, staged, out_k);
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)] // b: transposed indexing
fn output_transform_generic(
    m_k: &[f32],
    shape: Chw,
    th: usize,
    tw: usize,
    bias: f32,
    activation: Activation,
    staged: &mut [f32],
    out_k: &mut [f32],
) {
    let n_tiles = th * tw;
    // The plane in whole tiles, cropped into `out_k` at the end.
    let sw = TILE * tw;
    let staged = &mut staged[..TILE * th * sw];
    for t0 in (0..n_tiles).step_by(LANES) {
        let valid = LANES.min(n_tiles - t0);
        let offsets = tile_offsets(t0, n_tiles, tw, sw);
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
                for (&v, &off) in lanes[..valid].iter().zip(&offsets) {
                    // SAFETY: off <= 4 (th - 1) sw + 4 (tw - 1) (tile_offsets) and a, b <= 3,
                    // so the index is below 4 th sw, the length of `staged`.
                    unsafe { *staged.get_unchecked_mut(off as usize + a * sw + b) = v };
                }
            }
        }
    }
    for (dst, src) in out_k.chunks_exact_mut(shape.w).zip(staged.chunks_exact(sw)) {
        dst.copy_from_slice(&src[..shape.w]);
        bias_activate_plane(dst, bias, activation);
    }
}

/// The transforms with AVX-512 intrinsics: 16 tiles per register, the 36 loads of a tile
/// group as gathers and the 16 stores of its outputs as scatters. Each returns false, doing
/// nothing, when the CPU lacks AVX-512F. (The intrinsics are stable since Rust 1.89; older
/// compilers, which the crate's MSRV still admits, get [`no_avx512`] instead.)
#[cfg(target_arch = "x86_64")]
#[rustversion::since(1.89)]
#[allow(clippy::incompatible_msrv)]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Activation, Chw};

    /// See [`super::input_transform`].
    pub(super) fn input_transform(
        in_c: &[f32],
        shape: Chw,
        th: usize,
        tw: usize,
        padded: &mut [f32],
        v_c: &mut [f32],
    ) -> bool {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return false;
        }
        // SAFETY: the CPU has AVX-512F (checked just above).
        unsafe { input_transform_avx512(in_c, shape, th, tw, padded, v_c) };
        true
    }

    /// See [`super::output_transform`].
    #[allow(clippy::too_many_arguments)]
    pub(super) fn output_transform(
        m_k: &[f32],
        shape: Chw,
        th: usize,
        tw: usize,
        bias: f32,
        activation: Activation,
        staged: &mut [f32],
        out_k: &mut [f32],
    ) -> bool {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return false;
        }
        // SAFETY: the CPU has AVX-512F (checked just above).
        unsafe { output_transform_avx512(m_k, shape, th, tw, bias, activation, staged, out_k) };
        true
    }

    use super::{bias_activate_plane, pad_channel, tile_offsets};
    use super::{ALPHA, LANES, TILE};

    /// `B^T x` of F(4, 3).
    #[inline(always)]
    unsafe fn bt(d: [__m512; ALPHA]) -> [__m512; ALPHA] {
        let (four, five, two) = (
            _mm512_set1_ps(4.0),
            _mm512_set1_ps(-5.0),
            _mm512_set1_ps(2.0),
        );
        let m4 = _mm512_set1_ps(-4.0);
        [
            _mm512_fmadd_ps(four, d[0], _mm512_fmadd_ps(five, d[2], d[4])),
            _mm512_fmadd_ps(m4, _mm512_add_ps(d[1], d[2]), _mm512_add_ps(d[3], d[4])),
            _mm512_fmadd_ps(four, _mm512_sub_ps(d[1], d[2]), _mm512_sub_ps(d[4], d[3])),
            _mm512_fmadd_ps(two, _mm512_sub_ps(d[3], d[1]), _mm512_sub_ps(d[4], d[2])),
            _mm512_fmadd_ps(two, _mm512_sub_ps(d[1], d[3]), _mm512_sub_ps(d[4], d[2])),
            _mm512_fmadd_ps(four, d[1], _mm512_fmadd_ps(five, d[3], d[5])),
        ]
    }

    /// `A^T x` of F(4, 3).
    #[inline(always)]
    unsafe fn at(m: [__m512; ALPHA]) -> [__m512; TILE] {
        let s12 = _mm512_add_ps(m[1], m[2]);
        let d12 = _mm512_sub_ps(m[1], m[2]);
        let s34 = _mm512_add_ps(m[3], m[4]);
        let d34 = _mm512_sub_ps(m[3], m[4]);
        [
            _mm512_add_ps(_mm512_add_ps(m[0], s12), s34),
            _mm512_fmadd_ps(_mm512_set1_ps(2.0), d34, d12),
            _mm512_fmadd_ps(_mm512_set1_ps(4.0), s34, s12),
            _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0), d34, d12), m[5]),
        ]
    }

    /// Lanes `0..valid` set.
    #[inline(always)]
    fn mask(valid: usize) -> __mmask16 {
        ((1u32 << valid) - 1) as __mmask16
    }

    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::needless_range_loop)] // j indexes two arrays in transposed order
    unsafe fn input_transform_avx512(
        in_c: &[f32],
        shape: Chw,
        th: usize,
        tw: usize,
        padded: &mut [f32],
        v_c: &mut [f32],
    ) {
        let n_tiles = th * tw;
        let pw = TILE * tw + 2;
        let padded = pad_channel(in_c, shape, th, tw, padded);
        assert!(v_c.len() >= ALPHA * ALPHA * n_tiles);
        let base = padded.as_ptr();
        for t0 in (0..n_tiles).step_by(LANES) {
            let valid = LANES.min(n_tiles - t0);
            let offsets = tile_offsets(t0, n_tiles, tw, pw);
            let offsets = _mm512_loadu_si512(offsets.as_ptr().cast());
            let mut cols = [[_mm512_setzero_ps(); ALPHA]; ALPHA];
            for j in 0..ALPHA {
                let mut d = [_mm512_setzero_ps(); ALPHA];
                for (i, di) in d.iter_mut().enumerate() {
                    // SAFETY: every offset is <= 4 (th - 1) pw + 4 (tw - 1) (tile_offsets)
                    // and i, j <= 5, so each lane reads below (4 th + 2) pw = padded.len().
                    *di = _mm512_i32gather_ps::<4>(offsets, base.add(i * pw + j).cast());
                }
                let r = bt(d);
                for i in 0..ALPHA {
                    cols[i][j] = r[i];
                }
            }
            for (i, row) in cols.into_iter().enumerate() {
                for (j, v) in bt(row).into_iter().enumerate() {
                    // SAFETY: lanes t0..t0 + valid of row i * 6 + j, inside the asserted
                    // 36 * n_tiles floats.
                    let dst = v_c.as_mut_ptr().add((i * ALPHA + j) * n_tiles + t0);
                    _mm512_mask_storeu_ps(dst, mask(valid), v);
                }
            }
        }
    }

    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)] // b: transposed indexing
    unsafe fn output_transform_avx512(
        m_k: &[f32],
        shape: Chw,
        th: usize,
        tw: usize,
        bias: f32,
        activation: Activation,
        staged: &mut [f32],
        out_k: &mut [f32],
    ) {
        let n_tiles = th * tw;
        let sw = TILE * tw;
        let staged = &mut staged[..TILE * th * sw];
        assert!(m_k.len() >= ALPHA * ALPHA * n_tiles);
        let base = staged.as_mut_ptr();
        for t0 in (0..n_tiles).step_by(LANES) {
            let valid = LANES.min(n_tiles - t0);
            let offsets = tile_offsets(t0, n_tiles, tw, sw);
            let offsets = _mm512_loadu_si512(offsets.as_ptr().cast());
            let mut half = [[_mm512_setzero_ps(); TILE]; ALPHA];
            for (i, h) in half.iter_mut().enumerate() {
                let mut x = [_mm512_setzero_ps(); ALPHA];
                for (j, v) in x.iter_mut().enumerate() {
                    // SAFETY: lanes t0..t0 + valid of row i * 6 + j, inside the asserted
                    // 36 * n_tiles floats.
                    let src = m_k.as_ptr().add((i * ALPHA + j) * n_tiles + t0);
                    *v = _mm512_maskz_loadu_ps(mask(valid), src);
                }
                *h = at(x);
            }
            for b in 0..TILE {
                let col = [
                    half[0][b], half[1][b], half[2][b], half[3][b], half[4][b], half[5][b],
                ];
                for (a, v) in at(col).into_iter().enumerate() {
                    // SAFETY: every offset is <= 4 (th - 1) sw + 4 (tw - 1) and a, b <= 3,
                    // so each lane writes below 4 th sw = staged.len().
                    _mm512_mask_i32scatter_ps::<4>(
                        base.add(a * sw + b).cast(),
                        mask(valid),
                        offsets,
                        v,
                    );
                }
            }
        }
        for (dst, src) in out_k.chunks_exact_mut(shape.w).zip(staged.chunks_exact(sw)) {
            dst.copy_from_slice(&src[..shape.w]);
            bias_activate_plane(dst, bias, activation);
        }
    }
}

/// Stand-ins for [`avx512`] where it is not compiled: always "not available". (Dead code on
/// x86-64 with Rust >= 1.89.)
#[allow(dead_code)]
mod no_avx512 {
    use super::{Activation, Chw};

    pub(super) fn input_transform(
        _: &[f32],
        _: Chw,
        _: usize,
        _: usize,
        _: &mut [f32],
        _: &mut [f32],
    ) -> bool {
        false
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn output_transform(
        _: &[f32],
        _: Chw,
        _: usize,
        _: usize,
        _: f32,
        _: Activation,
        _: &mut [f32],
        _: &mut [f32],
    ) -> bool {
        false
    }
}

#[cfg(not(target_arch = "x86_64"))]
use no_avx512 as avx512;
#[cfg(target_arch = "x86_64")]
#[rustversion::before(1.89)]
use no_avx512 as avx512;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_bound_is_the_signed_32_bit_range() {
        // Padded planes of 32766 x 65534 and 32770 x 65534 floats: just below and just above
        // 2^31 (2147287044 and 2147549180), both below u32::MAX. The second would wrap to
        // negative gather indices.
        assert!(gather_indices_fit((8191, 16383)));
        assert!(!gather_indices_fit((8192, 16383)));
        // Overflowing products are refused, not wrapped.
        assert!(!gather_indices_fit((usize::MAX / 8, usize::MAX / 8)));
        // Such a plane takes im2col (no panic in conv3x3); a network input does not come close.
        let huge = Chw {
            c: 64,
            h: 32766,
            w: 65534,
        };
        assert!(!pays_off(huge));
        assert!(pays_off(Chw {
            c: 64,
            h: 2048,
            w: 2048
        }));
    }
    use crate::darknet::cpu::conv2d;
    use crate::darknet::cpu::test_random as random;

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

    /// The portable transforms (used without AVX-512) against the dispatched ones (AVX-512 on
    /// this machine; then both are the portable code and the test is trivially true).
    #[test]
    fn portable_transforms_match_dispatched() {
        for (h, w) in [(13, 13), (5, 70), (26, 9)] {
            let shape = Chw { c: 1, h, w };
            let (th, tw) = tiles(shape);
            let input = random(h * w, (h * w) as u32);
            let block = POINTS * th * tw;
            let mut padded = vec![0f32; (TILE * th + 2) * (TILE * tw + 2)];
            let mut a = vec![f32::NAN; block];
            let mut b = vec![f32::NAN; block];
            input_transform(&input, shape, th, tw, &mut padded, &mut a);
            input_transform_generic(&input, shape, th, tw, &mut padded, &mut b);
            for (x, y) in a.iter().zip(&b) {
                assert!(
                    (x - y).abs() <= 1e-5 * y.abs().max(1.0),
                    "{h}x{w}: {x} vs {y}"
                );
            }
            let m = random(block, 7);
            let mut staged = vec![0f32; TILE * th * TILE * tw];
            let mut a = vec![f32::NAN; h * w];
            let mut b = vec![f32::NAN; h * w];
            let act = Activation::Leaky;
            output_transform(&m, shape, th, tw, 0.25, act, &mut staged, &mut a);
            output_transform_generic(&m, shape, th, tw, 0.25, act, &mut staged, &mut b);
            for (x, y) in a.iter().zip(&b) {
                assert!(
                    (x - y).abs() <= 1e-5 * y.abs().max(1.0),
                    "{h}x{w}: {x} vs {y}"
                );
            }
        }
    }
}
