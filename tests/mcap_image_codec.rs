//! image_codec against hand-made pixels for every `sensor_msgs/msg/Image` encoding (step padding,
//! both byte orders of mono16, each Bayer pattern), against OpenCV's `cvtColor` for 4:2:2 YUV
//! and Bayer on random data, and every bad-input error.

mod mcap_common;

use lookout::image_codec::{
    decode_compressed, decode_raw, encode_jpeg, encode_raw, ImageError, RawEncoding, RawImageRef,
};
use lookout::RgbImage;
use mcap_common::{asset, oracle_python};
use std::path::Path;
use std::process::Command;

/// `decode_raw` of the `sensor_msgs/msg/Image` fields as the tables below write them.
fn decode_fields(
    encoding: &str,
    width: u32,
    height: u32,
    step: u32,
    is_bigendian: bool,
    data: &[u8],
) -> Result<RgbImage, ImageError> {
    decode_raw(RawImageRef {
        encoding,
        width,
        height,
        step,
        is_bigendian,
        data,
    })
}

/// Rows of `row` bytes each followed by `pad` bytes of 0xEE (which must never show up).
fn padded(rows: &[&[u8]], pad: usize) -> Vec<u8> {
    rows.iter()
        .flat_map(|r| r.iter().copied().chain(std::iter::repeat_n(0xEE, pad)))
        .collect()
}

#[test]
fn packed_rgb_family_with_step_padding() {
    let expected = vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    let cases: [(&str, Vec<u8>, u32); 4] = [
        (
            "rgb8",
            padded(&[&[1, 2, 3, 4, 5, 6], &[7, 8, 9, 10, 11, 12]], 2),
            8,
        ),
        (
            "bgr8",
            padded(&[&[3, 2, 1, 6, 5, 4], &[9, 8, 7, 12, 11, 10]], 2),
            8,
        ),
        (
            "rgba8",
            padded(
                &[&[1, 2, 3, 99, 4, 5, 6, 99], &[7, 8, 9, 99, 10, 11, 12, 99]],
                4,
            ),
            12,
        ),
        (
            "bgra8",
            padded(
                &[&[3, 2, 1, 99, 6, 5, 4, 99], &[9, 8, 7, 99, 12, 11, 10, 99]],
                4,
            ),
            12,
        ),
    ];
    for (encoding, data, step) in cases {
        let img = decode_fields(encoding, 2, 2, step, false, &data).unwrap();
        assert_eq!((img.width, img.height), (2, 2));
        assert_eq!(img.data, expected, "{encoding}");
    }
}

#[test]
fn mono8_and_mono16_both_byte_orders() {
    let img = decode_fields("mono8", 3, 1, 4, false, &[0, 128, 255, 0xEE]).unwrap();
    assert_eq!(img.data, [0, 0, 0, 128, 128, 128, 255, 255, 255]);

    let values: [u16; 3] = [0x1234, 0xff00, 0x00ff];
    let le: Vec<u8> = values
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .chain([0xEE, 0xEE])
        .collect();
    let be: Vec<u8> = values
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .chain([0xEE, 0xEE])
        .collect();
    let expected = [0x12, 0x12, 0x12, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00];
    assert_eq!(
        decode_fields("mono16", 3, 1, 8, false, &le).unwrap().data,
        expected
    );
    assert_eq!(
        decode_fields("mono16", 3, 1, 8, true, &be).unwrap().data,
        expected
    );
    // Reading big-endian data as little-endian gives the low bytes: the flag matters.
    assert_ne!(
        decode_fields("mono16", 3, 1, 8, false, &be).unwrap().data,
        expected
    );
}

#[test]
fn yuv422_grey_levels_both_orders() {
    // Video-range black (Y=16) and white (Y=235) with neutral chroma; one padding byte pair.
    let uyvy = [128, 16, 128, 235, 0xEE, 0xEE];
    let yuyv = [16, 128, 235, 128, 0xEE, 0xEE];
    let expected = [0, 0, 0, 255, 255, 255];
    for encoding in ["yuv422", "uyvy"] {
        assert_eq!(
            decode_fields(encoding, 2, 1, 6, false, &uyvy).unwrap().data,
            expected
        );
    }
    for encoding in ["yuv422_yuy2", "yuyv"] {
        assert_eq!(
            decode_fields(encoding, 2, 1, 6, false, &yuyv).unwrap().data,
            expected
        );
    }
}

/// The mosaic a Bayer sensor with top-left 2x2 `pattern` records of a uniform `rgb` scene.
fn mosaic(pattern: &str, rgb: [u8; 3], width: usize, height: usize, step: usize) -> Vec<u8> {
    let letters: Vec<char> = pattern.chars().collect();
    let mut data = vec![0xEE; height * step];
    for y in 0..height {
        for x in 0..width {
            data[y * step + x] = match letters[(y % 2) * 2 + (x % 2)] {
                'r' => rgb[0],
                'g' => rgb[1],
                _ => rgb[2],
            };
        }
    }
    data
}

#[test]
fn each_bayer_pattern_on_a_uniform_scene() {
    let rgb = [200, 100, 50];
    for pattern in ["rggb", "bggr", "gbrg", "grbg"] {
        // Odd sizes exercise the mirrored borders on both parities; step pads each row.
        let (w, h, step) = (7, 5, 9);
        let data = mosaic(pattern, rgb, w, h, step);
        let img = decode_fields(
            &format!("bayer_{pattern}8"),
            w as u32,
            h as u32,
            step as u32,
            false,
            &data,
        )
        .unwrap();
        for (i, px) in img.data.chunks_exact(3).enumerate() {
            assert_eq!(px, rgb, "bayer_{pattern}8 pixel {i}");
        }
    }
}

/// Deterministic pseudo-random bytes (a 64-bit LCG, high bits).
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 56) as u8
        })
        .collect()
}

fn opencv(code: &str, width: u32, height: u32, input: &[u8], dir: &Path) -> Vec<u8> {
    let src = dir.join(format!("{code}.in"));
    let dst = dir.join(format!("{code}.out"));
    std::fs::write(&src, input).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/python/cv_convert.py");
    let out = Command::new(oracle_python())
        .arg(script)
        .args([code, &width.to_string(), &height.to_string()])
        .arg(&src)
        .arg(&dst)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(dst).unwrap()
}

#[test]
fn yuv422_matches_opencv_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (32u32, 8u32);
    let data = noise((w * h * 2) as usize, 42);
    for (encoding, code) in [("uyvy", "YUV2RGB_UYVY"), ("yuv422_yuy2", "YUV2RGB_YUY2")] {
        let ours = decode_fields(encoding, w, h, w * 2, false, &data).unwrap();
        let theirs = opencv(code, w, h, &data, dir.path());
        assert_eq!(ours.data, theirs, "{encoding} vs cv2.{code}");
    }
}

#[test]
fn bayer_interior_matches_opencv_bilinear() {
    // ROS names the top-left 2x2 block; OpenCV names the 2nd row's 2nd and 3rd pixels
    // (cv_bridge's table: bayer_rggb8 -> BayerBG).
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (16u32, 12u32);
    let data = noise((w * h) as usize, 7);
    for (pattern, code) in [
        ("rggb", "BayerBG2RGB"),
        ("bggr", "BayerRG2RGB"),
        ("gbrg", "BayerGR2RGB"),
        ("grbg", "BayerGB2RGB"),
    ] {
        let ours = decode_fields(&format!("bayer_{pattern}8"), w, h, w, false, &data).unwrap();
        let theirs = opencv(code, w, h, &data, dir.path());
        // OpenCV fills the 1-pixel border its own way; the interior is the bilinear kernel.
        let mut mismatches = 0;
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let i = ((y * w + x) * 3) as usize;
                if ours.data[i..i + 3] != theirs[i..i + 3] {
                    mismatches += 1;
                }
            }
        }
        assert_eq!(mismatches, 0, "bayer_{pattern}8 vs cv2.{code}");
    }
}

#[test]
fn raw_errors_name_the_field() {
    let err = decode_fields("yuv420", 2, 2, 4, false, &[0; 8]).unwrap_err();
    assert!(matches!(err, ImageError::UnknownEncoding(ref e) if e == "yuv420"));
    assert!(err.to_string().contains("yuv420"));

    let err = decode_fields("rgb8", 4, 2, 11, false, &[0; 22]).unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::StepTooSmall {
                step: 11,
                row_bytes: 12,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("step"));

    let err = decode_fields("rgb8", 4, 2, 12, false, &[0; 23]).unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::DataLength {
                expected: 24,
                actual: 23,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("data"));
    let err = decode_fields("mono16", 4, 2, 8, false, &[0; 17]).unwrap_err();
    assert!(matches!(err, ImageError::DataLength { .. }), "{err}");

    let err = decode_fields("uyvy", 3, 1, 6, false, &[0; 6]).unwrap_err();
    assert!(
        matches!(err, ImageError::OddWidth { width: 3, .. }),
        "{err}"
    );
}

#[test]
fn compressed_jpeg_png_and_corrupt_data() {
    let jpeg = std::fs::read(asset("data/darknet/dog.jpg")).unwrap();
    let img = decode_compressed("jpeg", &jpeg).unwrap();
    assert_eq!((img.width, img.height), (768, 576));
    // The format string is a hint only: the magic bytes decide.
    let same = decode_compressed("rgb8; png compressed bgr8", &jpeg).unwrap();
    assert_eq!(same, img);

    let mut png = Vec::new();
    let src = image::RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8 * 50, y as u8 * 80, 7]));
    src.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let decoded = decode_compressed("png", &png).unwrap();
    assert_eq!(decoded.data, src.into_raw());

    let mut grey_jpeg = Vec::new();
    image::GrayImage::from_fn(16, 8, |x, _| image::Luma([x as u8 * 16]))
        .write_to(
            &mut std::io::Cursor::new(&mut grey_jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    let grey = decode_compressed("jpeg", &grey_jpeg).unwrap();
    assert_eq!((grey.width, grey.height), (16, 8));
    assert!(
        grey.data
            .chunks_exact(3)
            .all(|p| p[0] == p[1] && p[1] == p[2]),
        "grey stays grey"
    );

    // A truncated JPEG: lenient decoders fill the rest with grey; this must be an error.
    let err = decode_compressed("jpeg", &jpeg[..jpeg.len() / 3]).unwrap_err();
    assert!(
        matches!(err, ImageError::CorruptCompressed { kind: "JPEG", .. }),
        "{err}"
    );
    let err = decode_compressed("jpeg", b"GIF89a....").unwrap_err();
    assert!(
        matches!(err, ImageError::UnknownCompressedFormat { .. }),
        "{err}"
    );
    let err = decode_compressed("png", &png[..20]).unwrap_err();
    assert!(
        matches!(err, ImageError::CorruptCompressed { kind: "PNG", .. }),
        "{err}"
    );
}

#[test]
fn encoders_roundtrip() {
    let img = RgbImage {
        width: 16,
        height: 8,
        data: (0..16 * 8)
            .flat_map(|i| [(i * 2) as u8, 100, (255 - i) as u8])
            .collect(),
    };
    let jpeg = encode_jpeg(&img, 95).unwrap();
    assert_eq!(jpeg, encode_jpeg(&img, 95).unwrap(), "deterministic");
    let back = decode_compressed("jpeg", &jpeg).unwrap();
    assert_eq!((back.width, back.height), (16, 8));
    let mean_abs: f64 = img
        .data
        .iter()
        .zip(&back.data)
        .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs() as f64)
        .sum::<f64>()
        / img.data.len() as f64;
    assert!(mean_abs < 4.0, "JPEG q95 mean error {mean_abs}");

    for (encoding, name) in [(RawEncoding::Rgb8, "rgb8"), (RawEncoding::Bgr8, "bgr8")] {
        let (step, data) = encode_raw(&img, encoding).unwrap();
        assert_eq!(step, 48);
        assert_eq!(decode_fields(name, 16, 8, step, false, &data).unwrap(), img);
    }
    let bad = RgbImage {
        width: 4,
        height: 4,
        data: vec![0; 5],
    };
    assert!(matches!(
        encode_jpeg(&bad, 90),
        Err(ImageError::BadRgbBuffer { .. })
    ));
}
