//! CPU kernels for YOLOX's layers on plain `C x H x W` f32 buffers (one batch item, NCHW,
//! row-major), used by the YOLOX CPU forward (`model::forward_cpu`) beside the darknet kernels
//! it shares (im2col + gemm and Winograd, [`crate::darknet::cpu`], [`crate::darknet::winograd`]).
//!
//! * [`Epilogue`]: what a convolution does to its raw sums (bias, then SiLU, sigmoid, or SiLU
//!   added onto a residual already in the destination), one vectorised pass per output plane;
//! * [`depthwise3x3`]: YOLOX's `DWConv.dconv` (3x3, stride 1 or 2, padding 1) as one flat
//!   loop over a whole channel (every tap a contiguous stream, so 13-pixel rows still run at
//!   full vector width), the epilogue fused per block while it is in L1;
//! * [`pointwise`]: the 1x1 convolutions, a register-tiled kernel with the epilogue fused,
//!   writing straight into the destination slice (a slice of the next concatenation, so the
//!   concatenation costs nothing);
//! * [`conv3x3_direct`]: regular 3x3 convolutions with few input channels (the stem);
//! * [`focus`], [`max_pool5`] (SPP's pools, 9 and 13 as repeated 5s) and the darknet upsample.
//!
//! SiLU and sigmoid use [`exp_approx`] (Cephes' `expf` polynomial, within 2 ulp of `f32::exp`
//! on the activations' range) because `f32::exp` is a libm call the compiler cannot vectorise.
//! The hot loops are written plainly and compiled three times: for AVX-512F (Rust 1.89 and
//! later), for AVX2 + FMA (chosen at run time) and for the baseline target, so they vectorise
//! on every x86-64 CPU and still build everywhere else. The register tiles (1x1 and the stem)
//! and the epilogues have AVX-512 intrinsics besides (`simd512`: the exp scaled by
//! `vscalefps`, a reciprocal refined by one Newton step instead of a division), each tested
//! against the portable code.

use rayon::prelude::*;

use crate::darknet::cpu::{ensure_len, planes_per_task, Chw};

/// What a convolution applies to each raw sum `v` of output channel `c` before it stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    /// `v + bias[c]` (the box regression).
    Linear,
    /// `silu(v + bias[c])` (every `BaseConv`).
    Silu,
    /// `sigmoid(v + bias[c])` (objectness and class scores).
    Sigmoid,
    /// `dst += silu(v + bias[c])`: a bottleneck's last conv onto its residual in `dst`.
    SiluAdd,
}

/// `e^x` for `f32`, branch-free so that loops of it vectorise: Cephes' `expf` (range
/// reduction by `ln 2` in two parts, a degree-5 polynomial, the exponent put in by bits);
/// inputs are clamped to about `[-87.3, 88.7]`, where the result is a normal float.
#[inline(always)]
pub fn exp_approx(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.336_54, 88.376_26);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // 2^n by bits, without a float-to-int conversion (Rust's saturating `as` does not
    // vectorise): n + 127 is an integer in [1, 254] after the clamp, and adding 2^23 puts it
    // in the low mantissa bits, which the shift moves into the exponent field.
    let biased = (n + (127.0 + 8_388_608.0)).to_bits();
    y * f32::from_bits(biased << 23)
}

#[inline(always)]
fn silu(x: f32) -> f32 {
    x / (1.0 + exp_approx(-x))
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp_approx(-x))
}

/// Applies `epilogue` to `raw` (the sums of one channel, or part of one) into `dst`
/// (`raw` and `dst` may be the same buffer: pass `None` for `raw` then).
#[inline(always)]
fn epilogue_generic(epilogue: Epilogue, raw: Option<&[f32]>, dst: &mut [f32], bias: f32) {
    match (epilogue, raw) {
        (Epilogue::Linear, None) => dst.iter_mut().for_each(|v| *v += bias),
        (Epilogue::Silu, None) => dst.iter_mut().for_each(|v| *v = silu(*v + bias)),
        (Epilogue::Sigmoid, None) => dst.iter_mut().for_each(|v| *v = sigmoid(*v + bias)),
        (Epilogue::SiluAdd, None) => {
            // Without a separate raw buffer there is no residual to add onto: plain SiLU.
            dst.iter_mut().for_each(|v| *v = silu(*v + bias))
        }
        // One loop per case, so that each vectorises.
        (e, Some(raw)) => {
            let n = dst.len();
            let pairs = dst.iter_mut().zip(&raw[..n]);
            match e {
                Epilogue::Linear => pairs.for_each(|(d, &v)| *d = v + bias),
                Epilogue::Silu => pairs.for_each(|(d, &v)| *d = silu(v + bias)),
                Epilogue::Sigmoid => pairs.for_each(|(d, &v)| *d = sigmoid(v + bias)),
                Epilogue::SiluAdd => pairs.for_each(|(d, &v)| *d += silu(v + bias)),
            }
        }
    }
}

/// Runs `$fast(args)` compiled for AVX-512F or AVX2 + FMA when this CPU has them, else
/// `$slow(args)` for the baseline target. Both must be `#[inline(always)]` so that each wrapper
/// gets its own copy to vectorise; `$fast` may use `f32::mul_add` (one instruction with FMA, a
/// libm call without), `$slow` must not.
macro_rules! dispatch {
    ($fast:expr, $slow:expr, ( $($arg:ident : $ty:ty),* )) => {{
        #[cfg(target_arch = "x86_64")]
        {
            // AVX-512 as a target feature is stable since Rust 1.89; older compilers (the
            // crate's MSRV admits them) get AVX2 or the baseline.
            #[rustversion::since(1.89)]
            #[allow(clippy::incompatible_msrv)]
            #[target_feature(enable = "avx512f,fma")]
            unsafe fn avx512($($arg: $ty),*) {
                $fast($($arg),*)
            }
            #[rustversion::since(1.89)]
            fn has_avx512() -> bool {
                std::arch::is_x86_feature_detected!("avx512f")
            }
            #[rustversion::before(1.89)]
            unsafe fn avx512($($arg: $ty),*) {
                $slow($($arg),*)
            }
            #[rustversion::before(1.89)]
            fn has_avx512() -> bool {
                false
            }
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) {
                $fast($($arg),*)
            }
            let fma = std::arch::is_x86_feature_detected!("fma");
            if fma && has_avx512() {
                // SAFETY: the CPU has AVX-512F and FMA (checked just above).
                return unsafe { avx512($($arg),*) };
            }
            if fma && std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 and FMA (checked just above).
                return unsafe { avx2($($arg),*) };
            }
        }
        $slow($($arg),*)
    }};
}

/// `a * b + c`, fused where `FMA` (the caller is compiled with the FMA feature).
#[inline(always)]
fn fmadd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// [`epilogue_generic`] on the best instruction set: AVX-512 intrinsics (no division, see
/// `simd512`) where the CPU has them, else the portable loop compiled for AVX2 or the
/// baseline.
fn epilogue_row(epilogue: Epilogue, raw: Option<&[f32]>, dst: &mut [f32], bias: f32) {
    #[cfg(target_arch = "x86_64")]
    if simd512::epilogue_slice(epilogue, raw, dst, bias) {
        return;
    }
    dispatch!(
        epilogue_generic,
        epilogue_generic,
        (epilogue: Epilogue, raw: Option<&[f32]>, dst: &mut [f32], bias: f32)
    )
}

/// Applies `epilogue` to every channel plane of `dst` (`bias.len()` planes), reading the raw
/// sums from `raw` (same layout) or, when `None`, from `dst` itself. Split across threads by
/// channel.
pub fn apply_epilogue(epilogue: Epilogue, raw: Option<&[f32]>, dst: &mut [f32], bias: &[f32]) {
    let plane = dst.len() / bias.len().max(1);
    debug_assert_eq!(plane * bias.len(), dst.len());
    if plane == 0 {
        return;
    }
    let per = planes_per_task(plane);
    dst.par_chunks_mut(plane * per)
        .enumerate()
        .for_each(|(task, chunk)| {
            for (i, d) in chunk.chunks_exact_mut(plane).enumerate() {
                let c = task * per + i;
                let r = raw.map(|r| &r[c * plane..][..plane]);
                epilogue_row(epilogue, r, d, bias[c]);
            }
        });
}

/// Input row `y` of `plane` (`w` wide) into `dst` as the tap streams of its output row: for
/// stride 1, `[0, row, 0]` (`w + 2` floats, taps at offsets 0, 1, 2); for stride 2, the odd
/// columns after a 0 (`wo + 1` floats) then the even ones (`wo`), taps `odd[x]`, `even[x]`,
/// `odd[x + 1]`. Rows outside the plane are zeros.
#[inline(always)]
fn stage_row(plane: &[f32], w: usize, y: isize, stride: usize, dst: &mut [f32]) {
    let h = plane.len() / w;
    if y < 0 || y as usize >= h {
        dst.fill(0.0);
        return;
    }
    let row = &plane[y as usize * w..][..w];
    if stride == 1 {
        dst[0] = 0.0;
        dst[1..=w].copy_from_slice(row);
        dst[w + 1] = 0.0;
    } else {
        let wo = w.div_ceil(2);
        let (odd, even) = dst.split_at_mut(wo + 1);
        odd[0] = 0.0;
        for (i, pair) in row.chunks(2).enumerate() {
            even[i] = pair[0];
            odd[i + 1] = pair.get(1).copied().unwrap_or(0.0);
        }
    }
}

/// The nine tap streams of one output row from three staged input rows (see
/// [`stage_row`]), `wo` outputs wide.
#[inline(always)]
fn streams(staged: &[f32], len: usize, stride: usize, wo: usize) -> [&[f32]; 9] {
    let tri = |r: usize| -> [&[f32]; 3] {
        let s = &staged[r * len..][..len];
        if stride == 1 {
            [&s[0..], &s[1..], &s[2..]]
        } else {
            // odd columns after a 0, then the even ones from `wo + 1`; a stream may run on
            // into the next part: callers read only as far as they need (or discard lanes).
            [s, &s[wo + 1..], &s[1..]]
        }
    };
    let [a, b, c] = tri(0);
    let [d, e, f] = tri(1);
    let [g, h, i] = tri(2);
    [a, b, c, d, e, f, g, h, i]
}

/// Floats per block of [`depthwise3x3`]'s flat loop: a block's sums stay in L1 for the
/// epilogue.
const DW_BLOCK: usize = 1024;

/// How [`dw_pad`] lays out one channel for [`depthwise3x3`]'s stride-2 flat loop: the four
/// phases (even/odd row x even/odd column) and copies of the two odd-column ones whose last
/// column is zeroed, each plane as wide as the output, after one float and one row of zeros,
/// so that every tap of every output is one stream read at a fixed offset (a tap left of the
/// output column reads a zeroed copy: at column 0 it then reads the row before's last
/// column).
#[derive(Debug, Clone, Copy)]
struct DwLayout {
    /// Output rows and columns.
    oh: usize,
    ow: usize,
    /// Floats per padded plane.
    plane: usize,
}

/// Planes of a [`DwLayout`].
const DW_PLANES: usize = 6;

impl DwLayout {
    fn new(in_shape: Chw) -> Self {
        let os = depthwise3x3_output(in_shape, 2);
        Self {
            oh: os.h,
            ow: os.w,
            // Outputs read up to one row and one float past their index.
            plane: (os.h + 1) * os.w + 1,
        }
    }

    fn floats(&self) -> usize {
        self.plane * DW_PLANES
    }
}

/// Scratch floats of one channel of [`depthwise3x3`]: stride 1 stages three rows for its
/// first and last output rows, stride 2 the [`DwLayout`].
fn dw_scratch_len(in_shape: Chw, stride: usize) -> usize {
    if stride == 1 {
        3 * (in_shape.w + 2)
    } else {
        DwLayout::new(in_shape).floats()
    }
}

/// Planes `i` of `buf` laid out as [`DwLayout`] says.
fn dw_plane<'a>(buf: &'a [f32], layout: &DwLayout, i: usize) -> &'a [f32] {
    &buf[i * layout.plane..][..layout.plane]
}

/// Zeroes column `x` of the `rows` rows of `w` floats at `at` in `plane`.
#[inline(always)]
fn zero_column(plane: &mut [f32], at: usize, w: usize, rows: usize, x: usize) {
    for y in 0..rows {
        plane[at + y * w + x] = 0.0;
    }
}

/// One input channel `plane` (`h x w`) into `dst` laid out as `layout` says, zeros included.
#[inline(always)]
fn dw_pad(plane: &[f32], w: usize, layout: &DwLayout, dst: &mut [f32]) {
    let (ow, len) = (layout.ow, layout.plane);
    // Data rows start after one float and one row of zeros.
    let at = 1 + ow;
    dst.fill(0.0);
    // Phases: 0 (even row, even col), 1 (even, odd), 2 (odd, even), 3 (odd, odd); 4 and 5
    // are 1 and 3 with their last column zeroed.
    let (even_rows, rest) = dst.split_at_mut(2 * len);
    let (odd_rows, masked) = rest.split_at_mut(2 * len);
    for (y, row) in plane.chunks_exact(w).enumerate() {
        let phases = if y % 2 == 0 {
            &mut *even_rows
        } else {
            &mut *odd_rows
        };
        let (even_cols, odd_cols) = phases.split_at_mut(len);
        let o = at + (y / 2) * ow;
        deinterleave(row, &mut even_cols[o..], &mut odd_cols[o..]);
    }
    let (eo, oo) = masked.split_at_mut(len);
    eo.copy_from_slice(&even_rows[len..]);
    oo.copy_from_slice(&odd_rows[len..]);
    zero_column(eo, at, ow, layout.oh, ow - 1);
    zero_column(oo, at, ow, layout.oh, ow - 1);
}

/// `row`'s even elements into `even` and odd ones into `odd` (a last even element without a
/// partner included), written so that the loop vectorises.
#[inline(always)]
fn deinterleave(row: &[f32], even: &mut [f32], odd: &mut [f32]) {
    let pairs = row.len() / 2;
    let targets = even[..pairs].iter_mut().zip(&mut odd[..pairs]);
    for ((e, o), pair) in targets.zip(row.chunks_exact(2)) {
        *e = pair[0];
        *o = pair[1];
    }
    if row.len() % 2 == 1 {
        even[pairs] = row[row.len() - 1];
    }
}

/// The nine tap streams (row-major over the 3x3 kernel) of [`dw_pad`]'s layout: output `p`
/// (row `p / ow`, column `p % ow`) reads `streams[i][p]`.
#[inline(always)]
fn dw_streams<'a>(padded: &'a [f32], layout: &DwLayout) -> [&'a [f32]; 9] {
    let ow = layout.ow;
    let plane = |i: usize| dw_plane(padded, layout, i);
    // Output (y, x) reads input row 2y - 1 + r (odd row y - 1, even row y, odd row y) and
    // column 2x - 1 + j (odd column x - 1, even column x, odd column x).
    let (ee, eo, oe, oo, eo_masked, oo_masked) =
        (plane(0), plane(1), plane(2), plane(3), plane(4), plane(5));
    [
        oo_masked,
        &oe[1..],
        &oo[1..],
        &eo_masked[ow..],
        &ee[ow + 1..],
        &eo[ow + 1..],
        &oo_masked[ow..],
        &oe[ow + 1..],
        &oo[ow + 1..],
    ]
}

/// `Σ k[i] * s[i]` over the nine taps in the order of every depthwise loop (three row sums,
/// each its left tap first), so that all paths give the same bits.
#[inline(always)]
fn dw_sum<const FMA: bool>(k: &[f32; 9], s: [f32; 9]) -> f32 {
    let top = fmadd::<FMA>(k[2], s[2], fmadd::<FMA>(k[1], s[1], k[0] * s[0]));
    let mid = fmadd::<FMA>(k[5], s[5], fmadd::<FMA>(k[4], s[4], k[3] * s[3]));
    let bot = fmadd::<FMA>(k[8], s[8], fmadd::<FMA>(k[7], s[7], k[6] * s[6]));
    top + mid + bot
}

/// `o[x] = Σ k[i] * s[i][x]` for every `x` of `o` (the streams at least as long); with
/// `ADD`, `o[x] +=` the sum (one input channel's taps added onto an output row).
#[inline(always)]
fn dw_streams_sum<const FMA: bool, const ADD: bool>(o: &mut [f32], s: [&[f32]; 9], k: &[f32; 9]) {
    let n = o.len();
    let s = s.map(|v| &v[..n]);
    for (x, o) in o.iter_mut().enumerate() {
        let sum = dw_sum::<FMA>(k, std::array::from_fn(|i| s[i][x]));
        *o = if ADD { *o + sum } else { sum };
    }
}

/// Stride 1 of [`dw_channel_generic`], straight from the input plane: the interior rows as one
/// flat loop whose taps are the plane at fixed offsets (at columns 0 and w - 1 the left and
/// right taps wrap to the neighbouring row, so those two outputs per row are recomputed with
/// their zero padding), the first and last rows from three staged rows; rows in blocks of
/// about [`DW_BLOCK`] outputs, each block's epilogue while it is in L1.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dw_stride1<const FMA: bool>(
    plane: &[f32],
    w: usize,
    k: &[f32; 9],
    bias: f32,
    epilogue: Epilogue,
    out: &mut [f32],
    staged: &mut [f32],
) {
    let h = plane.len() / w;
    let tap = |y: usize, x: usize, i: usize| -> f32 {
        let (yy, xx) = ((y + i / 3).wrapping_sub(1), (x + i % 3).wrapping_sub(1));
        if yy < h && xx < w {
            plane[yy * w + xx]
        } else {
            0.0
        }
    };
    let rows_per_block = (DW_BLOCK / w).max(1);
    for y0 in (0..h).step_by(rows_per_block) {
        let y1 = (y0 + rows_per_block).min(h);
        // Interior rows [ya, yb): every tap row exists.
        let (ya, yb) = (y0.max(1), y1.min(h.saturating_sub(1)));
        if ya < yb {
            // From column 1 of row ya to column w - 2 of row yb - 1: every read is inside
            // the plane ((ya - 1) w at the least, (yb + 1) w - 1 at the most).
            let (start, end) = (ya * w + 1, yb * w - 1);
            if start < end {
                let s: [&[f32]; 9] =
                    std::array::from_fn(|i| &plane[start + (i / 3) * w + i % 3 - w - 1..]);
                dw_streams_sum::<FMA, false>(&mut out[start..end], s, k);
            }
            for y in ya..yb {
                for x in [0, w - 1] {
                    out[y * w + x] = dw_sum::<FMA>(k, std::array::from_fn(|i| tap(y, x, i)));
                }
            }
        }
        // The first and last rows (one row when h is 1).
        for y in [0, h - 1].into_iter().take(h.min(2)) {
            if y < y0 || y >= y1 {
                continue;
            }
            let len = w + 2;
            for r in 0..3 {
                let dst = &mut staged[r * len..][..len];
                stage_row(plane, w, y as isize - 1 + r as isize, 1, dst);
            }
            dw_streams_sum::<FMA, false>(&mut out[y * w..][..w], streams(staged, len, 1, w), k);
        }
        epilogue_row(epilogue, None, &mut out[y0 * w..y1 * w], bias);
    }
}

/// One channel of [`depthwise3x3`], `scratch` holding [`dw_scratch_len`] floats. Stride 2:
/// the channel laid out in `scratch` ([`DwLayout`]), then one flat loop over all outputs at
/// once (so that it runs at full vector width even on 13-pixel rows), block by block, each
/// block's epilogue while it is in L1. Stride 1: [`dw_stride1`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dw_channel_generic<const FMA: bool>(
    plane: &[f32],
    w: usize,
    k: &[f32; 9],
    bias: f32,
    stride: usize,
    epilogue: Epilogue,
    out: &mut [f32],
    scratch: &mut [f32],
) {
    if stride == 1 {
        return dw_stride1::<FMA>(plane, w, k, bias, epilogue, out, scratch);
    }
    let layout = DwLayout::new(Chw {
        c: 1,
        h: plane.len() / w,
        w,
    });
    dw_pad(plane, w, &layout, scratch);
    let s = dw_streams(scratch, &layout);
    for (b, o) in out.chunks_mut(DW_BLOCK).enumerate() {
        dw_streams_sum::<FMA, false>(o, s.map(|v| &v[b * DW_BLOCK..]), k);
        epilogue_row(epilogue, None, o, bias);
    }
}

#[allow(clippy::too_many_arguments)]
fn dw_channel(
    plane: &[f32],
    w: usize,
    k: &[f32; 9],
    bias: f32,
    stride: usize,
    epilogue: Epilogue,
    out: &mut [f32],
    scratch: &mut [f32],
) {
    dispatch!(
        dw_channel_generic::<true>,
        dw_channel_generic::<false>,
        (
            plane: &[f32],
            w: usize,
            k: &[f32; 9],
            bias: f32,
            stride: usize,
            epilogue: Epilogue,
            out: &mut [f32],
            scratch: &mut [f32]
        )
    )
}

thread_local! {
    /// [`depthwise3x3`]'s padded channel, kept per worker thread across calls (the 208x208
    /// layers' would otherwise be a fresh mapping, page faults included, per task).
    static DW_PADDED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Output shape of [`depthwise3x3`].
pub fn depthwise3x3_output(in_shape: Chw, stride: usize) -> Chw {
    Chw {
        c: in_shape.c,
        h: (in_shape.h - 1) / stride + 1,
        w: (in_shape.w - 1) / stride + 1,
    }
}

/// Depthwise 3x3 convolution, padding 1, stride 1 or 2, of one batch item (`kernel` is
/// `C x 9`), with `epilogue` (not [`Epilogue::SiluAdd`]) fused: `input` (`in_shape`) into
/// `out` ([`depthwise3x3_output`]). Split across threads by channel.
pub fn depthwise3x3(
    input: &[f32],
    in_shape: Chw,
    kernel: &[f32],
    bias: &[f32],
    stride: usize,
    epilogue: Epilogue,
    out: &mut [f32],
) {
    assert!(stride == 1 || stride == 2, "depthwise stride {stride}");
    assert_ne!(epilogue, Epilogue::SiluAdd, "depthwise onto a residual");
    let os = depthwise3x3_output(in_shape, stride);
    assert_eq!(input.len(), in_shape.floats());
    assert_eq!(out.len(), os.floats());
    assert_eq!(kernel.len(), 9 * in_shape.c);
    assert_eq!(bias.len(), in_shape.c);
    if os.plane() == 0 {
        return;
    }
    let scratch_len = dw_scratch_len(in_shape, stride);
    let per = planes_per_task(os.plane());
    out.par_chunks_mut(os.plane() * per)
        .enumerate()
        .for_each(|(task, chunk)| {
            DW_PADDED.with_borrow_mut(|padded| {
                ensure_len(padded, scratch_len);
                for (i, o) in chunk.chunks_exact_mut(os.plane()).enumerate() {
                    let c = task * per + i;
                    let plane = &input[c * in_shape.plane()..][..in_shape.plane()];
                    let mut k = [0f32; 9];
                    k.copy_from_slice(&kernel[c * 9..][..9]);
                    dw_channel(
                        plane,
                        in_shape.w,
                        &k,
                        bias[c],
                        stride,
                        epilogue,
                        o,
                        &mut padded[..scratch_len],
                    );
                }
            });
        });
}

/// One parallel task of a kernel that splits its output (`planes` of `plane` floats) by groups
/// of `group` planes and by bands of `band` floats within a plane: the group's first plane
/// index, the band's first float within a plane, and that band of each plane of the group.
type PlaneBand<'a> = (usize, usize, Vec<&'a mut [f32]>);

/// [`PlaneBand`]s covering `out`.
fn plane_bands(out: &mut [f32], plane: usize, group: usize, band: usize) -> Vec<PlaneBand<'_>> {
    let mut tasks = Vec::new();
    for (g, planes) in out.chunks_mut(group * plane).enumerate() {
        let mut bands: Vec<_> = planes
            .chunks_mut(plane)
            .map(|p| p.chunks_mut(band))
            .collect();
        for b in 0.. {
            let rows: Vec<&mut [f32]> = bands.iter_mut().filter_map(Iterator::next).collect();
            if rows.is_empty() {
                break;
            }
            tasks.push((g * group, b * band, rows));
        }
    }
    tasks
}

/// Direct 3x3 convolution (padding 1, stride 1 or 2, no groups) for layers with few input
/// channels, such as YOLOX's stem after Focus (12 channels), where im2col would write a
/// `9C x HW` matrix many times larger than the work: each output row is the sum of the
/// channels' nine-tap rows, the input rows staged once per output row (as for
/// [`depthwise3x3`]) and shared by the task's filters. With AVX-512, register tiles of 8
/// filters x 32 pixels (16 accumulators, enough to hide the FMA latency) sum all channels,
/// then the epilogue runs in the registers (intrinsics: a tile in plain Rust was not kept in
/// registers, 12x slower). `kernel` is `filters x C x 9`; split across threads by groups of
/// 8 filters and bands of output rows. Output shape: [`depthwise3x3_output`] with
/// `bias.len()` channels.
#[allow(clippy::too_many_arguments)]
pub fn conv3x3_direct(
    input: &[f32],
    in_shape: Chw,
    kernel: &[f32],
    bias: &[f32],
    stride: usize,
    epilogue: Epilogue,
    out: &mut [f32],
) {
    assert!(stride == 1 || stride == 2, "stride {stride}");
    assert_ne!(epilogue, Epilogue::SiluAdd, "direct conv onto a residual");
    let (c, filters) = (in_shape.c, bias.len());
    let os = Chw {
        c: filters,
        ..depthwise3x3_output(in_shape, stride)
    };
    assert_eq!(input.len(), in_shape.floats());
    assert_eq!(out.len(), os.floats());
    assert_eq!(kernel.len(), filters * c * 9);
    if os.floats() == 0 {
        return;
    }
    let groups = filters.div_ceil(DIRECT_FILTERS);
    let bands = (2 * rayon::current_num_threads())
        .div_ceil(groups)
        .clamp(1, os.h);
    let band_rows = os.h.div_ceil(bands);
    // One task per (group of filters, band of rows).
    let tasks = plane_bands(out, os.plane(), DIRECT_FILTERS, band_rows * os.w);
    tasks
        .into_par_iter()
        .for_each(|(f0, band_start, mut rows)| {
            let y0 = band_start / os.w;
            let nf = rows.len();
            let mut staged = vec![0f32; c * 3 * direct_row_len(in_shape.w)];
            direct_task(
                input,
                in_shape,
                &kernel[f0 * c * 9..][..nf * c * 9],
                &bias[f0..f0 + nf],
                stride,
                epilogue,
                y0,
                &mut rows,
                &mut staged,
            );
        });
}

/// Filters per task and per AVX-512 register tile of [`conv3x3_direct`].
const DIRECT_FILTERS: usize = 8;
/// Pixels per register tile of the AVX-512 [`conv3x3_direct`] (two registers).
const DIRECT_COLS: usize = 32;

/// Floats of one staged input row of [`conv3x3_direct`]: [`stage_row`]'s `w + 2` plus room
/// for a last register tile to read past the row's end (lanes it then discards).
fn direct_row_len(w: usize) -> usize {
    w + 2 + DIRECT_COLS
}

/// Stages the `c` channels' three input rows of output row `oy` into `staged` (`c x 3` rows
/// of [`direct_row_len`] floats, see [`stage_row`]).
#[inline(always)]
fn stage_rows(input: &[f32], in_shape: Chw, oy: usize, stride: usize, staged: &mut [f32]) {
    let y0 = (oy * stride) as isize - 1;
    for r in 0..3 {
        stage_input_row(input, in_shape, y0 + r as isize, stride, r, staged);
    }
}

/// Stages input row `y` of every one of the `c` channels into slot `slot` (of 3) of that
/// channel's rows in `staged` (see [`stage_rows`]).
#[inline(always)]
fn stage_input_row(
    input: &[f32],
    in_shape: Chw,
    y: isize,
    stride: usize,
    slot: usize,
    staged: &mut [f32],
) {
    let len = direct_row_len(in_shape.w);
    for (ch, plane) in input.chunks_exact(in_shape.plane()).enumerate() {
        let dst = &mut staged[(ch * 3 + slot) * len..][..len];
        stage_row(plane, in_shape.w, y, stride, dst);
    }
}

/// [`conv3x3_direct`]'s tasks with AVX-512 intrinsics: a register tile of 8 filters x 32
/// pixels sums all channels' nine taps over the staged rows (an implicit im2col), then the
/// epilogue in the registers and a masked store. Returns false, doing nothing, when the CPU
/// lacks AVX-512F.
#[cfg(target_arch = "x86_64")]
#[rustversion::since(1.89)]
#[allow(clippy::incompatible_msrv)]
mod direct_avx512 {
    use std::arch::x86_64::*;

    use super::simd512::{finish, masks};
    use super::{
        depthwise3x3_output, direct_row_len, stage_input_row, Chw, Epilogue, DIRECT_COLS,
        DIRECT_FILTERS,
    };

    #[allow(clippy::too_many_arguments)]
    pub(super) fn direct_task(
        input: &[f32],
        in_shape: Chw,
        kernel: &[f32],
        bias: &[f32],
        stride: usize,
        epilogue: Epilogue,
        y0: usize,
        rows: &mut [&mut [f32]],
        staged: &mut [f32],
    ) -> bool {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return false;
        }
        // SAFETY: the CPU has AVX-512F (checked just above).
        unsafe {
            task(
                input, in_shape, kernel, bias, stride, epilogue, y0, rows, staged,
            )
        };
        true
    }

    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn task(
        input: &[f32],
        in_shape: Chw,
        kernel: &[f32],
        bias: &[f32],
        stride: usize,
        epilogue: Epilogue,
        y0: usize,
        rows: &mut [&mut [f32]],
        staged: &mut [f32],
    ) {
        let c = in_shape.c;
        let os = depthwise3x3_output(in_shape, stride);
        let nf = bias.len();
        let len = direct_row_len(in_shape.w);
        let band = rows.first().map_or(0, |r| r.len() / os.w.max(1));
        assert!(nf <= DIRECT_FILTERS && rows.len() == nf);
        assert!(rows.iter().all(|r| r.len() == band * os.w));
        assert!(staged.len() >= c * 3 * len && kernel.len() >= nf * c * 9);
        if nf == 0 {
            return;
        }
        // Offsets of the three taps of a staged row (see `stage_row`).
        let offsets = if stride == 1 {
            [0, 1, 2]
        } else {
            [0, os.w + 1, 1]
        };
        // Every read is below offset + x0 + 32 <= max(2, os.w + 1) + os.w + 31 <= len: the
        // tiles start below os.w, and 2 os.w <= w + 1 for stride 2.
        debug_assert!(offsets[1].max(2) + os.w.div_ceil(DIRECT_COLS) * DIRECT_COLS <= len);
        // Filters past the last compute a copy of it, never stored.
        let starts: [usize; DIRECT_FILTERS] = std::array::from_fn(|i| i.min(nf - 1) * c * 9);
        let biases: [__m512; DIRECT_FILTERS] =
            std::array::from_fn(|i| _mm512_set1_ps(bias[i.min(nf - 1)]));
        // The staged rows are a rolling window: input row y (from -1) lives in slot
        // (y + 1) % 3 of each channel, staged once per band unless the window moved past it.
        let mut in_slot: [Option<isize>; 3] = [None; 3];
        for dy in 0..band {
            let top = ((y0 + dy) * stride) as isize - 1;
            let mut slots = [0usize; 3];
            for (r, slot) in slots.iter_mut().enumerate() {
                let y = top + r as isize;
                *slot = (y + 1).rem_euclid(3) as usize;
                if in_slot[*slot] != Some(y) {
                    stage_input_row(input, in_shape, y, stride, *slot, staged);
                    in_slot[*slot] = Some(y);
                }
            }
            let base = staged.as_ptr();
            for x0 in (0..os.w).step_by(DIRECT_COLS) {
                let mut a = [_mm512_setzero_ps(); 2 * DIRECT_FILTERS];
                for ch in 0..c {
                    for t in 0..9 {
                        let at = (ch * 3 + slots[t / 3]) * len + offsets[t % 3] + x0;
                        // SAFETY: at + 32 <= c * 3 * len <= staged.len() (the bound above
                        // and the assert).
                        let (v0, v1) = unsafe {
                            (
                                _mm512_loadu_ps(base.add(at)),
                                _mm512_loadu_ps(base.add(at + 16)),
                            )
                        };
                        for (i, &start) in starts.iter().enumerate() {
                            // SAFETY: start + ch * 9 + t < nf * c * 9 <= kernel.len().
                            let wv = _mm512_set1_ps(unsafe {
                                *kernel.get_unchecked(start + ch * 9 + t)
                            });
                            a[2 * i] = _mm512_fmadd_ps(wv, v0, a[2 * i]);
                            a[2 * i + 1] = _mm512_fmadd_ps(wv, v1, a[2 * i + 1]);
                        }
                    }
                }
                let (m0, m1) = masks((os.w - x0).min(DIRECT_COLS));
                for (i, row) in rows.iter_mut().enumerate() {
                    let dst = row[dy * os.w + x0..].as_mut_ptr();
                    // SAFETY: `dst` starts the tile's width (x0 + width <= os.w) of floats
                    // in this row; the masks store no others.
                    unsafe {
                        finish(epilogue, a[2 * i], biases[i], dst, m0);
                        finish(epilogue, a[2 * i + 1], biases[i], dst.add(16), m1);
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[rustversion::before(1.89)]
mod direct_avx512 {
    use super::{Chw, Epilogue};

    #[allow(clippy::too_many_arguments)]
    pub(super) fn direct_task(
        _: &[f32],
        _: Chw,
        _: &[f32],
        _: &[f32],
        _: usize,
        _: Epilogue,
        _: usize,
        _: &mut [&mut [f32]],
        _: &mut [f32],
    ) -> bool {
        false
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn direct_task_generic<const FMA: bool>(
    input: &[f32],
    in_shape: Chw,
    kernel: &[f32],
    bias: &[f32],
    stride: usize,
    epilogue: Epilogue,
    y0: usize,
    rows: &mut [&mut [f32]],
    staged: &mut [f32],
) {
    let c = in_shape.c;
    let os = depthwise3x3_output(in_shape, stride);
    let len = direct_row_len(in_shape.w);
    let band = rows.first().map_or(0, |r| r.len() / os.w.max(1));
    for dy in 0..band {
        stage_rows(input, in_shape, y0 + dy, stride, staged);
        for (f, (row, &b)) in rows.iter_mut().zip(bias).enumerate() {
            let o = &mut row[dy * os.w..][..os.w];
            o.fill(0.0);
            for ch in 0..c {
                let mut k = [0f32; 9];
                k.copy_from_slice(&kernel[(f * c + ch) * 9..][..9]);
                let s = streams(&staged[ch * 3 * len..], len, stride, os.w);
                dw_streams_sum::<FMA, true>(o, s, &k);
            }
            epilogue_generic(epilogue, None, o, b);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn direct_task(
    input: &[f32],
    in_shape: Chw,
    kernel: &[f32],
    bias: &[f32],
    stride: usize,
    epilogue: Epilogue,
    y0: usize,
    rows: &mut [&mut [f32]],
    staged: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if direct_avx512::direct_task(
        input, in_shape, kernel, bias, stride, epilogue, y0, rows, staged,
    ) {
        return;
    }
    dispatch!(
        direct_task_generic::<true>,
        direct_task_generic::<false>,
        (
            input: &[f32],
            in_shape: Chw,
            kernel: &[f32],
            bias: &[f32],
            stride: usize,
            epilogue: Epilogue,
            y0: usize,
            rows: &mut [&mut [f32]],
            staged: &mut [f32]
        )
    )
}

#[cfg(target_arch = "x86_64")]
#[rustversion::before(1.89)]
mod simd512 {
    use super::Epilogue;

    pub(super) fn epilogue_slice(_: Epilogue, _: Option<&[f32]>, _: &mut [f32], _: f32) -> bool {
        false
    }
}

/// AVX-512 pieces shared by the kernels' register tiles: the epilogue applied to a register
/// (an exp scaled by `vscalefps`, a reciprocal refined by one Newton step instead of a
/// division) and the masks of a tile narrower than 32 pixels.
#[cfg(target_arch = "x86_64")]
#[rustversion::since(1.89)]
#[allow(clippy::incompatible_msrv)]
mod simd512 {
    use std::arch::x86_64::*;

    use super::Epilogue;

    /// [`super::epilogue_generic`] with [`finish`], 16 floats at a time; false, doing nothing,
    /// when the CPU lacks AVX-512F.
    pub(super) fn epilogue_slice(
        epilogue: Epilogue,
        raw: Option<&[f32]>,
        dst: &mut [f32],
        bias: f32,
    ) -> bool {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return false;
        }
        // SAFETY: the CPU has AVX-512F (checked just above).
        unsafe { epilogue_slice_avx512(epilogue, raw, dst, bias) };
        true
    }

    #[target_feature(enable = "avx512f")]
    fn epilogue_slice_avx512(epilogue: Epilogue, raw: Option<&[f32]>, dst: &mut [f32], bias: f32) {
        let n = dst.len();
        assert!(raw.is_none_or(|r| r.len() >= n));
        // Without a separate raw buffer there is no residual to add onto: plain SiLU.
        let epilogue = match (epilogue, raw) {
            (Epilogue::SiluAdd, None) => Epilogue::Silu,
            (e, _) => e,
        };
        let b = _mm512_set1_ps(bias);
        for i in (0..n).step_by(16) {
            let (mask, _) = masks(n - i);
            // SAFETY: the mask's lanes are i..min(i + 16, n), inside `dst` and `raw`.
            unsafe {
                let d = dst.as_mut_ptr().add(i);
                let v =
                    _mm512_maskz_loadu_ps(mask, raw.map_or(d.cast_const(), |r| r.as_ptr().add(i)));
                finish(epilogue, v, b, d, mask);
            }
        }
    }

    /// The lane masks of a 32-pixel tile's two registers holding `width` pixels.
    pub(super) fn masks(width: usize) -> (__mmask16, __mmask16) {
        let lanes = |n: usize| -> __mmask16 {
            if n >= 16 {
                0xffff
            } else {
                (1u16 << n) - 1
            }
        };
        (lanes(width), lanes(width.saturating_sub(16)))
    }

    /// `e^x` lane by lane: [`super::exp_approx`]'s range reduction and polynomial, the
    /// power of two applied by `vscalefps`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn exp(x: __m512) -> __m512 {
        let x = _mm512_min_ps(
            _mm512_max_ps(x, _mm512_set1_ps(-87.336_54)),
            _mm512_set1_ps(88.376_26),
        );
        let n =
            _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(_mm512_fmadd_ps(
                x,
                _mm512_set1_ps(std::f32::consts::LOG2_E),
                _mm512_set1_ps(0.5),
            ));
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_359_4), x);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.121_944_4e-4), r);
        let mut p = _mm512_set1_ps(1.987_569_1e-4);
        for c in [
            1.398_199_9e-3,
            8.333_452e-3,
            4.166_579_6e-2,
            1.666_666_5e-1,
            0.5,
        ] {
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
        }
        let y = _mm512_fmadd_ps(
            _mm512_mul_ps(p, r),
            r,
            _mm512_add_ps(r, _mm512_set1_ps(1.0)),
        );
        _mm512_scalef_ps(y, n)
    }

    /// `1 / d` for `d >= 1`: `vrcp14ps` and one Newton step (relative error about 2^-28).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn recip(d: __m512) -> __m512 {
        let r = _mm512_rcp14_ps(d);
        _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0)))
    }

    /// The epilogue of 16 sums `v` (bias not yet added) stored to `dst` under `mask` (for
    /// [`Epilogue::SiluAdd`] added onto what `dst` holds).
    ///
    /// # Safety
    /// The lanes of `mask` must be valid floats at `dst`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn finish(
        epilogue: Epilogue,
        v: __m512,
        bias: __m512,
        dst: *mut f32,
        mask: __mmask16,
    ) {
        let v = _mm512_add_ps(v, bias);
        let one = _mm512_set1_ps(1.0);
        let y = match epilogue {
            Epilogue::Linear => v,
            Epilogue::Sigmoid => recip(_mm512_add_ps(
                one,
                exp(_mm512_sub_ps(_mm512_setzero_ps(), v)),
            )),
            Epilogue::Silu | Epilogue::SiluAdd => _mm512_mul_ps(
                v,
                recip(_mm512_add_ps(
                    one,
                    exp(_mm512_sub_ps(_mm512_setzero_ps(), v)),
                )),
            ),
        };
        let y = if epilogue == Epilogue::SiluAdd {
            // SAFETY: the caller guarantees the masked lanes at `dst`.
            _mm512_add_ps(y, unsafe { _mm512_maskz_loadu_ps(mask, dst) })
        } else {
            y
        };
        // SAFETY: as above.
        unsafe { _mm512_mask_storeu_ps(dst, mask, y) };
    }
}

/// Filters per register tile of [`pointwise`] (4 x 2 AVX-512 accumulators; 8 x 2 made the
/// compiler spill them, 10x slower).
const PW_FILTERS: usize = 4;
/// Columns (pixels) per register tile of [`pointwise`]: two AVX-512 registers per filter.
const PW_COLS: usize = 32;

/// A 1x1 kernel (`filters x channels`) in [`pointwise`]'s order: blocks of 4 filters (the
/// last padded with zeros), each `channels x 4`, so that one channel's four weights are
/// adjacent.
pub fn pack_pointwise(kernel: &[f32], filters: usize, channels: usize) -> Vec<f32> {
    let blocks = filters.div_ceil(PW_FILTERS);
    let mut packed = vec![0f32; blocks * channels * PW_FILTERS];
    for f in 0..filters {
        let (b, i) = (f / PW_FILTERS, f % PW_FILTERS);
        for k in 0..channels {
            packed[(b * channels + k) * PW_FILTERS + i] = kernel[f * channels + k];
        }
    }
    packed
}

/// Pointwise (1x1) convolution of one batch item with the epilogue fused: `out[f][x] =
/// epilogue(Σ_k kernel[f][k] * input[k][x] + bias[f])`, `packed` from [`pack_pointwise`].
/// A register tile of filters x 32 pixels accumulates over all input channels, then goes
/// through the epilogue and is stored once (for [`Epilogue::SiluAdd`], added onto `out`'s
/// residual). YOLOX's 1x1 layers have 16 to 512 input channels, too few for a general gemm's
/// packing to pay for itself. Split across threads by bands of pixels where there are enough
/// of them (each input tile is then read by one task, for all filters), else by blocks of
/// filters (the 13x13 layers).
pub fn pointwise(
    input: &[f32],
    in_shape: Chw,
    packed: &[f32],
    bias: &[f32],
    epilogue: Epilogue,
    out: &mut [f32],
) {
    let (filters, k, n) = (bias.len(), in_shape.c, in_shape.plane());
    let blocks = filters.div_ceil(PW_FILTERS);
    assert_eq!(input.len(), k * n);
    assert_eq!(out.len(), filters * n);
    assert_eq!(packed.len(), blocks * k * PW_FILTERS);
    if n == 0 || filters == 0 {
        return;
    }
    let want = 2 * rayon::current_num_threads();
    let tiles = n.div_ceil(PW_COLS);
    // (filters per task, pixels per task)
    let (task_filters, band_px) = if tiles >= PW_BAND_TILES_MIN * want {
        (filters, tiles.div_ceil(want) * PW_COLS)
    } else {
        let per = blocks.div_ceil(want.clamp(1, blocks));
        (per * PW_FILTERS, n)
    };
    let tasks = plane_bands(out, n, task_filters, band_px);
    tasks.into_par_iter().for_each(|(f0, x_begin, mut rows)| {
        let nf = rows.len();
        let (b0, nb) = (f0 / PW_FILTERS, nf.div_ceil(PW_FILTERS));
        let mut staged = Vec::new();
        pw_task(
            input,
            k,
            n,
            &packed[b0 * k * PW_FILTERS..][..nb * k * PW_FILTERS],
            &bias[f0..f0 + nf],
            epilogue,
            x_begin,
            &mut rows,
            &mut staged,
        );
    });
}

/// Fewest 32-pixel tiles per task for [`pointwise`] to split by pixels rather than filters.
const PW_BAND_TILES_MIN: usize = 4;

/// One task of [`pointwise`]: the filters of `packed`/`bias` over the pixels `x_begin..` as
/// wide as each of `rows` (filter `i`'s outputs there), `staged` grown as needed.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pw_task_generic<const FMA: bool>(
    input: &[f32],
    k: usize,
    n: usize,
    packed: &[f32],
    bias: &[f32],
    epilogue: Epilogue,
    x_begin: usize,
    rows: &mut [&mut [f32]],
    staged: &mut Vec<f32>,
) {
    let band = rows.first().map_or(0, |r| r.len());
    for t0 in (0..band).step_by(PW_COLS) {
        let (x0, width) = (x_begin + t0, (band - t0).min(PW_COLS));
        // A last tile narrower than the register tile reads zero-padded copies of its columns.
        let (src, stride): (&[f32], usize) = if width == PW_COLS {
            (&input[x0..], n)
        } else {
            ensure_len(staged, k * PW_COLS);
            for kk in 0..k {
                let d = &mut staged[kk * PW_COLS..][..PW_COLS];
                d[..width].copy_from_slice(&input[kk * n + x0..][..width]);
                d[width..].fill(0.0);
            }
            (&staged[..], PW_COLS)
        };
        for (b, w) in packed.chunks_exact(k * PW_FILTERS).enumerate() {
            let mut acc = [[0f32; PW_COLS]; PW_FILTERS];
            for kk in 0..k {
                let row = &src[kk * stride..][..PW_COLS];
                let wk = &w[kk * PW_FILTERS..][..PW_FILTERS];
                for (a, &wv) in acc.iter_mut().zip(wk) {
                    for (a, &v) in a.iter_mut().zip(row) {
                        *a = fmadd::<FMA>(wv, v, *a);
                    }
                }
            }
            let outs = rows[b * PW_FILTERS..]
                .iter_mut()
                .zip(&bias[b * PW_FILTERS..]);
            for (a, (row, &bias)) in acc.iter().zip(outs) {
                let dst = &mut row[t0..][..width];
                epilogue_generic(epilogue, Some(&a[..width]), dst, bias);
            }
        }
    }
}

/// [`pointwise`]'s tasks with AVX-512 intrinsics: a register tile of 8 filters x 32 pixels
/// (16 of the 32 registers; the plain-Rust tile of that size was spilled by the compiler),
/// two packed blocks of 4 filters at a time, the epilogue applied in the registers (an exp
/// scaled by `vscalefps`, a reciprocal refined by one Newton step instead of a division) and
/// stored with masks, so a last tile narrower than 32 pixels needs no staged copy. Each
/// function returns false, doing nothing, when the CPU lacks AVX-512F. (Intrinsics stable
/// since Rust 1.89: older compilers get `pw_avx512_none` instead.)
#[cfg(target_arch = "x86_64")]
#[rustversion::since(1.89)]
#[allow(clippy::incompatible_msrv)]
mod pw_avx512 {
    use std::arch::x86_64::*;

    use super::simd512::{finish, masks};
    use super::{Epilogue, PW_COLS, PW_FILTERS};

    /// Filters per tile: two packed blocks.
    const TILE_FILTERS: usize = 2 * PW_FILTERS;

    #[allow(clippy::too_many_arguments)]
    pub(super) fn pw_task(
        input: &[f32],
        k: usize,
        n: usize,
        packed: &[f32],
        bias: &[f32],
        epilogue: Epilogue,
        x_begin: usize,
        rows: &mut [&mut [f32]],
    ) -> bool {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return false;
        }
        // SAFETY: the CPU has AVX-512F (checked just above).
        unsafe { pw_task_avx512(input, k, n, packed, bias, epilogue, x_begin, rows) };
        true
    }

    /// One tile: the sums of filters 0..4 from block `w0` and 4..8 from `w1` (each `k x 4`)
    /// over the `k` rows of `width <= 32` floats `n` apart at `src`, through the epilogue into
    /// `outs` (one per filter stored, at most 8).
    ///
    /// # Safety
    /// `src + kk * n + x` for `kk < k`, `x < width` and `outs[i] + x` for `x < width` must be
    /// valid; `w0`, `w1` hold `4 k` floats.
    #[inline]
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile(
        src: *const f32,
        n: usize,
        k: usize,
        width: usize,
        w0: &[f32],
        w1: &[f32],
        bias: &[f32],
        epilogue: Epilogue,
        outs: &[*mut f32],
    ) {
        debug_assert!(w0.len() >= k * PW_FILTERS && w1.len() >= k * PW_FILTERS);
        let (m0, m1) = masks(width);
        let mut a = [_mm512_setzero_ps(); 2 * TILE_FILTERS];
        for kk in 0..k {
            // SAFETY: row kk's first `width` floats are valid (the caller); the masks load
            // no others.
            let (x0, x1) = unsafe {
                let row = src.add(kk * n);
                (
                    _mm512_maskz_loadu_ps(m0, row),
                    _mm512_maskz_loadu_ps(m1, row.add(16)),
                )
            };
            for i in 0..PW_FILTERS {
                // SAFETY: kk * 4 + i < 4 k <= w0.len(), w1.len().
                let (wa, wb) = unsafe {
                    (
                        *w0.get_unchecked(kk * PW_FILTERS + i),
                        *w1.get_unchecked(kk * PW_FILTERS + i),
                    )
                };
                let (wa, wb) = (_mm512_set1_ps(wa), _mm512_set1_ps(wb));
                a[2 * i] = _mm512_fmadd_ps(wa, x0, a[2 * i]);
                a[2 * i + 1] = _mm512_fmadd_ps(wa, x1, a[2 * i + 1]);
                a[8 + 2 * i] = _mm512_fmadd_ps(wb, x0, a[8 + 2 * i]);
                a[9 + 2 * i] = _mm512_fmadd_ps(wb, x1, a[9 + 2 * i]);
            }
        }
        for (i, (&b, &dst)) in bias.iter().zip(outs).enumerate().take(TILE_FILTERS) {
            let b = _mm512_set1_ps(b);
            // SAFETY: `width` floats at `dst` are valid (the caller).
            unsafe {
                finish(epilogue, a[2 * i], b, dst, m0);
                finish(epilogue, a[2 * i + 1], b, dst.add(16), m1);
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn pw_task_avx512(
        input: &[f32],
        k: usize,
        n: usize,
        packed: &[f32],
        bias: &[f32],
        epilogue: Epilogue,
        x_begin: usize,
        rows: &mut [&mut [f32]],
    ) {
        let nf = bias.len();
        let block = k * PW_FILTERS;
        let blocks = packed.len() / block.max(1);
        let band = rows.first().map_or(0, |r| r.len());
        assert!(input.len() >= k * n && x_begin + band <= n);
        assert!(rows.len() == nf && rows.iter().all(|r| r.len() == band));
        assert!(blocks * PW_FILTERS >= nf);
        let mut outs = [std::ptr::null_mut(); TILE_FILTERS];
        for t0 in (0..band).step_by(PW_COLS) {
            let width = (band - t0).min(PW_COLS);
            for b in (0..blocks).step_by(2) {
                let w0 = &packed[b * block..][..block];
                // An odd last block is paired with itself; its copy is not stored.
                let w1 = &packed[(b + 1).min(blocks - 1) * block..][..block];
                let f0 = b * PW_FILTERS;
                let filters = (nf - f0).min(TILE_FILTERS);
                for (o, row) in outs.iter_mut().zip(&mut rows[f0..f0 + filters]) {
                    *o = row[t0..].as_mut_ptr();
                }
                // SAFETY: rows kk < k of `input` hold n floats and x_begin + t0 + width <=
                // n; each of `outs` starts `width` floats of its row (asserted above).
                unsafe {
                    tile(
                        input.as_ptr().add(x_begin + t0),
                        n,
                        k,
                        width,
                        w0,
                        w1,
                        &bias[f0..f0 + filters],
                        epilogue,
                        &outs[..filters],
                    )
                };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[rustversion::before(1.89)]
mod pw_avx512 {
    use super::Epilogue;

    #[allow(clippy::too_many_arguments)]
    pub(super) fn pw_task(
        _: &[f32],
        _: usize,
        _: usize,
        _: &[f32],
        _: &[f32],
        _: Epilogue,
        _: usize,
        _: &mut [&mut [f32]],
    ) -> bool {
        false
    }
}

#[allow(clippy::too_many_arguments)]
fn pw_task(
    input: &[f32],
    k: usize,
    n: usize,
    packed: &[f32],
    bias: &[f32],
    epilogue: Epilogue,
    x_begin: usize,
    rows: &mut [&mut [f32]],
    staged: &mut Vec<f32>,
) {
    #[cfg(target_arch = "x86_64")]
    if pw_avx512::pw_task(input, k, n, packed, bias, epilogue, x_begin, rows) {
        return;
    }
    dispatch!(
        pw_task_generic::<true>,
        pw_task_generic::<false>,
        (
            input: &[f32],
            k: usize,
            n: usize,
            packed: &[f32],
            bias: &[f32],
            epilogue: Epilogue,
            x_begin: usize,
            rows: &mut [&mut [f32]],
            staged: &mut Vec<f32>
        )
    )
}

/// YOLOX's Focus: `out` (`4C x H/2 x W/2`) holds the input's pixels at (even row, even col),
/// (odd, even), (even, odd), (odd, odd), each a block of `C` channels. Split across threads by
/// (channel, row parity), each task splitting its rows into both column phases at once.
pub fn focus(input: &[f32], in_shape: Chw, out: &mut [f32]) {
    let (c, w) = (in_shape.c, in_shape.w);
    let (h2, w2) = (in_shape.h / 2, w / 2);
    let plane = h2 * w2;
    assert_eq!(input.len(), in_shape.floats());
    assert_eq!(out.len(), 4 * c * plane);
    if plane == 0 {
        return;
    }
    // Output blocks: 0 = (even row, even col), 1 = (odd, even), 2 = (even, odd), 3 = (odd, odd).
    let (even_cols, odd_cols) = out.split_at_mut(2 * c * plane);
    even_cols
        .par_chunks_mut(plane)
        .zip(odd_cols.par_chunks_mut(plane))
        .enumerate()
        .for_each(|(i, (even, odd))| {
            let (dy, ch) = (i / c, i % c);
            let channel = &input[ch * in_shape.plane()..][..in_shape.plane()];
            focus_task(channel, w, dy, even, odd);
        });
}

/// One channel's rows of parity `dy` into the even- and odd-column output planes.
#[inline(always)]
fn focus_task_generic(channel: &[f32], w: usize, dy: usize, even: &mut [f32], odd: &mut [f32]) {
    let w2 = w / 2;
    let rows = even.chunks_exact_mut(w2).zip(odd.chunks_exact_mut(w2));
    for (y, (e, o)) in rows.enumerate() {
        deinterleave(&channel[(2 * y + dy) * w..][..2 * w2], e, o);
    }
}

fn focus_task(channel: &[f32], w: usize, dy: usize, even: &mut [f32], odd: &mut [f32]) {
    dispatch!(
        focus_task_generic,
        focus_task_generic,
        (channel: &[f32], w: usize, dy: usize, even: &mut [f32], odd: &mut [f32])
    )
}

/// Max-pool 5x5, stride 1, padding 2 with `-inf` padding (windows clipped to the image), of
/// one batch item, separably (rows then columns). Twice is a 9x9 pool and three times a
/// 13x13 one, exactly: a clipped window of clipped windows is the clipped wider window.
/// Split across threads by channel.
pub fn max_pool5(input: &[f32], shape: Chw, out: &mut [f32]) {
    assert_eq!(input.len(), shape.floats());
    assert_eq!(out.len(), shape.floats());
    if shape.plane() == 0 {
        return;
    }
    let per = planes_per_task(shape.plane());
    out.par_chunks_mut(shape.plane() * per)
        .enumerate()
        .for_each(|(task, chunk)| {
            let (h, w) = (shape.h, shape.w);
            // Rows `w + 2` apart after two -inf, the two between rows padding both.
            let mut padded = vec![f32::NEG_INFINITY; h * (w + 2) + 2];
            let mut row_max = vec![0f32; padded.len()];
            // The row maxima `w` apart between two rows of -inf above and below.
            let mut rows = vec![f32::NEG_INFINITY; (h + 4) * w];
            for (i, o) in chunk.chunks_exact_mut(shape.plane()).enumerate() {
                let c = task * per + i;
                let channel = &input[c * shape.plane()..][..shape.plane()];
                pool_task(channel, w, o, &mut padded, &mut row_max, &mut rows);
            }
        });
}

/// One channel of [`max_pool5`] in two flat loops over the whole plane (so that they run at
/// full vector width on 13-pixel rows): the row maxima over the padded rows, then the column
/// maxima over five rows of those.
#[inline(always)]
fn pool_task_generic(
    channel: &[f32],
    w: usize,
    out: &mut [f32],
    padded: &mut [f32],
    row_max: &mut [f32],
    rows: &mut [f32],
) {
    let (h, rs) = (channel.len() / w, w + 2);
    for (y, src) in channel.chunks_exact(w).enumerate() {
        padded[2 + y * rs..][..w].copy_from_slice(src);
    }
    let flat = (h - 1) * rs + w;
    let s: [&[f32]; 5] = std::array::from_fn(|i| &padded[i..i + flat]);
    for (q, d) in row_max[..flat].iter_mut().enumerate() {
        *d = s[0][q].max(s[1][q]).max(s[2][q]).max(s[3][q]).max(s[4][q]);
    }
    for y in 0..h {
        rows[(y + 2) * w..][..w].copy_from_slice(&row_max[y * rs..][..w]);
    }
    let n = h * w;
    let s: [&[f32]; 5] = std::array::from_fn(|i| &rows[i * w..i * w + n]);
    for (p, d) in out[..n].iter_mut().enumerate() {
        *d = s[0][p].max(s[1][p]).max(s[2][p]).max(s[3][p]).max(s[4][p]);
    }
}

fn pool_task(
    channel: &[f32],
    w: usize,
    out: &mut [f32],
    padded: &mut [f32],
    row_max: &mut [f32],
    rows: &mut [f32],
) {
    dispatch!(
        pool_task_generic,
        pool_task_generic,
        (
            channel: &[f32],
            w: usize,
            out: &mut [f32],
            padded: &mut [f32],
            row_max: &mut [f32],
            rows: &mut [f32]
        )
    )
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;
    use crate::darknet::cpu::test_random as random;

    fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= tol * y.abs().max(1.0),
                "{what}: index {i}: ours {x}, reference {y}"
            );
        }
    }

    fn to_vec(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    #[test]
    fn exp_approx_is_close_to_libm() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (a, b) = (exp_approx(x), x.exp());
            worst = worst.max((a - b).abs() / b);
            x += 0.013;
        }
        assert!(worst < 3e-7, "relative error {worst}");
        // saturates instead of overflowing
        assert!(exp_approx(-1000.0) >= 0.0 && exp_approx(-1000.0) < 1e-37);
        assert!(exp_approx(1000.0).is_finite());
        assert!(silu(-1000.0).abs() < 1e-30);
        assert_eq!(silu(1000.0), 1000.0);
    }

    /// Every epilogue against candle's ops, with the dispatched (vectorised) code path.
    #[test]
    fn epilogues_match_candle() {
        let device = Device::Cpu;
        let (c, plane) = (5, 37);
        let raw: Vec<f32> = random(c * plane, 1).iter().map(|v| v * 40.0).collect();
        let residual = random(c * plane, 2);
        let bias = random(c, 3);
        let t = Tensor::from_vec(raw.clone(), (1, c, plane), &device).unwrap();
        let b = Tensor::from_vec(bias.clone(), (1, c, 1), &device).unwrap();
        let biased = t.broadcast_add(&b).unwrap();
        let r = Tensor::from_vec(residual.clone(), (1, c, plane), &device).unwrap();
        let want_silu = biased.silu().unwrap();
        let cases = [
            (Epilogue::Linear, biased.clone()),
            (Epilogue::Silu, want_silu.clone()),
            (Epilogue::Sigmoid, candle_nn::ops::sigmoid(&biased).unwrap()),
            (Epilogue::SiluAdd, (want_silu + r).unwrap()),
        ];
        for (e, want) in cases {
            let want = to_vec(&want);
            // in place
            if e != Epilogue::SiluAdd {
                let mut dst = raw.clone();
                apply_epilogue(e, None, &mut dst, &bias);
                close(&dst, &want, 1e-5, &format!("{e:?} in place"));
            }
            // from a raw buffer (onto the residual for SiluAdd)
            let mut dst = if e == Epilogue::SiluAdd {
                residual.clone()
            } else {
                vec![f32::NAN; raw.len()]
            };
            apply_epilogue(e, Some(&raw), &mut dst, &bias);
            close(&dst, &want, 1e-5, &format!("{e:?} from raw"));
        }
    }

    /// The depthwise kernel against candle's grouped conv2d: strides 1 and 2, odd and even
    /// sizes, planes of one pixel, rows of one and two pixels (every padding edge).
    #[test]
    fn depthwise3x3_matches_candle() {
        let device = Device::Cpu;
        let cases = [
            (3, 7, 9),
            (4, 8, 8),
            (2, 1, 1),
            (3, 2, 5),
            (2, 5, 2),
            (5, 13, 13),
            (17, 33, 35),
            (1, 3, 1),
            (2, 45, 47),
            (3, 52, 52),
            (1, 40, 61),
        ];
        for (seed, &(c, h, w)) in cases.iter().enumerate() {
            for stride in [1, 2] {
                for e in [Epilogue::Linear, Epilogue::Silu] {
                    let shape = Chw { c, h, w };
                    let input: Vec<f32> = random(shape.floats(), seed as u32 + 10)
                        .iter()
                        .map(|v| v * 8.0)
                        .collect();
                    let kernel = random(c * 9, seed as u32 + 20);
                    let bias = random(c, seed as u32 + 30);
                    let os = depthwise3x3_output(shape, stride);
                    let mut out = vec![f32::NAN; os.floats()];
                    depthwise3x3(&input, shape, &kernel, &bias, stride, e, &mut out);
                    let x = Tensor::from_vec(input, (1, c, h, w), &device).unwrap();
                    let k = Tensor::from_vec(kernel, (c, 1, 3, 3), &device).unwrap();
                    let b = Tensor::from_vec(bias, (1, c, 1, 1), &device).unwrap();
                    let y = x
                        .conv2d(&k, 1, stride, 1, c)
                        .unwrap()
                        .broadcast_add(&b)
                        .unwrap();
                    assert_eq!(y.dims(), &[1, os.c, os.h, os.w]);
                    let y = if e == Epilogue::Silu {
                        y.silu().unwrap()
                    } else {
                        y
                    };
                    close(
                        &out,
                        &to_vec(&y),
                        1e-5,
                        &format!("{c}x{h}x{w} stride {stride} {e:?}"),
                    );
                }
            }
        }
    }

    #[test]
    fn pointwise_matches_candle_including_residual() {
        let device = Device::Cpu;
        for (seed, &(c, f, h, w)) in [
            (16, 8, 13, 11),
            (3, 5, 1, 1),
            (33, 17, 7, 9),
            (64, 80, 8, 8),
            (12, 1, 9, 7),
            // enough pixels to split by bands (the last one narrower than a tile)
            (9, 20, 41, 43),
        ]
        .iter()
        .enumerate()
        {
            let shape = Chw { c, h, w };
            let input = random(shape.floats(), seed as u32 + 1);
            let kernel = random(f * c, seed as u32 + 2);
            let bias = random(f, seed as u32 + 3);
            let residual = random(f * h * w, seed as u32 + 4);
            let x = Tensor::from_vec(input.clone(), (1, c, h, w), &device).unwrap();
            let k = Tensor::from_vec(kernel.clone(), (f, c, 1, 1), &device).unwrap();
            let b = Tensor::from_vec(bias.clone(), (1, f, 1, 1), &device).unwrap();
            let y = x
                .conv2d(&k, 0, 1, 1, 1)
                .unwrap()
                .broadcast_add(&b)
                .unwrap()
                .silu()
                .unwrap();
            let packed = pack_pointwise(&kernel, f, c);
            let mut out = vec![f32::NAN; f * h * w];
            pointwise(&input, shape, &packed, &bias, Epilogue::Silu, &mut out);
            close(&out, &to_vec(&y), 1e-4, "silu");
            let want = to_vec(
                &(y + Tensor::from_vec(residual.clone(), (1, f, h, w), &device).unwrap()).unwrap(),
            );
            let mut out = residual;
            pointwise(&input, shape, &packed, &bias, Epilogue::SiluAdd, &mut out);
            close(&out, &want, 1e-4, "silu onto residual");
        }
    }

    /// The direct 3x3 convolution against candle's conv2d: strides 1 and 2, odd sizes,
    /// filter counts that do not split evenly across tasks.
    #[test]
    fn conv3x3_direct_matches_candle() {
        let device = Device::Cpu;
        for (seed, &(c, f, h, w)) in [(12, 16, 10, 14), (3, 5, 7, 9), (1, 1, 1, 1), (4, 7, 2, 5)]
            .iter()
            .enumerate()
        {
            for stride in [1, 2] {
                let shape = Chw { c, h, w };
                let input = random(shape.floats(), seed as u32 + 40);
                let kernel = random(f * c * 9, seed as u32 + 50);
                let bias = random(f, seed as u32 + 60);
                let os = Chw {
                    c: f,
                    ..depthwise3x3_output(shape, stride)
                };
                let mut out = vec![f32::NAN; os.floats()];
                conv3x3_direct(
                    &input,
                    shape,
                    &kernel,
                    &bias,
                    stride,
                    Epilogue::Silu,
                    &mut out,
                );
                let x = Tensor::from_vec(input, (1, c, h, w), &device).unwrap();
                let k = Tensor::from_vec(kernel, (f, c, 3, 3), &device).unwrap();
                let b = Tensor::from_vec(bias, (1, f, 1, 1), &device).unwrap();
                let y = x
                    .conv2d(&k, 1, stride, 1, 1)
                    .unwrap()
                    .broadcast_add(&b)
                    .unwrap()
                    .silu()
                    .unwrap();
                assert_eq!(y.dims(), &[1, os.c, os.h, os.w]);
                close(
                    &out,
                    &to_vec(&y),
                    1e-5,
                    &format!("{c}->{f} {h}x{w}/{stride}"),
                );
            }
        }
    }

    /// The portable (baseline, no FMA) code of the 1x1 and direct 3x3 kernels against the
    /// dispatched one (AVX-512 intrinsics on the CPUs that have them), which the tests above
    /// check against candle: CPUs without AVX-512 run this code.
    #[test]
    fn portable_kernels_match_dispatched() {
        for (seed, &(c, f, h, w)) in [
            (16, 8, 13, 11),
            (33, 17, 7, 9),
            (12, 5, 6, 35),
            (5, 13, 40, 45),
        ]
        .iter()
        .enumerate()
        {
            let shape = Chw { c, h, w };
            let input = random(shape.floats(), seed as u32 + 70);
            let kernel = random(f * c, seed as u32 + 71);
            let bias = random(f, seed as u32 + 72);
            let packed = pack_pointwise(&kernel, f, c);
            let mut want = vec![f32::NAN; f * h * w];
            pointwise(&input, shape, &packed, &bias, Epilogue::Silu, &mut want);
            let mut got = vec![f32::NAN; f * h * w];
            let mut staged = Vec::new();
            let mut rows: Vec<&mut [f32]> = got.chunks_mut(h * w).collect();
            pw_task_generic::<false>(
                &input,
                c,
                h * w,
                &packed,
                &bias,
                Epilogue::Silu,
                0,
                &mut rows,
                &mut staged,
            );
            close(&got, &want, 1e-5, "portable pointwise");

            for stride in [1, 2] {
                let dw_kernel = random(9 * c, seed as u32 + 74);
                let dw_bias = random(c, seed as u32 + 75);
                let os = depthwise3x3_output(shape, stride);
                let mut want = vec![f32::NAN; os.floats()];
                depthwise3x3(
                    &input,
                    shape,
                    &dw_kernel,
                    &dw_bias,
                    stride,
                    Epilogue::Silu,
                    &mut want,
                );
                let mut padded = vec![f32::NAN; dw_scratch_len(shape, stride)];
                let mut got = vec![f32::NAN; os.floats()];
                for (ch, o) in got.chunks_exact_mut(os.plane()).enumerate() {
                    let mut k = [0f32; 9];
                    k.copy_from_slice(&dw_kernel[ch * 9..][..9]);
                    dw_channel_generic::<false>(
                        &input[ch * shape.plane()..][..shape.plane()],
                        w,
                        &k,
                        dw_bias[ch],
                        stride,
                        Epilogue::Silu,
                        o,
                        &mut padded,
                    );
                }
                close(
                    &got,
                    &want,
                    1e-5,
                    &format!("portable depthwise stride {stride}"),
                );
            }

            let kernel = random(f * c * 9, seed as u32 + 73);
            for stride in [1, 2] {
                let os = Chw {
                    c: f,
                    ..depthwise3x3_output(shape, stride)
                };
                let mut want = vec![f32::NAN; os.floats()];
                conv3x3_direct(
                    &input,
                    shape,
                    &kernel,
                    &bias,
                    stride,
                    Epilogue::Silu,
                    &mut want,
                );
                let mut got = vec![f32::NAN; os.floats()];
                let mut staged = vec![0f32; c * 3 * direct_row_len(w)];
                let mut rows: Vec<&mut [f32]> = got.chunks_mut(os.plane()).collect();
                direct_task_generic::<false>(
                    &input,
                    shape,
                    &kernel,
                    &bias,
                    stride,
                    Epilogue::Silu,
                    0,
                    &mut rows,
                    &mut staged,
                );
                close(
                    &got,
                    &want,
                    1e-5,
                    &format!("portable direct 3x3 stride {stride}"),
                );
            }
        }
    }

    #[test]
    fn focus_takes_the_four_phases() {
        let shape = Chw { c: 2, h: 4, w: 6 };
        let input: Vec<f32> = (0..shape.floats()).map(|v| v as f32).collect();
        let mut out = vec![f32::NAN; shape.floats()];
        focus(&input, shape, &mut out);
        let at = |c: usize, y: usize, x: usize| input[c * 24 + y * 6 + x];
        for (part, (dy, dx)) in [(0, 0), (1, 0), (0, 1), (1, 1)].into_iter().enumerate() {
            for c in 0..2 {
                for y in 0..2 {
                    for x in 0..3 {
                        assert_eq!(
                            out[(part * 2 + c) * 6 + y * 3 + x],
                            at(c, 2 * y + dy, 2 * x + dx)
                        );
                    }
                }
            }
        }
    }

    /// 5, then 5 twice (9) and three times (13), against candle's max-pool on an input padded
    /// with `-inf` (PyTorch's `MaxPool2d(k, 1, k // 2)`).
    #[test]
    fn max_pool5_cascade_matches_padded_pools() {
        let device = Device::Cpu;
        for &(c, h, w) in &[
            (3, 13, 13),
            (2, 4, 7),
            (1, 1, 1),
            (2, 15, 3),
            (2, 26, 26),
            (1, 3, 40),
        ] {
            let shape = Chw { c, h, w };
            let input = random(shape.floats(), (h * 31 + w) as u32);
            let mut p5 = vec![f32::NAN; shape.floats()];
            let mut p9 = p5.clone();
            let mut p13 = p5.clone();
            max_pool5(&input, shape, &mut p5);
            max_pool5(&p5, shape, &mut p9);
            max_pool5(&p9, shape, &mut p13);
            let x = Tensor::from_vec(input, (1, c, h, w), &device).unwrap();
            for (k, ours) in [(5, &p5), (9, &p9), (13, &p13)] {
                let p = k / 2;
                let padded = x
                    .pad_with_zeros(2, p, p)
                    .unwrap()
                    .pad_with_zeros(3, p, p)
                    .unwrap();
                // zeros where the padding is, -inf there instead: add a mask
                let mask = Tensor::ones((1, c, h, w), candle_core::DType::F32, &device)
                    .unwrap()
                    .pad_with_zeros(2, p, p)
                    .unwrap()
                    .pad_with_zeros(3, p, p)
                    .unwrap();
                let neg = ((mask - 1.0).unwrap() * 1e30).unwrap();
                let want = (padded + neg)
                    .unwrap()
                    .max_pool2d_with_stride(k, 1)
                    .unwrap();
                assert_eq!(to_vec(&want), **ours, "{c}x{h}x{w} pool {k}");
            }
        }
    }
}
