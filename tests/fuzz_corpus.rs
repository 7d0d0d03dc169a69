//! The fuzz targets of `fuzz/` (run by `make fuzz`) replayed as ordinary tests, so that they
//! keep compiling and keep reaching their decoders between fuzzing runs:
//!
//! - every seed (`fuzz/seeds/<target>/`, the YAML files of `configs/`, and the corpus made from
//!   real files by `scripts/fuzz-corpus.sh` under `$LOOKOUT_CACHE/fuzz-corpus/<target>/` when it
//!   exists) is valid input, so its target must accept it: a target that stopped reaching the
//!   decoder (a selector byte moved, an API changed) fails here;
//! - every input the fuzzer found a crash with and that has been fixed (`fuzz/crashes/<target>/`)
//!   must run without panicking.
//!
//! The committed seeds are small synthetic files; `cargo test --test fuzz_corpus -- --ignored
//! write_seeds` writes them again.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use lookout::image_codec::encode_jpeg;
use lookout::mcap_io::Ros2McapWriter;
use lookout::msgs::{
    to_cdr, BoundingBox2D, CompressedImage, Detection2D, Detection2DArray, Image, ObjectHypothesis,
    ObjectHypothesisWithPose, Point2D, Pose2D, PoseWithCovariance,
};
use lookout::{Header, RgbImage, Time};
use std::path::{Path, PathBuf};

type Target = fn(&[u8]) -> bool;

const TARGETS: [(&str, Target); 8] = [
    ("mcap", targets::mcap),
    ("cdr", targets::cdr),
    ("image", targets::image),
    ("mot", targets::mot),
    ("config", targets::config),
    ("detections", targets::detections),
    ("onnx", targets::onnx),
    ("calibration", targets::calibration),
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The files directly inside `dir`, sorted; none when it does not exist.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("read corpus folder").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// The seeds of one target: committed, the configs for `config`, and the generated corpus.
fn seeds(target: &str) -> Vec<PathBuf> {
    let mut files = files_in(&repo().join("fuzz/seeds").join(target));
    if target == "config" {
        files.extend(
            files_in(&repo().join("configs"))
                .into_iter()
                .filter(|p| p.to_string_lossy().ends_with(".param.yaml")),
        );
    }
    if let Ok(cache) = lookout::assets::cache_dir() {
        files.extend(files_in(&cache.join("fuzz-corpus").join(target)));
    }
    files
}

#[test]
fn every_seed_is_accepted_by_its_target() {
    for (name, target) in TARGETS {
        let files = seeds(name);
        assert!(!files.is_empty(), "no seeds for fuzz target {name}");
        for file in files {
            let bytes = std::fs::read(&file).expect("read seed");
            assert!(
                target(&bytes),
                "fuzz target {name} rejects its seed {}: it no longer reaches the decoder",
                file.display()
            );
        }
    }
}

#[test]
fn saved_crashes_no_longer_crash() {
    for (name, target) in TARGETS {
        for file in files_in(&repo().join("fuzz/crashes").join(name)) {
            let bytes = std::fs::read(&file).expect("read crash input");
            // Each one crashed on a file that is damaged: now it must return, with an error.
            assert!(
                !target(&bytes),
                "{name}: {} is accepted instead of refused",
                file.display()
            );
        }
    }
}

#[test]
fn targets_reject_garbage() {
    // The other half of "the seeds are accepted": a target that accepts anything tests nothing.
    for (name, target) in TARGETS {
        assert!(!target(b""), "{name} accepts empty input");
        assert!(!target(b"\x01\x02garbage"), "{name} accepts garbage");
    }
}

/// A deterministic gradient, so that the seeds are the same on every machine.
fn gradient(width: u32, height: u32) -> RgbImage {
    let mut img = RgbImage::new(width, height);
    for (i, px) in img.data.chunks_exact_mut(3).enumerate() {
        let (x, y) = (i as u32 % width, i as u32 / width);
        px.copy_from_slice(&[(x * 16) as u8, (y * 20) as u8, ((x + y) * 8) as u8]);
    }
    img
}

fn header(sec: i32) -> Header {
    Header {
        stamp: Time { sec, nanosec: 0 },
        frame_id: "camera_optical_frame".into(),
    }
}

fn raw_image(encoding: &str, width: u32, height: u32, bytes_per_px: u32, pad: u32) -> Image {
    let step = width * bytes_per_px + pad;
    Image {
        header: header(1),
        height,
        width,
        encoding: encoding.into(),
        is_bigendian: 0,
        step,
        data: (0..step * height)
            .map(|i| (i as u8).wrapping_mul(37))
            .collect(),
    }
}

fn png(img: &RgbImage) -> Vec<u8> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            &img.data,
            img.width,
            img.height,
            image::ExtendedColorType::Rgb8,
        )
        .expect("encode PNG");
    out
}

fn detections() -> Detection2DArray {
    let detection = |x: f64, class_id: &str| Detection2D {
        header: header(2),
        results: vec![ObjectHypothesisWithPose {
            hypothesis: ObjectHypothesis {
                class_id: class_id.into(),
                score: 0.8,
            },
            pose: PoseWithCovariance::default(),
        }],
        bbox: BoundingBox2D {
            center: Pose2D {
                position: Point2D { x, y: 40.0 },
                theta: 0.0,
            },
            size_x: 20.0,
            size_y: 50.0,
        },
        id: "7".into(),
    };
    Detection2DArray {
        header: header(2),
        detections: vec![detection(30.0, "person"), detection(90.0, "car")],
    }
}

fn write_seed(target: &str, name: &str, bytes: &[u8]) {
    let dir = repo().join("fuzz/seeds").join(target);
    std::fs::create_dir_all(&dir).expect("create seed folder");
    std::fs::write(dir.join(name), bytes).expect("write seed");
}

/// A small MCAP with one camera topic of `messages`.
fn mcap_seed<M: lookout::msgs::RosMessage>(topic: &str, messages: &[M]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("seed.mcap");
    let mut writer = Ros2McapWriter::create(&path).expect("create MCAP");
    writer.add_topic::<M>(topic).expect("add topic");
    for (i, msg) in messages.iter().enumerate() {
        writer
            .write_message(topic, (i as u64 + 1) * 100_000_000, i as u32, msg)
            .expect("write message");
    }
    writer.finish().expect("finish MCAP");
    std::fs::read(&path).expect("read MCAP")
}

/// Writes the committed seeds of `fuzz/seeds/` (run with `-- --ignored write_seeds`). The text
/// seeds (`mot`) are written by hand and kept as they are.
#[test]
#[ignore = "writes fuzz/seeds/; run by hand when the seeds must change"]
fn write_seeds() {
    let small = gradient(16, 12);
    let jpeg = encode_jpeg(&small, 90).expect("encode JPEG");
    let png = png(&small);

    // image: selector 0 = compressed, 1 = raw with an 8-byte header.
    write_seed("image", "jpeg-16x12", &[&[0u8][..], &jpeg].concat());
    write_seed("image", "png-16x12", &[&[0u8][..], &png].concat());
    let raw_encodings: [(u8, &str, u32, u32); 8] = [
        (0, "rgb8", 3, 0),
        (1, "bgr8", 3, 2),
        (2, "rgba8", 4, 0),
        (4, "mono8", 1, 1),
        (5, "mono16", 2, 0),
        (7, "uyvy", 2, 0),
        (9, "yuyv", 2, 0),
        (10, "bayer_rggb8", 1, 3),
    ];
    for (index, encoding, bytes_per_px, pad) in raw_encodings {
        let (width, height) = (4u16, 3u16);
        let step = u16::try_from(u32::from(width) * bytes_per_px + pad).expect("small step");
        let mut seed = vec![1u8, index];
        seed.extend_from_slice(&width.to_le_bytes());
        seed.extend_from_slice(&height.to_le_bytes());
        seed.extend_from_slice(&step.to_le_bytes());
        seed.push(0);
        seed.extend((0..u32::from(step) * u32::from(height)).map(|i| (i as u8).wrapping_mul(37)));
        write_seed("image", &format!("raw-{encoding}"), &seed);
    }

    // cdr: selector 0 = Image, 1 = CompressedImage, 2 = Detection2DArray.
    let compressed = CompressedImage {
        header: header(1),
        format: "jpeg".into(),
        data: jpeg.clone(),
    };
    let cdr_seeds: [(&str, u8, Vec<u8>); 4] = [
        (
            "image-bgr8",
            0,
            to_cdr(&raw_image("bgr8", 4, 3, 3, 0)).unwrap(),
        ),
        (
            "image-yuyv",
            0,
            to_cdr(&raw_image("yuyv", 4, 2, 2, 4)).unwrap(),
        ),
        ("compressed-jpeg", 1, to_cdr(&compressed).unwrap()),
        ("detection2darray", 2, to_cdr(&detections()).unwrap()),
    ];
    for (name, selector, cdr) in cdr_seeds {
        write_seed("cdr", name, &[&[selector][..], &cdr].concat());
    }

    // mcap: whole files.
    let frames = [
        raw_image("bgr8", 4, 3, 3, 0),
        raw_image("mono8", 4, 3, 1, 0),
    ];
    write_seed(
        "mcap",
        "raw-2-frames.mcap",
        &mcap_seed("/camera/image_raw", &frames),
    );
    let compressed_frames = [compressed.clone(), compressed];
    write_seed(
        "mcap",
        "jpeg-2-frames.mcap",
        &mcap_seed("/camera/image_raw/compressed", &compressed_frames),
    );

    // onnx: small graphs with the operators and tensor encodings a YOLOX export uses.
    for (name, bytes) in onnx_seeds() {
        write_seed("onnx", name, &bytes);
    }
}

/// ONNX protobufs for the onnx target: a BaseConv (raw little-endian kernel, bias,
/// attributes, SiLU, an Add named by its module) and a depthwise conv with `float_data`
/// beside the structural operators; neither is a whole YOLOX, so the structure mapping refuses
/// them after the decoder accepted them.
fn onnx_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use lookout::yolox::onnx::{
        AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
        ValueInfoProto,
    };
    use prost::Message;
    let ints = |name: &str, v: &[i64]| AttributeProto {
        name: name.into(),
        i: 0,
        ints: v.to_vec(),
    };
    let node = |name: &str, op: &str, inputs: &[&str], attribute: Vec<AttributeProto>| NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![format!("{name}_output_0")],
        name: name.into(),
        op_type: op.into(),
        attribute,
        domain: String::new(),
    };
    let tensor = |name: &str, dims: &[i64], raw: bool| {
        let count: i64 = dims.iter().product();
        let values: Vec<f32> = (0..count).map(|i| i as f32 * 0.125 - 1.0).collect();
        TensorProto {
            dims: dims.to_vec(),
            data_type: 1,
            float_data: if raw { vec![] } else { values.clone() },
            name: name.into(),
            raw_data: if raw {
                values.iter().flat_map(|v| v.to_le_bytes()).collect()
            } else {
                vec![]
            },
            data_location: 0,
        }
    };
    let model = |node: Vec<NodeProto>, initializer: Vec<TensorProto>| {
        ModelProto {
            ir_version: 6,
            graph: Some(GraphProto {
                node,
                initializer,
                input: vec![ValueInfoProto {
                    name: "images".into(),
                }],
                output: vec![ValueInfoProto {
                    name: "output".into(),
                }],
            }),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 11,
            }],
        }
        .encode_to_vec()
    };
    let conv_attrs = |k: i64, s: i64, group: i64| {
        vec![
            ints("dilations", &[1, 1]),
            AttributeProto {
                name: "group".into(),
                i: group,
                ints: vec![],
            },
            ints("kernel_shape", &[k, k]),
            ints("pads", &[k / 2; 4]),
            ints("strides", &[s, s]),
        ]
    };
    let stem = "/backbone/backbone/stem/conv";
    let base_conv = model(
        vec![
            node(
                &format!("{stem}/conv/Conv"),
                "Conv",
                &["images", "w0", "b0"],
                conv_attrs(3, 1, 1),
            ),
            node(&format!("{stem}/act/Sigmoid"), "Sigmoid", &["c"], vec![]),
            node(&format!("{stem}/act/Mul"), "Mul", &["c", "s"], vec![]),
            node(
                "/backbone/backbone/dark2/dark2.1/m/m.0/Add",
                "Add",
                &["a", "b"],
                vec![],
            ),
        ],
        vec![tensor("w0", &[4, 12, 3, 3], true), tensor("b0", &[4], true)],
    );
    let dconv = "/backbone/backbone/dark2/dark2.0/dconv/conv/Conv";
    let depthwise = model(
        vec![
            node(
                "/backbone/backbone/stem/Slice",
                "Slice",
                &["images"],
                vec![],
            ),
            node(
                "/backbone/backbone/stem/Concat",
                "Concat",
                &["a", "b"],
                vec![],
            ),
            node(dconv, "Conv", &["x", "w1", "b1"], conv_attrs(3, 2, 4)),
            node(
                "/backbone/backbone/dark5/dark5.1/m.0/MaxPool",
                "MaxPool",
                &["x"],
                vec![],
            ),
            node("/backbone/upsample/Resize", "Resize", &["x"], vec![]),
            node("/head/Reshape", "Reshape", &["x", "y"], vec![]),
            node("/head/Transpose", "Transpose", &["x"], vec![]),
        ],
        vec![
            tensor("w1", &[4, 1, 3, 3], false),
            tensor("b1", &[4], false),
        ],
    );
    vec![
        ("base-conv", base_conv),
        ("depthwise-float-data", depthwise),
    ]
}
