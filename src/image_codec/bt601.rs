//! OpenCV's ITU-R BT.601 "video range" YUV -> RGB coefficients in 20-bit fixed point
//! (`modules/imgproc/src/color_yuv.simd.hpp`), used by [`super::decode_raw`] for 4:2:2 images.
//!
//! The GPU preprocessing kernel uses the same numbers: `build.rs` includes this file and passes
//! [`KERNEL_DEFINES`] to nvcc as `-DNAME=value`, so this file uses nothing from the crate.

pub const SHIFT: u32 = 20;
pub const CY: i32 = 1_220_542;
pub const CUB: i32 = 2_116_026;
pub const CUG: i32 = -409_993;
pub const CVG: i32 = -852_492;
pub const CVR: i32 = 1_673_527;

/// The coefficients as `(kernel macro name, value)`.
pub const KERNEL_DEFINES: &[(&str, i64)] = &[
    ("BT601_SHIFT", SHIFT as i64),
    ("BT601_CY", CY as i64),
    ("BT601_CUB", CUB as i64),
    ("BT601_CUG", CUG as i64),
    ("BT601_CVG", CVG as i64),
    ("BT601_CVR", CVR as i64),
];
