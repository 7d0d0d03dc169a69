// lookout's own CUDA kernels, compiled by build.rs with nvcc (only with `--features cuda`) into
// one fatbin for the configured architectures and loaded through candle's cudarc.
//
// Every kernel mirrors a CPU function of the crate, which is its reference in the parity tests
// (tests/cuda_parity.rs):
//
//   lookout_preprocess   image_codec::decode_raw (colour conversion, Bayer demosaic) followed by
//                        preprocess::Letterbox::apply_into (darknet's letterbox), for a batch of
//                        cameras of any size and encoding, straight into the NCHW f32 input.
//   lookout_preprocess_yolox  the same colour conversion followed by YOLOX's letterbox
//                        (Letterbox::yolox: OpenCV's fixed-point INTER_LINEAR, top-left on 114,
//                        BGR planes, 0..255).
//   lookout_yolo_decode  detect::decode::decode_head plus the class filter of the class map.
//   lookout_yolox_decode detect::decode::decode_yolox_head plus the class filter.
//   lookout_sort_nms     detect::nms (candidate_order, then greedy class-aware NMS) with the
//                        detector's top-k and max-detections limits.
//
// Arithmetic follows the CPU code operation by operation; build.rs compiles with
// `-fmad=false` so that no multiply-add is contracted into an FMA that the CPU code does not
// do, which makes the letterbox bit-identical to the CPU one. expf differs from the host's by
// an ulp or two, so decoded boxes agree to ~1e-4 px, not bit for bit.

#include <stdint.h>

// The constants shared with the host are defined by the Rust side (src/cuda/abi.rs and
// src/image_codec/bt601.rs) and passed as -D defines: build.rs to nvcc, the emulation test to
// the C++ compiler. They are:
//   PARAMS_LEN and the P_* indices: one row of int64 parameters per camera of
//     lookout_preprocess (P_OFFSET first byte in the upload buffer, P_ENCODING an ENC_* id,
//     P_WIDTH, P_HEIGHT, P_STEP bytes per row, P_BIG_ENDIAN for mono16, P_NEW_W / P_NEW_H /
//     P_OFF_X / P_OFF_Y the letterbox size and paste offset in model pixels, P_BAYER the
//     pattern: channel (0 R, 1 G, 2 B) of (x%2, y%2) as 2-bit fields), written by
//     cuda::layout::plan_batch.
//   ENC_RGB8 ... ENC_BAYER8: the encodings, from cuda::layout::kernel_encoding.
//   CAND_LEN: floats per candidate row (x_min, y_min, x_max, y_max, score, class).
//   NMS_MAX: most candidates per image of lookout_sort_nms (cuda::abi::NMS_CAPACITY).
//   BT601_*: OpenCV's fixed-point YUV -> RGB, as image_codec::yuv_pair_to_rgb.
#if !defined(PARAMS_LEN) || !defined(P_BAYER) || !defined(ENC_BAYER8) || !defined(CAND_LEN) || \
    !defined(NMS_MAX) || !defined(BT601_CVR)
#error "compile with the -D defines of lookout::cuda::kernel_defines() (build.rs passes them)"
#endif

__device__ __forceinline__ int clamp255(int v) { return v < 0 ? 0 : (v > 255 ? 255 : v); }

__device__ __forceinline__ int reflect101(int i, int n) {
    if (n == 1) return 0;
    int r = i < 0 ? -i : (i >= n ? 2 * n - 2 - i : i);
    return r < 0 ? 0 : (r > n - 1 ? n - 1 : r);
}

__device__ __forceinline__ int bayer_channel(long long pattern, int x, int y) {
    int slot = (y & 1) * 2 + (x & 1);
    return (int)((pattern >> (2 * slot)) & 3);
}

// Channel k (0 R, 1 G, 2 B) of source pixel (x, y) as the u8 that image_codec::decode_raw gives.
__device__ int source_channel(const uint8_t* img, const long long* p, int x, int y, int k) {
    const long long step = p[P_STEP];
    const uint8_t* row = img + (long long)y * step;
    switch ((int)p[P_ENCODING]) {
    case ENC_RGB8: return row[3 * x + k];
    case ENC_BGR8: return row[3 * x + 2 - k];
    case ENC_RGBA8: return row[4 * x + k];
    case ENC_BGRA8: return row[4 * x + 2 - k];
    case ENC_MONO8: return row[x];
    case ENC_MONO16: return p[P_BIG_ENDIAN] ? row[2 * x] : row[2 * x + 1];
    case ENC_UYVY:
    case ENC_YUYV: {
        const uint8_t* s = row + 4 * (x / 2);
        int yy, u, v;
        if (p[P_ENCODING] == ENC_UYVY) {
            u = s[0]; v = s[2]; yy = (x & 1) ? s[3] : s[1];
        } else {
            u = s[1]; v = s[3]; yy = (x & 1) ? s[2] : s[0];
        }
        int uu = u - 128, vv = v - 128;
        int half = 1 << (BT601_SHIFT - 1);
        int c = (yy - 16 > 0 ? yy - 16 : 0) * BT601_CY;
        int uv = k == 0 ? half + BT601_CVR * vv
               : k == 1 ? half + BT601_CVG * vv + BT601_CUG * uu
                        : half + BT601_CUB * uu;
        return clamp255((c + uv) >> BT601_SHIFT);
    }
    case ENC_BAYER8: {
        const int w = (int)p[P_WIDTH], h = (int)p[P_HEIGHT];
        const long long pattern = p[P_BAYER];
        if (bayer_channel(pattern, x, y) == k) return row[x];
        unsigned sum = 0, count = 0;
        for (int dy = -1; dy <= 1; ++dy) {
            for (int dx = -1; dx <= 1; ++dx) {
                if (dx == 0 && dy == 0) continue;
                int nx = reflect101(x + dx, w), ny = reflect101(y + dy, h);
                if (bayer_channel(pattern, nx, ny) == k) {
                    sum += img[(long long)ny * step + nx];
                    count += 1;
                }
            }
        }
        return count ? (int)((sum + count / 2) / count) : 0;
    }
    default: return 0;
    }
}

__device__ __forceinline__ float source_value(const uint8_t* img, const long long* p, int x, int y, int k) {
    return (float)source_channel(img, p, x, y, k) / 255.0f;
}

// darknet's horizontal resize pass (the `part` image of Letterbox::apply_into) at column c of
// source row `row`.
__device__ float resized_row_value(const uint8_t* img, const long long* p, int c, int row, int k,
                                   float w_scale) {
    const int w = (int)p[P_WIDTH], new_w = (int)p[P_NEW_W];
    if (c == new_w - 1 || w == 1) return source_value(img, p, w - 1, row, k);
    float sx = (float)c * w_scale;
    int ix = (int)sx;
    float dx = sx - (float)ix;
    return (1.0f - dx) * source_value(img, p, ix, row, k) + dx * source_value(img, p, ix + 1, row, k);
}

// One thread per model input pixel of one camera: grid (ceil(S*S / block), cameras).
// out: cameras x 3 x S x S f32.
extern "C" __global__ void lookout_preprocess(const uint8_t* bytes, const long long* params,
                                              float* out, int size_px) {
    const int camera = blockIdx.y;
    const long long plane = (long long)size_px * size_px;
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= plane) return;
    const long long* p = params + (long long)camera * PARAMS_LEN;
    const uint8_t* img = bytes + p[P_OFFSET];
    float* dst = out + (long long)camera * 3 * plane + i;
    const int ox = (int)(i % size_px), oy = (int)(i / size_px);
    const int w = (int)p[P_WIDTH], h = (int)p[P_HEIGHT];
    const int new_w = (int)p[P_NEW_W], new_h = (int)p[P_NEW_H];
    const int c = ox - (int)p[P_OFF_X], r = oy - (int)p[P_OFF_Y];
    if (c < 0 || c >= new_w || r < 0 || r >= new_h) {
        dst[0] = 0.5f; dst[plane] = 0.5f; dst[2 * plane] = 0.5f;
        return;
    }
    const float w_scale = new_w > 1 ? (float)(w - 1) / (float)(new_w - 1) : 0.0f;
    const float h_scale = new_h > 1 ? (float)(h - 1) / (float)(new_h - 1) : 0.0f;
    const float sy = (float)r * h_scale;
    int iy = (int)sy;
    if (iy > h - 1) iy = h - 1;
    const float dy = sy - (float)iy;
    const bool last = r == new_h - 1 || h == 1;
    for (int k = 0; k < 3; ++k) {
        float val = (1.0f - dy) * resized_row_value(img, p, c, iy, k, w_scale);
        if (!last) val += dy * resized_row_value(img, p, c, iy + 1, k, w_scale);
        dst[k * plane] = val;
    }
}

// OpenCV's INTER_LINEAR taps of output position d of a src -> dst axis, as
// preprocess::cv_linear_taps computes them (the position in f64, rounded to f32; 11-bit weights
// rounded to nearest even): first source index *i, weights *a0 and *a1 (a0 + a1 = 2048).
__device__ __forceinline__ void cv_linear_tap(int src, int dst, int d, int* i, int* a0, int* a1) {
    const double scale = (double)src / (double)dst;
    const float f = (float)(((double)d + 0.5) * scale - 0.5);
    int ix = (int)floorf(f);
    float frac = f - (float)ix;
    if (ix < 0) {
        ix = 0;
        frac = 0.0f;
    }
    if (ix >= src - 1) {
        ix = src - 1;
        frac = 0.0f;
    }
    const int w1 = (int)rintf(frac * 2048.0f);
    *i = ix;
    *a0 = 2048 - w1;
    *a1 = w1;
}

// YOLOX's letterbox, one thread per model input pixel of one camera: grid (ceil(S*S / block),
// cameras); the parameter rows are lookout_preprocess's, with P_NEW_W / P_NEW_H YOLOX's resized
// size and the offsets 0 (cuda::layout::plan_batch). out: cameras x 3 x S x S f32, planes
// B, G, R in 0..255, 114 outside the resized image.
extern "C" __global__ void lookout_preprocess_yolox(const uint8_t* bytes, const long long* params,
                                                   float* out, int size_px) {
    const int camera = blockIdx.y;
    const long long plane = (long long)size_px * size_px;
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= plane) return;
    const long long* p = params + (long long)camera * PARAMS_LEN;
    const uint8_t* img = bytes + p[P_OFFSET];
    float* dst = out + (long long)camera * 3 * plane + i;
    const int c = (int)(i % size_px), r = (int)(i / size_px);
    const int w = (int)p[P_WIDTH], h = (int)p[P_HEIGHT];
    const int new_w = (int)p[P_NEW_W], new_h = (int)p[P_NEW_H];
    if (c >= new_w || r >= new_h) {
        dst[0] = 114.0f; dst[plane] = 114.0f; dst[2 * plane] = 114.0f;
        return;
    }
    int ix, a0, a1, iy, b0, b1;
    cv_linear_tap(w, new_w, c, &ix, &a0, &a1);
    cv_linear_tap(h, new_h, r, &iy, &b0, &b1);
    const int ix1 = ix + 1 < w - 1 ? ix + 1 : w - 1;
    const int iy1 = iy + 1 < h - 1 ? iy + 1 : h - 1;
    for (int k = 0; k < 3; ++k) {
        // The horizontal sums of rows iy and iy1 (weights x 2048), then OpenCV's vectorised
        // vertical pass, as preprocess::yolox_letterbox.
        const int top = source_channel(img, p, ix, iy, k) * a0 + source_channel(img, p, ix1, iy, k) * a1;
        const int bottom = source_channel(img, p, ix, iy1, k) * a0 + source_channel(img, p, ix1, iy1, k) * a1;
        const int t = top >> 4, u = bottom >> 4;
        const int v = (((b0 * t) >> 16) + ((b1 * u) >> 16) + 2) >> 2;
        // BGR: RGB channel k goes to plane 2 - k.
        dst[(2 - k) * plane] = (float)clamp255(v);
    }
}

__device__ __forceinline__ float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

// One thread per (anchor, cell) of one head for one image: grid (ceil(A*gh*gw / block), images).
// head: images x (A * (5 + classes)) x gh x gw f32 (contiguous). anchors: 2A floats (w, h).
// Appends candidates to cand[image][capacity][CAND_LEN] through count[image]; count keeps
// counting past capacity, so the host sees an overflow.
extern "C" __global__ void lookout_yolo_decode(const float* head, const float* anchors, int num_anchors,
                                               int classes, int grid_w, int grid_h, float cell_w,
                                               float cell_h, float scale_x_y, float confidence_min,
                                               int multi_label, const uint8_t* class_allowed,
                                               float* cand, int* count, int capacity) {
    const int image = blockIdx.y;
    const int plane = grid_w * grid_h;
    const int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= num_anchors * plane) return;
    const int a = t / plane, loc = t % plane;
    const int entries = 5 + classes;
    const float* base = head + ((long long)image * num_anchors * entries + (long long)a * entries) * plane;
    const float objectness = sigmoidf_(base[4 * plane + loc]);
    if (objectness <= confidence_min) return;
    const int row = loc / grid_w, col = loc % grid_w;
    const float s = scale_x_y;
    bool have_box = false;
    float x_min = 0.f, y_min = 0.f, x_max = 0.f, y_max = 0.f;
    // detect::decode::ClassPolicy: multi_label 0 is Argmax, the largest class logit (the
    // first on a tie) over every class, before the class filter, as the host does.
    int first = 0, last = classes;
    if (!multi_label && classes > 0) {
        int best = 0;
        for (int cls = 1; cls < classes; ++cls)
            if (base[(5 + cls) * plane + loc] > base[(5 + best) * plane + loc]) best = cls;
        first = best;
        last = best + 1;
    }
    for (int cls = first; cls < last; ++cls) {
        if (!class_allowed[cls]) continue;
        const float score = objectness * sigmoidf_(base[(5 + cls) * plane + loc]);
        if (score <= confidence_min) continue;
        if (!have_box) {
            const float sx = sigmoidf_(base[loc]) * s - 0.5f * (s - 1.0f);
            const float sy = sigmoidf_(base[plane + loc]) * s - 0.5f * (s - 1.0f);
            const float cx = ((float)col + sx) * cell_w;
            const float cy = ((float)row + sy) * cell_h;
            const float bw = expf(base[2 * plane + loc]) * anchors[2 * a];
            const float bh = expf(base[3 * plane + loc]) * anchors[2 * a + 1];
            x_min = cx - bw / 2.0f; y_min = cy - bh / 2.0f;
            x_max = cx + bw / 2.0f; y_max = cy + bh / 2.0f;
            have_box = true;
        }
        const int slot = atomicAdd(&count[image], 1);
        if (slot < capacity) {
            float* c = cand + ((long long)image * capacity + slot) * CAND_LEN;
            c[0] = x_min; c[1] = y_min; c[2] = x_max; c[3] = y_max; c[4] = score; c[5] = (float)cls;
        }
    }
}

// One thread per cell of one YOLOX head (one stride) for one image: grid (ceil(gh*gw / block),
// images). head: images x (5 + classes) x gh x gw f32 (contiguous): raw x, y, w, h, then
// objectness and class probabilities with the sigmoid applied. Appends candidates as
// lookout_yolo_decode does (same buffers, same overflow rule).
extern "C" __global__ void lookout_yolox_decode(const float* head, int classes, int grid_w,
                                                int grid_h, float stride, float confidence_min,
                                                int multi_label, const uint8_t* class_allowed,
                                                float* cand, int* count, int capacity) {
    const int image = blockIdx.y;
    const int plane = grid_w * grid_h;
    const int loc = blockIdx.x * blockDim.x + threadIdx.x;
    if (loc >= plane || classes <= 0) return;
    const float* base = head + (long long)image * (5 + classes) * plane;
    const float objectness = base[4 * plane + loc];
    if (objectness <= confidence_min) return;
    const int row = loc / grid_w, col = loc % grid_w;
    int first = 0, last = classes;
    if (!multi_label) {
        // ClassPolicy::Argmax: the largest probability, the first on a tie, before the filter.
        int best = 0;
        for (int cls = 1; cls < classes; ++cls)
            if (base[(5 + cls) * plane + loc] > base[(5 + best) * plane + loc]) best = cls;
        first = best;
        last = best + 1;
    }
    bool have_box = false;
    float x_min = 0.f, y_min = 0.f, x_max = 0.f, y_max = 0.f;
    for (int cls = first; cls < last; ++cls) {
        if (!class_allowed[cls]) continue;
        const float score = objectness * base[(5 + cls) * plane + loc];
        if (score <= confidence_min) continue;
        if (!have_box) {
            const float cx = (base[loc] + (float)col) * stride;
            const float cy = (base[plane + loc] + (float)row) * stride;
            const float bw = expf(base[2 * plane + loc]) * stride;
            const float bh = expf(base[3 * plane + loc]) * stride;
            x_min = cx - bw / 2.0f; y_min = cy - bh / 2.0f;
            x_max = cx + bw / 2.0f; y_max = cy + bh / 2.0f;
            have_box = true;
        }
        const int slot = atomicAdd(&count[image], 1);
        if (slot < capacity) {
            float* c = cand + ((long long)image * capacity + slot) * CAND_LEN;
            c[0] = x_min; c[1] = y_min; c[2] = x_max; c[3] = y_max; c[4] = score; c[5] = (float)cls;
        }
    }
}

// detect::nms::candidate_order: score descending, then class, then corners.
__device__ __forceinline__ bool before(const float* a, const float* b) {
    if (a[4] != b[4]) return a[4] > b[4];
    if (a[5] != b[5]) return a[5] < b[5];
    for (int i = 0; i < 4; ++i) {
        if (a[i] != b[i]) return a[i] < b[i];
    }
    return false;
}

__device__ __forceinline__ bool same(const float* a, const float* b) {
    for (int i = 0; i < CAND_LEN; ++i) {
        if (a[i] != b[i]) return false;
    }
    return true;
}

__device__ __forceinline__ float area(const float* b) {
    float w = b[2] - b[0], h = b[3] - b[1];
    return (w > 0.f ? w : 0.f) * (h > 0.f ? h : 0.f);
}

// BBox::iou with `a` the kept box.
__device__ __forceinline__ float iou(const float* a, const float* b) {
    float w = fminf(a[2], b[2]) - fmaxf(a[0], b[0]);
    float h = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    w = w > 0.f ? w : 0.f;
    h = h > 0.f ? h : 0.f;
    const float inter = w * h;
    const float uni = area(a) + area(b) - inter;
    return uni <= 0.f ? 0.f : inter / uni;
}

// One block per image. Sorts the image's candidates by candidate_order (each thread ranks its
// candidates against all others: deterministic whatever order the atomics appended them in),
// keeps the first top_k, runs greedy class-aware NMS, and writes
// out[image] = [kept count, kept rows...] with at most max_out rows; a count of -1 marks an
// overflow of the candidate buffer (the host then decodes that image on the CPU).
extern "C" __global__ void lookout_sort_nms(const float* cand, const int* count, int capacity,
                                            float* sorted, int top_k, float iou_max, int max_out,
                                            float* out) {
    __shared__ unsigned char removed[NMS_MAX];
    const int image = blockIdx.x;
    const int total = count[image];
    float* o = out + (long long)image * (1 + (long long)max_out * CAND_LEN);
    if (total > capacity || capacity > NMS_MAX) {
        if (threadIdx.x == 0) o[0] = -1.0f;
        return;
    }
    const float* c = cand + (long long)image * capacity * CAND_LEN;
    float* srt = sorted + (long long)image * capacity * CAND_LEN;
    for (int i = threadIdx.x; i < total; i += blockDim.x) {
        const float* ci = c + (long long)i * CAND_LEN;
        int rank = 0;
        for (int j = 0; j < total; ++j) {
            const float* cj = c + (long long)j * CAND_LEN;
            if (before(cj, ci) || (j < i && same(cj, ci))) rank += 1;
        }
        for (int e = 0; e < CAND_LEN; ++e) srt[(long long)rank * CAND_LEN + e] = ci[e];
    }
    const int m = total < top_k ? total : top_k;
    for (int i = threadIdx.x; i < m; i += blockDim.x) removed[i] = 0;
    __syncthreads();
    for (int i = 0; i < m; ++i) {
        if (!removed[i]) {
            const float* k = srt + (long long)i * CAND_LEN;
            for (int j = i + 1 + threadIdx.x; j < m; j += blockDim.x) {
                const float* cj = srt + (long long)j * CAND_LEN;
                if (!removed[j] && cj[5] == k[5] && iou(k, cj) > iou_max) removed[j] = 1;
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        int kept = 0;
        for (int i = 0; i < m && kept < max_out; ++i) {
            if (removed[i]) continue;
            for (int e = 0; e < CAND_LEN; ++e) o[1 + kept * CAND_LEN + e] = srt[(long long)i * CAND_LEN + e];
            kept += 1;
        }
        o[0] = (float)kept;
    }
}
