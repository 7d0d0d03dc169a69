//! The part of an ONNX model file a YOLOX export needs: its graph's nodes and the float
//! initializers the convolutions read, decoded from the protobuf with `prost` (the message
//! types below declare only the fields lookout reads, with their numbers from the ONNX spec's
//! `onnx.proto`; every other field is skipped, so no `protoc` is needed at build time).
//!
//! [`parse`] takes the file's bytes (at most [`ONNX_BYTES_MAX`], checked by the caller before
//! reading, and again here) and returns an [`OnnxGraph`]: every `Conv` node with its kernel,
//! bias and attributes, keyed by the PyTorch module path in its node name
//! (`/backbone/backbone/dark2/dark2.0/dconv/conv/Conv` -> `backbone.backbone.dark2.dark2.0.dconv`),
//! and the module paths of the residual `Add` nodes. Any operator outside the handful a YOLOX
//! export uses is an error naming the node.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;

/// Largest ONNX file accepted: YOLOX-X in f32 is about 380 MB; protobuf itself caps a message
/// at 2 GiB.
pub const ONNX_BYTES_MAX: u64 = 1 << 30;

/// `ModelProto` (onnx.proto): only the graph and the opset.
#[derive(Clone, PartialEq, Message)]
pub struct ModelProto {
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
}

/// `OperatorSetIdProto`.
#[derive(Clone, PartialEq, Message)]
pub struct OperatorSetIdProto {
    #[prost(string, tag = "1")]
    pub domain: String,
    #[prost(int64, tag = "2")]
    pub version: i64,
}

/// `GraphProto`: nodes, initializers, and the names of the inputs and outputs.
#[derive(Clone, PartialEq, Message)]
pub struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
}

/// `ValueInfoProto`: the name only.
#[derive(Clone, PartialEq, Message)]
pub struct ValueInfoProto {
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `NodeProto`.
#[derive(Clone, PartialEq, Message)]
pub struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub op_type: String,
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    #[prost(string, tag = "7")]
    pub domain: String,
}

/// `AttributeProto`: the scalar and list forms a Conv uses (a tensor attribute is skipped).
#[derive(Clone, PartialEq, Message)]
pub struct AttributeProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(int64, tag = "3")]
    pub i: i64,
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
}

/// `TensorProto`: shape, element type and the data (raw little-endian bytes or `float_data`).
#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    #[prost(string, tag = "8")]
    pub name: String,
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
    /// 1 = EXTERNAL: the data is in another file, which lookout does not read.
    #[prost(int32, tag = "14")]
    pub data_location: i32,
}

/// `TensorProto.DataType.FLOAT`.
const DATA_TYPE_FLOAT: i32 = 1;

/// A YOLOX ONNX graph lookout cannot use; `node` names the node (or the initializer or
/// module) at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnnxError {
    #[error("{len} bytes is above the limit of {ONNX_BYTES_MAX}")]
    TooLarge { len: u64 },
    #[error("not an ONNX protobuf: {0}")]
    Decode(String),
    #[error("node {node}: {message}")]
    Node { node: String, message: String },
}

/// One convolution: its folded kernel and bias, as exported.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxConv {
    /// The node's name (for errors).
    pub node: String,
    /// `filters x (c_in / groups) x k x k`, row-major.
    pub kernel: Vec<f32>,
    pub kernel_shape: [usize; 4],
    /// `filters` values (zeros when the node has no bias input).
    pub bias: Vec<f32>,
    pub stride: usize,
    pub padding: usize,
    pub groups: usize,
}

/// The convolutions and residual additions of a graph, by PyTorch module path.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OnnxGraph {
    /// `backbone.backbone.stem.conv` -> the convolution of that `BaseConv`; a bare `Conv2d`
    /// (the head's `cls_preds.0`) under its own path.
    pub convs: BTreeMap<String, OnnxConv>,
    /// Module paths holding an `Add` (the residual of a `Bottleneck`, `...m.0`).
    pub adds: BTreeSet<String>,
    /// Name of the graph's (first) input.
    pub input: String,
}

/// Operators of a YOLOX export besides `Conv` and `Add`: the Focus slices, SiLU (Sigmoid x
/// Mul), SPP pooling, PAFPN concatenation and upsampling, and the head's output reshapes.
/// lookout builds these from the YOLOX structure, so their presence is all that is checked.
const STRUCTURAL_OPS: [&str; 13] = [
    "Constant",
    "Slice",
    "Concat",
    "Sigmoid",
    "Mul",
    "MaxPool",
    "Resize",
    "Upsample",
    "Shape",
    "Gather",
    "Unsqueeze",
    "Reshape",
    "Transpose",
];

/// The PyTorch module path of a node named `/a/b.c/conv/Conv`: its name's segments before the
/// operator, joined by dots (`a.b.c.conv`); `None` for a name without that form.
fn module_path(node_name: &str) -> Option<String> {
    let trimmed = node_name.strip_prefix('/')?;
    let (path, _op) = trimmed.rsplit_once('/')?;
    if path.is_empty() {
        return None;
    }
    // Segments are nested modules; `dark2/dark2.0` is module `dark2.0` inside `dark2`, whose
    // full path is `dark2.0`: PyTorch's exporter repeats the parent's name in the child's.
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        let last = out.last().copied();
        match last {
            Some(parent) if segment.starts_with(&format!("{parent}.")) => {
                out.pop();
                out.push(segment);
            }
            _ => out.push(segment),
        }
    }
    Some(out.join("."))
}

/// Decodes `bytes` as an ONNX model and collects its convolutions; see the module doc.
pub fn parse(bytes: &[u8]) -> Result<OnnxGraph, OnnxError> {
    if bytes.len() as u64 > ONNX_BYTES_MAX {
        return Err(OnnxError::TooLarge {
            len: bytes.len() as u64,
        });
    }
    let model = ModelProto::decode(bytes).map_err(|e| OnnxError::Decode(e.to_string()))?;
    let graph = model
        .graph
        .ok_or_else(|| OnnxError::Decode("the model has no graph".into()))?;
    let initializers: BTreeMap<&str, &TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let mut out = OnnxGraph {
        input: graph
            .input
            .iter()
            .map(|i| i.name.clone())
            .find(|n| !initializers.contains_key(n.as_str()))
            .ok_or_else(|| OnnxError::Decode("the graph has no input".into()))?,
        ..OnnxGraph::default()
    };
    for (index, node) in graph.node.iter().enumerate() {
        let label = if node.name.is_empty() {
            format!("#{index} ({})", node.op_type)
        } else {
            node.name.clone()
        };
        let err = |message: String| OnnxError::Node {
            node: label.clone(),
            message,
        };
        if !node.domain.is_empty() && node.domain != "ai.onnx" {
            return Err(err(format!(
                "operator domain `{}` is not supported",
                node.domain
            )));
        }
        match node.op_type.as_str() {
            "Conv" => {
                let path = module_path(&node.name).ok_or_else(|| {
                    err("a Conv node's name must carry its PyTorch module path \
                         (`/backbone/.../conv/Conv`; export with torch.onnx and keep the \
                         default node names)"
                        .into())
                })?;
                // A BaseConv's Conv2d is `<module>.conv`; the module is what YOLOX names.
                let path = path
                    .strip_suffix(".conv")
                    .map_or(path.clone(), str::to_owned);
                let conv = read_conv(node, &initializers).map_err(err)?;
                if out.convs.insert(path.clone(), conv).is_some() {
                    return Err(err(format!("a second convolution for module `{path}`")));
                }
            }
            "Add" => {
                let path = module_path(&node.name).ok_or_else(|| {
                    err("an Add node's name must carry its PyTorch module path".into())
                })?;
                out.adds.insert(path);
            }
            op if STRUCTURAL_OPS.contains(&op) => {}
            "BatchNormalization" => {
                return Err(err(
                    "batch-norm is not folded into the convolutions: export \
                     with YOLOX's tools/export_onnx.py, which fuses it"
                        .into(),
                ))
            }
            op => return Err(err(format!("operator `{op}` is not part of a YOLOX graph"))),
        }
    }
    if out.convs.is_empty() {
        return Err(OnnxError::Decode("the graph has no convolution".into()));
    }
    Ok(out)
}

/// A float initializer's values, checked against its dims.
fn floats(t: &TensorProto) -> Result<(Vec<usize>, Vec<f32>), String> {
    if t.data_type != DATA_TYPE_FLOAT {
        return Err(format!(
            "initializer `{}` has data type {}, expected float (1)",
            t.name, t.data_type
        ));
    }
    if t.data_location == 1 {
        return Err(format!(
            "initializer `{}` is stored in an external file, which lookout does not read",
            t.name
        ));
    }
    let dims = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("initializer `{}`: dim {d}", t.name)))
        .collect::<Result<Vec<_>, _>>()?;
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("initializer `{}`: dims {dims:?} overflow", t.name))?;
    let values: Vec<f32> = if !t.raw_data.is_empty() {
        if t.raw_data.len() != count.saturating_mul(4) {
            return Err(format!(
                "initializer `{}`: {} raw bytes for dims {dims:?} ({count} floats)",
                t.name,
                t.raw_data.len()
            ));
        }
        t.raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    } else {
        if t.float_data.len() != count {
            return Err(format!(
                "initializer `{}`: {} floats for dims {dims:?}",
                t.name,
                t.float_data.len()
            ));
        }
        t.float_data.clone()
    };
    Ok((dims, values))
}

/// The kernel, bias and attributes of a `Conv` node.
fn read_conv(
    node: &NodeProto,
    initializers: &BTreeMap<&str, &TensorProto>,
) -> Result<OnnxConv, String> {
    let init = |i: usize| -> Result<&TensorProto, String> {
        let name = node
            .input
            .get(i)
            .ok_or_else(|| format!("Conv without input {i}"))?;
        initializers
            .get(name.as_str())
            .copied()
            .ok_or_else(|| format!("Conv input `{name}` is not an initializer"))
    };
    let (dims, kernel) = floats(init(1)?)?;
    let kernel_shape: [usize; 4] = dims
        .as_slice()
        .try_into()
        .map_err(|_| format!("kernel dims {dims:?}, expected 4"))?;
    let [filters, _, kh, kw] = kernel_shape;
    if kh != kw || kh == 0 || filters == 0 || kernel_shape[1] == 0 {
        return Err(format!("kernel {kernel_shape:?}: only square 2-D kernels"));
    }
    let bias = if node.input.len() > 2 && !node.input[2].is_empty() {
        let (bdims, bias) = floats(init(2)?)?;
        if bdims != [filters] {
            return Err(format!("bias dims {bdims:?} for {filters} filters"));
        }
        bias
    } else {
        vec![0.0; filters]
    };
    let mut stride = 1;
    let mut padding = kh / 2;
    let mut groups = 1;
    for a in &node.attribute {
        let same = |v: &[i64]| -> Result<usize, String> {
            match v {
                [first, rest @ ..] if rest.iter().all(|x| x == first) => {
                    usize::try_from(*first).map_err(|_| format!("attribute {} = {v:?}", a.name))
                }
                _ => Err(format!(
                    "attribute {} = {v:?}: only equal values per axis",
                    a.name
                )),
            }
        };
        match a.name.as_str() {
            "strides" => stride = same(&a.ints)?,
            "pads" => padding = same(&a.ints)?,
            "group" => {
                groups = usize::try_from(a.i).map_err(|_| format!("group = {}", a.i))?;
            }
            "dilations" if same(&a.ints)? != 1 => {
                return Err(format!("dilations {:?}: only 1", a.ints));
            }
            "kernel_shape" if same(&a.ints)? != kh => {
                return Err(format!(
                    "kernel_shape {:?} vs kernel {kernel_shape:?}",
                    a.ints
                ));
            }
            "auto_pad" => return Err("auto_pad is not supported (explicit pads only)".into()),
            _ => {}
        }
    }
    if stride == 0 || groups == 0 || filters % groups != 0 {
        return Err(format!(
            "stride {stride}, group {groups} for {filters} filters"
        ));
    }
    Ok(OnnxConv {
        node: node.name.clone(),
        kernel,
        kernel_shape,
        bias,
        stride,
        padding,
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths_follow_pytorch_nesting() {
        assert_eq!(
            module_path("/backbone/backbone/dark2/dark2.0/dconv/conv/Conv").as_deref(),
            Some("backbone.backbone.dark2.0.dconv.conv")
        );
        assert_eq!(
            module_path("/backbone/C3_p4/m/m.0/Add").as_deref(),
            Some("backbone.C3_p4.m.0")
        );
        assert_eq!(
            module_path("/head/cls_convs.0/cls_convs.0.1/pconv/conv/Conv").as_deref(),
            Some("head.cls_convs.0.1.pconv.conv")
        );
        assert_eq!(module_path("Conv_12"), None);
        assert_eq!(module_path("/Conv"), None);
    }

    fn conv_node(name: &str, w: &str) -> NodeProto {
        NodeProto {
            input: vec!["x".into(), w.into()],
            output: vec!["y".into()],
            name: name.into(),
            op_type: "Conv".into(),
            attribute: vec![AttributeProto {
                name: "strides".into(),
                i: 0,
                ints: vec![2, 2],
            }],
            domain: String::new(),
        }
    }

    fn model(nodes: Vec<NodeProto>, raw: Vec<u8>) -> Vec<u8> {
        ModelProto {
            ir_version: 6,
            graph: Some(GraphProto {
                node: nodes,
                initializer: vec![TensorProto {
                    dims: vec![2, 1, 1, 1],
                    data_type: DATA_TYPE_FLOAT,
                    float_data: vec![],
                    name: "w".into(),
                    raw_data: raw,
                    data_location: 0,
                }],
                input: vec![ValueInfoProto { name: "x".into() }],
                output: vec![],
            }),
            opset_import: vec![],
        }
        .encode_to_vec()
    }

    #[test]
    fn a_conv_is_read_by_its_module_path() {
        let raw: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let g = parse(&model(vec![conv_node("/a/a.0/conv/Conv", "w")], raw)).unwrap();
        let c = &g.convs["a.0"];
        assert_eq!(c.kernel, vec![1.5, -2.0]);
        assert_eq!(c.kernel_shape, [2, 1, 1, 1]);
        assert_eq!(c.bias, vec![0.0, 0.0]);
        assert_eq!((c.stride, c.padding, c.groups), (2, 0, 1));
        assert_eq!(g.input, "x");
    }

    #[test]
    fn errors_name_the_node() {
        let raw: Vec<u8> = [1.5f32].iter().flat_map(|v| v.to_le_bytes()).collect();
        let e = parse(&model(vec![conv_node("/a/conv/Conv", "w")], raw.clone())).unwrap_err();
        assert!(e.to_string().contains("/a/conv/Conv"), "{e}");
        assert!(e.to_string().contains("raw bytes"), "{e}");
        let mut odd = conv_node("/a/Gru", "w");
        odd.op_type = "GRU".into();
        let e = parse(&model(vec![odd], raw.clone())).unwrap_err();
        assert_eq!(
            e,
            OnnxError::Node {
                node: "/a/Gru".into(),
                message: "operator `GRU` is not part of a YOLOX graph".into()
            }
        );
        let e = parse(&model(vec![conv_node("Conv_3", "w")], raw)).unwrap_err();
        assert!(e.to_string().contains("module path"), "{e}");
        assert!(parse(b"\xff\xff\xff").is_err());
    }
}
