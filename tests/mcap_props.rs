//! Properties: CDR round trips of random messages, and decoders that never panic on arbitrary
//! bytes or image parameters (they return a value or an error).

use lookout::image_codec::{decode_compressed, decode_raw, RawImageRef};
use lookout::msgs::{
    from_cdr, to_cdr, BoundingBox2D, CdrError, CompressedImage, Detection2D, Detection2DArray,
    Image, ObjectHypothesis, ObjectHypothesisWithPose, Point2D, Pose2D, PoseWithCovariance,
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
    fn cdr_decoding_mutated_messages_never_panics(input in mutated_cdr()) {
        // Every type on every input: a buffer of one type is a mutation of the others.
        let _ = decode_as(MessageKind::Image, &input.bytes);
        let _ = decode_as(MessageKind::Compressed, &input.bytes);
        let _ = decode_as(MessageKind::Detections, &input.bytes);
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

/// Which message a mutated buffer was encoded from.
#[derive(Debug, Clone, Copy)]
enum MessageKind {
    Image,
    Compressed,
    Detections,
}

/// A valid CDR message of `kind`, then a few mutations of its bytes.
#[derive(Debug, Clone)]
struct MutatedCdr {
    kind: MessageKind,
    bytes: Vec<u8>,
}

/// One change to an encoded message. Lengths (string and sequence counts are `u32`s at
/// 4-aligned payload offsets) get values around the buffer size and the extremes, where
/// length bugs live; byte flips and truncation cover the rest.
#[derive(Debug, Clone)]
enum Mutation {
    FlipByte(prop::sample::Index, u8),
    SetLength(prop::sample::Index, u32),
    Truncate(prop::sample::Index),
    Append(Vec<u8>),
    /// Big-endian header: the same payload read with the other byte order.
    SwapByteOrder,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let length = prop_oneof![
        Just(0u32),
        Just(1),
        Just(u32::MAX),
        Just(i32::MAX as u32),
        Just(1 << 31),
        0u32..600,
        any::<u32>(),
    ];
    prop_oneof![
        3 => (any::<prop::sample::Index>(), 1u8..=255).prop_map(|(i, x)| Mutation::FlipByte(i, x)),
        3 => (any::<prop::sample::Index>(), length).prop_map(|(i, v)| Mutation::SetLength(i, v)),
        1 => any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        1 => prop::collection::vec(any::<u8>(), 1..16).prop_map(Mutation::Append),
        1 => Just(Mutation::SwapByteOrder),
    ]
}

fn apply(mutation: &Mutation, bytes: &mut Vec<u8>) {
    // The 4-byte encapsulation header stays: mutations go to the payload, which is what the
    // decoders read (the header check has its own tests).
    let payload = bytes.len() - 4;
    match mutation {
        Mutation::FlipByte(i, x) if payload > 0 => bytes[4 + i.index(payload)] ^= x,
        Mutation::SetLength(i, value) if payload >= 4 => {
            let at = 4 + (i.index(payload / 4) * 4);
            bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
        Mutation::Truncate(i) => bytes.truncate(4 + i.index(payload + 1)),
        Mutation::Append(extra) => bytes.extend_from_slice(extra),
        Mutation::SwapByteOrder => bytes[1] ^= 0x01,
        _ => {}
    }
}

fn mutated_cdr() -> impl Strategy<Value = MutatedCdr> {
    let image = (
        header(),
        (0u32..8, 0u32..8, 0u32..40),
        "[a-z0-9_]{0,12}",
        prop::collection::vec(any::<u8>(), 0..100),
    )
        .prop_map(
            |(header, (height, width, step), encoding, data)| MutatedCdr {
                kind: MessageKind::Image,
                bytes: to_cdr(&Image {
                    header,
                    height,
                    width,
                    encoding,
                    is_bigendian: 0,
                    step,
                    data,
                })
                .unwrap(),
            },
        );
    let compressed = (
        header(),
        "[a-z; ]{0,20}",
        prop::collection::vec(any::<u8>(), 0..100),
    )
        .prop_map(|(header, format, data)| MutatedCdr {
            kind: MessageKind::Compressed,
            bytes: to_cdr(&CompressedImage {
                header,
                format,
                data,
            })
            .unwrap(),
        });
    let detections =
        (header(), prop::collection::vec(detection(), 0..3)).prop_map(|(header, detections)| {
            MutatedCdr {
                kind: MessageKind::Detections,
                bytes: to_cdr(&Detection2DArray { header, detections }).unwrap(),
            }
        });
    (
        prop_oneof![image, compressed, detections],
        prop::collection::vec(mutation(), 0..4),
    )
        .prop_map(|(mut input, mutations)| {
            for m in &mutations {
                apply(m, &mut input.bytes);
            }
            input
        })
}

/// How far decoding got: rejected by the header check, or into the message decoder (which
/// then accepted or rejected the payload).
#[derive(Debug, PartialEq)]
enum Reached {
    HeaderOnly,
    DecoderRejected,
    DecoderAccepted,
}

fn decode_as(kind: MessageKind, bytes: &[u8]) -> Reached {
    let result = match kind {
        MessageKind::Image => from_cdr::<Image>(bytes).map(drop),
        MessageKind::Compressed => from_cdr::<CompressedImage>(bytes).map(drop),
        MessageKind::Detections => from_cdr::<Detection2DArray>(bytes).map(drop),
    };
    match result {
        Ok(()) => Reached::DecoderAccepted,
        Err(CdrError::Decode { .. }) => Reached::DecoderRejected,
        Err(_) => Reached::HeaderOnly,
    }
}

/// The property tests above only test the decoders if their inputs get past the encapsulation
/// header: random bytes almost never do (2 in 65,536 start with `00 01` or `00 00`). Count
/// where the mutated messages end up, for the type they were encoded from.
#[test]
fn mutated_cdr_inputs_reach_the_decoder() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(Config::default().rng_algorithm),
    );
    let strategy = mutated_cdr();
    let total = 2000;
    let (mut header_only, mut rejected, mut accepted) = (0, 0, 0);
    for _ in 0..total {
        let input = strategy.new_tree(&mut runner).unwrap().current();
        match decode_as(input.kind, &input.bytes) {
            Reached::HeaderOnly => header_only += 1,
            Reached::DecoderRejected => rejected += 1,
            Reached::DecoderAccepted => accepted += 1,
        }
    }
    eprintln!(
        "{total} mutated CDR inputs: {header_only} stopped at the header, {rejected} rejected \
         by the decoder, {accepted} accepted"
    );
    assert_eq!(
        header_only, 0,
        "mutations keep the encapsulation header valid"
    );
    // Both outcomes of the decoder in good measure: valid messages (and harmless mutations)
    // and payloads it must reject (lengths past the end, truncation).
    assert!(
        rejected * 5 >= total,
        "only {rejected} of {total} rejected by the decoder"
    );
    assert!(
        accepted * 5 >= total,
        "only {accepted} of {total} accepted by the decoder"
    );
}
