//! The YOLOX forward on lookout's CPU kernels: the backend of the CPU device (unless
//! [`Yolox::with_cpu_kernels`] turned it off; candle's ops in `model.rs` are the reference).
//!
//! Input a contiguous `N x 3 x H x W` f32 CPU tensor; output the [`YoloxHead`]s as CPU
//! tensors. Every layer reads and writes plain `f32` buffers taken from a [`Workspace`] pool
//! that is kept across calls, so a steady-state frame allocates only its head tensors (and a
//! few row buffers per parallel task). Concatenations cost nothing: each branch writes its
//! output straight into its channel range of the concatenation's buffer (the CSP layers'
//! `cat(x1, x2)`, SPP's `cat(x, pool5, pool9, pool13)`, the PAFPN's `cat(up, lateral)`, and the
//! head's `cat(reg, obj, cls)`), bias and SiLU/sigmoid are fused into each convolution's
//! output pass ([`Epilogue`]), and a bottleneck's residual is added in that same pass.
//! Batch items run one after another. Outputs match the candle path (tests in `super::tests`
//! and `yolox::tests`).

use std::time::{Duration, Instant};

use candle_core::{CpuStorage, Device, Storage, Tensor};

use super::{Block, Conv, Csp, Spp, Yolox, YoloxHead, STRIDES_PX};
use crate::darknet::cpu::{self as dcpu, ensure_len, Chw};
use crate::darknet::winograd;
use crate::darknet::Activation;
use crate::yolox::cpu::{self, Epilogue};
use crate::yolox::YoloxError;

/// The CPU forward's buffers: a pool of activation buffers handed out smallest-fit and given
/// back when a layer's output is consumed, plus the convolutions' scratch.
#[derive(Default)]
pub(super) struct Workspace {
    free: Vec<Vec<f32>>,
    /// im2col / Winograd scratch.
    scratch: Vec<f32>,
    /// Raw sums of a convolution whose epilogue adds onto a residual.
    raw: Vec<f32>,
    /// Zero biases, for kernels that add their own bias before the epilogue adds the real one.
    zeros: Vec<f32>,
}

impl std::fmt::Debug for Workspace {
    // Sizes only: the buffers hold millions of floats.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let floats: usize = self.free.iter().map(Vec::len).sum::<usize>() + self.scratch.len();
        f.debug_struct("Workspace")
            .field("buffers", &self.free.len())
            .field("floats", &floats)
            .finish()
    }
}

/// A buffer of the pool: its first `len` floats are the activation.
struct Buf {
    data: Vec<f32>,
    len: usize,
}

impl std::ops::Deref for Buf {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.data[..self.len]
    }
}

impl std::ops::DerefMut for Buf {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.data[..self.len]
    }
}

impl Workspace {
    /// A buffer of `len` floats (contents unspecified): the smallest free one that holds
    /// them, else the largest one grown. The sequence of requests is the same every frame,
    /// so after the first frames nothing is allocated.
    fn take(&mut self, len: usize) -> Buf {
        let fits = self
            .free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.len() >= len)
            .min_by_key(|(_, b)| b.len())
            .map(|(i, _)| i);
        let pick = fits.or_else(|| {
            self.free
                .iter()
                .enumerate()
                .max_by_key(|(_, b)| b.len())
                .map(|(i, _)| i)
        });
        let mut data = pick.map(|i| self.free.swap_remove(i)).unwrap_or_default();
        ensure_len(&mut data, len);
        Buf { data, len }
    }

    fn put(&mut self, buf: Buf) {
        self.free.push(buf.data);
    }
}

/// Most input channels for which a regular 3x3 convolution runs as
/// [`cpu::conv3x3_direct`] rather than im2col + gemm (YOLOX's stem has 12; measured 8.6 ms
/// with im2col, whose 108-row matrix was 19 MB, against about 1 ms direct).
const DIRECT_CHANNELS_MAX: usize = 16;

/// One layer's wall time in a profiled forward.
#[derive(Debug, Clone)]
pub struct LayerTime {
    /// Module path and geometry, e.g. `backbone.backbone.dark2.0.dconv dw3x3/2 16->16 @208x208`.
    pub layer: String,
    pub time: Duration,
}

/// An activation of the pool and its shape.
struct Act {
    buf: Buf,
    shape: Chw,
}

/// One forward's state: the workspace and, when profiling, the layer times.
struct Run<'a> {
    ws: &'a mut Workspace,
    times: Option<&'a mut Vec<LayerTime>>,
}

fn describe(c: &Conv, xs: Chw) -> String {
    let g = &c.geometry;
    let kind = if g.groups > 1 { "dw" } else { "" };
    format!(
        "{} {kind}{}x{}/{} {}->{} @{}x{}",
        c.module, g.size, g.size, g.stride, xs.c, g.filters, xs.h, xs.w
    )
}

impl Run<'_> {
    fn record(&mut self, started: Instant, layer: impl FnOnce() -> String) {
        if let Some(t) = self.times.as_deref_mut() {
            t.push(LayerTime {
                layer: layer(),
                time: started.elapsed(),
            });
        }
    }

    /// Convolution `c` of `x` (`xs`) into `dst` (`c`'s output shape), then `epilogue`.
    fn conv_into(&mut self, c: &Conv, x: &[f32], xs: Chw, dst: &mut [f32], epilogue: Epilogue) {
        let started = Instant::now();
        let g = c.geometry;
        let os = g.output(xs);
        debug_assert_eq!(x.len(), xs.floats());
        debug_assert_eq!(dst.len(), os.floats());
        let depthwise = g.groups == xs.c && g.filters == xs.c && g.groups > 1;
        let pointwise = g.size == 1
            && g.stride == 1
            && g.padding == 0
            && g.groups == 1
            && !c.pointwise_packed.is_empty();
        let Workspace {
            scratch,
            raw,
            zeros,
            ..
        } = &mut *self.ws;
        if depthwise
            && g.size == 3
            && g.padding == 1
            && (g.stride == 1 || g.stride == 2)
            && epilogue != Epilogue::SiluAdd
        {
            cpu::depthwise3x3(x, xs, &c.kernel_host, &c.bias_host, g.stride, epilogue, dst);
        } else if pointwise {
            cpu::pointwise(x, xs, &c.pointwise_packed, &c.bias_host, epilogue, dst);
        } else if g.groups == 1
            && g.size == 3
            && g.padding == 1
            && (g.stride == 1 || g.stride == 2)
            && xs.c <= DIRECT_CHANNELS_MAX
            && epilogue != Epilogue::SiluAdd
        {
            cpu::conv3x3_direct(x, xs, &c.kernel_host, &c.bias_host, g.stride, epilogue, dst);
        } else {
            // Kernels that add a bias themselves get zeros; the epilogue adds the real one.
            ensure_len(zeros, g.filters);
            let zero_bias = &zeros[..g.filters];
            let onto_residual = epilogue == Epilogue::SiluAdd;
            if onto_residual {
                ensure_len(raw, dst.len());
            }
            let target: &mut [f32] = if onto_residual {
                &mut raw[..dst.len()]
            } else {
                &mut *dst
            };
            if depthwise {
                super::depthwise_conv(x, xs, &c.kernel_host, zero_bias, &g, target);
            } else if let Some(wk) = c.winograd.as_ref().filter(|_| winograd::pays_off(xs)) {
                ensure_len(scratch, winograd::scratch_len(xs, g.filters));
                winograd::conv3x3(x, xs, wk, zero_bias, Activation::Linear, target, scratch);
            } else {
                ensure_len(scratch, g.scratch_len(xs));
                dcpu::conv2d(
                    x,
                    xs,
                    &c.kernel_host,
                    zero_bias,
                    &g,
                    Activation::Linear,
                    target,
                    scratch,
                );
            }
            // (`then` not `then_some`: `raw` is empty unless the epilogue needs it)
            let raw = onto_residual.then(|| &raw[..dst.len()]);
            cpu::apply_epilogue(epilogue, raw, dst, &c.bias_host);
        }
        self.record(started, || describe(c, xs));
    }

    /// [`Self::conv_into`] into a new buffer of the pool.
    fn conv(&mut self, c: &Conv, x: &[f32], xs: Chw, epilogue: Epilogue) -> Act {
        let shape = c.geometry.output(xs);
        let mut buf = self.ws.take(shape.floats());
        self.conv_into(c, x, xs, &mut buf, epilogue);
        Act { buf, shape }
    }

    fn block_into(&mut self, b: &Block, x: &[f32], xs: Chw, dst: &mut [f32], e: Epilogue) {
        match b {
            Block::Base(c) => self.conv_into(c, x, xs, dst, e),
            Block::Depthwise { dconv, pconv } => {
                let d = self.conv(dconv, x, xs, Epilogue::Silu);
                self.conv_into(pconv, &d.buf, d.shape, dst, e);
                self.ws.put(d.buf);
            }
        }
    }

    fn block(&mut self, b: &Block, x: &[f32], xs: Chw) -> Act {
        let shape = match b {
            Block::Base(c) => c.geometry.output(xs),
            Block::Depthwise { dconv, pconv } => pconv.geometry.output(dconv.geometry.output(xs)),
        };
        let mut buf = self.ws.take(shape.floats());
        self.block_into(b, x, xs, &mut buf, Epilogue::Silu);
        Act { buf, shape }
    }

    /// `CSPLayer`: `conv1` and `conv2` into the two halves of one buffer, the bottlenecks on
    /// the first half in place (residual added by the last conv's epilogue), `conv3` of the
    /// whole into `dst`.
    fn csp_into(&mut self, csp: &Csp, x: &[f32], xs: Chw, dst: &mut [f32]) {
        let plane = xs.plane();
        let hidden = csp.conv1.geometry.filters;
        let both = hidden + csp.conv2.geometry.filters;
        let mut cat = self.ws.take(both * plane);
        {
            let (x1, x2) = cat.split_at_mut(hidden * plane);
            self.conv_into(&csp.conv1, x, xs, x1, Epilogue::Silu);
            self.conv_into(&csp.conv2, x, xs, x2, Epilogue::Silu);
        }
        let hs = Chw { c: hidden, ..xs };
        for b in &csp.m {
            let y = self.conv(&b.conv1, &cat[..hidden * plane], hs, Epilogue::Silu);
            let e = if b.shortcut {
                Epilogue::SiluAdd
            } else {
                Epilogue::Silu
            };
            self.block_into(&b.conv2, &y.buf, y.shape, &mut cat[..hidden * plane], e);
            self.ws.put(y.buf);
        }
        self.conv_into(&csp.conv3, &cat, Chw { c: both, ..xs }, dst, Epilogue::Silu);
        self.ws.put(cat);
    }

    fn csp(&mut self, csp: &Csp, x: &[f32], xs: Chw) -> Act {
        let shape = Chw {
            c: csp.out_channels(),
            ..xs
        };
        let mut buf = self.ws.take(shape.floats());
        self.csp_into(csp, x, xs, &mut buf);
        Act { buf, shape }
    }

    /// `SPPBottleneck`: `conv1` into the first quarter of one buffer, the pools 5, 9 and 13
    /// (as 5, 5 of 5, 5 of 9) into the others, `conv2` of the whole.
    fn spp(&mut self, spp: &Spp, x: &[f32], xs: Chw) -> Act {
        let hidden = spp.conv1.geometry.filters;
        let part = hidden * xs.plane();
        let mut cat = self.ws.take(4 * part);
        self.conv_into(&spp.conv1, x, xs, &mut cat[..part], Epilogue::Silu);
        let started = Instant::now();
        let hs = Chw { c: hidden, ..xs };
        for i in 0..3 {
            let (done, rest) = cat.split_at_mut((i + 1) * part);
            cpu::max_pool5(&done[i * part..], hs, &mut rest[..part]);
        }
        self.record(started, || {
            format!(
                "{} max-pools 5/9/13 {hidden} @{}x{}",
                spp.conv1.module, xs.h, xs.w
            )
        });
        let out = self.conv(
            &spp.conv2,
            &cat,
            Chw {
                c: 4 * hidden,
                ..xs
            },
            Epilogue::Silu,
        );
        self.ws.put(cat);
        out
    }

    fn upsample(&mut self, x: &[f32], xs: Chw, dst: &mut [f32]) {
        let started = Instant::now();
        dcpu::upsample(x, xs, 2, dst);
        self.record(started, || {
            format!("upsample x2 {} @{}x{}", xs.c, xs.h, xs.w)
        });
    }

    /// The whole network on one batch item `x` (`3 x h x w`), the heads written into `heads`
    /// (one `(5 + classes) x h/stride x w/stride` slice per level).
    fn item(&mut self, net: &Yolox, x: &[f32], h: usize, w: usize, heads: [&mut [f32]; 3]) {
        let started = Instant::now();
        let fs = Chw {
            c: 12,
            h: h / 2,
            w: w / 2,
        };
        let mut focused = self.ws.take(fs.floats());
        cpu::focus(x, Chw { c: 3, h, w }, &mut focused);
        self.record(started, || format!("focus @{h}x{w}"));
        let stem = self.conv(&net.stem, &focused, fs, Epilogue::Silu);
        self.ws.put(focused);

        let d = self.block(&net.dark2.0, &stem.buf, stem.shape);
        self.ws.put(stem.buf);
        let x2 = self.csp(&net.dark2.1, &d.buf, d.shape);
        self.ws.put(d.buf);

        // dark3's output (x3) is the second part of C3_p3's input, behind the upsampled
        // reduce_conv1 output; dark4's (x4) likewise of C3_p4's, behind lateral_conv0's.
        let d = self.block(&net.dark3.0, &x2.buf, x2.shape);
        self.ws.put(x2.buf);
        let s3 = d.shape;
        let r1 = net.reduce_conv1.geometry.filters;
        let c3 = net.dark3.1.out_channels();
        let mut p3cat = self.ws.take((r1 + c3) * s3.plane());
        self.csp_into(&net.dark3.1, &d.buf, s3, &mut p3cat[r1 * s3.plane()..]);
        self.ws.put(d.buf);
        let x3s = Chw { c: c3, ..s3 };

        let d = self.block(&net.dark4.0, &p3cat[r1 * s3.plane()..], x3s);
        let s4 = d.shape;
        let lat = net.lateral_conv0.geometry.filters;
        let c4 = net.dark4.1.out_channels();
        let mut p4cat = self.ws.take((lat + c4) * s4.plane());
        self.csp_into(&net.dark4.1, &d.buf, s4, &mut p4cat[lat * s4.plane()..]);
        self.ws.put(d.buf);
        let x4s = Chw { c: c4, ..s4 };

        let d = self.block(&net.dark5.0, &p4cat[lat * s4.plane()..], x4s);
        let s = self.spp(&net.dark5.1, &d.buf, d.shape);
        self.ws.put(d.buf);
        let x5 = self.csp(&net.dark5.2, &s.buf, s.shape);
        self.ws.put(s.buf);
        let s5 = x5.shape;

        // PAFPN. C3_n4 reads cat(bu_conv1 out, fpn_out0); C3_n3 cat(bu_conv2 out, fpn_out1).
        let bu1 = super::out_channels(&net.bu_conv1);
        let mut n4cat = self.ws.take((bu1 + lat) * s5.plane());
        self.conv_into(
            &net.lateral_conv0,
            &x5.buf,
            s5,
            &mut n4cat[bu1 * s5.plane()..],
            Epilogue::Silu,
        );
        self.ws.put(x5.buf);
        let fpn0s = Chw { c: lat, ..s5 };
        {
            let (up, _) = p4cat.split_at_mut(lat * s4.plane());
            self.upsample(&n4cat[bu1 * s5.plane()..], fpn0s, up);
        }
        let f_out0 = self.csp(&net.c3_p4, &p4cat, Chw { c: lat + c4, ..s4 });
        self.ws.put(p4cat);

        let bu2 = super::out_channels(&net.bu_conv2);
        let mut n3cat = self.ws.take((bu2 + r1) * s4.plane());
        self.conv_into(
            &net.reduce_conv1,
            &f_out0.buf,
            f_out0.shape,
            &mut n3cat[bu2 * s4.plane()..],
            Epilogue::Silu,
        );
        self.ws.put(f_out0.buf);
        {
            let (up, _) = p3cat.split_at_mut(r1 * s3.plane());
            self.upsample(&n3cat[bu2 * s4.plane()..], Chw { c: r1, ..s4 }, up);
        }
        let pan2 = self.csp(&net.c3_p3, &p3cat, Chw { c: r1 + c3, ..s3 });
        self.ws.put(p3cat);

        self.block_into(
            &net.bu_conv2,
            &pan2.buf,
            pan2.shape,
            &mut n3cat[..bu2 * s4.plane()],
            Epilogue::Silu,
        );
        let pan1 = self.csp(&net.c3_n3, &n3cat, Chw { c: bu2 + r1, ..s4 });
        self.ws.put(n3cat);
        self.block_into(
            &net.bu_conv1,
            &pan1.buf,
            pan1.shape,
            &mut n4cat[..bu1 * s5.plane()],
            Epilogue::Silu,
        );
        let pan0 = self.csp(&net.c3_n4, &n4cat, Chw { c: bu1 + lat, ..s5 });
        self.ws.put(n4cat);

        for ((level, x), out) in net.head.iter().zip([&pan2, &pan1, &pan0]).zip(heads) {
            let stem = self.conv(&level.stem, &x.buf, x.shape, Epilogue::Silu);
            let plane = stem.shape.plane();
            let cls0 = self.block(&level.cls_convs[0], &stem.buf, stem.shape);
            let cls = self.block(&level.cls_convs[1], &cls0.buf, cls0.shape);
            self.ws.put(cls0.buf);
            let reg0 = self.block(&level.reg_convs[0], &stem.buf, stem.shape);
            let reg = self.block(&level.reg_convs[1], &reg0.buf, reg0.shape);
            self.ws.put(reg0.buf);
            self.ws.put(stem.buf);
            let (box_, rest) = out.split_at_mut(4 * plane);
            let (obj, cls_out) = rest.split_at_mut(plane);
            self.conv_into(&level.reg_pred, &reg.buf, reg.shape, box_, Epilogue::Linear);
            self.conv_into(&level.obj_pred, &reg.buf, reg.shape, obj, Epilogue::Sigmoid);
            self.conv_into(
                &level.cls_pred,
                &cls.buf,
                cls.shape,
                cls_out,
                Epilogue::Sigmoid,
            );
            self.ws.put(reg.buf);
            self.ws.put(cls.buf);
        }
        for a in [pan2, pan1, pan0] {
            self.ws.put(a.buf);
        }
    }
}

impl Yolox {
    /// The forward on the kernels of `yolox::cpu` and `darknet::cpu`, in the reused
    /// workspace; `input` is checked by the caller (`N x 3 x H x W` f32, multiples of 32).
    pub(super) fn forward_cpu(
        &self,
        input: &Tensor,
        times: Option<&mut Vec<LayerTime>>,
    ) -> Result<Vec<YoloxHead>, YoloxError> {
        let candle = |context: &str, source| YoloxError::Candle {
            context: format!("{}: {context}", self.path.display()),
            source,
        };
        let (n, _, h, w) = input.dims4().map_err(|e| candle("input shape", e))?;
        let input = input
            .contiguous()
            .map_err(|e| candle("contiguous input", e))?;
        let (storage, layout) = input.storage_and_layout();
        let data: &[f32] = match (&*storage, layout.contiguous_offsets()) {
            (Storage::Cpu(CpuStorage::F32(v)), Some((start, end))) => &v[start..end],
            _ => {
                return Err(YoloxError::InputShape {
                    shape: input.dims().to_vec(),
                    message: "expected a contiguous f32 CPU tensor".into(),
                })
            }
        };
        let channels = 5 + self.classes;
        let grids = STRIDES_PX.map(|s| (h / s, w / s));
        let per_item = grids.map(|(gh, gw)| channels * gh * gw);
        let mut outs = per_item.map(|len| vec![0f32; n * len]);
        // A panic in another forward cannot leave the pool inconsistent in a way that
        // matters: every buffer is overwritten before it is read.
        let mut guard = self
            .workspace
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut run = Run {
            ws: &mut guard,
            times,
        };
        // The whole forward runs on one of rayon's worker threads: each layer's parallel loop
        // is then a fork-join inside the pool, not a hand-over from this thread and back (two
        // context switches per layer, about 1.5 ms of 10 on two cores).
        rayon::scope(|_| {
            for b in 0..n {
                let x = &data[b * 3 * h * w..][..3 * h * w];
                let [o0, o1, o2] = &mut outs;
                let heads = [
                    &mut o0[b * per_item[0]..][..per_item[0]],
                    &mut o1[b * per_item[1]..][..per_item[1]],
                    &mut o2[b * per_item[2]..][..per_item[2]],
                ];
                run.item(self, x, h, w, heads);
            }
        });
        drop(guard);
        drop(storage);
        let mut heads = Vec::with_capacity(3);
        for ((out, (gh, gw)), stride_px) in outs.into_iter().zip(grids).zip(STRIDES_PX) {
            let output = Tensor::from_vec(out, (n, channels, gh, gw), &Device::Cpu)
                .map_err(|e| candle("head output", e))?;
            heads.push(YoloxHead { output, stride_px });
        }
        Ok(heads)
    }
}
