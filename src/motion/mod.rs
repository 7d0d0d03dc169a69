//! Global image motion between consecutive frames of one camera (camera-motion compensation,
//! GMC), as BoT-SORT's sparse-optical-flow GMC does it (Aharon, Orfaig & Bobrovsky, *BoT-SORT:
//! Robust Associations Multi-Pedestrian Tracking*, 2022, §3.2): good features to track on a
//! downscaled grey frame, away from the detected objects (they move on their own; the
//! background's motion is the camera's), tracked into the next frame by pyramidal
//! Lucas-Kanade, and a similarity transform fitted to the tracked pairs with RANSAC.
//!
//! Input per frame: the frame's RGB8 image and its detection boxes (image pixels). Output:
//! [`MotionEstimate`], whose `cur_from_prev` ([`Affine2`], image pixels of the full-size frame)
//! maps the previous frame's pixels to the current frame's; the tracker applies it to its
//! tracks before associating ([`crate::track::Tracker::update_with_camera_motion`]).
//!
//! * Shi-Tomasi corners and pyramidal Lucas-Kanade come from the `optical-flow-lk` crate
//!   (OpenCV's `goodFeaturesToTrack` and `calcOpticalFlowPyrLK` schemes, checked against OpenCV
//!   by its authors); `imageproc` has corners but no optical flow.
//! * The RANSAC similarity fit is [`ransac`].
//! * The grey frame is the BT.601 luma averaged over `factor x factor` blocks, with the
//!   smallest integer `factor` that brings the width to at most
//!   [`CameraMotionConfig::max_width_px`].
//!
//! When there is no previous frame (the first one, or the frame size changed), or too few
//! features agree on a motion (a blank or blurred frame), or the fit is implausible (scale
//! outside [`SCALE_RANGE`]), the estimate has no transform and the tracker predicts as
//! without compensation. Deterministic: the same frames give the same transforms.

pub mod affine;
pub mod ransac;

use image::GrayImage;
use optical_flow_lk::{
    DetectorContext, Grid, TrackParams, TrackStatus, TrackerContext, DEFAULT_MIN_EIGEN_THRESHOLD,
};
use serde::{Deserialize, Serialize};

pub use affine::Affine2;
use ransac::{fit_similarity, Correspondence, RansacOptions};

use crate::types::{BBox, RgbImage};

/// Plausible scale change between two frames; a fit outside it is a failure, not a zoom.
pub const SCALE_RANGE: (f64, f64) = (0.8, 1.25);

/// The `camera_motion:` block of the parameter file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CameraMotionConfig {
    /// Estimate the camera's motion from the images and apply it to the tracks before
    /// association (replay and the node; `lookout track` has no images).
    pub enabled: bool,
    /// The grey frame is downscaled by the smallest integer factor that makes its width at
    /// most this many pixels.
    pub max_width_px: u32,
    /// Most features tracked per frame (spread over an 8 x 6 grid of the frame).
    pub features_max: u32,
    /// Pick no feature inside a detection box (objects move on their own).
    pub mask_detections: bool,
    /// A tracked feature agrees with a motion when the motion maps it within this many pixels
    /// of where it was found (full-size frame pixels).
    pub inlier_max_px: f64,
    /// Fewest agreeing features for a motion to be applied.
    pub inliers_min: u32,
}

impl Default for CameraMotionConfig {
    /// * `enabled = true`: on a static camera the estimate is the identity to a small fraction
    ///   of a pixel and PETS09 scores the same with it on or off; on a moving camera it keeps
    ///   ids (BENCHMARKS.md, "Camera-motion compensation").
    /// * `max_width_px = 400`: 768-px frames at half size, 1920-px at a fifth; features are
    ///   still sharp and the whole estimate costs a few ms per frame on one core.
    /// * `features_max = 192`: 4 per grid cell; BoT-SORT asks OpenCV for up to 1000, but RANSAC
    ///   needs far fewer and the cost grows with the count.
    /// * `mask_detections = true`: as BoT-SORT.
    /// * `inlier_max_px = 3.0`: OpenCV's `estimateAffinePartial2D` default.
    /// * `inliers_min = 12`.
    fn default() -> Self {
        Self {
            enabled: true,
            max_width_px: 400,
            features_max: 192,
            mask_detections: true,
            inlier_max_px: 3.0,
            inliers_min: 12,
        }
    }
}

impl CameraMotionConfig {
    /// Checks the values serde cannot; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_width_px < 32 {
            return Err(format!(
                "max_width_px: {} is below 32 px (too small to find features in)",
                self.max_width_px
            ));
        }
        if self.features_max < GRID_CELLS {
            return Err(format!(
                "features_max: {} is below {GRID_CELLS} (one per grid cell)",
                self.features_max
            ));
        }
        if !(self.inlier_max_px.is_finite() && self.inlier_max_px > 0.0) {
            return Err(format!(
                "inlier_max_px: {} is not a positive number of pixels",
                self.inlier_max_px
            ));
        }
        if self.inliers_min < 2 {
            return Err(format!(
                "inliers_min: {} is below 2 (a similarity needs two points)",
                self.inliers_min
            ));
        }
        Ok(())
    }
}

/// The features' grid: 8 x 6 cells, so the background everywhere in the frame votes.
const GRID: (u32, u32) = (8, 6);
const GRID_CELLS: u32 = GRID.0 * GRID.1;
/// Pyramid levels of Lucas-Kanade (the base included): with a 15-px window, motions up to
/// about 25 px of the downscaled frame converge.
const PYRAMID_LEVELS: usize = 3;
const LK_PARAMS: TrackParams = TrackParams {
    window_size: 15,
    max_iterations: 20,
    min_eigen_threshold: DEFAULT_MIN_EIGEN_THRESHOLD,
};
/// Shi-Tomasi quality level (fraction of the strongest corner's score) and spacing (px of the
/// downscaled frame).
const FEATURE_QUALITY: f32 = 0.01;
const FEATURE_SPACING_PX: u32 = 5;
/// Detection boxes are grown by this many px (downscaled frame) before masking, so corners on
/// an object's outline are not picked either.
const MASK_MARGIN_PX: f32 = 2.0;
/// RANSAC hypotheses at most.
const RANSAC_ITERATIONS_MAX: usize = 200;

/// One frame's motion estimate.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MotionEstimate {
    /// Previous frame's pixels to this frame's; `None` when there was no usable estimate
    /// (first frame, size change, too few agreeing features, implausible fit).
    pub cur_from_prev: Option<Affine2>,
    /// Features of the previous frame tracked into this one.
    pub tracked: usize,
    /// Of those, the ones that agree with `cur_from_prev`.
    pub inliers: usize,
}

/// The motion estimator of one camera stream: keeps the previous frame's pyramid and features.
pub struct CameraMotion {
    config: CameraMotionConfig,
    flow: TrackerContext,
    detector: DetectorContext,
    grey: GrayImage,
    /// Full-size frame dimensions of the previous frame, and its downscale factor.
    previous: Option<((u32, u32), u32)>,
    /// The previous frame's features (downscaled pixels).
    points: Vec<(f32, f32)>,
    correspondences: Vec<Correspondence>,
}

impl std::fmt::Debug for CameraMotion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraMotion")
            .field("config", &self.config)
            .field("previous", &self.previous)
            .field("points", &self.points.len())
            .finish_non_exhaustive()
    }
}

impl CameraMotion {
    pub fn new(config: CameraMotionConfig) -> Self {
        Self {
            config,
            flow: TrackerContext::new(),
            detector: DetectorContext::new(),
            grey: GrayImage::new(0, 0),
            previous: None,
            points: Vec::new(),
            correspondences: Vec::new(),
        }
    }

    /// The motion from the previous call's image to `image`; `objects` are this frame's
    /// detection boxes (image pixels), kept free of the features picked for the next frame.
    pub fn estimate(&mut self, image: &RgbImage, objects: &[BBox]) -> MotionEstimate {
        let size = (image.width, image.height);
        let factor = downscale_factor(image.width, self.config.max_width_px);
        if image.width < factor * 8 || image.height < factor * 8 {
            // Too small to hold a pyramid: nothing to estimate, and no state to keep.
            self.previous = None;
            self.points.clear();
            return MotionEstimate::default();
        }
        grey_downscaled(image, factor, &mut self.grey);
        let continuing = self.previous == Some((size, factor));
        self.flow.advance(&self.grey, PYRAMID_LEVELS);
        let mut estimate = MotionEstimate::default();
        if continuing && !self.points.is_empty() {
            let results = self.flow.track(&self.points, None, LK_PARAMS);
            self.correspondences.clear();
            for (p, r) in self.points.iter().zip(results) {
                if r.status == TrackStatus::Tracked {
                    self.correspondences.push((
                        (f64::from(p.0), f64::from(p.1)),
                        (f64::from(r.pos.0), f64::from(r.pos.1)),
                    ));
                }
            }
            estimate.tracked = self.correspondences.len();
            let options = RansacOptions {
                inlier_max_px: self.config.inlier_max_px / f64::from(factor),
                iterations_max: RANSAC_ITERATIONS_MAX,
                inliers_min: self.config.inliers_min as usize,
            };
            if let Some(fit) = fit_similarity(&self.correspondences, &options) {
                let t = fit.transform.in_pixels_scaled_by(f64::from(factor));
                let s = t.scale();
                if t.is_finite() && s >= SCALE_RANGE.0 && s <= SCALE_RANGE.1 {
                    estimate.cur_from_prev = Some(t);
                    estimate.inliers = fit.inliers;
                }
            }
        }
        self.pick_features(objects, factor);
        self.previous = Some((size, factor));
        estimate
    }

    /// Features of the current grey frame for the next estimate, outside the objects.
    fn pick_features(&mut self, objects: &[BBox], factor: u32) {
        let grid = Grid {
            cols: GRID.0,
            rows: GRID.1,
            max_per_cell: (self.config.features_max / GRID_CELLS).max(1),
        };
        let f = factor as f32;
        let corners =
            self.detector
                .detect_grid(&self.grey, grid, FEATURE_QUALITY, FEATURE_SPACING_PX, &[]);
        let mask = self.config.mask_detections;
        self.points.clear();
        self.points.extend(
            corners
                .iter()
                .map(|c| c.position())
                .filter(|&(x, y)| {
                    !mask
                        || !objects.iter().any(|b| {
                            x >= b.x_min / f - MASK_MARGIN_PX
                                && x <= b.x_max / f + MASK_MARGIN_PX
                                && y >= b.y_min / f - MASK_MARGIN_PX
                                && y <= b.y_max / f + MASK_MARGIN_PX
                        })
                })
                .take(self.config.features_max as usize),
        );
    }
}

/// The smallest integer factor that brings `width_px` to at most `max_width_px`.
pub fn downscale_factor(width_px: u32, max_width_px: u32) -> u32 {
    width_px.div_ceil(max_width_px.max(1)).max(1)
}

/// BT.601 luma of `image`, averaged over `factor x factor` blocks (the right and bottom
/// remainders are dropped), into `out`.
pub fn grey_downscaled(image: &RgbImage, factor: u32, out: &mut GrayImage) {
    let f = factor.max(1) as usize;
    let (w, h) = (image.width as usize / f, image.height as usize / f);
    if out.dimensions() != (w as u32, h as u32) {
        *out = GrayImage::new(w as u32, h as u32);
    }
    let stride = image.width as usize * 3;
    // Luma weights in 1/256 (77, 150, 29: BT.601), then the block mean.
    let divisor = (f * f * 256) as u32;
    let mut sums = vec![0u32; w];
    let dst: &mut [u8] = out;
    for by in 0..h {
        sums.iter_mut().for_each(|s| *s = 0);
        for row in image.data[by * f * stride..(by * f + f) * stride].chunks_exact(stride) {
            for (bx, s) in sums.iter_mut().enumerate() {
                for px in row[bx * f * 3..(bx * f + f) * 3].chunks_exact(3) {
                    *s += 77 * u32::from(px[0]) + 150 * u32::from(px[1]) + 29 * u32::from(px[2]);
                }
            }
        }
        for (d, s) in dst[by * w..(by + 1) * w].iter_mut().zip(&sums) {
            *d = ((s + divisor / 2) / divisor) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth random texture (sum of blobs) of `w x h`, seeded.
    fn texture(w: usize, h: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as f32 / (1u64 << 31) as f32
        };
        let blobs: Vec<(f32, f32, f32, f32)> = (0..400)
            .map(|_| {
                (
                    next() * w as f32,
                    next() * h as f32,
                    3.0 + 10.0 * next(),
                    next() - 0.5,
                )
            })
            .collect();
        let mut out = vec![128.0f32; w * h];
        for &(bx, by, r, a) in &blobs {
            let (x0, x1) = (
                (bx - 3.0 * r).max(0.0) as usize,
                ((bx + 3.0 * r) as usize).min(w),
            );
            let (y0, y1) = (
                (by - 3.0 * r).max(0.0) as usize,
                ((by + 3.0 * r) as usize).min(h),
            );
            for y in y0..y1 {
                for x in x0..x1 {
                    let d2 = (x as f32 - bx).powi(2) + (y as f32 - by).powi(2);
                    out[y * w + x] += 220.0 * a * (-d2 / (2.0 * r * r)).exp();
                }
            }
        }
        out
    }

    /// The `w x h` view of `world` (`ww` wide) through `view_from_world`, bilinear.
    fn render(world: &[f32], ww: usize, view_from_world: &Affine2, w: u32, h: u32) -> RgbImage {
        let a = view_from_world.linear();
        let (tx, ty) = view_from_world.translation_px();
        let det = a[0][0] * a[1][1] - a[0][1] * a[1][0];
        let inv = [
            [a[1][1] / det, -a[0][1] / det],
            [-a[1][0] / det, a[0][0] / det],
        ];
        let wh = world.len() / ww;
        let mut img = RgbImage::new(w, h);
        for y in 0..h as usize {
            for x in 0..w as usize {
                let (u, v) = (x as f64 - tx, y as f64 - ty);
                let wx = inv[0][0] * u + inv[0][1] * v;
                let wy = inv[1][0] * u + inv[1][1] * v;
                let (x0, y0) = (wx.floor(), wy.floor());
                let (fx, fy) = ((wx - x0) as f32, (wy - y0) as f32);
                let (x0, y0) = (x0 as isize, y0 as isize);
                let at = |xx: isize, yy: isize| {
                    world[(yy.clamp(0, wh as isize - 1) as usize) * ww
                        + xx.clamp(0, ww as isize - 1) as usize]
                };
                let g = (1.0 - fx) * (1.0 - fy) * at(x0, y0)
                    + fx * (1.0 - fy) * at(x0 + 1, y0)
                    + (1.0 - fx) * fy * at(x0, y0 + 1)
                    + fx * fy * at(x0 + 1, y0 + 1);
                let g = g.round().clamp(0.0, 255.0) as u8;
                let i = (y * w as usize + x) * 3;
                img.data[i..i + 3].copy_from_slice(&[g, g, g]);
            }
        }
        img
    }

    fn recovered(view0: Affine2, view1: Affine2) -> (MotionEstimate, Affine2) {
        let world = texture(900, 700, 7);
        let (w, h) = (640, 480);
        let mut gmc = CameraMotion::new(CameraMotionConfig::default());
        let first = gmc.estimate(&render(&world, 900, &view0, w, h), &[]);
        assert_eq!(first.cur_from_prev, None, "no previous frame yet");
        let est = gmc.estimate(&render(&world, 900, &view1, w, h), &[]);
        // cur_from_prev = view1 ∘ view0⁻¹.
        let a = view0.linear();
        let det = a[0][0] * a[1][1] - a[0][1] * a[1][0];
        let inv_lin = [
            [a[1][1] / det, -a[0][1] / det],
            [-a[1][0] / det, a[0][0] / det],
        ];
        let (tx, ty) = view0.translation_px();
        let inv = Affine2 {
            m: [
                [
                    inv_lin[0][0],
                    inv_lin[0][1],
                    -(inv_lin[0][0] * tx + inv_lin[0][1] * ty),
                ],
                [
                    inv_lin[1][0],
                    inv_lin[1][1],
                    -(inv_lin[1][0] * tx + inv_lin[1][1] * ty),
                ],
            ],
        };
        (est, view1.after(&inv))
    }

    #[test]
    fn recovers_a_pan() {
        let (est, truth) = recovered(
            Affine2::translation(-100.0, -80.0),
            Affine2::translation(-113.0, -74.5),
        );
        let got = est.cur_from_prev.expect("an estimate");
        let err = got.max_corner_distance_px(&truth, 640.0, 480.0);
        assert!(err < 0.5, "{got:?} vs {truth:?}: {err} px");
        assert!(est.inliers >= 50, "{est:?}");
    }

    #[test]
    fn recovers_a_zoom_with_a_turn() {
        let (est, truth) = recovered(
            Affine2::similarity(1.0, 0.0, -100.0, -80.0),
            Affine2::similarity(1.04, 0.01, -118.0, -95.0),
        );
        let got = est.cur_from_prev.expect("an estimate");
        let err = got.max_corner_distance_px(&truth, 640.0, 480.0);
        assert!(err < 1.0, "{got:?} vs {truth:?}: {err} px");
        assert!((got.scale() - 1.04).abs() < 0.003, "{}", got.scale());
    }

    #[test]
    fn a_static_camera_gives_the_identity() {
        let v = Affine2::translation(-50.0, -40.0);
        let (est, _) = recovered(v, v);
        let got = est.cur_from_prev.expect("an estimate");
        assert!(got.max_corner_distance_px(&Affine2::IDENTITY, 640.0, 480.0) < 0.05);
    }

    #[test]
    fn a_blank_frame_or_a_new_size_gives_no_estimate() {
        let mut gmc = CameraMotion::new(CameraMotionConfig::default());
        let blank = RgbImage::new(320, 240);
        gmc.estimate(&blank, &[]);
        assert_eq!(gmc.estimate(&blank, &[]).cur_from_prev, None);
        let world = texture(700, 500, 3);
        let a = render(&world, 700, &Affine2::IDENTITY, 320, 240);
        let b = render(&world, 700, &Affine2::IDENTITY, 400, 300);
        gmc.estimate(&a, &[]);
        assert_eq!(gmc.estimate(&b, &[]).cur_from_prev, None);
        assert!(gmc.estimate(&b, &[]).cur_from_prev.is_some());
    }

    #[test]
    fn masked_objects_contribute_no_feature() {
        let world = texture(700, 500, 5);
        let img = render(&world, 700, &Affine2::IDENTITY, 640, 480);
        let mut gmc = CameraMotion::new(CameraMotionConfig::default());
        let object = BBox {
            x_min: 100.0,
            y_min: 100.0,
            x_max: 400.0,
            y_max: 300.0,
        };
        gmc.estimate(&img, &[object]);
        assert!(!gmc.points.is_empty());
        let f = downscale_factor(640, CameraMotionConfig::default().max_width_px) as f32;
        assert!(gmc
            .points
            .iter()
            .all(|&(x, y)| !(x > 100.0 / f && x < 400.0 / f && y > 100.0 / f && y < 300.0 / f)));
    }

    #[test]
    fn grey_is_the_block_mean_of_the_luma() {
        let mut img = RgbImage::new(4, 2);
        // Left block white, right block red.
        for y in 0..2 {
            for x in 0..4 {
                let i = (y * 4 + x) * 3;
                let px = if x < 2 { [255, 255, 255] } else { [255, 0, 0] };
                img.data[i..i + 3].copy_from_slice(&px);
            }
        }
        let mut g = GrayImage::new(0, 0);
        grey_downscaled(&img, 2, &mut g);
        assert_eq!(g.dimensions(), (2, 1));
        assert_eq!(g.as_raw(), &vec![255, 77]);
        assert_eq!(downscale_factor(768, 400), 2);
        assert_eq!(downscale_factor(1920, 400), 5);
        assert_eq!(downscale_factor(300, 400), 1);
    }
}
