//! The constants lookout's CUDA kernels share with the host: the parameter row of
//! `lookout_preprocess`, the kernel's encoding ids, the candidate row of `lookout_yolo_decode`
//! / `lookout_sort_nms` and the NMS kernel's capacity.
//!
//! The Rust side owns them: `build.rs` includes this file and passes each entry of
//! [`KERNEL_DEFINES`] to nvcc as `-DNAME=value` (`src/cuda/kernels.cu` has no copy), and the
//! emulation test compiles the kernels with the same defines. So this file uses nothing from
//! the crate.

/// int64 values per camera row of `lookout_preprocess`'s parameters.
pub const PARAMS_LEN: usize = 12;
/// Row index: first byte of this camera in the upload buffer.
pub const P_OFFSET: usize = 0;
/// Row index: the `ENC_*` id of the camera's encoding.
pub const P_ENCODING: usize = 1;
pub const P_WIDTH: usize = 2;
pub const P_HEIGHT: usize = 3;
/// Row index: bytes per source row.
pub const P_STEP: usize = 4;
/// Row index: byte order (mono16 only).
pub const P_BIG_ENDIAN: usize = 5;
/// Row index: letterbox scaled width (model pixels); then height and paste offset.
pub const P_NEW_W: usize = 6;
pub const P_NEW_H: usize = 7;
pub const P_OFF_X: usize = 8;
pub const P_OFF_Y: usize = 9;
/// Row index: Bayer pattern, the channel (0 R, 1 G, 2 B) of (x % 2, y % 2) as 2-bit fields.
pub const P_BAYER: usize = 10;

/// Kernel encoding ids (`P_ENCODING`).
pub const ENC_RGB8: i64 = 0;
pub const ENC_BGR8: i64 = 1;
pub const ENC_RGBA8: i64 = 2;
pub const ENC_BGRA8: i64 = 3;
pub const ENC_MONO8: i64 = 4;
pub const ENC_MONO16: i64 = 5;
pub const ENC_UYVY: i64 = 6;
pub const ENC_YUYV: i64 = 7;
pub const ENC_BAYER8: i64 = 8;

/// f32 values per candidate row: x_min, y_min, x_max, y_max, score, class.
pub const CAND_LEN: usize = 6;

/// Most candidates one image may have before NMS on the GPU (the NMS kernel keeps a flag per
/// candidate in shared memory: `NMS_MAX` in the kernels); an image with more is decoded on the
/// CPU instead.
pub const NMS_CAPACITY: usize = 8192;

/// `(NAME, NAME as i64)` pairs: the kernel macro has the Rust constant's name.
macro_rules! same_name_defines {
    ($($name:ident),* $(,)?) => { &[$((stringify!($name), $name as i64)),*] };
}

/// Every constant above as `(kernel macro name, value)`, passed to the kernel compiler as
/// `-DNAME=value`. `NMS_CAPACITY` is `NMS_MAX` in the kernels.
pub const KERNEL_DEFINES: &[(&str, i64)] = &{
    const SAME: &[(&str, i64)] = same_name_defines!(
        PARAMS_LEN,
        P_OFFSET,
        P_ENCODING,
        P_WIDTH,
        P_HEIGHT,
        P_STEP,
        P_BIG_ENDIAN,
        P_NEW_W,
        P_NEW_H,
        P_OFF_X,
        P_OFF_Y,
        P_BAYER,
        ENC_RGB8,
        ENC_BGR8,
        ENC_RGBA8,
        ENC_BGRA8,
        ENC_MONO8,
        ENC_MONO16,
        ENC_UYVY,
        ENC_YUYV,
        ENC_BAYER8,
        CAND_LEN,
    );
    let mut all = [("NMS_MAX", NMS_CAPACITY as i64); SAME.len() + 1];
    let mut i = 0;
    while i < SAME.len() {
        all[i] = SAME[i];
        i += 1;
    }
    all
};
