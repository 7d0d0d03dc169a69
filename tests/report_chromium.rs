//! The evaluation report as a person sees it: `lookout eval --report` on a replay of real
//! PETS09-S2L1 frames, rendered by headless Chromium (an independent HTML/SVG/JPEG engine).
//!
//! Checked, with ground truth (the replay's own MOTChallenge output) and without:
//! - the report is self-contained (no script, stylesheet link or URL other than `data:`),
//!   and Chromium runs with background networking off and every host name unresolvable;
//! - in Chromium's DOM (`--dump-dom`) every plot section is there: the precision-recall curve
//!   (with ground truth), one latency histogram per timed stage, the boxes-per-frame plot, the
//!   strip of sample frames; each SVG has its marks (a polyline of many points, bars) and
//!   each sample image decoded to the frame size;
//! - in the screenshot (`--screenshot`) each plot and image region is drawn: not blank, with
//!   pixel variance, at the place Chromium laid it out (found by a copy of the report with a
//!   measuring script appended; the report itself has no script);
//! - without ground truth, the Scores section says none was given and how to pass it, and
//!   the plots that need none are drawn;
//! - with ground objects (the demo's PETS09 calibration overlay), the bird's-eye plot of the
//!   ground tracks is drawn.
//!
//! Needs the asset cache, the oracle venv and Chromium (`scripts/setup.sh`). The screenshot
//! is kept when `LOOKOUT_KEEP_SCREENSHOT=DIR` is set, to look at it.

mod mcap_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use mcap_common::{asset, lookout, ok, replay_for_report};
use serde_json::Value;

const FRAMES: u64 = 6;
const WIDTH_PX: u32 = 1400;

/// `$LOOKOUT_CHROMIUM`, else `chromium` (Debian) or `chromium-browser` / `google-chrome` on
/// `PATH`; fails naming the setup script.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("LOOKOUT_CHROMIUM") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "headless Chromium not found (chromium on PATH or $LOOKOUT_CHROMIUM): run scripts/setup.sh, \
         which installs Debian's chromium package"
    );
}

/// Runs Chromium headless on `page` with no network: background services off and every host
/// name mapped to nothing, so a stray URL fails instead of fetching.
fn chromium_run(page: &Path, profile: &Path, extra: &[String]) -> std::process::Output {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-domain-reliability",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--disable-client-side-phishing-detection",
            "--metrics-recording-only",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", chromium().display()));
    assert!(
        out.status.success(),
        "chromium failed on {}: {}",
        page.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every URL the report could fetch (`src`, `href`, CSS `url(`, `@import`) is a `data:` URI,
/// and there is no script or stylesheet link.
fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    for banned in [
        "<script", "<link", "<iframe", "<object", "<embed", "@import",
    ] {
        assert!(!lower.contains(banned), "the report contains {banned}");
    }
    for attr in ["src=", "href=", "url("] {
        for (at, _) in lower.match_indices(attr) {
            let value = lower[at + attr.len()..].trim_start_matches(['"', '\'', ' ']);
            assert!(
                value.starts_with("data:") || value.starts_with('#'),
                "the report refers to something outside itself: {}",
                &html[at..(at + 80).min(html.len())]
            );
        }
    }
}

/// Appended to a copy of the report: measures what Chromium laid out and decoded, into a
/// `<pre id="layout">` that `--dump-dom` shows.
const MEASURE: &str = r#"<script>
window.addEventListener('load', () => {
  const box = (e) => { const r = e.getBoundingClientRect();
    return {x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height}; };
  const sections = {};
  for (const s of document.querySelectorAll('section[id]')) {
    sections[s.id] = {
      plots: [...s.querySelectorAll('.plot svg')].map(svg => ({box: box(svg),
        elements: svg.querySelectorAll('*').length,
        rects: svg.querySelectorAll('rect').length,
        polyline_points: Math.max(0, ...[...svg.querySelectorAll('polyline')]
          .map(p => p.points.numberOfItems)),
        texts: svg.querySelectorAll('text').length})),
      images: [...s.querySelectorAll('img')].map(img => ({box: box(img), complete: img.complete,
        natural_w: img.naturalWidth, natural_h: img.naturalHeight})),
      missing: [...s.querySelectorAll('.missing')].map(m => m.textContent),
    };
  }
  const pre = document.createElement('pre');
  pre.id = 'layout';
  pre.textContent = JSON.stringify({page_h: document.documentElement.scrollHeight, sections});
  document.body.appendChild(pre);
});
</script>"#;

struct Rendered {
    /// `--dump-dom` of the report itself.
    dom: String,
    layout: Value,
    shot: image::RgbImage,
}

/// Renders `report` (self-contained HTML) in Chromium: its DOM, the measured layout and a
/// screenshot of the whole page.
fn render(report: &Path, work: &Path, name: &str) -> Rendered {
    let html = std::fs::read_to_string(report).unwrap();
    assert_self_contained(&html);
    let profile = work.join(format!("chromium-profile-{name}"));
    let size = |h: u64| format!("--window-size={WIDTH_PX},{h}");
    let dom = chromium_run(report, &profile, &["--dump-dom".into(), size(1000)]);
    let dom = String::from_utf8(dom.stdout).unwrap();

    let measured = work.join(format!("{name}-measured.html"));
    std::fs::write(
        &measured,
        html.replace("</body>", &format!("{MEASURE}</body>")),
    )
    .unwrap();
    let out = chromium_run(&measured, &profile, &["--dump-dom".into(), size(1000)]);
    let text = String::from_utf8(out.stdout).unwrap();
    let start = text
        .find("<pre id=\"layout\">")
        .expect("the measuring script ran")
        + "<pre id=\"layout\">".len();
    let end = start + text[start..].find("</pre>").unwrap();
    let json = text[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let layout: Value = serde_json::from_str(&json).unwrap();

    // The whole page in one screenshot (the window is as tall as the page; layout depends on
    // the width only, so the measured boxes hold).
    let page_h = layout["page_h"].as_u64().unwrap();
    assert!(page_h > 500 && page_h < 16000, "page height {page_h}");
    let shot_path = work.join(format!("{name}.png"));
    chromium_run(
        report,
        &profile,
        &[
            format!("--screenshot={}", shot_path.display()),
            size(page_h),
        ],
    );
    if let Some(keep) = std::env::var_os("LOOKOUT_KEEP_SCREENSHOT") {
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(&shot_path, Path::new(&keep).join(format!("{name}.png"))).unwrap();
    }
    let shot = image::open(&shot_path)
        .unwrap_or_else(|e| panic!("{}: {e}", shot_path.display()))
        .to_rgb8();
    assert_eq!(shot.width(), WIDTH_PX);
    Rendered { dom, layout, shot }
}

/// Luma standard deviation, the share of non-white pixels and the share of saturated pixels
/// (the data marks: axes, grid and text are grey) of a screenshot region.
fn region_stats(shot: &image::RgbImage, b: &Value) -> (f64, f64, f64) {
    let f = |k: &str| b[k].as_f64().unwrap();
    let (x0, y0) = (f("x").max(0.0) as u32, f("y").max(0.0) as u32);
    let x1 = ((f("x") + f("w")) as u32).min(shot.width());
    let y1 = ((f("y") + f("h")) as u32).min(shot.height());
    assert!(
        x1 > x0 + 50 && y1 > y0 + 50,
        "region too small or off the page: {b}"
    );
    let (mut n, mut sum, mut sum2, mut ink, mut colour) = (0f64, 0f64, 0f64, 0f64, 0f64);
    for y in y0..y1 {
        for x in x0..x1 {
            let p = shot.get_pixel(x, y).0;
            let l = 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]);
            n += 1.0;
            sum += l;
            sum2 += l * l;
            if p.iter().any(|&c| c < 235) {
                ink += 1.0;
            }
            let (lo, hi) = (p.iter().min().unwrap(), p.iter().max().unwrap());
            if hi - lo > 80 {
                colour += 1.0;
            }
        }
    }
    let mean = sum / n;
    (
        (sum2 / n - mean * mean).max(0.0).sqrt(),
        ink / n,
        colour / n,
    )
}

/// The plots of one section: as many as expected, each with marks in the DOM and drawn in the
/// screenshot.
fn check_plots(r: &Rendered, section: &str, expected: usize, what: &str) {
    let s = &r.layout["sections"][section];
    assert!(
        s.is_object(),
        "section {section} is missing from the report"
    );
    let plots = s["plots"].as_array().unwrap();
    assert_eq!(
        plots.len(),
        expected,
        "{section}: {} plots, expected {expected} ({what}); said missing: {}",
        plots.len(),
        s["missing"]
    );
    for p in plots {
        assert!(
            p["elements"].as_u64().unwrap() > 20,
            "{section}: a near-empty SVG: {p}"
        );
        assert!(
            p["texts"].as_u64().unwrap() >= 3,
            "{section}: no axis labels: {p}"
        );
        let (std, ink, colour) = region_stats(&r.shot, &p["box"]);
        eprintln!(
            "{section}: plot at {} luma std {std:.1}, ink {ink:.3}, colour {colour:.4}",
            p["box"]
        );
        assert!(
            std > 8.0 && ink > 0.01,
            "{section}: the plot at {} looks blank in the screenshot (luma std {std:.1}, non-white {ink:.3})",
            p["box"]
        );
        assert!(
            colour > 0.002,
            "{section}: the plot at {} shows axes but no data in the screenshot (saturated share {colour:.4})",
            p["box"]
        );
    }
}

fn check_samples(r: &Rendered) {
    let s = &r.layout["sections"]["samples"];
    let images = s["images"].as_array().expect("samples section");
    assert_eq!(images.len() as u64, FRAMES, "sample frames: {s}");
    for img in images {
        assert_eq!(img["complete"], true, "{img}");
        assert_eq!(
            (img["natural_w"].as_u64(), img["natural_h"].as_u64()),
            (Some(768), Some(576)),
            "a sample frame did not decode in Chromium: {img}"
        );
        let (std, _, _) = region_stats(&r.shot, &img["box"]);
        assert!(
            std > 15.0,
            "a sample frame looks flat in the screenshot: {img} (std {std:.1})"
        );
    }
}

/// A replay of the first frames of PETS09-S2L1 with its summary, rendered frames and its own
/// MOTChallenge output as ground truth: `(dir, out.mcap)`.
fn replay() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = replay_for_report(d, FRAMES);
    (dir, out)
}

fn timed_stages(dir: &Path) -> usize {
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    summary["stage_samples_ms"].as_object().unwrap().len()
}

fn eval(dir: &Path, out: &Path, gt: bool, report: &str) -> PathBuf {
    let mut cmd = lookout();
    cmd.arg("eval")
        .arg("--replay")
        .arg(out)
        .arg("--summary-json")
        .arg(dir.join("summary.json"))
        .arg("--frames")
        .arg(dir.join("frames"))
        .arg("--report")
        .arg(dir.join(report));
    if gt {
        cmd.arg("--gt").arg(dir.join("gt.txt"));
    }
    let stdout = ok(&mut cmd);
    assert!(stdout.contains("report: "), "{stdout}");
    dir.join(report).join("report.html")
}

#[test]
fn report_with_ground_truth_renders_every_plot_in_chromium() {
    chromium(); // fail fast, naming the setup script
    let (dir, out) = replay();
    let d = dir.path();
    let report = eval(d, &out, true, "report");
    let r = render(&report, d, "with-gt");
    // Chromium parsed the inline SVG as SVG (not as text).
    assert!(r.dom.matches("<svg").count() >= 3, "no SVG in the DOM");
    assert!(!r.dom.contains("Not shown"), "something is missing");
    check_plots(&r, "pr-curve", 1, "precision-recall");
    assert!(
        r.layout["sections"]["pr-curve"]["plots"][0]["polyline_points"]
            .as_u64()
            .unwrap()
            >= 2,
        "the precision-recall curve has no line"
    );
    let stages = timed_stages(d);
    assert!(stages >= 5, "{stages} stages timed");
    check_plots(&r, "latency", stages, "one histogram per stage");
    for p in r.layout["sections"]["latency"]["plots"].as_array().unwrap() {
        // The background, the plot area and at least one bar.
        assert!(
            p["rects"].as_u64().unwrap() >= 3,
            "a histogram without bars: {p}"
        );
    }
    check_plots(&r, "per-frame", 1, "boxes per frame");
    assert!(
        r.layout["sections"]["per-frame"]["plots"][0]["polyline_points"]
            .as_u64()
            .unwrap()
            >= FRAMES,
        "a per-frame line has fewer points than frames"
    );
    check_samples(&r);
}

#[test]
fn report_without_ground_truth_says_so_and_draws_the_rest() {
    chromium();
    let (dir, out) = replay();
    let d = dir.path();
    let report = eval(d, &out, false, "report-no-gt");
    let r = render(&report, d, "without-gt");
    let scores = &r.layout["sections"]["scores"]["missing"];
    let said = scores.to_string();
    assert!(
        said.contains("no ground truth was given") && said.contains("--gt"),
        "Scores does not say that ground truth is missing and how to pass it: {said}"
    );
    let pr = r.layout["sections"]["pr-curve"]["missing"].to_string();
    assert!(pr.contains("no ground truth"), "{pr}");
    check_plots(&r, "pr-curve", 0, "no curve without ground truth");
    check_plots(&r, "latency", timed_stages(d), "one histogram per stage");
    check_plots(&r, "per-frame", 1, "boxes per frame");
    check_samples(&r);
    assert!(r.dom.contains("id=\"counts\""), "no counts section");
}

#[test]
fn report_with_ground_objects_draws_the_birds_eye_plot() {
    chromium();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 8 s of frames (tracks long enough to show as lines), recorded here: the shared recording
    // of the other tests holds fewer.
    let rec = d.join("pets-8s.mcap");
    ok(lookout()
        .arg("record")
        .arg(asset("data/vtest.avi"))
        .args(["--fps", "7", "--max-frames", "56", "--out"])
        .arg(&rec));
    let out = d.join("ground.mcap");
    let overlay = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/pets09-view001.param.yaml");
    ok(lookout()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("replay")
        .arg(&rec)
        .arg("--out")
        .arg(&out)
        .arg("--no-progress")
        .arg("--overlay")
        .arg(&overlay));
    let report = d.join("report-ground");
    ok(lookout()
        .args(["eval", "--replay"])
        .arg(&out)
        .arg("--report")
        .arg(&report));
    let r = render(&report.join("report.html"), d, "ground");
    check_plots(&r, "birds-eye", 1, "the ground tracks from above");
    assert!(
        r.layout["sections"]["birds-eye"]["plots"][0]["polyline_points"]
            .as_u64()
            .unwrap()
            >= 3,
        "no track drawn (a track's line has a point per frame; grid lines have 2)"
    );
}

#[test]
fn a_report_that_fetches_something_is_caught() {
    // The self-containment check is not vacuous.
    let caught = std::panic::catch_unwind(|| {
        assert_self_contained("<html><body><img src=\"https://example.com/a.png\"></body></html>")
    });
    assert!(caught.is_err());
    let caught = std::panic::catch_unwind(|| {
        assert_self_contained("<style>body{background:url(http://x/y.png)}</style>")
    });
    assert!(caught.is_err());
    assert_self_contained("<img src=\"data:image/png;base64,AAAA\"><a href=\"#x\">x</a>");
}
