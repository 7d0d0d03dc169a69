//! Properties: CDR round trips of random messages, and decoders that never panic on arbitrary
//! bytes or image parameters (they return a value or an error).

use lookout::image_codec::{decode_compressed, decode_raw, RawImageRef};
use lookout::msgs::{
    from_cdr, to_cdr, BoundingBox2D, CompressedImage, Detection2D, Detection2DArray, Image,
    ObjectHypothesis, ObjectHypothesisWithPose, Point2D, Pose2D, PoseWithCovariance,
};
use lookout::{Header, Time};
use proptest::prelude::*;

fn header() -> impl Strategy<Value = Header> {
    (any::<i32>(), 0u32..1_000_000_000, "[ -~]{0,24}").prop_map(|(sec, nanosec, frame_id)| Header {
        stamp: Time { sec, nanosec },
        frame_id,
    })
}

fn finite() -> impl Strategy<Value = f64> {
    -1e9f64..1e9
}

fn detection() -> impl Strategy<Value = Detection2D> {
    (
        header(),
        prop::collection::vec(("[a-z ]{0,16}", 0.0f64..1.0, finite()), 0..3),
        (finite(), finite(), finite(), finite(), finite()),
        "[a-z0-9-]{0,8}",
    )
        .prop_map(|(header, results, (x, y, theta, sx, sy), id)| Detection2D {
            header,
            results: results
                .into_iter()
                .map(|(class_id, score, c)| {
                    let mut pose = PoseWithCovariance::default();
                    pose.covariance[7] = c;
                    pose.pose.position.x = c;
                    ObjectHypothesisWithPose {
                        hypothesis: ObjectHypothesis { class_id, score },
                        pose,
                    }
                })
                .collect(),
            bbox: BoundingBox2D {
                center: Pose2D {
                    position: Point2D { x, y },
                    theta,
                },
                size_x: sx,
                size_y: sy,
            },
            id,
        })
}

proptest! {
    #[test]
    fn detection_array_roundtrips(header in header(), detections in prop::collection::vec(detection(), 0..4)) {
        let msg = Detection2DArray { header, detections };
        let bytes = to_cdr(&msg).unwrap();
        prop_assert_eq!(from_cdr::<Detection2DArray>(&bytes).unwrap(), msg);
    }

    #[test]
    fn images_roundtrip(
        header in header(),
        (height, width, step, encoding, is_bigendian) in (0u32..8, 0u32..8, 0u32..40, "[a-z0-9_]{0,12}", any::<u8>()),
        data in prop::collection::vec(any::<u8>(), 0..300),
        format in "[a-z; ]{0,20}",
    ) {
        let raw = Image { header: header.clone(), height, width, encoding, is_bigendian, step, data: data.clone() };
        prop_assert_eq!(from_cdr::<Image>(&to_cdr(&raw).unwrap()).unwrap(), raw);
        let compressed = CompressedImage { header, format, data };
        prop_assert_eq!(from_cdr::<CompressedImage>(&to_cdr(&compressed).unwrap()).unwrap(), compressed);
    }

    #[test]
    fn cdr_decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = from_cdr::<Image>(&bytes);
        let _ = from_cdr::<CompressedImage>(&bytes);
        let _ = from_cdr::<Detection2DArray>(&bytes);
    }

    #[test]
    fn raw_decoding_never_panics_and_sizes_match(
        encoding in prop::sample::select(vec![
            "rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "yuv422", "uyvy", "yuv422_yuy2",
            "yuyv", "bayer_rggb8", "bayer_bggr8", "bayer_gbrg8", "bayer_grbg8", "bogus",
        ]),
        width in 0u32..9,
        height in 0u32..9,
        step in 0u32..40,
        is_bigendian in any::<bool>(),
        extra in 0usize..3,
        seed in any::<u8>(),
    ) {
        // Mostly well-sized buffers (so decoding runs), sometimes off by one or two.
        let len = (height * step) as usize + extra - usize::from(extra == 2) * 2;
        let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
        let raw = RawImageRef { encoding, width, height, step, is_bigendian, data: &data };
        if let Ok(img) = decode_raw(raw) {
            prop_assert_eq!((img.width, img.height), (width, height));
            prop_assert_eq!(img.data.len(), (width * height * 3) as usize);
        }
    }

    #[test]
    fn compressed_decoding_arbitrary_bytes_never_panics(
        prefix in prop::sample::select(vec![vec![0xffu8, 0xd8, 0xff], b"\x89PNG\r\n\x1a\n".to_vec(), vec![]]),
        rest in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let data: Vec<u8> = prefix.into_iter().chain(rest).collect();
        let _ = decode_compressed("jpeg", &data);
    }
}
