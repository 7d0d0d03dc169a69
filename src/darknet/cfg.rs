//! Darknet `.cfg` parser: text in, a [`NetConfig`] (input size plus a list of [`Layer`]s) out.
//!
//! Follows darknet's `parser.c` (AlexeyAB fork): sections `[name]` with `key=value` lines,
//! whitespace ignored, `#`/`;` comments. Only the keys that define inference are read; training
//! keys (`jitter`, `ignore_thresh`, ...) are ignored as darknet ignores keys it does not use.
//! Layer references (`[route] layers`, `[shortcut] from`) are resolved to absolute layer indices
//! here, with negative values relative to the layer being defined, as in darknet.
//!
//! The [`Layer`]s are also the network's layer definition: [`super::model::Darknet`] keeps each
//! one as parsed, with a convolution's folded weights beside it.
//!
//! Every error names the file and the line (and section) it comes from.

use std::path::Path;

use super::DarknetError;

/// A layer activation function, as darknet names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `linear`: identity.
    Linear,
    /// `leaky`: `x` for `x > 0`, else `0.1 x`.
    Leaky,
    /// `mish`: `x * tanh(softplus(x))`.
    Mish,
    /// `logistic`: sigmoid.
    Logistic,
    /// `relu`: `max(x, 0)`.
    Relu,
}

impl Activation {
    fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "linear" => Self::Linear,
            "leaky" => Self::Leaky,
            "mish" => Self::Mish,
            "logistic" => Self::Logistic,
            "relu" => Self::Relu,
            _ => return None,
        })
    }
}

/// One `[convolutional]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvSpec {
    pub batch_normalize: bool,
    pub filters: usize,
    /// Kernel side in pixels (square kernels only, as darknet).
    pub size: usize,
    pub stride: usize,
    /// Zero padding on each side in pixels: `size / 2` when `pad=1`, else the `padding` key.
    pub padding: usize,
    pub groups: usize,
    pub activation: Activation,
}

/// One `[yolo]` section: the detection head's anchors and classes.
#[derive(Debug, Clone, PartialEq)]
pub struct YoloSpec {
    /// Indices into `anchors` used by this head.
    pub mask: Vec<usize>,
    /// All anchors of the network as `(width, height)` in network-input pixels.
    pub anchors: Vec<(f32, f32)>,
    pub classes: usize,
    /// Number of anchors in `anchors` (darknet's `num`).
    pub num: usize,
    /// Grid-sensitivity factor (YOLOv4); 1.0 when absent.
    pub scale_x_y: f32,
}

impl YoloSpec {
    /// This head's anchors: `anchors` selected by `mask`, in mask order. A mask index with no
    /// anchor is skipped; the parser, and the network at load, reject such a cfg.
    pub fn head_anchors(&self) -> Vec<(f32, f32)> {
        self.mask
            .iter()
            .filter_map(|&m| self.anchors.get(m).copied())
            .collect()
    }
}

/// One layer of the network. Layer references are absolute indices of earlier layers.
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    Convolutional(ConvSpec),
    /// Darknet max-pool: total padding `padding` (default `size - 1`), `padding / 2` before,
    /// output side `(w + padding - size) / stride + 1`.
    MaxPool {
        size: usize,
        stride: usize,
        padding: usize,
    },
    /// Channel concatenation of earlier layers; with `groups > 1` each input contributes only
    /// its `group_id`-th slice of `channels / groups` channels.
    Route {
        layers: Vec<usize>,
        groups: usize,
        group_id: usize,
    },
    /// Nearest-neighbour upsampling by an integer factor.
    Upsample {
        stride: usize,
    },
    /// Element-wise sum with an earlier layer, then the activation.
    Shortcut {
        from: usize,
        activation: Activation,
    },
    Yolo(YoloSpec),
}

/// A parsed network: input geometry from `[net]` and the layers in order.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConfig {
    /// Input width and height in pixels as written in the cfg (the model accepts any multiple
    /// of 32 at run time).
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub layers: Vec<Layer>,
    /// 1-based line of each layer's section header, for error messages.
    pub layer_lines: Vec<usize>,
}

impl NetConfig {
    /// Reads and parses a `.cfg` file.
    pub fn from_file(path: &Path) -> Result<Self, DarknetError> {
        let text = std::fs::read_to_string(path).map_err(|source| DarknetError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses cfg text; `path` is only used to name the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, DarknetError> {
        // Each section is read for the keys inference needs; other keys (training parameters
        // such as `jitter` or `learning_rate`) are not checked, as darknet ignores them too.
        let sections = split_sections(text, path)?;
        let mut iter = sections.into_iter();
        let net = iter.next().ok_or_else(|| cfg_err(path, 0, "no sections"))?;
        if net.name != "net" && net.name != "network" {
            return Err(cfg_err(
                path,
                net.line,
                format!("first section must be [net], found [{}]", net.name),
            ));
        }
        let width = net.usize_or("width", 416)?;
        let height = net.usize_or("height", 416)?;
        let channels = net.usize_or("channels", 3)?;

        let mut layers = Vec::new();
        let mut layer_lines = Vec::new();
        for section in iter {
            let index = layers.len();
            let layer = match section.name.as_str() {
                "convolutional" | "conv" => {
                    let size = section.usize_or("size", 1)?;
                    let pad = section.usize_or("pad", 0)?;
                    let padding = if pad != 0 {
                        size / 2
                    } else {
                        section.usize_or("padding", 0)?
                    };
                    let spec = ConvSpec {
                        batch_normalize: section.usize_or("batch_normalize", 0)? != 0,
                        filters: section.usize_or("filters", 1)?,
                        size,
                        stride: section.usize_or("stride", 1)?,
                        padding,
                        groups: section.usize_or("groups", 1)?,
                        activation: section.activation("activation", Activation::Logistic)?,
                    };
                    if spec.filters == 0 || spec.size == 0 || spec.stride == 0 || spec.groups == 0 {
                        return Err(section.err("filters, size, stride and groups must be > 0"));
                    }
                    Layer::Convolutional(spec)
                }
                "maxpool" | "max" => {
                    let stride = section.usize_or("stride", 1)?;
                    let size = section.usize_or("size", stride)?;
                    if size == 0 || stride == 0 {
                        return Err(section.err("size and stride must be > 0"));
                    }
                    let padding = section.usize_or("padding", size - 1)?;
                    Layer::MaxPool {
                        size,
                        stride,
                        padding,
                    }
                }
                "route" => {
                    let raw = section.ints("layers")?;
                    if raw.is_empty() {
                        return Err(section.err("route needs at least one layer"));
                    }
                    let layers = raw
                        .iter()
                        .map(|&r| section.resolve(index, r))
                        .collect::<Result<Vec<_>, _>>()?;
                    let groups = section.usize_or("groups", 1)?;
                    let group_id = section.usize_or("group_id", 0)?;
                    if groups == 0 || group_id >= groups {
                        return Err(
                            section.err(format!("group_id {group_id} must be < groups {groups}"))
                        );
                    }
                    Layer::Route {
                        layers,
                        groups,
                        group_id,
                    }
                }
                "upsample" => {
                    let stride = section.usize_or("stride", 2)?;
                    if stride == 0 {
                        return Err(section.err("stride must be > 0"));
                    }
                    Layer::Upsample { stride }
                }
                "shortcut" => {
                    let raw = section.ints("from")?;
                    let &[from] = raw.as_slice() else {
                        return Err(section.err("shortcut needs exactly one `from` layer"));
                    };
                    Layer::Shortcut {
                        from: section.resolve(index, from)?,
                        activation: section.activation("activation", Activation::Linear)?,
                    }
                }
                "yolo" => {
                    let classes = section.usize_or("classes", 20)?;
                    let num = section.usize_or("num", 1)?;
                    let raw_anchors = section.floats("anchors")?;
                    if raw_anchors.len() != 2 * num {
                        return Err(section.err(format!(
                            "anchors has {} values, expected 2 * num = {}",
                            raw_anchors.len(),
                            2 * num
                        )));
                    }
                    let anchors: Vec<(f32, f32)> =
                        raw_anchors.chunks(2).map(|c| (c[0], c[1])).collect();
                    let mask = if section.has("mask") {
                        section
                            .ints("mask")?
                            .into_iter()
                            .map(|m| {
                                usize::try_from(m)
                                    .ok()
                                    .filter(|&m| m < num)
                                    .ok_or_else(|| section.err(format!("mask {m} not in 0..{num}")))
                            })
                            .collect::<Result<Vec<_>, _>>()?
                    } else {
                        (0..num).collect()
                    };
                    let scale_x_y = section.float_or("scale_x_y", 1.0)?;
                    if !(scale_x_y.is_finite() && scale_x_y >= 1.0) {
                        return Err(section.err(format!("scale_x_y {scale_x_y} must be >= 1")));
                    }
                    Layer::Yolo(YoloSpec {
                        mask,
                        anchors,
                        classes,
                        num,
                        scale_x_y,
                    })
                }
                other => {
                    return Err(cfg_err(
                        path,
                        section.line,
                        format!("unsupported section [{other}]"),
                    ))
                }
            };
            layers.push(layer);
            layer_lines.push(section.line);
        }
        if layers.is_empty() {
            return Err(cfg_err(path, 0, "no layers after [net]"));
        }
        Ok(Self {
            width,
            height,
            channels,
            layers,
            layer_lines,
        })
    }
}

impl NetConfig {
    /// Output channel count of every layer, checking that routes, shortcuts and grouped
    /// convolutions fit together. `path` names the cfg in errors.
    pub fn output_channels(&self, path: &Path) -> Result<Vec<usize>, DarknetError> {
        let mut out: Vec<usize> = Vec::with_capacity(self.layers.len());
        for (index, layer) in self.layers.iter().enumerate() {
            let line = self.layer_lines.get(index).copied().unwrap_or(0);
            let input = if index == 0 {
                self.channels
            } else {
                out[index - 1]
            };
            let err = |message: String| cfg_err(path, line, format!("layer {index}: {message}"));
            let c = match layer {
                Layer::Convolutional(conv) => {
                    if input % conv.groups != 0 || conv.filters % conv.groups != 0 {
                        return Err(err(format!(
                            "groups {} must divide input channels {input} and filters {}",
                            conv.groups, conv.filters
                        )));
                    }
                    conv.filters
                }
                Layer::MaxPool { .. } | Layer::Upsample { .. } | Layer::Yolo(_) => input,
                Layer::Route { layers, groups, .. } => {
                    let mut sum = 0;
                    for &l in layers {
                        if out[l] % groups != 0 {
                            return Err(err(format!(
                                "route input layer {l} has {} channels, not divisible by groups {groups}",
                                out[l]
                            )));
                        }
                        sum += out[l] / groups;
                    }
                    sum
                }
                Layer::Shortcut { from, .. } => {
                    if out[*from] != input {
                        return Err(err(format!(
                            "shortcut from layer {from} has {} channels, previous layer {input}",
                            out[*from]
                        )));
                    }
                    input
                }
            };
            out.push(c);
        }
        Ok(out)
    }
}

fn cfg_err(path: &Path, line: usize, message: impl Into<String>) -> DarknetError {
    DarknetError::Cfg {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// One `[section]` with its key/value lines.
struct Section<'a> {
    path: &'a Path,
    name: String,
    /// 1-based line of the `[name]` header.
    line: usize,
    /// `(key, value, line)`.
    entries: Vec<(String, String, usize)>,
}

fn split_sections<'a>(text: &str, path: &'a Path) -> Result<Vec<Section<'a>>, DarknetError> {
    let mut sections: Vec<Section<'a>> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        // darknet's strip() drops every whitespace character, not only the ends.
        let line: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.strip_suffix(']').ok_or_else(|| {
                cfg_err(path, line_no, format!("malformed section header {raw:?}"))
            })?;
            sections.push(Section {
                path,
                name: name.to_ascii_lowercase(),
                line: line_no,
                entries: Vec::new(),
            });
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(cfg_err(
                path,
                line_no,
                format!("expected key=value, found {raw:?}"),
            ));
        };
        let Some(section) = sections.last_mut() else {
            return Err(cfg_err(path, line_no, "key=value before any [section]"));
        };
        section
            .entries
            .push((key.to_string(), value.to_string(), line_no));
    }
    Ok(sections)
}

impl Section<'_> {
    fn err(&self, message: impl Into<String>) -> DarknetError {
        cfg_err(
            self.path,
            self.line,
            format!("[{}]: {}", self.name, message.into()),
        )
    }

    fn get(&self, key: &str) -> Option<(&str, usize)> {
        // darknet keeps the first occurrence of a key
        self.entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, l)| (v.as_str(), *l))
    }

    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn value_err(&self, key: &str, value: &str, line: usize, what: &str) -> DarknetError {
        cfg_err(
            self.path,
            line,
            format!("[{}] {key}={value}: {what}", self.name),
        )
    }

    fn usize_or(&self, key: &str, default: usize) -> Result<usize, DarknetError> {
        match self.get(key) {
            None => Ok(default),
            Some((v, line)) => v
                .parse::<usize>()
                .map_err(|_| self.value_err(key, v, line, "expected a non-negative integer")),
        }
    }

    fn float_or(&self, key: &str, default: f32) -> Result<f32, DarknetError> {
        match self.get(key) {
            None => Ok(default),
            Some((v, line)) => v
                .parse::<f32>()
                .map_err(|_| self.value_err(key, v, line, "expected a number")),
        }
    }

    fn ints(&self, key: &str) -> Result<Vec<i64>, DarknetError> {
        self.list(key, "expected integers separated by ,")
    }

    fn floats(&self, key: &str) -> Result<Vec<f32>, DarknetError> {
        self.list(key, "expected numbers separated by ,")
    }

    /// A comma-separated list (`mask = 3,4,5`); empty items are skipped as darknet does.
    fn list<T: std::str::FromStr>(
        &self,
        key: &str,
        expected: &str,
    ) -> Result<Vec<T>, DarknetError> {
        let (v, line) = self
            .get(key)
            .ok_or_else(|| self.err(format!("missing `{key}`")))?;
        v.split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<T>()
                    .map_err(|_| self.value_err(key, v, line, expected))
            })
            .collect()
    }

    fn activation(&self, key: &str, default: Activation) -> Result<Activation, DarknetError> {
        match self.get(key) {
            None => Ok(default),
            Some((v, line)) => Activation::parse(v).ok_or_else(|| {
                self.value_err(
                    key,
                    v,
                    line,
                    "unsupported activation (linear, leaky, mish, logistic, relu)",
                )
            }),
        }
    }

    /// Resolves a darknet layer reference from the layer at `index`: negative is relative,
    /// non-negative is absolute; either way it must name an earlier layer.
    fn resolve(&self, index: usize, reference: i64) -> Result<usize, DarknetError> {
        let abs = if reference < 0 {
            index as i64 + reference
        } else {
            reference
        };
        if abs < 0 || abs >= index as i64 {
            return Err(self.err(format!(
                "layer reference {reference} from layer {index} does not name an earlier layer"
            )));
        }
        Ok(abs as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<NetConfig, DarknetError> {
        NetConfig::parse(text, Path::new("test.cfg"))
    }

    #[test]
    fn parses_all_layer_kinds() {
        let cfg = parse(
            "[net]\nwidth=320\nheight = 256\n# comment\n\
             [convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n\
             [maxpool]\nsize=2\nstride=2\n\
             [route]\nlayers=-1\ngroups=2\ngroup_id=1\n\
             [convolutional]\nfilters=4\nsize=1\nactivation=mish\n\
             [shortcut]\nfrom=-2\nactivation=linear\n\
             [upsample]\nstride=2\n\
             [route]\nlayers = -1, 0\n\
             [yolo]\nmask = 1,2\nanchors = 1,2, 3,4, 5,6\nclasses=3\nnum=3\nscale_x_y=1.05\njitter=.3\n",
        )
        .unwrap();
        assert_eq!((cfg.width, cfg.height, cfg.channels), (320, 256, 3));
        assert_eq!(cfg.layers.len(), 8);
        assert_eq!(
            cfg.layers[0],
            Layer::Convolutional(ConvSpec {
                batch_normalize: true,
                filters: 8,
                size: 3,
                stride: 1,
                padding: 1,
                groups: 1,
                activation: Activation::Leaky
            })
        );
        assert_eq!(
            cfg.layers[1],
            Layer::MaxPool {
                size: 2,
                stride: 2,
                padding: 1
            }
        );
        assert_eq!(
            cfg.layers[2],
            Layer::Route {
                layers: vec![1],
                groups: 2,
                group_id: 1
            }
        );
        match &cfg.layers[3] {
            Layer::Convolutional(c) => {
                assert_eq!(c.activation, Activation::Mish);
                assert_eq!(c.padding, 0);
                assert!(!c.batch_normalize);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            cfg.layers[4],
            Layer::Shortcut {
                from: 2,
                activation: Activation::Linear
            }
        );
        assert_eq!(cfg.layers[5], Layer::Upsample { stride: 2 });
        assert_eq!(
            cfg.layers[6],
            Layer::Route {
                layers: vec![5, 0],
                groups: 1,
                group_id: 0
            }
        );
        match &cfg.layers[7] {
            Layer::Yolo(y) => {
                assert_eq!(y.mask, vec![1, 2]);
                assert_eq!(y.anchors, vec![(1.0, 2.0), (3.0, 4.0), (5.0, 6.0)]);
                assert_eq!(y.head_anchors(), vec![(3.0, 4.0), (5.0, 6.0)]);
                assert_eq!(y.classes, 3);
                assert!((y.scale_x_y - 1.05).abs() < 1e-6);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(cfg.layer_lines[0], 5);
    }

    fn expect_err(text: &str, needle: &str, line: usize) {
        let err = parse(text).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
        assert!(msg.contains("test.cfg"), "{msg:?} lacks the file name");
        assert!(
            msg.contains(&format!(":{line}:")),
            "{msg:?} lacks line {line}"
        );
    }

    #[test]
    fn errors_name_file_line_and_problem() {
        expect_err(
            "[net]\n[convolutional]\nfilters=x\n",
            "expected a non-negative integer",
            3,
        );
        expect_err(
            "[net]\n[dropout]\nprobability=.5\n",
            "unsupported section [dropout]",
            2,
        );
        expect_err(
            "[net]\n[convolutional]\nactivation=swish\n",
            "unsupported activation",
            3,
        );
        expect_err(
            "[net]\n[route]\nlayers=-1\n",
            "does not name an earlier layer",
            2,
        );
        expect_err(
            "[net]\n[maxpool]\n[route]\nlayers=0\ngroups=2\ngroup_id=2\n",
            "group_id 2 must be < groups 2",
            3,
        );
        expect_err(
            "[net]\n[maxpool]\n[yolo]\nanchors=1,2,3\nnum=2\n",
            "expected 2 * num",
            3,
        );
        expect_err(
            "[net]\n[maxpool]\n[yolo]\nnum=1\nanchors=1,1\nmask=1\n",
            "mask 1",
            3,
        );
        expect_err("width=3\n[net]\n", "before any [section]", 1);
        expect_err("[net]\n[maxpool\n", "malformed section header", 2);
        expect_err("[net]\n[maxpool]\nsize 2\n", "expected key=value", 3);
        expect_err("[convolutional]\n", "first section must be [net]", 1);
    }
}
