//! Value parsers for numeric flags (clap `value_parser = ...`): each flag is checked where it is
//! parsed, with a message naming the accepted range, so that no NaN, zero or huge value reaches
//! the library (a `--frame 100000x100000` allocated 30 GB, `--fps 1e300` stamped every frame 0).

use lookout::detect::INPUT_SIZE_PX_MAX;
/// Highest `--fps` of `record` and `track` (at 1e300 every stamp rounds to the first).
use lookout::mot::FPS_MAX;

/// Largest side of a `--frame WIDTHxHEIGHT` camera frame: 8K video is 7680 px wide.
pub const FRAME_SIDE_PX_MAX: u32 = 8192;

/// Most runs of a benchmark loop (`--runs`, `--warmup`): minutes at the slowest model.
pub const RUNS_MAX: usize = 100_000;

fn number<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))
}

/// A log time in seconds since the epoch (`1700000000.25`), exact to the nanosecond (no float
/// rounding: the digits are read as they are), returned in nanoseconds.
pub fn log_time_ns(s: &str) -> Result<u64, String> {
    let bad =
        || format!("`{s}` is not a time in seconds (digits, optionally `.` and up to 9 decimals)");
    let (whole, frac) = match s.trim().split_once('.') {
        Some((whole, frac)) => (whole, Some(frac)),
        None => (s.trim(), None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !frac.is_none_or(digits) || frac.is_some_and(|f| f.len() > 9) {
        return Err(bad());
    }
    let sec: u64 = whole.parse().map_err(|_| bad())?;
    let nanos: u64 = match frac {
        None => 0,
        Some(frac) => format!("{frac:0<9}").parse().map_err(|_| bad())?,
    };
    sec.checked_mul(1_000_000_000)
        .and_then(|ns| ns.checked_add(nanos))
        .ok_or_else(|| format!("`{s}` is past the largest log time (2^64 ns)"))
}

/// An IoU threshold: finite, in (0, 1] (0 would match disjoint boxes).
pub fn iou(s: &str) -> Result<f64, String> {
    let v: f64 = number(s)?;
    if v.is_finite() && v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err("must be a finite IoU in (0, 1]".into())
    }
}

/// A frame rate: finite, in (0, [`FPS_MAX`]].
pub fn fps(s: &str) -> Result<f64, String> {
    let v: f64 = number(s)?;
    if lookout::mot::valid_fps(v) {
        Ok(v)
    } else {
        Err(format!(
            "must be a finite frame rate in (0, {FPS_MAX}] frames/s"
        ))
    }
}

/// A network input size: a multiple of 32 in [32, [`INPUT_SIZE_PX_MAX`]].
pub fn input_size_px(s: &str) -> Result<u32, String> {
    let v: u32 = number(s)?;
    if v > 0 && v % 32 == 0 && v <= INPUT_SIZE_PX_MAX {
        Ok(v)
    } else {
        Err(format!(
            "{v} is not a multiple of 32 in [32, {INPUT_SIZE_PX_MAX}] (the network's memory \
             grows with the square of the input side)"
        ))
    }
}

/// A count of benchmark runs in [1, [`RUNS_MAX`]] (a benchmark of no run measures nothing).
pub fn runs(s: &str) -> Result<usize, String> {
    count(s, 1, RUNS_MAX)
}

/// A count of warm-up runs in [0, [`RUNS_MAX`]].
pub fn warmup(s: &str) -> Result<usize, String> {
    count(s, 0, RUNS_MAX)
}

/// Threads of a pool: [1, 1024].
pub fn threads(s: &str) -> Result<usize, String> {
    count(s, 1, 1024)
}

/// A batch size of `bench-stages`: [1, 64] copies of the camera frame (64 8K frames are 12 GB).
pub fn batch(s: &str) -> Result<usize, String> {
    count(s, 1, 64)
}

/// Frames in an `eval` report's strip: [0, 100].
pub fn sample_frames(s: &str) -> Result<usize, String> {
    count(s, 0, 100)
}

/// A frame count that must be at least 1 (`bench --frames`).
pub fn frames(s: &str) -> Result<u64, String> {
    let v: u64 = number(s)?;
    if v >= 1 {
        Ok(v)
    } else {
        Err("must be at least 1".into())
    }
}

fn count(s: &str, min: usize, max: usize) -> Result<usize, String> {
    let v: usize = number(s)?;
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is outside [{min}, {max}]"))
    }
}

/// A camera frame size `WIDTHxHEIGHT`, each side in [1, [`FRAME_SIDE_PX_MAX`]].
pub fn frame_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .ok_or_else(|| format!("`{s}` is not WIDTHxHEIGHT, e.g. 1920x1080"))?;
    let side = 1..=FRAME_SIDE_PX_MAX;
    if side.contains(&w) && side.contains(&h) {
        Ok((w, h))
    } else {
        Err(format!(
            "{w}x{h}: each side must be in [1, {FRAME_SIDE_PX_MAX}] px"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_times_are_exact_nanoseconds() {
        assert_eq!(log_time_ns("0"), Ok(0));
        assert_eq!(log_time_ns("1700000000.25"), Ok(1_700_000_000_250_000_000));
        assert_eq!(log_time_ns("1.000000001"), Ok(1_000_000_001));
        for bad in [
            "",
            "-1",
            "1.",
            ".5",
            "1.0000000001",
            "1e9",
            "nan",
            "18446744074",
        ] {
            assert!(log_time_ns(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_are_enforced() {
        assert_eq!(iou("0.5"), Ok(0.5));
        assert_eq!(iou("1"), Ok(1.0));
        for bad in ["NaN", "2", "0", "-0.1", "inf", "x"] {
            assert!(iou(bad).is_err(), "{bad}");
        }
        assert_eq!(fps("25"), Ok(25.0));
        for bad in ["1e300", "0", "NaN", "-5", "inf"] {
            assert!(fps(bad).is_err(), "{bad}");
        }
        assert_eq!(input_size_px("416"), Ok(416));
        for bad in ["0", "400", "4096", "4294967264"] {
            assert!(input_size_px(bad).is_err(), "{bad}");
        }
        assert!(runs("0").is_err() && runs("1").is_ok() && warmup("0").is_ok());
        assert!(runs("18446744073709551615").is_err());
        assert!(batch("0").is_err() && batch("65").is_err() && batch("8").is_ok());
        assert!(frames("0").is_err() && frames("3").is_ok());
        assert_eq!(frame_size("1920x1080"), Ok((1920, 1080)));
        for bad in ["100000x100000", "0x10", "10x", "axb", "8193x10"] {
            assert!(frame_size(bad).is_err(), "{bad}");
        }
    }
}
