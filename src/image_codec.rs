//! Camera pixels to packed RGB8, and back: `sensor_msgs/msg/Image` encodings and the JPEG/PNG
//! payloads of `sensor_msgs/msg/CompressedImage`.
//!
//! Raw encodings (names from `sensor_msgs/image_encodings.hpp`), all to [`RgbImage`]:
//! * `rgb8`, `bgr8`, `rgba8`, `bgra8` (alpha dropped), `mono8` (grey to R = G = B).
//! * `mono16`: 16-bit grey, byte order from `is_bigendian`, scaled to 8 bits by `>> 8`.
//! * `yuv422` / `uyvy` (bytes U Y0 V Y1) and `yuv422_yuy2` / `yuyv` (Y0 U Y1 V): 4:2:2, one U/V
//!   pair per two pixels, so the width must be even. Converted with BT.601 "video range"
//!   coefficients in 20-bit fixed point, exactly as OpenCV's `cvtColor(COLOR_YUV2RGB_UYVY /
//!   _YUY2)`: `C = max(Y - 16, 0) * 1.164`, `R = C + 1.596 V'`, `G = C - 0.813 V' - 0.391 U'`,
//!   `B = C + 2.018 U'` with `U' = U - 128`, `V' = V - 128`, rounded and saturated.
//! * `bayer_rggb8`, `bayer_bggr8`, `bayer_gbrg8`, `bayer_grbg8` (the four letters are the colours of
//!   the top-left 2x2 block, row by row): bilinear demosaicing. Each missing colour at a pixel is
//!   the rounded mean of the pixels of that colour among its 8 neighbours (2 or 4 of them, the
//!   classic bilinear kernel). At the image border the neighbourhood is mirrored without
//!   repeating the edge (OpenCV's `BORDER_REFLECT_101`), which keeps the Bayer phase, so a
//!   uniformly coloured scene demosaics to exactly that colour everywhere.
//!
//! Every row is read from `row * step`, so padded rows (`step` > row bytes) are honoured.
//!
//! Compressed: JPEG and PNG. The `format` string (`jpeg`, `png`, image_transport's
//! `rgb8; jpeg compressed bgr8`) is only a hint: the payload's magic bytes decide, and a payload
//! that is neither, or that fails to decode, is an error.
//!
//! Every decoder takes a pixel limit (`input.max_pixels`, default [`DEFAULT_MAX_PIXELS`]) and
//! checks it, and refuses a zero width or height, from the message's fields or the JPEG/PNG
//! header before any pixel memory is allocated. A JPEG's scan is walked first
//! ([`jpeg_scan`]), so that missing data is an error rather than grey pixels.

pub mod bt601;
pub mod jpeg_scan;

use crate::types::RgbImage;

/// The most pixels one image may have unless configured otherwise (`input.max_pixels`):
/// 8192 x 8192 = 2^26, twice 8K UHD video (7680 x 4320 = 33.2 MP), so every real camera passes,
/// while a header claiming 16384 x 16384 or more (a decompression bomb: a few KB that decode to
/// gigabytes) is refused before any pixel memory is allocated. At 3 bytes of RGB per pixel one
/// such image is at most 192 MiB.
pub const DEFAULT_MAX_PIXELS: u64 = 1 << 26;

/// Refuses a size with no pixels or with more than `max_pixels`, before anything is allocated.
pub fn check_pixels(width: u64, height: u64, max_pixels: u64) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::ZeroSize { width, height });
    }
    let pixels = width.saturating_mul(height);
    if pixels > max_pixels {
        return Err(ImageError::TooManyPixels {
            width,
            height,
            pixels,
            max_pixels,
        });
    }
    Ok(())
}

/// A camera image that cannot be turned into pixels (or encoded).
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(
        "unsupported image encoding `{0}` (supported: rgb8, bgr8, rgba8, bgra8, mono8, mono16, \
         yuv422/uyvy, yuv422_yuy2/yuyv, bayer_rggb8, bayer_bggr8, bayer_gbrg8, bayer_grbg8)"
    )]
    UnknownEncoding(String),
    #[error(
        "field `step` = {step} is smaller than one row of {width} `{encoding}` pixels \
         ({row_bytes} bytes)"
    )]
    StepTooSmall {
        encoding: String,
        width: u32,
        step: u32,
        row_bytes: u64,
    },
    #[error(
        "field `data` has {actual} bytes, expected height * step = {height} * {step} = {expected}"
    )]
    DataLength {
        height: u32,
        step: u32,
        expected: u64,
        actual: usize,
    },
    #[error("field `width` = {width} must be even for 4:2:2 encoding `{encoding}`")]
    OddWidth { encoding: String, width: u32 },
    #[error(
        "compressed image (format `{format}`) is neither JPEG nor PNG (first bytes {head:02x?})"
    )]
    UnknownCompressedFormat { format: String, head: Vec<u8> },
    #[error("corrupt {kind} data (format `{format}`): {detail}")]
    CorruptCompressed {
        kind: &'static str,
        format: String,
        detail: String,
    },
    #[error("image of {width}x{height} has no pixels (a zero width or height)")]
    ZeroSize { width: u64, height: u64 },
    #[error(
        "image of {width}x{height} = {pixels} pixels exceeds the limit of {max_pixels} pixels \
         (config key input.max_pixels); refused before decoding"
    )]
    TooManyPixels {
        width: u64,
        height: u64,
        pixels: u64,
        max_pixels: u64,
    },
    #[error("cannot encode a {width}x{height} image as JPEG: {source}")]
    Encode {
        width: u32,
        height: u32,
        source: image::ImageError,
    },
    #[error("image of {width}x{height} has {actual} bytes of RGB data, expected {expected}")]
    BadRgbBuffer {
        width: u32,
        height: u32,
        expected: u64,
        actual: usize,
    },
}

/// The raw pixel layouts lookout reads (`sensor_msgs/msg/Image` encodings), as
/// [`check_raw`] returns them; the CPU decoder and the GPU preprocessing kernel both work from
/// this one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawLayout {
    Rgb8,
    Bgr8,
    Rgba8,
    Bgra8,
    Mono8,
    Mono16,
    Uyvy,
    Yuyv,
    /// Colour of the top-left 2x2 block, row-major.
    Bayer([Channel; 4]),
}

/// A colour channel of a Bayer site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    R = 0,
    G = 1,
    B = 2,
}

impl RawLayout {
    /// The layout of a `sensor_msgs` encoding name, `None` for one lookout does not read.
    pub fn parse(encoding: &str) -> Option<Self> {
        use Channel::{B, G, R};
        Some(match encoding {
            "rgb8" => Self::Rgb8,
            "bgr8" => Self::Bgr8,
            "rgba8" => Self::Rgba8,
            "bgra8" => Self::Bgra8,
            "mono8" => Self::Mono8,
            "mono16" => Self::Mono16,
            "yuv422" | "uyvy" => Self::Uyvy,
            "yuv422_yuy2" | "yuyv" => Self::Yuyv,
            "bayer_rggb8" => Self::Bayer([R, G, G, B]),
            "bayer_bggr8" => Self::Bayer([B, G, G, R]),
            "bayer_gbrg8" => Self::Bayer([G, B, R, G]),
            "bayer_grbg8" => Self::Bayer([G, R, B, G]),
            _ => return None,
        })
    }

    pub fn bytes_per_pixel(self) -> u64 {
        match self {
            Self::Rgb8 | Self::Bgr8 => 3,
            Self::Rgba8 | Self::Bgra8 => 4,
            Self::Mono8 | Self::Bayer(_) => 1,
            Self::Mono16 | Self::Uyvy | Self::Yuyv => 2,
        }
    }
}

/// A camera image as it arrives (the fields of a `sensor_msgs/msg/Image`), not yet converted:
/// what [`check_raw`] checks and [`decode_raw`] decodes, on the CPU and (batched) on the GPU.
#[derive(Debug, Clone, Copy)]
pub struct RawImageRef<'a> {
    /// A `sensor_msgs/image_encodings.hpp` name (see the module docs for those read).
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
    pub fn from_rgb(image: &'a RgbImage) -> Self {
        Self {
            encoding: "rgb8",
            width: image.width,
            height: image.height,
            step: image.width.saturating_mul(3),
            is_bigendian: false,
            data: &image.data,
        }
    }

    /// The pixels of a `sensor_msgs/msg/Image` message.
    pub fn from_msg(msg: &'a crate::msgs::Image) -> Self {
        Self {
            encoding: &msg.encoding,
            width: msg.width,
            height: msg.height,
            step: msg.step,
            is_bigendian: msg.is_bigendian != 0,
            data: &msg.data,
        }
    }
}

/// Checks the fields of a `sensor_msgs/msg/Image` (a known encoding, a non-zero size of at most
/// [`DEFAULT_MAX_PIXELS`], `step` holding a row, `data` of `height * step` bytes, an even width
/// for 4:2:2) and returns its layout. The one check for raw images: [`decode_raw`] and the GPU
/// upload both run it.
pub fn check_raw(raw: RawImageRef<'_>) -> Result<RawLayout, ImageError> {
    check_raw_limited(raw, DEFAULT_MAX_PIXELS)
}

/// [`check_raw`] with a pixel limit of `max_pixels` (from `input.max_pixels`).
pub fn check_raw_limited(raw: RawImageRef<'_>, max_pixels: u64) -> Result<RawLayout, ImageError> {
    let RawImageRef {
        encoding,
        width,
        height,
        step,
        data,
        ..
    } = raw;
    let data_len = data.len();
    let layout =
        RawLayout::parse(encoding).ok_or_else(|| ImageError::UnknownEncoding(encoding.into()))?;
    check_pixels(u64::from(width), u64::from(height), max_pixels)?;
    let row_bytes = u64::from(width) * layout.bytes_per_pixel();
    if u64::from(step) < row_bytes {
        return Err(ImageError::StepTooSmall {
            encoding: encoding.into(),
            width,
            step,
            row_bytes,
        });
    }
    let expected = u64::from(height) * u64::from(step);
    if data_len as u64 != expected {
        return Err(ImageError::DataLength {
            height,
            step,
            expected,
            actual: data_len,
        });
    }
    if matches!(layout, RawLayout::Uyvy | RawLayout::Yuyv) && width % 2 != 0 {
        return Err(ImageError::OddWidth {
            encoding: encoding.into(),
            width,
        });
    }
    Ok(layout)
}

/// Decodes the pixels of a `sensor_msgs/msg/Image` to packed RGB8, with the default pixel limit.
/// See the module docs for each encoding.
pub fn decode_raw(raw: RawImageRef<'_>) -> Result<RgbImage, ImageError> {
    decode_raw_limited(raw, DEFAULT_MAX_PIXELS)
}

/// [`decode_raw`] refusing images of more than `max_pixels` (checked from the message's
/// `width` and `height` before the RGB buffer is allocated).
pub fn decode_raw_limited(raw: RawImageRef<'_>, max_pixels: u64) -> Result<RgbImage, ImageError> {
    let layout = check_raw_limited(raw, max_pixels)?;
    let RawImageRef {
        width,
        height,
        step,
        is_bigendian,
        data,
        ..
    } = raw;
    let row_bytes = u64::from(width) * layout.bytes_per_pixel();
    // Both fit in usize: data.len() == height * step and row_bytes <= step.
    let step = step as usize;
    let row_bytes = row_bytes as usize;
    let w = width as usize;
    let mut out = RgbImage::new(width, height);
    if let RawLayout::Bayer(pattern) = layout {
        demosaic_bilinear(data, w, height as usize, step, pattern, &mut out.data);
        return Ok(out);
    }
    for (src_row, dst_row) in data
        .chunks_exact(step)
        .zip(out.data.chunks_exact_mut(3 * w))
    {
        let src = &src_row[..row_bytes];
        match layout {
            RawLayout::Rgb8 => dst_row.copy_from_slice(src),
            RawLayout::Bgr8 => {
                for (s, d) in src.chunks_exact(3).zip(dst_row.chunks_exact_mut(3)) {
                    d.copy_from_slice(&[s[2], s[1], s[0]]);
                }
            }
            RawLayout::Rgba8 => {
                for (s, d) in src.chunks_exact(4).zip(dst_row.chunks_exact_mut(3)) {
                    d.copy_from_slice(&s[..3]);
                }
            }
            RawLayout::Bgra8 => {
                for (s, d) in src.chunks_exact(4).zip(dst_row.chunks_exact_mut(3)) {
                    d.copy_from_slice(&[s[2], s[1], s[0]]);
                }
            }
            RawLayout::Mono8 => {
                for (&s, d) in src.iter().zip(dst_row.chunks_exact_mut(3)) {
                    d.fill(s);
                }
            }
            RawLayout::Mono16 => {
                for (s, d) in src.chunks_exact(2).zip(dst_row.chunks_exact_mut(3)) {
                    // The high byte is `v >> 8` of the 16-bit value in either byte order.
                    d.fill(if is_bigendian { s[0] } else { s[1] });
                }
            }
            RawLayout::Uyvy => {
                for (s, d) in src.chunks_exact(4).zip(dst_row.chunks_exact_mut(6)) {
                    yuv_pair_to_rgb(s[1], s[3], s[0], s[2], d);
                }
            }
            RawLayout::Yuyv => {
                for (s, d) in src.chunks_exact(4).zip(dst_row.chunks_exact_mut(6)) {
                    yuv_pair_to_rgb(s[0], s[2], s[1], s[3], d);
                }
            }
            RawLayout::Bayer(_) => unreachable!("handled above"),
        }
    }
    Ok(out)
}

/// Decodes a `sensor_msgs/msg/Image` message, refusing more than `max_pixels`.
pub fn decode_image(msg: &crate::msgs::Image, max_pixels: u64) -> Result<RgbImage, ImageError> {
    decode_raw_limited(RawImageRef::from_msg(msg), max_pixels)
}

/// Two pixels sharing one U/V pair, written as 6 RGB bytes.
fn yuv_pair_to_rgb(y0: u8, y1: u8, u: u8, v: u8, out: &mut [u8]) {
    let uu = i32::from(u) - 128;
    let vv = i32::from(v) - 128;
    let half = 1 << (bt601::SHIFT - 1);
    let ruv = half + bt601::CVR * vv;
    let guv = half + bt601::CVG * vv + bt601::CUG * uu;
    let buv = half + bt601::CUB * uu;
    for (y, px) in [y0, y1].into_iter().zip(out.chunks_exact_mut(3)) {
        let c = (i32::from(y) - 16).max(0) * bt601::CY;
        px[0] = ((c + ruv) >> bt601::SHIFT).clamp(0, 255) as u8;
        px[1] = ((c + guv) >> bt601::SHIFT).clamp(0, 255) as u8;
        px[2] = ((c + buv) >> bt601::SHIFT).clamp(0, 255) as u8;
    }
}

/// Mirror index `i` (which may be -1 or `n`) into `0..n` without repeating the edge; for `n`
/// of 1 everything maps to 0.
fn reflect101(i: isize, n: usize) -> usize {
    let n = n as isize;
    if n == 1 {
        return 0;
    }
    let r = if i < 0 {
        -i
    } else if i >= n {
        2 * n - 2 - i
    } else {
        i
    };
    r.clamp(0, n - 1) as usize
}

/// Bilinear demosaic of an 8-bit Bayer mosaic (rows `step` bytes apart) into packed RGB.
fn demosaic_bilinear(
    data: &[u8],
    width: usize,
    height: usize,
    step: usize,
    pattern: [Channel; 4],
    out: &mut [u8],
) {
    let colour_at = |x: usize, y: usize| pattern[(y % 2) * 2 + (x % 2)];
    for y in 0..height {
        for x in 0..width {
            let own = colour_at(x, y);
            let mut sum = [0u32; 3];
            let mut count = [0u32; 3];
            for dy in -1isize..=1 {
                for dx in -1isize..=1 {
                    if dx == 0 && dy == 0 {
                        continue;
                    }
                    // Mirrored coordinates have the same parity as the unmirrored ones, so the
                    // colour is that of the virtual neighbour position.
                    let nx = reflect101(x as isize + dx, width);
                    let ny = reflect101(y as isize + dy, height);
                    let c = colour_at(nx, ny) as usize;
                    sum[c] += u32::from(data[ny * step + nx]);
                    count[c] += 1;
                }
            }
            let px = &mut out[(y * width + x) * 3..(y * width + x) * 3 + 3];
            for c in 0..3 {
                px[c] = if c == own as usize {
                    data[y * step + x]
                } else {
                    // No neighbour of colour `c` only in 1-pixel-wide or -high mosaics: 0 there.
                    (sum[c] + count[c] / 2).checked_div(count[c]).unwrap_or(0) as u8
                };
            }
        }
    }
}

const JPEG_MAGIC: &[u8] = &[0xff, 0xd8, 0xff];
const PNG_MAGIC: &[u8] = &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

/// Decodes the payload of a `sensor_msgs/msg/CompressedImage` to RGB8 (grey and 16-bit PNGs are
/// expanded / scaled; alpha is dropped), with the default pixel limit.
pub fn decode_compressed(format: &str, data: &[u8]) -> Result<RgbImage, ImageError> {
    decode_compressed_limited(format, data, DEFAULT_MAX_PIXELS)
}

/// [`decode_compressed`] refusing images of more than `max_pixels`, read from the JPEG frame
/// header or the PNG `IHDR` before any pixel memory is allocated.
///
/// JPEG is checked strictly: [`jpeg_scan::check_complete`] requires every MCU the frame header
/// promises to be present in the scan (a file cut short and closed with EOI, or a header
/// claiming more pixels than the data holds, is an error: zune-jpeg would fill the rest with
/// grey and report success, feeding a half-grey frame to the detector without a word), and
/// zune-jpeg runs in strict mode for the rest.
pub fn decode_compressed_limited(
    format: &str,
    data: &[u8],
    max_pixels: u64,
) -> Result<RgbImage, ImageError> {
    if data.starts_with(JPEG_MAGIC) {
        decode_jpeg_strict(format, data, max_pixels)
    } else if data.starts_with(PNG_MAGIC) {
        decode_png(format, data, max_pixels)
    } else {
        Err(ImageError::UnknownCompressedFormat {
            format: format.into(),
            head: data.iter().take(8).copied().collect(),
        })
    }
}

fn decode_png(format: &str, data: &[u8], max_pixels: u64) -> Result<RgbImage, ImageError> {
    use image::ImageDecoder;
    let corrupt = |e: image::ImageError| ImageError::CorruptCompressed {
        kind: "PNG",
        format: format.into(),
        detail: e.to_string(),
    };
    // Reads the signature and IHDR only.
    let mut decoder =
        image::codecs::png::PngDecoder::new(std::io::Cursor::new(data)).map_err(corrupt)?;
    let (width, height) = decoder.dimensions();
    check_pixels(u64::from(width), u64::from(height), max_pixels)?;
    // The decoder's own allocations stay within the largest layout of that many pixels
    // (16-bit RGBA, 8 bytes per pixel).
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(max_pixels.saturating_mul(8));
    decoder.set_limits(limits).map_err(corrupt)?;
    let rgb = image::DynamicImage::from_decoder(decoder)
        .map_err(corrupt)?
        .into_rgb8();
    Ok(RgbImage {
        width: rgb.width(),
        height: rgb.height(),
        data: rgb.into_raw(),
    })
}

fn decode_jpeg_strict(format: &str, data: &[u8], max_pixels: u64) -> Result<RgbImage, ImageError> {
    let corrupt = |detail: String| ImageError::CorruptCompressed {
        kind: "JPEG",
        format: format.into(),
        detail,
    };
    let options = zune_core::options::DecoderOptions::default()
        .set_strict_mode(true)
        .jpeg_set_out_colorspace(zune_core::colorspace::ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(
        zune_core::bytestream::ZCursor::new(data),
        options,
    );
    // Headers first: the size decides whether the pixels may be decoded at all.
    decoder
        .decode_headers()
        .map_err(|e| corrupt(e.to_string()))?;
    let (width, height) = decoder
        .dimensions()
        .ok_or_else(|| corrupt("no frame header".into()))?;
    check_pixels(width as u64, height as u64, max_pixels)?;
    jpeg_scan::check_complete(data).map_err(corrupt)?;
    let pixels = decoder.decode().map_err(|e| corrupt(e.to_string()))?;
    let img = RgbImage {
        width: width as u32,
        height: height as u32,
        data: pixels,
    };
    if img.data.len() != width * height * 3 {
        return Err(corrupt(format!(
            "decoder returned {} bytes for {width}x{height} RGB",
            img.data.len()
        )));
    }
    Ok(img)
}

/// Decodes a `sensor_msgs/msg/CompressedImage` message, refusing more than `max_pixels`.
pub fn decode_compressed_image(
    msg: &crate::msgs::CompressedImage,
    max_pixels: u64,
) -> Result<RgbImage, ImageError> {
    decode_compressed_limited(&msg.format, &msg.data, max_pixels)
}

fn check_rgb(img: &RgbImage) -> Result<(), ImageError> {
    let expected = u64::from(img.width) * u64::from(img.height) * 3;
    if img.data.len() as u64 != expected {
        return Err(ImageError::BadRgbBuffer {
            width: img.width,
            height: img.height,
            expected,
            actual: img.data.len(),
        });
    }
    Ok(())
}

/// Encodes an RGB image as baseline JPEG (4:2:0) with `quality` in 1..=100 (clamped).
/// Deterministic: the same pixels and quality give the same bytes.
pub fn encode_jpeg(img: &RgbImage, quality: u8) -> Result<Vec<u8>, ImageError> {
    check_rgb(img)?;
    let mut out = Vec::with_capacity(img.data.len() / 8);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100))
        .encode(
            &img.data,
            img.width,
            img.height,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|source| ImageError::Encode {
            width: img.width,
            height: img.height,
            source,
        })?;
    Ok(out)
}

/// The uncompressed pixel orders lookout writes in `sensor_msgs/msg/Image` (the CLI's
/// `record --raw` takes the same names).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
#[value(rename_all = "lowercase")]
pub enum RawEncoding {
    #[default]
    Rgb8,
    Bgr8,
}

impl RawEncoding {
    /// The `encoding` field value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rgb8 => "rgb8",
            Self::Bgr8 => "bgr8",
        }
    }
}

/// Packs an RGB image as `rgb8` or `bgr8` rows without padding: returns `(step, data)`.
pub fn encode_raw(img: &RgbImage, encoding: RawEncoding) -> Result<(u32, Vec<u8>), ImageError> {
    check_rgb(img)?;
    let step = img.width.checked_mul(3).ok_or(ImageError::BadRgbBuffer {
        width: img.width,
        height: img.height,
        expected: u64::from(img.width) * u64::from(img.height) * 3,
        actual: img.data.len(),
    })?;
    let data = match encoding {
        RawEncoding::Rgb8 => img.data.clone(),
        RawEncoding::Bgr8 => img
            .data
            .chunks_exact(3)
            .flat_map(|p| [p[2], p[1], p[0]])
            .collect(),
    };
    Ok((step, data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::ImageEncoder;

    #[test]
    fn reflect101_keeps_parity() {
        assert_eq!(reflect101(-1, 5), 1);
        assert_eq!(reflect101(5, 5), 3);
        assert_eq!(reflect101(2, 5), 2);
        assert_eq!(reflect101(-1, 1), 0);
        assert_eq!(reflect101(2, 2), 0);
    }

    #[test]
    fn yuv_grey_and_saturation() {
        let mut px = [0u8; 6];
        // Y=16 is black and Y=235 white in video range; neutral chroma.
        yuv_pair_to_rgb(16, 235, 128, 128, &mut px);
        assert_eq!(px, [0, 0, 0, 255, 255, 255]);
        // Strong V: red saturates at 255 on the bright pixel, green floors at 0 on the dark one.
        yuv_pair_to_rgb(235, 16, 128, 255, &mut px);
        assert_eq!(px, [255, 152, 255, 203, 0, 0]);
    }

    /// A 768x576 baseline JPEG of textured content (so the scan is long), as a camera sends.
    fn textured_jpeg() -> Vec<u8> {
        let (w, h) = (768u32, 576u32);
        let mut img = RgbImage::new(w, h);
        for (i, px) in img.data.chunks_exact_mut(3).enumerate() {
            let (x, y) = ((i as u32 % w) as u8, (i as u32 / w) as u8);
            let n = (i as u32).wrapping_mul(2_654_435_761) >> 24;
            px.copy_from_slice(&[x ^ y, x.wrapping_add(n as u8), y.wrapping_mul(3)]);
        }
        encode_jpeg(&img, 90).unwrap()
    }

    /// Where the frame header's height field is (2 bytes after SOF0's length and precision).
    fn sof_size_at(jpeg: &[u8]) -> usize {
        jpeg.windows(2).position(|w| w == [0xff, 0xc0]).unwrap() + 5
    }

    #[test]
    fn jpeg_cut_short_and_closed_with_eoi_is_refused() {
        let jpeg = textured_jpeg();
        assert!(decode_compressed("jpeg", &jpeg).is_ok());
        assert!(jpeg_scan::check_complete(&jpeg).is_ok());
        let sos = jpeg.windows(2).position(|w| w == [0xff, 0xda]).unwrap();
        // Drop the last quarter of the scan data and close the file properly.
        let scan_len = jpeg.len() - 2 - sos;
        let mut cut = jpeg[..jpeg.len() - 2 - scan_len / 4].to_vec();
        cut.extend_from_slice(&[0xff, 0xd9]);
        let e = decode_compressed("jpeg", &cut).unwrap_err().to_string();
        assert!(e.contains("MCUs") && e.contains("768x576"), "{e}");
    }

    #[test]
    fn jpeg_frame_header_claiming_more_than_the_data_is_refused() {
        let jpeg = textured_jpeg();
        let at = sof_size_at(&jpeg);
        // 4096 x 3072: under the pixel limit, so only the scan walk can tell.
        let mut lying = jpeg.clone();
        lying[at..at + 4].copy_from_slice(&[0x0c, 0x00, 0x10, 0x00]);
        let e = decode_compressed("jpeg", &lying).unwrap_err().to_string();
        assert!(e.contains("MCUs") && e.contains("4096x3072"), "{e}");
        // 16384 x 16384: over the default limit, refused from the header.
        lying[at..at + 4].copy_from_slice(&[0x40, 0x00, 0x40, 0x00]);
        let e = decode_compressed("jpeg", &lying).unwrap_err();
        assert!(matches!(e, ImageError::TooManyPixels { .. }), "{e}");
    }

    #[test]
    fn pixel_limit_applies_to_raw_jpeg_and_png_before_decoding() {
        let img = RgbImage::new(64, 48);
        let jpeg = encode_jpeg(&img, 80).unwrap();
        let too_many = |e: ImageError| matches!(e, ImageError::TooManyPixels { pixels: 3072, .. });
        assert!(decode_compressed_limited("jpeg", &jpeg, 3072).is_ok());
        assert!(too_many(
            decode_compressed_limited("jpeg", &jpeg, 3071).unwrap_err()
        ));
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(&img.data, 64, 48, image::ExtendedColorType::Rgb8)
            .unwrap();
        assert!(decode_compressed_limited("png", &png, 3072).is_ok());
        assert!(too_many(
            decode_compressed_limited("png", &png, 3071).unwrap_err()
        ));
        let raw = RawImageRef::from_rgb(&img);
        assert!(decode_raw_limited(raw, 3072).is_ok());
        assert!(too_many(decode_raw_limited(raw, 3071).unwrap_err()));
    }

    #[test]
    fn zero_sized_raw_images_are_refused() {
        for (width, height) in [(0, 4), (4, 0), (0, 0)] {
            let raw = RawImageRef {
                encoding: "rgb8",
                width,
                height,
                step: width * 3,
                is_bigendian: false,
                data: &[],
            };
            let e = check_raw(raw).unwrap_err();
            assert!(matches!(e, ImageError::ZeroSize { .. }), "{e}");
        }
    }
}
