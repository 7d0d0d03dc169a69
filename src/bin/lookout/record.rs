//! `lookout record`: a video file or a folder of images -> a ROS 2 MCAP recording
//! ([`lookout::record`]).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use lookout::image_codec::RawEncoding;
use lookout::record::{RecordFormat, RecordOptions, StampSource};

#[derive(Args)]
pub struct RecordArgs {
    /// A video file (decoded with ffmpeg) or a folder of .jpg/.png images (sorted by name).
    input: PathBuf,
    /// Output MCAP.
    #[arg(long, short = 'o')]
    out: PathBuf,
    /// Frame rate for header stamps (frame i at start + i/fps); for image folders, omit to use file times.
    #[arg(long, value_parser = crate::cli_values::fps)]
    fps: Option<f64>,
    /// Stamp of the first frame, nanoseconds since the epoch.
    #[arg(long, default_value_t = 0)]
    start_ns: u64,
    /// Write raw `sensor_msgs/msg/Image` in this encoding instead of JPEG `CompressedImage`.
    #[arg(long, value_enum)]
    raw: Option<RawEncoding>,
    /// JPEG quality 1-100 when re-encoding.
    #[arg(long, default_value_t = 90)]
    quality: u8,
    /// Topic name (default `/camera/image_raw/compressed`, or `/camera/image_raw` with --raw).
    #[arg(long)]
    topic: Option<String>,
    /// `frame_id` in the headers.
    #[arg(long, default_value = "camera_optical_frame")]
    frame_id: String,
    /// Stop after this many frames.
    #[arg(long)]
    max_frames: Option<u64>,
}

pub fn run(args: RecordArgs) -> anyhow::Result<ExitCode> {
    let format = match args.raw {
        None => RecordFormat::Jpeg {
            quality: args.quality,
        },
        Some(encoding) => RecordFormat::Raw(encoding),
    };
    crate::refuse_inputs(&[Some(&args.out)], &[Some(&args.input)])?;
    let start_ns = i64::try_from(args.start_ns).context("--start-ns is too large")?;
    let stamps = match args.fps {
        Some(fps) => StampSource::FrameRate { fps, start_ns },
        None if args.input.is_dir() => StampSource::FileTimes,
        None => anyhow::bail!("--fps is required for a video (it sets the header stamps)"),
    };
    crate::create_parent_dir(&args.out)?;
    let options = RecordOptions {
        input: args.input,
        output: args.out,
        format,
        topic: args.topic,
        frame_id: args.frame_id,
        stamps,
        max_frames: args.max_frames,
        ffmpeg: None,
    };
    let summary = lookout::record::record(&options)?;
    outln!(
        "recorded {} frames ({}x{}) on {} -> {}",
        summary.frames,
        summary.width,
        summary.height,
        summary.topic,
        summary.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
