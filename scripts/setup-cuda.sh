#!/usr/bin/env bash
# Sets up what `cargo build --features cuda` needs on a machine WITHOUT an NVIDIA GPU or CUDA
# install (CI, laptops), from PyPI only, cached under $LOOKOUT_CACHE (default ~/.cache/lookout):
#
#   venv-cuda/      nvcc + CUDA 13.0 headers and runtime (scripts/python/requirements-cuda.txt)
#   cuda/           a CUDA_HOME-style tree over the wheels (bin, include, nvvm, lib64)
#   cuda-stubs/lib/ link-time stand-ins for the driver and math libraries candle links
#                   (libcuda.so.1, libnvrtc.so.13, libcublas.so.13, libcublasLt.so.13,
#                   libcurand.so.10): every call returns an error (the driver's
#                   CUDA_ERROR_STUB_LIBRARY), so a stand-in build run without a GPU fails
#                   with a clear error instead of a loader crash.
#
# Prints the environment to build with as `export` lines (also written to cuda/env.sh):
#   source <(scripts/setup-cuda.sh)      or     scripts/setup-cuda.sh && . ~/.cache/lookout/cuda/env.sh
#
# NEVER put cuda-stubs/lib on the library path of a machine with a real NVIDIA driver: use the
# driver's libcuda.so.1 and real CUDA 13 libraries there (scripts/gpu-check.sh does).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${LOOKOUT_CACHE:-$HOME/.cache/lookout}
py=${PYTHON:-python3}
req="$here/scripts/python/requirements-cuda.txt"
venv="$cache/venv-cuda"
home="$cache/cuda"
stubs="$cache/cuda-stubs"

stamp="$venv/.lookout-requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if ! [ -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup-cuda: nvcc from PyPI into $venv" >&2
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi
cu=$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')
[ -x "$cu/bin/nvcc" ] || { echo "setup-cuda: no nvcc in $cu/bin (wrong wheels?)" >&2; exit 1; }

# nvcc finds cicc relative to its own path: bin, nvvm and include side by side.
mkdir -p "$home/lib64"
for d in bin include nvvm; do ln -sfn "$cu/$d" "$home/$d"; done
for f in "$cu"/lib/libcudart.so* "$cu"/lib/libcudart_static.a "$cu"/lib/libcudadevrt.a; do
  [ -e "$f" ] && ln -sf "$f" "$home/lib64/"
done
[ -e "$home/lib64/libcudart.so" ] || ln -sf libcudart.so.13 "$home/lib64/libcudart.so"

# Link-time stand-ins, generated from the symbol lists of the cudarc candle links against.
cudarc=$(cd "$here" && cargo metadata --format-version 1 --locked --features cuda 2>/dev/null |
  "$py" -c 'import json,sys,os; m=json.load(sys.stdin); print(next(os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"]=="cudarc"))')
stub_key=$(cat "$here/scripts/python/cuda_stubs.py" "$cudarc/Cargo.toml" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stubs/.key" 2>/dev/null)" != "$stub_key" ]; then
  echo "setup-cuda: link-time stand-ins from $cudarc" >&2
  rm -rf "$stubs"
  mkdir -p "$stubs/src" "$stubs/lib"
  "$py" "$here/scripts/python/cuda_stubs.py" "$cudarc" "$stubs/src"
  for spec in cuda:libcuda.so.1 nvrtc:libnvrtc.so.13 curand:libcurand.so.10 \
              cublas:libcublas.so.13 cublasLt:libcublasLt.so.13; do
    name=${spec%%:*} soname=${spec#*:}
    cc -shared -fPIC -O1 -Wl,-soname,"$soname" -o "$stubs/lib/$soname" "$stubs/src/$name.c"
    ln -sf "$soname" "$stubs/lib/lib$name.so"
  done
  echo "$stub_key" > "$stubs/.key"
fi

cat > "$home/env.sh" <<ENV
export CUDA_HOME=$home
export CUDA_PATH=$home
export PATH=$home/bin:\$PATH
export CUDA_COMPUTE_CAP=\${CUDA_COMPUTE_CAP:-80}
export LOOKOUT_CUDA_STUBS=$stubs/lib
# The linker (cc) searches LIBRARY_PATH; RUSTFLAGS is left alone so that switching between the
# CPU and CUDA builds does not rebuild every crate.
export LIBRARY_PATH=$stubs/lib\${LIBRARY_PATH:+:\$LIBRARY_PATH}
ENV
echo "setup-cuda ok: nvcc $("$home/bin/nvcc" --version | grep -o 'release [0-9.]*')" >&2
cat "$home/env.sh"
