//! Class labels: the model's label list (COCO's `coco.names`, one name per line) and the
//! configurable mapping from model labels to the output labels a planner consumes
//! (`person` -> `pedestrian`, ...), which doubles as the class filter.

use std::path::Path;

use super::DetectError;

/// The default mapping, `model label=output label`, to the driving classes.
/// `motorbike` (darknet's coco.names) and `motorcycle` (COCO's own name) are aliases.
pub const DEFAULT_CLASS_MAP: &[&str] = &[
    "person=pedestrian",
    "bicycle=bicycle",
    "car=car",
    "motorbike=motorcycle",
    "bus=bus",
    "truck=truck",
    "traffic light=traffic_light",
    "stop sign=stop_sign",
];

/// Names that mean the same class in different COCO label files.
const ALIASES: &[(&str, &str)] = &[("motorbike", "motorcycle")];

/// Which model classes are reported and under which output label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassMap {
    /// The model's labels, by class index.
    names: Vec<String>,
    /// The output label per class index; `None` = filtered out.
    output: Vec<Option<String>>,
}

/// Parses a darknet `.names` file's text: one label per line, blank lines ignored.
pub fn parse_names(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Reads a darknet `.names` file (see [`parse_names`]); a file without a name is an error.
pub fn read_names(path: &Path) -> Result<Vec<String>, DetectError> {
    let text = std::fs::read_to_string(path).map_err(|source| DetectError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let names = parse_names(&text);
    if names.is_empty() {
        return Err(DetectError::ClassNames {
            path: path.to_path_buf(),
            line: 0,
            message: "no class names".into(),
        });
    }
    Ok(names)
}

impl ClassMap {
    /// `mapping` entries are `model label=output label`; every model label must exist in
    /// `names` (up to the motorbike/motorcycle alias). Unmapped classes are dropped unless
    /// `keep_unmapped`, which reports them under their model label.
    pub fn new(
        names: Vec<String>,
        mapping: &[String],
        keep_unmapped: bool,
    ) -> Result<Self, String> {
        if names.is_empty() {
            return Err("no class names".into());
        }
        let mut output: Vec<Option<String>> = if keep_unmapped {
            names.iter().cloned().map(Some).collect()
        } else {
            vec![None; names.len()]
        };
        for entry in mapping {
            let (from, to) = parse_mapping_entry(entry)?;
            let index = names
                .iter()
                .position(|n| n == from)
                .or_else(|| {
                    ALIASES.iter().find_map(|&(a, b)| {
                        let other = if from == a {
                            b
                        } else if from == b {
                            a
                        } else {
                            return None;
                        };
                        names.iter().position(|n| n == other)
                    })
                })
                .ok_or_else(|| format!("class map entry {entry:?}: no class named {from:?}"))?;
            output[index] = Some(to.to_string());
        }
        Ok(Self { names, output })
    }

    /// The model's label list.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The output label of a class, `None` when the class is filtered out (or out of range).
    pub fn label(&self, class_index: usize) -> Option<&str> {
        self.output.get(class_index).and_then(|o| o.as_deref())
    }
}

/// Splits `model label=output label`, both non-empty after trimming.
pub fn parse_mapping_entry(entry: &str) -> Result<(&str, &str), String> {
    let (from, to) = entry
        .split_once('=')
        .ok_or_else(|| format!("class map entry {entry:?} is not `model label=output label`"))?;
    let (from, to) = (from.trim(), to.trim());
    if from.is_empty() || to.is_empty() {
        return Err(format!("class map entry {entry:?} has an empty side"));
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coco_like() -> Vec<String> {
        parse_names("person\nbicycle\ncar\nmotorbike\n\naeroplane\nbus\ntraffic light\n")
    }

    fn defaults() -> Vec<String> {
        DEFAULT_CLASS_MAP.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn default_map_filters_and_renames() {
        let mut names = coco_like();
        names.extend(["truck".into(), "stop sign".into()]);
        let m = ClassMap::new(names, &defaults(), false).unwrap();
        assert_eq!(m.label(0), Some("pedestrian"));
        assert_eq!(m.label(3), Some("motorcycle"));
        assert_eq!(m.label(4), None); // aeroplane filtered
        assert_eq!(m.label(6), Some("traffic_light"));
        assert_eq!(m.label(99), None);
    }

    #[test]
    fn keep_unmapped_reports_own_names_and_alias_works_both_ways() {
        let mut names = coco_like();
        names[3] = "motorcycle".into();
        let m = ClassMap::new(
            names,
            &["person=pedestrian".into(), "motorbike=moto".into()],
            true,
        )
        .unwrap();
        assert_eq!(m.label(0), Some("pedestrian"));
        assert_eq!(m.label(3), Some("moto"));
        assert_eq!(m.label(4), Some("aeroplane"));
    }

    #[test]
    fn bad_entries_are_errors() {
        let err = ClassMap::new(coco_like(), &["persn=pedestrian".into()], false).unwrap_err();
        assert!(err.contains("persn"), "{err}");
        assert!(ClassMap::new(coco_like(), &["person".into()], false).is_err());
        assert!(ClassMap::new(coco_like(), &["person= ".into()], false).is_err());
        assert!(ClassMap::new(vec![], &[], true).is_err());
    }
}
