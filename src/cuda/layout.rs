//! The host side of the CUDA kernels' data layout: per-camera parameter rows of
//! `lookout_preprocess` (kernel encoding ids derived from [`crate::image_codec::RawLayout`]),
//! the upload plan of a batch (each image checked by [`crate::image_codec::check_raw_limited`], the CPU
//! decoder's own check), and the candidate rows of `lookout_yolo_decode` / `lookout_sort_nms`.
//!
//! Free of CUDA so that it builds and is tested on every machine; the constants of the layout
//! live in [`super::abi`], which `build.rs` passes to the kernels as defines.

pub use super::abi::{CAND_LEN, NMS_CAPACITY, PARAMS_LEN};
use super::abi::{
    ENC_BAYER8, ENC_BGR8, ENC_BGRA8, ENC_MONO16, ENC_MONO8, ENC_RGB8, ENC_RGBA8, ENC_UYVY,
    ENC_YUYV, P_BAYER, P_BIG_ENDIAN, P_ENCODING, P_HEIGHT, P_NEW_H, P_NEW_W, P_OFFSET, P_OFF_X,
    P_OFF_Y, P_STEP, P_WIDTH,
};
use crate::detect::{Candidate, DetectError, TOP_K_MAX};
use crate::image_codec::{check_raw_limited, RawImageRef, RawLayout};
use crate::preprocess::{
    letterbox_geometry, yolox_resized_size, ImageFromModel, Letterbox, LetterboxStyle,
};
use crate::types::BBox;

// Any `top_k` the detector accepts fits the GPU's candidate buffer, so the GPU keeps exactly
// the candidates the CPU keeps.
const _: () = assert!(NMS_CAPACITY >= TOP_K_MAX);

/// Alignment of each camera's bytes in the upload buffer.
const UPLOAD_ALIGN: usize = 256;

/// The kernel's encoding id (`ENC_*` in [`super::abi`]) of a raw layout and, for Bayer mosaics,
/// the packed pattern (channel 0 R, 1 G, 2 B of the top-left 2x2 block, row-major, 2 bits each).
pub fn kernel_encoding(layout: RawLayout) -> (i64, i64) {
    match layout {
        RawLayout::Rgb8 => (ENC_RGB8, 0),
        RawLayout::Bgr8 => (ENC_BGR8, 0),
        RawLayout::Rgba8 => (ENC_RGBA8, 0),
        RawLayout::Bgra8 => (ENC_BGRA8, 0),
        RawLayout::Mono8 => (ENC_MONO8, 0),
        RawLayout::Mono16 => (ENC_MONO16, 0),
        RawLayout::Uyvy => (ENC_UYVY, 0),
        RawLayout::Yuyv => (ENC_YUYV, 0),
        RawLayout::Bayer(c) => {
            let pattern = c
                .iter()
                .enumerate()
                .fold(0i64, |acc, (slot, &ch)| acc | (ch as i64) << (2 * slot));
            (ENC_BAYER8, pattern)
        }
    }
}

/// One camera's parameter row and where its boxes map back to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraParams {
    pub row: [i64; PARAMS_LEN],
    pub image_from_model: ImageFromModel,
}

/// The upload plan of a batch for `letterbox` (either style: the size and paste offset in the
/// row are that style's): each camera's parameter row (with its byte offset in the upload
/// buffer) and the buffer's total size. Each image is checked by
/// [`crate::image_codec::check_raw_limited`] (the CPU decoder's check: empty images are
/// refused, as the CPU letterbox refuses them); an error names the camera. No pixel limit here:
/// `input.max_pixels` is applied where input is decoded (replay, node), and the detector takes
/// whatever they accepted.
pub fn plan_batch(
    images: &[RawImageRef<'_>],
    letterbox: Letterbox,
) -> Result<(Vec<CameraParams>, usize), DetectError> {
    let mut params = Vec::with_capacity(images.len());
    let mut offset = 0usize;
    for (camera, image) in images.iter().enumerate() {
        let layout = check_raw_limited(*image, u64::MAX)
            .map_err(|source| DetectError::RawImage { camera, source })?;
        let (encoding, pattern) = kernel_encoding(layout);
        let (new_w, new_h, off_x, off_y) = match letterbox.style {
            LetterboxStyle::Darknet => {
                letterbox_geometry(image.width, image.height, letterbox.size_px)
            }
            // YOLOX pastes at the top-left corner (`lookout_preprocess_yolox`).
            LetterboxStyle::Yolox => {
                let (new_w, new_h) =
                    yolox_resized_size(image.width, image.height, letterbox.size_px);
                (new_w, new_h, 0, 0)
            }
        };
        let mut row = [0i64; PARAMS_LEN];
        row[P_OFFSET] = offset as i64;
        row[P_ENCODING] = encoding;
        row[P_WIDTH] = i64::from(image.width);
        row[P_HEIGHT] = i64::from(image.height);
        row[P_STEP] = i64::from(image.step);
        row[P_BIG_ENDIAN] = i64::from(image.is_bigendian);
        row[P_NEW_W] = i64::from(new_w);
        row[P_NEW_H] = i64::from(new_h);
        row[P_OFF_X] = i64::from(off_x);
        row[P_OFF_Y] = i64::from(off_y);
        row[P_BAYER] = pattern;
        params.push(CameraParams {
            row,
            image_from_model: letterbox.image_from_model(image.width, image.height),
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
    fn every_raw_layout_has_its_own_kernel_id() {
        let names = [
            "rgb8",
            "bgr8",
            "rgba8",
            "bgra8",
            "mono8",
            "mono16",
            "uyvy",
            "yuyv",
            "bayer_rggb8",
        ];
        let ids: Vec<i64> = names
            .iter()
            .map(|e| kernel_encoding(RawLayout::parse(e).unwrap()).0)
            .collect();
        assert_eq!(ids, (0..=8).collect::<Vec<i64>>());
    }

    #[test]
    fn bayer_patterns_pack_two_bits_per_site() {
        let code = |e: &str| kernel_encoding(RawLayout::parse(e).unwrap());
        // rggb: R(0) G(1) / G(1) B(2)
        assert_eq!(code("bayer_rggb8"), (8, 0b10_01_01_00));
        assert_eq!(code("bayer_grbg8"), (8, 0b01_10_00_01));
    }

    #[test]
    fn bad_images_are_decode_raws_errors_naming_the_camera() {
        let data = [0u8; 10];
        let ok = raw("mono8", 2, 5, 2, &data);
        for (bad, want) in [
            (raw("bgr8", 4, 1, 10, &data), "step"),
            (raw("bgr8", 2, 2, 6, &data), "field `data`"),
            (raw("yuyv", 3, 1, 10, &data), "even"),
            (
                raw("jpeg", 1, 1, 1, &data[..1]),
                "unsupported image encoding",
            ),
        ] {
            let e = plan_batch(&[ok, bad], Letterbox::new(32)).unwrap_err();
            assert!(matches!(e, DetectError::RawImage { camera: 1, .. }), "{e}");
            assert!(e.to_string().contains(want), "{e}");
        }
        let e = plan_batch(&[raw("mono8", 0, 0, 0, &[])], Letterbox::new(32)).unwrap_err();
        assert!(
            e.to_string().contains("camera image 0 of the batch")
                && e.to_string().contains("no pixels"),
            "{e}"
        );
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
        let e = plan_batch(&bad, Letterbox::new(416)).unwrap_err();
        assert!(
            matches!(
                e,
                DetectError::RawImage {
                    camera: 1,
                    source: crate::image_codec::ImageError::DataLength { .. }
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn yolox_plan_pastes_top_left_at_yoloxs_size() {
        let a = vec![0u8; 768 * 576 * 3];
        let b = vec![0u8; 300 * 600];
        let images = [
            raw("bgr8", 768, 576, 768 * 3, &a),
            raw("mono8", 300, 600, 300, &b),
        ];
        let letterbox = Letterbox::yolox(416);
        let (params, _) = plan_batch(&images, letterbox).unwrap();
        // r = 416 / 768: 416 x int(576 r) = 312; portrait: int(300 * 416 / 600) = 208 x 416
        assert_eq!(&params[0].row[6..10], &[416, 312, 0, 0]);
        assert_eq!(&params[1].row[6..10], &[208, 416, 0, 0]);
        assert_eq!(
            params[0].image_from_model,
            letterbox.image_from_model(768, 576)
        );
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
