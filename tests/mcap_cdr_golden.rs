//! CDR golden bytes: lookout's serialization against what rclpy (ROS 2 Jazzy, rmw_fastrtps_cpp)
//! produced for the same messages. Regenerate the hex with `scripts/python/cdr_golden.py` (it
//! needs the ROS 2 PyPI wheels; see that script's docstring).
//!
//! Fast-CDR leaves alignment padding uninitialised (rclpy gave `65 73 73` after "jpeg\0" in
//! CompressedImage), so padding bytes are masked where they occur; lookout writes zeros there.

use lookout::msgs::{from_cdr, to_cdr, CompressedImage, Image, PoseWithCovariance};
use lookout::{Header, Time};

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn header(frame_id: &str) -> Header {
    Header {
        stamp: Time { sec: 1, nanosec: 2 },
        frame_id: frame_id.into(),
    }
}

const HEADER_CAM: &str = "0001000001000000020000000400000063616d00";
const HEADER_AB: &str = "00010000010000000200000003000000616200";
const IMAGE: &str = concat!(
    "0001000001000000020000000400000063616d00020000000300000005000000",
    "72676238000000000900000012000000000102030405060708090a0b0c0d0e0f",
    "1011"
);
const COMPRESSED: &str = concat!(
    "0001000001000000020000000400000063616d00050000006a70656700657373",
    "05000000ffd8ff0102"
);
const POSE: &str = concat!(
    "0001000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000f03f00000000",
    "0000f83f00000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000c0"
);

#[test]
fn header_matches_rclpy() {
    for (frame_id, golden) in [("cam", HEADER_CAM), ("ab", HEADER_AB)] {
        let golden = unhex(golden);
        assert_eq!(
            to_cdr(&header(frame_id)).unwrap(),
            golden,
            "frame_id {frame_id}"
        );
        assert_eq!(from_cdr::<Header>(&golden).unwrap(), header(frame_id));
    }
}

#[test]
fn image_matches_rclpy() {
    let msg = Image {
        header: header("cam"),
        height: 2,
        width: 3,
        encoding: "rgb8".into(),
        is_bigendian: 0,
        step: 9,
        data: (0..18).collect(),
    };
    let golden = unhex(IMAGE);
    assert_eq!(to_cdr(&msg).unwrap(), golden);
    assert_eq!(from_cdr::<Image>(&golden).unwrap(), msg);
}

#[test]
fn compressed_image_matches_rclpy_up_to_padding() {
    let msg = CompressedImage {
        header: header("cam"),
        format: "jpeg".into(),
        data: vec![0xff, 0xd8, 0xff, 1, 2],
    };
    let golden = unhex(COMPRESSED);
    let ours = to_cdr(&msg).unwrap();
    assert_eq!(ours.len(), golden.len());
    // Payload offsets 25..28 (buffer 29..32): padding after "jpeg\0" before the u32 length.
    let padding = 29..32;
    for (i, (a, b)) in ours.iter().zip(&golden).enumerate() {
        if padding.contains(&i) {
            assert_eq!(*a, 0, "lookout pads with zeros");
        } else {
            assert_eq!(a, b, "byte {i}");
        }
    }
    // Garbage padding must not matter to the reader.
    assert_eq!(from_cdr::<CompressedImage>(&golden).unwrap(), msg);
}

#[test]
fn pose_with_covariance_matches_rclpy() {
    let mut covariance = [0.0; 36];
    covariance[0] = 1.5;
    covariance[35] = -2.0;
    let msg = PoseWithCovariance {
        covariance,
        ..Default::default()
    };
    let golden = unhex(POSE);
    assert_eq!(to_cdr(&msg).unwrap(), golden);
    assert_eq!(from_cdr::<PoseWithCovariance>(&golden).unwrap(), msg);
}
