//! MOTChallenge input and output through `run_mot`: malformed lines are errors naming the file
//! and line, sequence folders are found with their `seqinfo.ini`, results have the
//! MOTChallenge layout and frames are stamped `(frame - 1) / fps`.

use std::path::Path;

use lookout::mot::{run_mot, MotError, MotRunOptions, ScoreNormalization};
use lookout::track::TrackerConfig;

fn options(input: &Path, output: &Path) -> MotRunOptions {
    MotRunOptions {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        fps: Some(10.0),
        tracker: TrackerConfig::default(),
        score_normalization: ScoreNormalization::Auto,
    }
}

fn run_text(text: &str) -> Result<String, MotError> {
    let dir = tempfile::tempdir().unwrap();
    let det = dir.path().join("det.txt");
    std::fs::write(&det, text).unwrap();
    let out = dir.path().join("res.txt");
    run_mot(&options(&det, &out))?;
    Ok(std::fs::read_to_string(out).unwrap())
}

fn assert_parse_error(text: &str, want_line: usize, want_in_message: &str) {
    let err = run_text(text).unwrap_err();
    match &err {
        MotError::Parse {
            path,
            line,
            message,
        } => {
            assert!(path.ends_with("det.txt"), "{err}");
            assert_eq!(*line, want_line, "{err}");
            assert!(message.contains(want_in_message), "{err}");
        }
        other => panic!("expected a parse error, got {other}"),
    }
    let shown = err.to_string();
    assert!(shown.contains(&format!("det.txt:{want_line}:")), "{shown}");
}

const GOOD: &str = "1,-1,10,20,30,60,0.9,-1,-1,-1\n";

#[test]
fn malformed_lines_name_file_and_line() {
    assert_parse_error(&format!("{GOOD}2,-1,10,20,30,60\n"), 2, "6 columns");
    assert_parse_error(
        &format!("{GOOD}{GOOD}2,-1,1,2,3,4,0.5,1,1,1,1\n"),
        3,
        "11 columns",
    );
    assert_parse_error(
        &format!("{GOOD}2,-1,NaN,20,30,60,0.9,-1,-1,-1\n"),
        2,
        "x is NaN",
    );
    assert_parse_error(
        &format!("{GOOD}2,-1,10,20,30,inf,0.9\n"),
        2,
        "height is inf",
    );
    assert_parse_error(
        &format!("{GOOD}2,-1,10,20,-30,60,0.9\n"),
        2,
        "must be positive",
    );
    assert_parse_error(
        &format!("{GOOD}2,-1,10,20,30,0,0.9\n"),
        2,
        "must be positive",
    );
    assert_parse_error(
        &format!("{GOOD}2,-1,10,abc,30,60,0.9\n"),
        2,
        "y \"abc\" is not a number",
    );
    assert_parse_error(&format!("{GOOD}0,-1,10,20,30,60,0.9\n"), 2, "frame 0");
    assert_parse_error(&format!("{GOOD}1.5,-1,10,20,30,60,0.9\n"), 2, "frame 1.5");
}

#[test]
fn scores_outside_unit_interval_need_a_normalisation() {
    let text = "1,-1,10,20,30,60,-3,-1,-1,-1\n1,-1,100,20,30,60,25,-1,-1,-1\n";
    let dir = tempfile::tempdir().unwrap();
    let det = dir.path().join("det.txt");
    std::fs::write(&det, text).unwrap();
    let mut opts = options(&det, &dir.path().join("r.txt"));
    opts.score_normalization = ScoreNormalization::None;
    let err = run_mot(&opts).unwrap_err();
    assert!(
        matches!(
            err,
            MotError::ScoreRange {
                min: -3.0,
                max: 25.0,
                ..
            }
        ),
        "{err}"
    );
    opts.score_normalization = ScoreNormalization::Auto;
    let s = run_mot(&opts).unwrap();
    assert_eq!(s.score_normalization, ScoreNormalization::MinMax);
    assert_eq!((s.score_min, s.score_max), (-3.0, 25.0));
}

#[test]
fn sequence_folder_with_seqinfo_and_result_format() {
    // One box walking right 10 px per frame at 5 frames/s, frames 1..=6, then nothing until
    // seqLength 8: the tracker reports it from the second frame on (min_hits 2).
    let dir = tempfile::tempdir().unwrap();
    let seq = dir.path().join("SEQ");
    std::fs::create_dir_all(seq.join("det")).unwrap();
    std::fs::write(
        seq.join("seqinfo.ini"),
        "[Sequence]\nname=SEQ\nframeRate=5\nseqLength=8\nimWidth=640\nimHeight=480\n",
    )
    .unwrap();
    let det: String = (1..=6)
        .map(|f| format!("{f},-1,{},100,40,80,0.95,-1,-1,-1\n", 100 + 10 * f))
        .collect();
    std::fs::write(seq.join("det").join("det.txt"), det).unwrap();
    let out = dir.path().join("out/SEQ.txt");
    let mut opts = options(&seq, &out);
    opts.fps = None;
    let s = run_mot(&opts).unwrap();
    assert_eq!(
        (s.fps, s.frames, s.detections, s.result_rows, s.tracks),
        (5.0, 8, 6, 5, 1)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5);
    for (k, line) in lines.iter().enumerate() {
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols.len(), 10, "{line}");
        assert_eq!(cols[0], (k + 2).to_string());
        assert_eq!(cols[1], "1");
        assert_eq!(&cols[7..], ["-1", "-1", "-1"]);
        let x: f64 = cols[2].parse().unwrap();
        assert!(
            (x - (100.0 + 10.0 * (k as f64 + 2.0))).abs() < 3.0,
            "{line}"
        );
        let w: f64 = cols[4].parse().unwrap();
        assert!((w - 40.0).abs() < 1.0, "{line}");
    }
    // A det.txt inside det/ finds ../seqinfo.ini on its own.
    let mut opts = options(&seq.join("det").join("det.txt"), &out);
    opts.fps = None;
    assert_eq!(run_mot(&opts).unwrap().fps, 5.0);
}

#[test]
fn missing_frame_rate_and_missing_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let det = dir.path().join("det.txt");
    std::fs::write(&det, GOOD).unwrap();
    let mut opts = options(&det, &dir.path().join("r.txt"));
    opts.fps = None;
    assert!(matches!(
        run_mot(&opts),
        Err(MotError::MissingFrameRate { .. })
    ));
    opts.fps = Some(0.0);
    assert!(matches!(
        run_mot(&opts),
        Err(MotError::InvalidFrameRate { .. })
    ));
    let opts = options(&dir.path().join("nope.txt"), &dir.path().join("r.txt"));
    let err = run_mot(&opts).unwrap_err();
    assert!(err.to_string().contains("nope.txt"), "{err}");
    let empty_seq = dir.path().join("empty");
    std::fs::create_dir_all(&empty_seq).unwrap();
    let opts = options(&empty_seq, &dir.path().join("r.txt"));
    assert!(matches!(run_mot(&opts), Err(MotError::NoDetections { .. })));
}
