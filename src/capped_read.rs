//! Reading a whole text file with a size cap, so that a path such as `/dev/zero`, a FIFO or a
//! mistyped multi-gigabyte file fails fast with a clear error instead of growing memory until
//! the process is killed. Input: a path and a limit in bytes; output: the text, or an
//! `io::Error` (the caller's error names the file).

use std::io::Read;
use std::path::Path;

/// The most bytes a configuration file (`--config`) may have: 1 MiB. The shipped parameter file
/// is about 8 KiB; a thousand times that is still a plausible hand-written file.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The most bytes a MOTChallenge text file (`gt.txt`, `det.txt`, `seqinfo.ini`) may have: 1 GiB,
/// some 20 million lines, far beyond any benchmark sequence (MOT17's largest `det.txt` is a few
/// MiB).
pub const MAX_MOT_TEXT_BYTES: u64 = 1 << 30;

/// Reads `path` as UTF-8 text of at most `max_bytes` bytes. A longer file (or an endless one)
/// is an `InvalidData` error after reading `max_bytes + 1` bytes, never more.
pub fn read_to_string_capped(path: &Path, max_bytes: u64) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_string(&mut text)?;
    if text.len() as u64 > max_bytes {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than the limit of {max_bytes} bytes for this kind of file"),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_file_fails_fast() {
        let e = read_to_string_capped(Path::new("/dev/zero"), 1024).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}");
        assert!(e.to_string().contains("1024"), "{e}");
    }

    #[test]
    fn small_file_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "abc").unwrap();
        assert_eq!(read_to_string_capped(&path, 3).unwrap(), "abc");
        assert!(read_to_string_capped(&path, 2).is_err());
    }
}
