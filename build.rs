//! Build script: with the `cuda` feature, compiles lookout's own CUDA kernels
//! (`src/cuda/kernels.cu`) with `nvcc` into one fatbin embedded in the library; without it,
//! does nothing.
//!
//! * Architectures: `LOOKOUT_CUDA_ARCHS` (comma-separated compute capabilities, default
//!   `80,90`: Ampere and Hopper). The fatbin holds a cubin for each, plus PTX of the newest so
//!   that later GPUs can JIT-compile it.
//! * nvcc: `$CUDA_HOME/bin/nvcc`, else `nvcc` on `PATH` (scripts/setup-cuda.sh provides one from
//!   PyPI on machines without a CUDA install).
//! * The constants the kernels share with the host (parameter-row layout, encoding ids,
//!   candidate row, NMS capacity, BT.601 coefficients) are owned by the Rust side
//!   (`src/cuda/abi.rs`, `src/image_codec/bt601.rs`, included here as they are) and passed to
//!   nvcc as `-DNAME=value`; `kernels.cu` has no copy of them.
//! * Every cubin and the fatbin are checked to be non-empty; their sizes and the architectures
//!   are passed to the crate (`LOOKOUT_CUDA_ARCHS`, `LOOKOUT_CUDA_FATBIN`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "src/cuda/abi.rs"]
#[allow(dead_code)] // the crate reads the named constants; this script only the define list
mod abi;
#[path = "src/image_codec/bt601.rs"]
#[allow(dead_code)]
mod bt601;

const KERNELS: &str = "src/cuda/kernels.cu";
/// The Rust files the kernel defines come from.
const DEFINE_SOURCES: [&str; 2] = ["src/cuda/abi.rs", "src/image_codec/bt601.rs"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    println!("cargo:rerun-if-changed={KERNELS}");
    for source in DEFINE_SOURCES {
        println!("cargo:rerun-if-changed={source}");
    }
    for var in ["LOOKOUT_CUDA_ARCHS", "CUDA_HOME", "CUDA_PATH", "NVCC_CCBIN"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    if let Err(message) = build_kernels() {
        // A build script reports failure by exiting non-zero; the message is what cargo shows.
        eprintln!("error: building lookout's CUDA kernels: {message}");
        std::process::exit(1);
    }
}

fn build_kernels() -> Result<(), String> {
    let out_dir = PathBuf::from(env::var("OUT_DIR").map_err(|e| format!("OUT_DIR: {e}"))?);
    let archs = parse_archs(&env::var("LOOKOUT_CUDA_ARCHS").unwrap_or_else(|_| "80,90".into()))?;
    let nvcc = find_nvcc();
    let mut common: Vec<String> = [
        "-std=c++17",
        "-O3",
        // The kernels mirror CPU code operation by operation: no contracted multiply-adds.
        "-fmad=false",
        "--expt-relaxed-constexpr",
    ]
    .map(String::from)
    .to_vec();
    common.extend(
        abi::KERNEL_DEFINES
            .iter()
            .chain(bt601::KERNEL_DEFINES)
            // Parenthesised, so that a negative value stays one operand wherever it expands.
            .map(|(name, value)| format!("-D{name}=({value})")),
    );

    // Each architecture on its own first: a missing or empty cubin is caught by name.
    for arch in &archs {
        let cubin = out_dir.join(format!("lookout_kernels.sm_{arch}.cubin"));
        let mut cmd = Command::new(&nvcc);
        cmd.args(&common)
            .arg("-cubin")
            .arg(format!("-arch=sm_{arch}"))
            .arg("-o")
            .arg(&cubin)
            .arg(KERNELS);
        run(cmd, &nvcc)?;
        non_empty(&cubin)?;
    }

    let fatbin = out_dir.join("lookout_kernels.fatbin");
    let mut cmd = Command::new(&nvcc);
    cmd.args(&common).arg("-fatbin");
    for arch in &archs {
        cmd.arg(format!("-gencode=arch=compute_{arch},code=sm_{arch}"));
    }
    if let Some(newest) = archs.iter().max() {
        cmd.arg(format!(
            "-gencode=arch=compute_{newest},code=compute_{newest}"
        ));
    }
    cmd.arg("-o").arg(&fatbin).arg(KERNELS);
    run(cmd, &nvcc)?;
    let bytes = non_empty(&fatbin)?;
    let joined: Vec<String> = archs.iter().map(u32::to_string).collect();
    println!("cargo:rustc-env=LOOKOUT_CUDA_ARCHS={}", joined.join(","));
    println!("cargo:rustc-env=LOOKOUT_CUDA_FATBIN_BYTES={bytes}");
    Ok(())
}

fn parse_archs(text: &str) -> Result<Vec<u32>, String> {
    let mut archs = Vec::new();
    for part in text.split([',', ';', ' ']).filter(|p| !p.is_empty()) {
        let arch: u32 = part.trim_start_matches("sm_").parse().map_err(|_| {
            format!("LOOKOUT_CUDA_ARCHS: `{part}` is not a compute capability like 80 or 90")
        })?;
        if !(50..=130).contains(&arch) {
            return Err(format!(
                "LOOKOUT_CUDA_ARCHS: {arch} is not a known compute capability"
            ));
        }
        archs.push(arch);
    }
    if archs.is_empty() {
        return Err("LOOKOUT_CUDA_ARCHS names no architecture".into());
    }
    archs.sort_unstable();
    archs.dedup();
    Ok(archs)
}

fn find_nvcc() -> PathBuf {
    for var in ["CUDA_HOME", "CUDA_PATH"] {
        if let Some(home) = env::var_os(var) {
            let nvcc = Path::new(&home).join("bin").join("nvcc");
            if nvcc.is_file() {
                return nvcc;
            }
        }
    }
    PathBuf::from("nvcc")
}

fn run(mut cmd: Command, nvcc: &Path) -> Result<(), String> {
    let output = cmd.output().map_err(|e| {
        format!(
            "cannot run {} ({e}); on a machine without a CUDA toolkit run scripts/setup-cuda.sh \
             and source the environment it prints",
            nvcc.display()
        )
    })?;
    if !output.status.success() {
        return Err(format!(
            "{:?} failed ({}):\n{}{}",
            cmd,
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}

fn non_empty(path: &Path) -> Result<u64, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if len == 0 {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(len)
}
