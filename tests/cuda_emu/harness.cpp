// Runs lookout's CUDA kernels (src/cuda/kernels.cu) on the CPU, one emulated thread at a time,
// so that their logic is tested against the CPU reference on machines without a GPU
// (tests/cuda_kernels_emulated.rs builds and drives this). It checks indexing, colour
// conversion, letterbox arithmetic, decoding, ordering, top-k and NMS; it cannot check what
// only a GPU shows (races, launch limits): tests/cuda_parity.rs does that on a GPU.
// Build it with the kernels' layout constants as -D defines, as build.rs gives them to nvcc
// (lookout::cuda::kernel_defines(); the test passes them).
//
// Usage (all buffers are raw little-endian files):
//   harness preprocess BYTES PARAMS CAMERAS SIZE_PX OUT
//   harness preprocess_yolox BYTES PARAMS CAMERAS SIZE_PX OUT
//   harness decode HEAD ANCHORS NUM_ANCHORS CLASSES GRID_W GRID_H CELL_W CELL_H SCALE_XY CONF
//                  ALLOWED IMAGES CAPACITY CAND COUNT        (CAND and COUNT are read and written)
//   harness yolox_decode HEAD CLASSES GRID_W GRID_H STRIDE CONF MULTI_LABEL ALLOWED IMAGES CAPACITY
//                        CAND COUNT                          (CAND and COUNT are read and written)
//   harness sort_nms CAND COUNT IMAGES CAPACITY TOP_K IOU_MAX MAX_OUT OUT
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

struct Dim3 {
    unsigned x = 0, y = 0, z = 0;
};
static Dim3 blockIdx, threadIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
static inline void __syncthreads() {}
static inline int atomicAdd(int* p, int v) {
    int old = *p;
    *p += v;
    return old;
}

#include "../../src/cuda/kernels.cu"

template <typename T>
static std::vector<T> load(const char* path) {
    FILE* f = std::fopen(path, "rb");
    if (!f) { std::perror(path); std::exit(2); }
    std::fseek(f, 0, SEEK_END);
    long len = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    std::vector<T> v(len / sizeof(T));
    if (len && std::fread(v.data(), 1, len, f) != (size_t)len) { std::perror(path); std::exit(2); }
    std::fclose(f);
    return v;
}

template <typename T>
static void save(const char* path, const std::vector<T>& v) {
    FILE* f = std::fopen(path, "wb");
    if (!f) { std::perror(path); std::exit(2); }
    std::fwrite(v.data(), sizeof(T), v.size(), f);
    std::fclose(f);
}

// Every thread of every block, in order (kernels without cross-thread communication).
template <typename F>
static void grid(unsigned gx, unsigned gy, unsigned bx, F kernel) {
    gridDim = {gx, gy, 1};
    blockDim = {bx, 1, 1};
    for (unsigned y = 0; y < gy; ++y)
        for (unsigned x = 0; x < gx; ++x)
            for (unsigned t = 0; t < bx; ++t) {
                blockIdx = {x, y, 0};
                threadIdx = {t, 0, 0};
                kernel();
            }
}

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    std::string k = argv[1];
    if ((k == "preprocess" || k == "preprocess_yolox") && argc == 7) {
        auto bytes = load<uint8_t>(argv[2]);
        auto params = load<long long>(argv[3]);
        int cameras = std::atoi(argv[4]), size = std::atoi(argv[5]);
        std::vector<float> out((size_t)cameras * 3 * size * size, -1.0f);
        unsigned plane = (unsigned)size * size, block = 256;
        const bool yolox = k == "preprocess_yolox";
        grid((plane + block - 1) / block, cameras, block, [&] {
            if (yolox)
                lookout_preprocess_yolox(bytes.data(), params.data(), out.data(), size);
            else
                lookout_preprocess(bytes.data(), params.data(), out.data(), size);
        });
        save(argv[6], out);
        return 0;
    }
    if (k == "yolox_decode" && argc == 14) {
        auto head = load<float>(argv[2]);
        int classes = std::atoi(argv[3]), gw = std::atoi(argv[4]), gh = std::atoi(argv[5]);
        float stride = std::strtof(argv[6], nullptr), conf = std::strtof(argv[7], nullptr);
        int multi_label = std::atoi(argv[8]);
        auto allowed = load<uint8_t>(argv[9]);
        int images = std::atoi(argv[10]), capacity = std::atoi(argv[11]);
        auto cand = load<float>(argv[12]);
        auto count = load<int>(argv[13]);
        unsigned cells = (unsigned)(gw * gh), block = 256;
        grid((cells + block - 1) / block, images, block, [&] {
            lookout_yolox_decode(head.data(), classes, gw, gh, stride, conf, multi_label,
                                 allowed.data(), cand.data(), count.data(), capacity);
        });
        save(argv[12], cand);
        save(argv[13], count);
        return 0;
    }
    if (k == "decode" && argc == 18) {
        auto head = load<float>(argv[2]);
        auto anchors = load<float>(argv[3]);
        int num_anchors = std::atoi(argv[4]), classes = std::atoi(argv[5]);
        int gw = std::atoi(argv[6]), gh = std::atoi(argv[7]);
        float cell_w = std::strtof(argv[8], nullptr), cell_h = std::strtof(argv[9], nullptr);
        float sxy = std::strtof(argv[10], nullptr), conf = std::strtof(argv[11], nullptr);
        int multi_label = std::atoi(argv[12]);
        auto allowed = load<uint8_t>(argv[13]);
        int images = std::atoi(argv[14]), capacity = std::atoi(argv[15]);
        auto cand = load<float>(argv[16]);
        auto count = load<int>(argv[17]);
        unsigned cells = (unsigned)(num_anchors * gw * gh), block = 256;
        grid((cells + block - 1) / block, images, block, [&] {
            lookout_yolo_decode(head.data(), anchors.data(), num_anchors, classes, gw, gh, cell_w,
                                cell_h, sxy, conf, multi_label, allowed.data(), cand.data(),
                                count.data(), capacity);
        });
        save(argv[16], cand);
        save(argv[17], count);
        return 0;
    }
    if (k == "sort_nms" && argc == 10) {
        auto cand = load<float>(argv[2]);
        auto count = load<int>(argv[3]);
        int images = std::atoi(argv[4]), capacity = std::atoi(argv[5]), top_k = std::atoi(argv[6]);
        float iou_max = std::strtof(argv[7], nullptr);
        int max_out = std::atoi(argv[8]);
        std::vector<float> sorted((size_t)images * capacity * CAND_LEN, 0.0f);
        std::vector<float> out((size_t)images * (1 + (size_t)max_out * CAND_LEN), 0.0f);
        // One thread per block: the kernel's strided loops then run serially, and
        // __syncthreads orders nothing that a single thread does not already order.
        grid(images, 1, 1, [&] {
            lookout_sort_nms(cand.data(), count.data(), capacity, sorted.data(), top_k, iou_max,
                             max_out, out.data());
        });
        save(argv[9], out);
        return 0;
    }
    std::fprintf(stderr, "harness: bad arguments for `%s`\n", k.c_str());
    return 2;
}
