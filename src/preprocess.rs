//! Darknet letterbox preprocessing: a packed RGB8 image in, the network input blob out
//! (`3 x S x S` f32, CHW, RGB, values in `[0, 1]`), plus the [`ImageFromModel`] transform that
//! takes boxes from model pixels back to image pixels.
//!
//! Follows darknet's `letterbox_image` exactly: the scaled size is computed in integers as
//! darknet does (`new_h = h * S / w` when the width limits), the image is resized with
//! darknet's `resize_image` (separable bilinear with corner-aligned sampling,
//! `scale = (in - 1) / (out - 1)`, evaluated in f32 in darknet's order), pasted at
//! `((S - new_w) / 2, (S - new_h) / 2)` on a canvas filled with 0.5.
//!
//! [`Letterbox::image_from_model`] is the one place the transform is built: the CPU letterbox
//! and the GPU upload plan (`cuda::layout`) both take it from there.

use crate::types::{BBox, RgbImage};

/// An image the letterbox cannot take.
#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    #[error("image {width}x{height} with {data_len} bytes: {message}")]
    Image {
        width: u32,
        height: u32,
        data_len: usize,
        message: String,
    },
}

/// The letterbox stage for a square network input of `size_px` pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Letterbox {
    pub size_px: u32,
    pub style: LetterboxStyle,
}

/// Which detector family's input the letterbox makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LetterboxStyle {
    /// darknet's `letterbox_image`: centred, canvas 0.5, RGB in `[0, 1]` (the module doc).
    #[default]
    Darknet,
    /// YOLOX's `ValTransform` (`yolox/data/data_augment.py: preproc`): scale
    /// `r = min(S / h, S / w)`, resized to `(int(w r), int(h r))` with OpenCV's bilinear
    /// `INTER_LINEAR` on 8-bit pixels (half-pixel centres, 11-bit fixed-point weights, rounded
    /// back to 8 bits as its vectorised code does), pasted at the top-left of a canvas of 114, BGR, values `0..255` with
    /// no normalisation.
    Yolox,
}

/// Maps boxes from model (letterboxed input) pixels to source image pixels:
/// `x_image = (x_model - offset_x_px) * scale_x`, likewise for y.
///
/// Per-axis scales (`image_w / new_w`, `image_h / new_h`) because darknet rounds the scaled
/// size down to whole pixels, so the two axes differ by up to a pixel's worth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageFromModel {
    pub scale_x: f32,
    pub scale_y: f32,
    /// Left edge of the pasted image in the model input, in model pixels.
    pub offset_x_px: f32,
    /// Top edge of the pasted image in the model input, in model pixels.
    pub offset_y_px: f32,
}

impl ImageFromModel {
    /// The box in image pixels (not clipped).
    pub fn apply(&self, bbox_model: &BBox) -> BBox {
        BBox {
            x_min: (bbox_model.x_min - self.offset_x_px) * self.scale_x,
            y_min: (bbox_model.y_min - self.offset_y_px) * self.scale_y,
            x_max: (bbox_model.x_max - self.offset_x_px) * self.scale_x,
            y_max: (bbox_model.y_max - self.offset_y_px) * self.scale_y,
        }
    }
}

/// The geometry darknet's `letterbox_image` picks for an image of `w x h` in an `s x s` input:
/// `(new_w, new_h, offset_x, offset_y)`, all integer pixels.
pub fn letterbox_geometry(w: u32, h: u32, s: u32) -> (u32, u32, u32, u32) {
    // darknet compares the float ratios, then scales in integers (truncating).
    let (new_w, new_h) = if (s as f32 / w as f32) < (s as f32 / h as f32) {
        (s, (u64::from(h) * u64::from(s) / u64::from(w)) as u32)
    } else {
        ((u64::from(w) * u64::from(s) / u64::from(h)) as u32, s)
    };
    // a 1 x 1000 image would otherwise scale to width 0
    let (new_w, new_h) = (new_w.max(1), new_h.max(1));
    (new_w, new_h, (s - new_w) / 2, (s - new_h) / 2)
}

impl Letterbox {
    pub fn new(size_px: u32) -> Self {
        Self {
            size_px,
            style: LetterboxStyle::Darknet,
        }
    }

    /// YOLOX's letterbox ([`LetterboxStyle::Yolox`]).
    pub fn yolox(size_px: u32) -> Self {
        Self {
            size_px,
            style: LetterboxStyle::Yolox,
        }
    }

    /// Where boxes in model pixels lie in an image of `width x height` letterboxed by this
    /// stage: the scale and paste offset of [`letterbox_geometry`].
    pub fn image_from_model(&self, width: u32, height: u32) -> ImageFromModel {
        if self.style == LetterboxStyle::Yolox {
            // YOLOX divides the boxes by r (one scale for both axes, offset 0).
            let r = yolox_scale(width, height, self.size_px);
            return ImageFromModel {
                scale_x: (1.0 / r) as f32,
                scale_y: (1.0 / r) as f32,
                offset_x_px: 0.0,
                offset_y_px: 0.0,
            };
        }
        let (new_w, new_h, off_x, off_y) = letterbox_geometry(width, height, self.size_px);
        ImageFromModel {
            scale_x: width as f32 / new_w as f32,
            scale_y: height as f32 / new_h as f32,
            offset_x_px: off_x as f32,
            offset_y_px: off_y as f32,
        }
    }

    /// Letterboxes `img` into a fresh `3 * S * S` buffer.
    pub fn apply(&self, img: &RgbImage) -> Result<(Vec<f32>, ImageFromModel), PreprocessError> {
        let mut blob = Vec::new();
        let transform = self.apply_into(img, &mut blob)?;
        Ok((blob, transform))
    }

    /// Letterboxes `img` into `blob`, resized to `3 * S * S` (no allocation once it has that
    /// capacity).
    pub fn apply_into(
        &self,
        img: &RgbImage,
        blob: &mut Vec<f32>,
    ) -> Result<ImageFromModel, PreprocessError> {
        let (w, h) = (img.width as usize, img.height as usize);
        let image_err = |message: &str| PreprocessError::Image {
            width: img.width,
            height: img.height,
            data_len: img.data.len(),
            message: message.to_string(),
        };
        if w == 0 || h == 0 {
            return Err(image_err("empty image"));
        }
        if img.data.len() != 3 * w * h {
            return Err(image_err("data length is not 3 * width * height"));
        }
        if self.size_px == 0 {
            return Err(image_err("letterbox size is 0"));
        }
        if self.style == LetterboxStyle::Yolox {
            yolox_letterbox(img, self.size_px, blob);
            return Ok(self.image_from_model(img.width, img.height));
        }
        let s = self.size_px as usize;
        let (new_w, new_h, off_x, off_y) = letterbox_geometry(img.width, img.height, self.size_px);
        let (new_w, new_h, off_x, off_y) = (
            new_w as usize,
            new_h as usize,
            off_x as usize,
            off_y as usize,
        );

        blob.clear();
        blob.resize(3 * s * s, 0.5);

        // darknet resizes in two separable passes: horizontally into `part` (new_w x h), then
        // vertically. Each output row needs only source rows iy and iy + 1 of `part`, so those
        // rows are computed on demand (rows come in increasing order) into a two-row cache,
        // with the per-column sample positions and weights computed once. Every value is the
        // same f32 expression, in the same order, as darknet's loops (and the GPU kernel's).
        let w_scale = if new_w > 1 {
            (w - 1) as f32 / (new_w - 1) as f32
        } else {
            0.0
        };
        let h_scale = if new_h > 1 {
            (h - 1) as f32 / (new_h - 1) as f32
        } else {
            0.0
        };
        // u8 -> [0, 1] exactly as `f32::from(v) / 255.0`.
        let unit: [f32; 256] = std::array::from_fn(|v| v as f32 / 255.0);
        // Per output column: (source column, weight of the next column, 1 - that weight), or
        // the last source column alone for the last output column (and 1-pixel-wide images).
        let columns: Vec<Option<(usize, f32, f32)>> = (0..new_w)
            .map(|c| {
                if c == new_w - 1 || w == 1 {
                    None
                } else {
                    let sx = c as f32 * w_scale;
                    let ix = sx as usize;
                    let dx = sx - ix as f32;
                    Some((ix, dx, 1.0 - dx))
                }
            })
            .collect();
        let horizontal = |row: usize, out: &mut [f32]| {
            let src = &img.data[row * w * 3..(row + 1) * w * 3];
            for (c, col) in columns.iter().enumerate() {
                let o = &mut out[c * 3..c * 3 + 3];
                match *col {
                    None => {
                        for k in 0..3 {
                            o[k] = unit[usize::from(src[(w - 1) * 3 + k])];
                        }
                    }
                    Some((ix, dx, one_minus_dx)) => {
                        for k in 0..3 {
                            let a = unit[usize::from(src[ix * 3 + k])];
                            let b = unit[usize::from(src[(ix + 1) * 3 + k])];
                            o[k] = one_minus_dx * a + dx * b;
                        }
                    }
                }
            }
        };
        let mut rows = [vec![0f32; new_w * 3], vec![0f32; new_w * 3]];
        let mut cached: [Option<usize>; 2] = [None, None];
        // The slot holding `row`, computing it if needed. Rows are requested in increasing
        // order, so evicting the lower cached row never evicts the other row of the pair.
        let mut fetch = |row: usize, rows: &mut [Vec<f32>; 2]| -> usize {
            if let Some(slot) = cached.iter().position(|&c| c == Some(row)) {
                return slot;
            }
            let slot = match cached {
                [None, _] => 0,
                [_, None] => 1,
                [Some(a), Some(b)] => usize::from(b < a),
            };
            horizontal(row, &mut rows[slot]);
            cached[slot] = Some(row);
            slot
        };
        let plane = s * s;
        for r in 0..new_h {
            let sy = r as f32 * h_scale;
            let iy = (sy as usize).min(h - 1);
            let dy = sy - iy as f32;
            let last = r == new_h - 1 || h == 1;
            let top = fetch(iy, &mut rows);
            let bottom = if last { top } else { fetch(iy + 1, &mut rows) };
            let one_minus_dy = 1.0 - dy;
            let base = (r + off_y) * s + off_x;
            for k in 0..3 {
                let dst = &mut blob[k * plane + base..k * plane + base + new_w];
                if last {
                    for (c, d) in dst.iter_mut().enumerate() {
                        *d = one_minus_dy * rows[top][c * 3 + k];
                    }
                } else {
                    for (c, d) in dst.iter_mut().enumerate() {
                        let mut val = one_minus_dy * rows[top][c * 3 + k];
                        val += dy * rows[bottom][c * 3 + k];
                        *d = val;
                    }
                }
            }
        }
        Ok(self.image_from_model(img.width, img.height))
    }
}

/// YOLOX's scale `r = min(S / h, S / w)`, in f64 as Python computes it.
fn yolox_scale(w: u32, h: u32, s: u32) -> f64 {
    (f64::from(s) / f64::from(h)).min(f64::from(s) / f64::from(w))
}

/// The resized size YOLOX asks OpenCV for: `(int(w r), int(h r))`, at least 1 pixel.
pub fn yolox_resized_size(w: u32, h: u32, s: u32) -> (u32, u32) {
    let r = yolox_scale(w, h, s);
    let side = |v: u32| ((f64::from(v) * r) as u32).clamp(1, s);
    (side(w), side(h))
}

/// OpenCV's fixed-point bilinear weights (`INTER_RESIZE_COEF_BITS` = 11).
const COEF_SCALE: f32 = 2048.0;

/// Per output position of a `src -> dst` axis: the first source index and the two 11-bit
/// weights, as OpenCV's `resize` (`INTER_LINEAR`, 8-bit) computes them.
fn cv_linear_taps(src: usize, dst: usize) -> Vec<(usize, i32, i32)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut i = f.floor() as isize;
            let mut frac = f - i as f32;
            if i < 0 {
                i = 0;
                frac = 0.0;
            }
            if i as usize >= src - 1 {
                i = src as isize - 1;
                frac = 0.0;
            }
            // cvRound: to nearest, ties to even.
            let a1 = (frac * COEF_SCALE).round_ties_even() as i32;
            (i as usize, COEF_SCALE as i32 - a1, a1)
        })
        .collect()
}

/// YOLOX's letterbox of `img` into `blob` (`3 x S x S`, BGR planes, `0..255`, canvas 114).
fn yolox_letterbox(img: &RgbImage, size_px: u32, blob: &mut Vec<f32>) {
    let (w, h) = (img.width as usize, img.height as usize);
    let s = size_px as usize;
    let (new_w, new_h) = yolox_resized_size(img.width, img.height, size_px);
    let (new_w, new_h) = (new_w as usize, new_h as usize);
    blob.clear();
    blob.resize(3 * s * s, 114.0);
    let xs = cv_linear_taps(w, new_w);
    let ys = cv_linear_taps(h, new_h);
    let last_x = w - 1;
    // Horizontal pass of one source row into 32-bit sums (weights x 2048).
    let horizontal = |row: usize, out: &mut [i32]| {
        let src = &img.data[row * w * 3..(row + 1) * w * 3];
        for (c, &(ix, a0, a1)) in xs.iter().enumerate() {
            let ix1 = (ix + 1).min(last_x);
            for k in 0..3 {
                out[c * 3 + k] = i32::from(src[ix * 3 + k]) * a0 + i32::from(src[ix1 * 3 + k]) * a1;
            }
        }
    };
    let mut top = vec![0i32; new_w * 3];
    let mut bottom = vec![0i32; new_w * 3];
    let plane = s * s;
    for (r, &(iy, b0, b1)) in ys.iter().enumerate() {
        horizontal(iy, &mut top);
        horizontal((iy + 1).min(h - 1), &mut bottom);
        for c in 0..new_w {
            for k in 0..3 {
                // OpenCV's vectorised vertical pass (`VResizeLinearVec_32s8u`, what x86 builds
                // run): each product on the sum shifted by 4, high 16 bits, then rounded by 2
                // more bits; bit-exact with cv2.resize on the test images (checked in
                // tests/yolox_parity.rs).
                let (t, u) = (top[c * 3 + k] >> 4, bottom[c * 3 + k] >> 4);
                let v = (((b0 * t) >> 16) + ((b1 * u) >> 16) + 2) >> 2;
                // BGR: RGB channel k goes to plane 2 - k.
                blob[(2 - k) * plane + r * s + c] = v.clamp(0, 255) as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yolox_letterbox_is_top_left_bgr_on_114() {
        let mut img = RgbImage::new(64, 32);
        for p in img.data.chunks_exact_mut(3) {
            p.copy_from_slice(&[200, 10, 51]);
        }
        let lb = Letterbox::yolox(32);
        let (blob, t) = lb.apply(&img).unwrap();
        assert_eq!(blob.len(), 3 * 32 * 32);
        assert_eq!(yolox_resized_size(64, 32, 32), (32, 16));
        assert_eq!((t.offset_x_px, t.offset_y_px), (0.0, 0.0));
        assert_eq!((t.scale_x, t.scale_y), (2.0, 2.0));
        let at = |k: usize, y: usize, x: usize| blob[k * 1024 + y * 32 + x];
        for x in 0..32 {
            for y in 0..16 {
                // a constant image stays exactly constant; planes are B, G, R
                assert_eq!((at(0, y, x), at(1, y, x), at(2, y, x)), (51.0, 10.0, 200.0));
            }
            for y in 16..32 {
                assert_eq!(
                    (at(0, y, x), at(1, y, x), at(2, y, x)),
                    (114.0, 114.0, 114.0)
                );
            }
        }
        // a 2x1 ramp upscaled to 4x2: OpenCV gives 0, 64, 191, 255 (half-pixel centres)
        let mut ramp = RgbImage::new(2, 1);
        ramp.data.copy_from_slice(&[0, 0, 0, 255, 255, 255]);
        let (blob, _) = Letterbox::yolox(4).apply(&ramp).unwrap();
        assert_eq!(&blob[0..4], &[0.0, 64.0, 191.0, 255.0]);
    }

    #[test]
    fn geometry_matches_darknet_integers() {
        // 768x576 (PETS09) in 416: width limits, new_h = 576 * 416 / 768 = 312
        assert_eq!(letterbox_geometry(768, 576, 416), (416, 312, 0, 52));
        // 640x424: 424 * 416 / 640 = 275.6 -> 275, offset (416 - 275) / 2 = 70
        assert_eq!(letterbox_geometry(640, 424, 416), (416, 275, 0, 70));
        // portrait
        assert_eq!(letterbox_geometry(300, 600, 416), (208, 416, 104, 0));
    }

    #[test]
    fn padding_is_half_and_constant_image_survives() {
        let mut img = RgbImage::new(64, 32);
        for p in img.data.chunks_exact_mut(3) {
            p.copy_from_slice(&[255, 0, 51]);
        }
        let (blob, t) = Letterbox::new(32).apply(&img).unwrap();
        assert_eq!(blob.len(), 3 * 32 * 32);
        // 64x32 -> 32x16 at offset y 8
        assert_eq!(t.offset_y_px, 8.0);
        assert_eq!(blob[0], 0.5);
        let at = |k: usize, y: usize, x: usize| blob[k * 1024 + y * 32 + x];
        for y in 8..24 {
            for x in 0..32 {
                assert!((at(0, y, x) - 1.0).abs() < 1e-6);
                assert!(at(1, y, x).abs() < 1e-6);
                assert!((at(2, y, x) - 0.2).abs() < 1e-6);
            }
        }
        assert_eq!(at(1, 7, 5), 0.5);
        assert_eq!(at(1, 24, 5), 0.5);
    }

    #[test]
    fn transform_maps_canvas_corners_to_image_corners() {
        let img = RgbImage::new(768, 576);
        let (_, t) = Letterbox::new(416).apply(&img).unwrap();
        let b = t.apply(&BBox {
            x_min: 0.0,
            y_min: 52.0,
            x_max: 416.0,
            y_max: 364.0,
        });
        assert!((b.x_min).abs() < 1e-4 && (b.y_min).abs() < 1e-4);
        assert!((b.x_max - 768.0).abs() < 1e-3 && (b.y_max - 576.0).abs() < 1e-3);
    }

    #[test]
    fn bad_images_are_errors() {
        let lb = Letterbox::new(416);
        assert!(lb.apply(&RgbImage::new(0, 10)).is_err());
        let mut img = RgbImage::new(4, 4);
        img.data.pop();
        assert!(lb.apply(&img).is_err());
    }

    /// darknet's `letterbox_image` as written there: a full horizontal pass, then a vertical one.
    fn darknet_reference(img: &RgbImage, size: usize) -> Vec<f32> {
        let (w, h) = (img.width as usize, img.height as usize);
        let (new_w, new_h, off_x, off_y) = letterbox_geometry(img.width, img.height, size as u32);
        let (new_w, new_h, off_x, off_y) = (
            new_w as usize,
            new_h as usize,
            off_x as usize,
            off_y as usize,
        );
        let w_scale = if new_w > 1 {
            (w - 1) as f32 / (new_w - 1) as f32
        } else {
            0.0
        };
        let h_scale = if new_h > 1 {
            (h - 1) as f32 / (new_h - 1) as f32
        } else {
            0.0
        };
        let px = |x: usize, y: usize, k: usize| f32::from(img.data[(y * w + x) * 3 + k]) / 255.0;
        let mut part = vec![0f32; new_w * h * 3];
        for r in 0..h {
            for c in 0..new_w {
                for k in 0..3 {
                    part[(r * new_w + c) * 3 + k] = if c == new_w - 1 || w == 1 {
                        px(w - 1, r, k)
                    } else {
                        let sx = c as f32 * w_scale;
                        let ix = sx as usize;
                        let dx = sx - ix as f32;
                        (1.0 - dx) * px(ix, r, k) + dx * px(ix + 1, r, k)
                    };
                }
            }
        }
        let mut blob = vec![0.5f32; 3 * size * size];
        for r in 0..new_h {
            let sy = r as f32 * h_scale;
            let iy = (sy as usize).min(h - 1);
            let dy = sy - iy as f32;
            for c in 0..new_w {
                for k in 0..3 {
                    let mut val = (1.0 - dy) * part[(iy * new_w + c) * 3 + k];
                    if !(r == new_h - 1 || h == 1) {
                        val += dy * part[((iy + 1) * new_w + c) * 3 + k];
                    }
                    blob[k * size * size + (r + off_y) * size + c + off_x] = val;
                }
            }
        }
        blob
    }

    #[test]
    fn row_cached_resize_equals_darknets_two_passes_bit_for_bit() {
        let mut state = 12345u64;
        for (w, h, size) in [
            (768, 576, 416),
            (37, 23, 64),
            (23, 37, 64),
            (1, 9, 32),
            (9, 1, 32),
            (20, 20, 64),
            (300, 17, 96),
        ] {
            let mut img = RgbImage::new(w, h);
            for v in &mut img.data {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                *v = (state >> 56) as u8;
            }
            let (blob, _) = Letterbox::new(size).apply(&img).unwrap();
            let want = darknet_reference(&img, size as usize);
            let same = blob
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{w}x{h} in {size}");
        }
    }

    #[test]
    fn apply_into_reuses_the_buffer() {
        let img = RgbImage::new(50, 40);
        let lb = Letterbox::new(64);
        let mut buf = Vec::new();
        lb.apply_into(&img, &mut buf).unwrap();
        let ptr = buf.as_ptr();
        lb.apply_into(&img, &mut buf).unwrap();
        assert_eq!(ptr, buf.as_ptr());
        assert_eq!(buf, lb.apply(&img).unwrap().0);
    }
}
