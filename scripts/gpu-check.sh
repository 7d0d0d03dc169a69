#!/usr/bin/env bash
# The GPU check: run once on a machine with an NVIDIA GPU and driver (580 or newer for CUDA 13).
#
#   scripts/gpu-check.sh [OUT_DIR]        (default out/gpu-check)
#
# 1. builds lookout with `--features cuda` for this GPU's compute capability (nvcc from the
#    system CUDA toolkit if there is one, else from PyPI via scripts/setup-cuda.sh; the CUDA 13
#    math libraries from PyPI unless the system has them; never the link-time stand-ins);
# 2. runs the GPU parity tests (tests/cuda_parity.rs, including the ignored ones) and the CPU
#    emulation of the kernels; with the YOLOX ONNX file (LOOKOUT_YOLOX_ONNX, default
#    ../shared/models/yolox_nano.onnx beside the checkout) also tests/yolox_cuda_parity.rs;
# 3. runs the GPU benchmark (`lookout bench-stages`): YOLOv4-tiny at 416, a 1920x1080 bgr8
#    frame, batch 1 and 8, f32 and f16, per-stage times with the device synchronised and
#    end-to-end times without; YOLOX (f32, 416) the same when the ONNX file is there;
# 4. writes everything to OUT_DIR (gpu.txt, tests.txt, bench-*.txt/json) for BENCHMARKS.md.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${LOOKOUT_CACHE:-$HOME/.cache/lookout}
out=$(realpath -m "${1:-$here/out/gpu-check}")
mkdir -p "$out"
py=${PYTHON:-python3}

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-check: no NVIDIA GPU or driver here (nvidia-smi -L fails); nothing to check" >&2
  exit 1
fi
nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv | tee "$out/gpu.txt"
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')
libcuda=$(ldconfig -p | awk '/libcuda\.so\.1 /{print $NF; exit}')
[ -n "$libcuda" ] || { echo "gpu-check: the driver's libcuda.so.1 is not in the linker cache" >&2; exit 1; }

# nvcc: the system's, else PyPI's (setup-cuda.sh also makes stand-ins, which we do not use).
if ! command -v nvcc >/dev/null; then
  "$here/scripts/setup-cuda.sh" >/dev/null
  export CUDA_HOME="$cache/cuda" CUDA_PATH="$cache/cuda" PATH="$cache/cuda/bin:$PATH"
fi
export CUDA_COMPUTE_CAP="$cap"
export LOOKOUT_CUDA_ARCHS="${LOOKOUT_CUDA_ARCHS:-80,90,$cap}"

# Real libraries for linking and running: the driver's libcuda plus CUDA 13 math libraries.
runlib="$cache/cuda-run/lib"
mkdir -p "$runlib"
ln -sf "$libcuda" "$runlib/libcuda.so"
if ! ldconfig -p | grep -q 'libcublas\.so\.13 '; then
  venv="$cache/venv-cuda-run"
  if ! [ -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/scripts/python/requirements-cuda-run.txt"
  fi
  cu=$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13", "lib"))')
  for lib in "$cu"/lib*.so.*; do
    ln -sf "$lib" "$runlib/"
    base=$(basename "$lib"); ln -sf "$lib" "$runlib/${base%%.so.*}.so"
  done
fi
[ -e "$cache/cuda/lib64/libcudart.so.13" ] && ln -sf "$cache/cuda/lib64/libcudart.so.13" "$runlib/" && ln -sf libcudart.so.13 "$runlib/libcudart.so"
export LIBRARY_PATH="$runlib${LIBRARY_PATH:+:$LIBRARY_PATH}"
export LD_LIBRARY_PATH="$runlib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
case ":$LD_LIBRARY_PATH:" in *cuda-stubs*) echo "gpu-check: stand-ins on LD_LIBRARY_PATH; remove them" >&2; exit 1;; esac

"$here/scripts/fetch-assets.sh"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target-gpu}"
cd "$here"
cargo build --release --locked --features cuda --bin lookout
onnx=$(realpath -m "${LOOKOUT_YOLOX_ONNX:-$here/../shared/models/yolox_nano.onnx}")
{
  cargo test --release --locked --features cuda --test cuda_parity -- --include-ignored
  cargo test --release --locked --test cuda_kernels_emulated
  if [ -f "$onnx" ]; then
    LOOKOUT_YOLOX_ONNX="$onnx" cargo test --release --locked --features cuda \
      --test yolox_cuda_parity -- --include-ignored
  else
    echo "gpu-check: no YOLOX ONNX file at $onnx: YOLOX GPU parity NOT RUN (set LOOKOUT_YOLOX_ONNX)"
  fi
} 2>&1 | tee "$out/tests.txt"

lookout="$CARGO_TARGET_DIR/release/lookout"
for precision in f32 f16; do
  "$lookout" bench-stages --device cuda:0 --precision "$precision" --batch 1,8 \
    --frame 1920x1080 --json "$out/bench-$precision.json" | tee "$out/bench-$precision.txt"
done
if [ -f "$onnx" ]; then
  "$lookout" bench-stages --device cuda:0 --model yolox --onnx "$onnx" --batch 1,8 \
    --frame 1920x1080 --json "$out/bench-yolox-f32.json" | tee "$out/bench-yolox-f32.txt"
fi
"$lookout" bench-stages --device cpu --batch 1 --runs 20 --warmup 3 \
  --json "$out/bench-cpu.json" | tee "$out/bench-cpu.txt"
echo "gpu-check: all passed; results in $out" >&2
