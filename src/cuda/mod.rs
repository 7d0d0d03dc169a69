//! The whole frame on an NVIDIA GPU: lookout's own CUDA kernels beside candle's CUDA backend.
//!
//! * [`abi`] (every build): the constants the kernels share with the host, owned here and
//!   passed to nvcc by `build.rs` as `-D` defines ([`kernel_defines`]).
//! * [`layout`] (every build): the kernels' data layout on the host side and the upload plan
//!   of a batch (raw images checked by `image_codec::check_raw`); tested without a GPU.
//! * `device` (feature `cuda`): the kernels of `kernels.cu`, compiled by `build.rs` with nvcc
//!   into a fatbin for `LOOKOUT_CUDA_ARCHS` (default sm_80 and sm_90), loaded on candle's CUDA
//!   device and launched on its stream: fused preprocessing (colour conversion + letterbox +
//!   normalisation into the NCHW input, batched over cameras), YOLO decoding with the
//!   confidence threshold, and sort + top-k + class-aware NMS, so that only the final boxes
//!   come back to the host. [`crate::detect::Detector`] uses them whenever its device is CUDA.
//!
//! Each kernel has a CPU reference, the code the CPU path runs (`image_codec::decode_raw`,
//! `Letterbox::apply_into`, `decode_head`, `nms_limited`), and a parity test in
//! `tests/cuda_parity.rs` (run by `scripts/gpu-check.sh` on a machine with a GPU).

pub mod abi;
pub mod layout;

#[cfg(feature = "cuda")]
pub mod device;

#[cfg(feature = "cuda")]
pub use device::{DecodeLimits, GpuKernels};

/// Every constant the kernels take from the host, as `(macro name, value)`: what `build.rs`
/// passes to nvcc as `-DNAME=value` (and the emulation test to the C++ compiler).
pub fn kernel_defines() -> impl Iterator<Item = (&'static str, i64)> {
    abi::KERNEL_DEFINES
        .iter()
        .chain(crate::image_codec::bt601::KERNEL_DEFINES)
        .copied()
}
