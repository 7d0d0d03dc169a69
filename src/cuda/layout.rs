//! The host side of the CUDA kernels' data layout: per-camera parameter rows of
//! `lookout_preprocess`, the candidate rows of `lookout_yolo_decode` / `lookout_sort_nms`, and
//! the validation of raw camera images before upload.
//!
//! Free of CUDA so that it builds and is tested on every machine; `src/cuda/kernels.cu` reads
//! the same layout (the `P_*`, `ENC_*` and `CAND_LEN` constants there).

use crate::detect::Candidate;
use crate::image_codec::ImageError;
use crate::preprocess::{letterbox_geometry, ImageFromModel, Letterbox};
use crate::types::BBox;

/// int64 values per camera row of `lookout_preprocess`'s parameters.
pub const PARAMS_LEN: usize = 12;
/// f32 values per candidate row: x_min, y_min, x_max, y_max, score, class.
pub const CAND_LEN: usize = 6;
/// Most candidates one image may have before NMS on the GPU (the NMS kernel keeps a flag per
/// candidate in shared memory); an image with more is decoded on the CPU instead.
pub const NMS_CAPACITY: usize = 8192;

/// Alignment of each camera's bytes in the upload buffer.
const UPLOAD_ALIGN: usize = 256;

/// A camera image as it arrives (`sensor_msgs/msg/Image` fields), not yet converted.
#[derive(Debug, Clone, Copy)]
pub struct RawImageRef<'a> {
    pub encoding: &'a str,
    pub width: u32,
    pub height: u32,
    /// Bytes per row (at least one row of pixels).
    pub step: u32,
    /// Byte order of 16-bit encodings.
    pub is_bigendian: bool,
    pub data: &'a [u8],
}

impl<'a> RawImageRef<'a> {
    /// A packed RGB8 image as a raw `rgb8` image.
    pub fn from_rgb(image: &'a crate::types::RgbImage) -> Self {
        Self {
            encoding: "rgb8",
            width: image.width,
            height: image.height,
            step: image.width.saturating_mul(3),
            is_bigendian: false,
            data: &image.data,
        }
    }
}

/// The kernel's encoding ids (`ENC_*` in kernels.cu).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuEncoding {
    Rgb8 = 0,
    Bgr8 = 1,
    Rgba8 = 2,
    Bgra8 = 3,
    Mono8 = 4,
    Mono16 = 5,
    Uyvy = 6,
    Yuyv = 7,
    Bayer8 = 8,
}

impl GpuEncoding {
    /// The kernel encoding and, for Bayer mosaics, the packed pattern (channel 0 R, 1 G, 2 B of
    /// the top-left 2x2 block, row-major, 2 bits each); the names are those of
    /// [`crate::image_codec::decode_raw`].
    pub fn parse(encoding: &str) -> Option<(Self, i64)> {
        let bayer = |c: [i64; 4]| (Self::Bayer8, c[0] | c[1] << 2 | c[2] << 4 | c[3] << 6);
        let (r, g, b) = (0, 1, 2);
        Some(match encoding {
            "rgb8" => (Self::Rgb8, 0),
            "bgr8" => (Self::Bgr8, 0),
            "rgba8" => (Self::Rgba8, 0),
            "bgra8" => (Self::Bgra8, 0),
            "mono8" => (Self::Mono8, 0),
            "mono16" => (Self::Mono16, 0),
            "yuv422" | "uyvy" => (Self::Uyvy, 0),
            "yuv422_yuy2" | "yuyv" => (Self::Yuyv, 0),
            "bayer_rggb8" => bayer([r, g, g, b]),
            "bayer_bggr8" => bayer([b, g, g, r]),
            "bayer_gbrg8" => bayer([g, b, r, g]),
            "bayer_grbg8" => bayer([g, r, b, g]),
            _ => return None,
        })
    }

    fn bytes_per_pixel(self) -> u64 {
        match self {
            Self::Rgb8 | Self::Bgr8 => 3,
            Self::Rgba8 | Self::Bgra8 => 4,
            Self::Mono8 | Self::Bayer8 => 1,
            Self::Mono16 | Self::Uyvy | Self::Yuyv => 2,
        }
    }
}

/// One camera's parameter row and where its boxes map back to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraParams {
    pub row: [i64; PARAMS_LEN],
    pub image_from_model: ImageFromModel,
}

/// Checks `image` as [`crate::image_codec::decode_raw`] does (same errors, naming the field);
/// returns what [`GpuEncoding::parse`] gives.
pub fn validate(image: &RawImageRef<'_>) -> Result<(GpuEncoding, i64), ImageError> {
    let (encoding, pattern) = GpuEncoding::parse(image.encoding)
        .ok_or_else(|| ImageError::UnknownEncoding(image.encoding.into()))?;
    let row_bytes = u64::from(image.width) * encoding.bytes_per_pixel();
    if u64::from(image.step) < row_bytes {
        return Err(ImageError::StepTooSmall {
            encoding: image.encoding.into(),
            width: image.width,
            step: image.step,
            row_bytes,
        });
    }
    let expected = u64::from(image.height) * u64::from(image.step);
    if image.data.len() as u64 != expected {
        return Err(ImageError::DataLength {
            height: image.height,
            step: image.step,
            expected,
            actual: image.data.len(),
        });
    }
    if matches!(encoding, GpuEncoding::Uyvy | GpuEncoding::Yuyv) && image.width % 2 != 0 {
        return Err(ImageError::OddWidth {
            encoding: image.encoding.into(),
            width: image.width,
        });
    }
    Ok((encoding, pattern))
}

/// The upload plan of a batch: each camera's parameter row (with its byte offset in the upload
/// buffer) and the buffer's total size. Empty images are rejected (nothing to letterbox).
pub fn plan_batch(
    images: &[RawImageRef<'_>],
    letterbox: Letterbox,
) -> Result<(Vec<CameraParams>, usize), (usize, ImageError)> {
    let mut params = Vec::with_capacity(images.len());
    let mut offset = 0usize;
    for (index, image) in images.iter().enumerate() {
        let fail = |e| (index, e);
        let (encoding, pattern) = validate(image).map_err(fail)?;
        if image.width == 0 || image.height == 0 {
            return Err(fail(ImageError::DataLength {
                height: image.height,
                step: image.step,
                expected: 1,
                actual: 0,
            }));
        }
        let s = letterbox.size_px;
        let (new_w, new_h, off_x, off_y) = letterbox_geometry(image.width, image.height, s);
        let row = [
            offset as i64,
            encoding as i64,
            i64::from(image.width),
            i64::from(image.height),
            i64::from(image.step),
            i64::from(image.is_bigendian),
            i64::from(new_w),
            i64::from(new_h),
            i64::from(off_x),
            i64::from(off_y),
            pattern,
            0,
        ];
        params.push(CameraParams {
            row,
            image_from_model: ImageFromModel {
                scale_x: image.width as f32 / new_w as f32,
                scale_y: image.height as f32 / new_h as f32,
                offset_x_px: off_x as f32,
                offset_y_px: off_y as f32,
            },
        });
        offset += image.data.len().div_ceil(UPLOAD_ALIGN) * UPLOAD_ALIGN;
    }
    Ok((params, offset))
}

/// The per-image output block of `lookout_sort_nms`: `1 + max_out * CAND_LEN` floats.
pub fn output_stride(max_out: usize) -> usize {
    1 + max_out * CAND_LEN
}

/// Reads one image's block of `lookout_sort_nms` output: `None` when the kernel flagged an
/// overflow (count -1), else the kept candidates in order.
pub fn read_output_block(block: &[f32]) -> Option<Vec<Candidate>> {
    let count = *block.first()?;
    if count < 0.0 {
        return None;
    }
    let rows = block.get(1..)?.chunks_exact(CAND_LEN);
    Some(
        rows.take(count as usize)
            .map(|r| Candidate {
                bbox_model: BBox {
                    x_min: r[0],
                    y_min: r[1],
                    x_max: r[2],
                    y_max: r[3],
                },
                score: r[4],
                class_index: r[5] as usize,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw<'a>(encoding: &'a str, w: u32, h: u32, step: u32, data: &'a [u8]) -> RawImageRef<'a> {
        RawImageRef {
            encoding,
            width: w,
            height: h,
            step,
            is_bigendian: false,
            data,
        }
    }

    #[test]
    fn every_decode_raw_encoding_has_a_kernel_id() {
        for e in [
            "rgb8",
            "bgr8",
            "rgba8",
            "bgra8",
            "mono8",
            "mono16",
            "yuv422",
            "uyvy",
            "yuv422_yuy2",
            "yuyv",
            "bayer_rggb8",
            "bayer_bggr8",
            "bayer_gbrg8",
            "bayer_grbg8",
        ] {
            let data = vec![0u8; 2 * 4 * 2];
            let img = raw(e, 2, 2, 8, &data);
            assert!(validate(&img).is_ok(), "{e}");
            // decode_raw accepts exactly the same images
            assert!(crate::image_codec::decode_raw(e, 2, 2, 8, false, &data).is_ok());
        }
        assert!(GpuEncoding::parse("rgb16").is_none());
    }

    #[test]
    fn bayer_patterns_pack_two_bits_per_site() {
        // rggb: R(0) G(1) / G(1) B(2)
        assert_eq!(
            GpuEncoding::parse("bayer_rggb8"),
            Some((GpuEncoding::Bayer8, 0b10_01_01_00))
        );
        assert_eq!(
            GpuEncoding::parse("bayer_grbg8"),
            Some((GpuEncoding::Bayer8, 0b01_10_00_01))
        );
    }

    #[test]
    fn bad_images_are_the_errors_decode_raw_gives() {
        let data = [0u8; 10];
        let e = validate(&raw("bgr8", 4, 1, 10, &data)).unwrap_err();
        assert!(matches!(e, ImageError::StepTooSmall { .. }), "{e}");
        let e = validate(&raw("bgr8", 2, 2, 6, &data)).unwrap_err();
        assert!(matches!(e, ImageError::DataLength { .. }), "{e}");
        let e = validate(&raw("yuyv", 3, 1, 10, &data)).unwrap_err();
        assert!(matches!(e, ImageError::OddWidth { .. }), "{e}");
        let e = validate(&raw("jpeg", 1, 1, 1, &data[..1])).unwrap_err();
        assert!(matches!(e, ImageError::UnknownEncoding(_)), "{e}");
    }

    #[test]
    fn batch_plan_aligns_offsets_and_names_the_bad_camera() {
        let a = vec![0u8; 768 * 576 * 3];
        let b = vec![0u8; 640 * 480];
        let images = [
            raw("bgr8", 768, 576, 768 * 3, &a),
            raw("mono8", 640, 480, 640, &b),
        ];
        let (params, total) = plan_batch(&images, Letterbox::new(416)).unwrap();
        assert_eq!(params[0].row[0], 0);
        let second = params[1].row[0] as usize;
        assert!(second >= a.len() && second % UPLOAD_ALIGN == 0);
        assert!(total >= second + b.len());
        // 768x576 in 416: 416 x 312 pasted at y 52
        assert_eq!(&params[0].row[6..10], &[416, 312, 0, 52]);
        assert_eq!(params[0].image_from_model.offset_y_px, 52.0);
        let bad = [images[0], raw("mono8", 640, 480, 640, &b[..10])];
        let (index, e) = plan_batch(&bad, Letterbox::new(416)).unwrap_err();
        assert_eq!(index, 1);
        assert!(matches!(e, ImageError::DataLength { .. }));
    }

    #[test]
    fn output_blocks_decode_and_flag_overflow() {
        let mut block = vec![0f32; output_stride(3)];
        block[0] = 2.0;
        block[1..7].copy_from_slice(&[1.0, 2.0, 3.0, 4.0, 0.9, 5.0]);
        block[7..13].copy_from_slice(&[5.0, 6.0, 7.0, 8.0, 0.5, 0.0]);
        let kept = read_output_block(&block).unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].class_index, 5);
        assert_eq!(kept[1].bbox_model.x_max, 7.0);
        block[0] = -1.0;
        assert!(read_output_block(&block).is_none());
    }
}
