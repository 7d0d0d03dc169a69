//! The debug image: boxes, track ids and labels drawn onto a copy of the input frame.
//!
//! Input: the frame's RGB8 pixels and boxes in the same image's pixel coordinates. Output: the
//! annotated RGB8 image. Text uses a built-in 3x5 pixel font (digits, letters, a few signs),
//! scaled by an integer factor; this is a viewer aid, not the rendering of `lookout replay`.

use crate::types::{BBox, RgbImage};

/// One box to draw and the text above it.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    pub bbox: BBox,
    pub text: String,
    /// Chooses the colour (a track id keeps its colour across frames).
    pub colour_key: u64,
}

/// A distinct, saturated colour per key.
pub fn colour(key: u64) -> [u8; 3] {
    const PALETTE: [[u8; 3]; 10] = [
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [210, 245, 60],
        [250, 190, 212],
    ];
    PALETTE[(key % PALETTE.len() as u64) as usize]
}

/// Draws every annotation onto `image` (line width and text size grow with the image).
pub fn annotate(image: &mut RgbImage, annotations: &[Annotation]) {
    let scale = (image.height / 240).max(1);
    for a in annotations {
        let c = colour(a.colour_key);
        draw_rect(image, &a.bbox, scale, c);
        // Text sits above the box, or inside it when the box touches the top edge.
        let text_h = 6 * scale;
        let x = a.bbox.x_min.max(0.0) as i64;
        let y_top = a.bbox.y_min as i64 - i64::from(text_h) - 1;
        let y = if y_top >= 0 {
            y_top
        } else {
            a.bbox.y_min.max(0.0) as i64 + 1
        };
        draw_text(image, x, y, &a.text, scale, c);
    }
}

fn set(image: &mut RgbImage, x: i64, y: i64, c: [u8; 3]) {
    if x < 0 || y < 0 || x >= i64::from(image.width) || y >= i64::from(image.height) {
        return;
    }
    let i = (y as usize * image.width as usize + x as usize) * 3;
    image.data[i..i + 3].copy_from_slice(&c);
}

/// A rectangle outline `thickness` pixels wide, inside the box, clipped to the image.
pub fn draw_rect(image: &mut RgbImage, bbox: &BBox, thickness: u32, c: [u8; 3]) {
    let (x0, y0) = (bbox.x_min.round() as i64, bbox.y_min.round() as i64);
    let (x1, y1) = (bbox.x_max.round() as i64 - 1, bbox.y_max.round() as i64 - 1);
    if x1 < x0 || y1 < y0 {
        return;
    }
    let t = i64::from(thickness);
    let (w, h) = (i64::from(image.width), i64::from(image.height));
    let clip_x = |x: i64| x.clamp(-1, w);
    let clip_y = |y: i64| y.clamp(-1, h);
    for k in 0..t {
        for x in clip_x(x0)..=clip_x(x1) {
            set(image, x, y0 + k, c);
            set(image, x, y1 - k, c);
        }
        for y in clip_y(y0)..=clip_y(y1) {
            set(image, x0 + k, y, c);
            set(image, x1 - k, y, c);
        }
    }
}

/// 3x5 glyphs, row-major, top row in the highest 3 bits.
fn glyph(ch: char) -> u16 {
    match ch.to_ascii_uppercase() {
        '0' => 0b111_101_101_101_111,
        '1' => 0b010_110_010_010_111,
        '2' => 0b111_001_111_100_111,
        '3' => 0b111_001_111_001_111,
        '4' => 0b101_101_111_001_001,
        '5' => 0b111_100_111_001_111,
        '6' => 0b111_100_111_101_111,
        '7' => 0b111_001_010_010_010,
        '8' => 0b111_101_111_101_111,
        '9' => 0b111_101_111_001_111,
        'A' => 0b010_101_111_101_101,
        'B' => 0b110_101_110_101_110,
        'C' => 0b011_100_100_100_011,
        'D' => 0b110_101_101_101_110,
        'E' => 0b111_100_110_100_111,
        'F' => 0b111_100_110_100_100,
        'G' => 0b011_100_101_101_011,
        'H' => 0b101_101_111_101_101,
        'I' => 0b111_010_010_010_111,
        'J' => 0b001_001_001_101_010,
        'K' => 0b101_101_110_101_101,
        'L' => 0b100_100_100_100_111,
        'M' => 0b101_111_111_101_101,
        'N' => 0b110_101_101_101_101,
        'O' => 0b010_101_101_101_010,
        'P' => 0b110_101_110_100_100,
        'Q' => 0b010_101_101_110_011,
        'R' => 0b110_101_110_101_101,
        'S' => 0b011_100_010_001_110,
        'T' => 0b111_010_010_010_010,
        'U' => 0b101_101_101_101_111,
        'V' => 0b101_101_101_101_010,
        'W' => 0b101_101_111_111_101,
        'X' => 0b101_101_010_101_101,
        'Y' => 0b101_101_010_010_010,
        'Z' => 0b111_001_010_100_111,
        '#' => 0b101_111_101_111_101,
        '-' => 0b000_000_111_000_000,
        '.' => 0b000_000_000_000_010,
        ':' => 0b000_010_000_010_000,
        '_' => 0b000_000_000_000_111,
        ' ' => 0,
        _ => 0b111_111_111_111_111,
    }
}

/// Text at `(x, y)` (top-left), on a dark background for contrast.
pub fn draw_text(image: &mut RgbImage, x: i64, y: i64, text: &str, scale: u32, c: [u8; 3]) {
    let s = i64::from(scale);
    let n = text.chars().count() as i64;
    for dy in 0..6 * s {
        for dx in 0..(4 * n + 1) * s {
            set(image, x + dx, y + dy, [0, 0, 0]);
        }
    }
    for (i, ch) in text.chars().enumerate() {
        let bits = glyph(ch);
        let gx = x + s + i as i64 * 4 * s;
        for row in 0..5i64 {
            for col in 0..3i64 {
                if bits >> (14 - (row * 3 + col)) & 1 == 1 {
                    for py in 0..s {
                        for px in 0..s {
                            set(image, gx + col * s + px, y + s / 2 + row * s + py, c);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectangle_edges_have_the_colour_and_inside_does_not() {
        let mut img = RgbImage::new(100, 80);
        let b = BBox {
            x_min: 10.0,
            y_min: 20.0,
            x_max: 50.0,
            y_max: 60.0,
        };
        let c = colour(3);
        draw_rect(&mut img, &b, 1, c);
        assert_eq!(img.pixel(10, 20), Some(c));
        assert_eq!(img.pixel(49, 59), Some(c));
        assert_eq!(img.pixel(30, 20), Some(c));
        assert_eq!(img.pixel(10, 40), Some(c));
        assert_eq!(img.pixel(30, 40), Some([0, 0, 0]));
        assert_eq!(img.pixel(9, 40), Some([0, 0, 0]));
        assert_eq!(img.pixel(50, 40), Some([0, 0, 0]));
    }

    #[test]
    fn boxes_outside_the_image_do_not_panic() {
        let mut img = RgbImage::new(20, 20);
        let b = BBox {
            x_min: -30.0,
            y_min: -30.0,
            x_max: 500.0,
            y_max: 10.0,
        };
        annotate(
            &mut img,
            &[Annotation {
                bbox: b,
                text: "#12 person".into(),
                colour_key: 12,
            }],
        );
        assert_eq!(img.pixel(5, 9), Some(colour(12)));
    }

    #[test]
    fn text_draws_glyph_pixels() {
        let mut img = RgbImage::new(40, 20);
        let c = [255, 255, 255];
        draw_text(&mut img, 0, 0, "1", 1, c);
        // '1' has its middle column set on every row: x = 1 (margin) + 1, y = 0 + row.
        for row in 0..5 {
            assert_eq!(img.pixel(2, row), Some(c), "row {row}");
        }
        assert_eq!(img.pixel(1, 4), Some(c)); // bottom bar
        assert_eq!(img.pixel(3, 0), Some([0, 0, 0]));
    }

    #[test]
    fn colours_differ_between_neighbouring_ids() {
        for k in 0..9 {
            assert_ne!(colour(k), colour(k + 1));
        }
    }
}
