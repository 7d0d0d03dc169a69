#!/usr/bin/env bash
# Install ROS 2 Jazzy from the PyPI `ros-jazzy-*` wheels and colcon, build lookout's interface
# packages (ros/*/: vision_msgs, autoware_perception_msgs, tf2_msgs) with them (colcon), and write
# an env file that r2r's build and lookout_node's runtime source.
#
#   scripts/setup-ros.sh                 # idempotent: steps already done are skipped
#   . "${LOOKOUT_CACHE:-$HOME/.cache/lookout}/ros-env.sh"
#   cargo build --features ros --bin lookout_node
#
# Layout under the cache ($LOOKOUT_CACHE or ~/.cache/lookout):
#   ros-venv/      the wheels (pins: scripts/python/requirements-ros.txt), Python for rclpy tests
#   ros-rmw/lib/   librmw_implementation.so -> the wheels' librmw_fastrtps_cpp.so   (quirk 1)
#   colcon-venv/   colcon + colcon-ros-cargo + cargo-ament-build (pins: scripts/python/requirements-colcon.txt)
#   ros-build/     colcon build base (the ros/*/ packages here; lookout too in scripts/test-ros.sh)
#   ros-install/   the merged colcon install space: the ros/*/ interface packages (C libraries,
#                  headers, Python modules, ament index), and lookout after scripts/test-ros.sh
#   ros-env.sh     exports for r2r's build and for running the node
#
# Quirks of the wheels and their fixes (shared/notes/ros2-from-pypi.md):
#   1. no librmw_implementation.so (rcl links Fast DDS directly): a prefix with a link to it;
#   2. the loader needs the venv's lib/ and site-packages/ros_*.libs: LD_LIBRARY_PATH;
#   3. the generated *_rosidl_generator_py.so need libpython symbols: LD_PRELOAD of libpython;
#   4. CMake export files name the wheel builder's /opt/python/cp311-cp311: rewritten here.
# Needs root for apt-get (cmake, libclang-dev for r2r's bindgen, g++).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cache=${LOOKOUT_CACHE:-$HOME/.cache/lookout}
venv="$cache/ros-venv"
rmw="$cache/ros-rmw"
build="$cache/ros-build"
install="$cache/ros-install"
envfile="$cache/ros-env.sh"
reqs="$here/scripts/python/requirements-ros.txt"
python=${PYTHON:-python3}
t0=$SECONDS
step() { echo "setup-ros: $* (${SECONDS}s)" >&2; }
mkdir -p "$cache"

# --- system packages -------------------------------------------------------------------------
missing=()
for pkg in cmake libclang-dev g++ make; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  step "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
fi

# --- the wheels --------------------------------------------------------------------------------
# The venv is keyed by the pin file and the Python it was made with; a change rebuilds it.
pinned_venv() { # VENV REQUIREMENTS: (re)create VENV unless its key matches; 0 when it did
  local key
  key=$(cat "$2" <("$python" -c 'import sys;print(sys.version)') | sha256sum | cut -c1-16)
  [[ "$(cat "$1/.lookout-key" 2>/dev/null)" != "$key" ]] || return 1
  step "creating $1"
  rm -rf "$1"
  "$python" -m venv "$1"
  "$1/bin/pip" install -q --disable-pip-version-check -r "$2"
  echo "$key" > "$1/.lookout-key"
}
if pinned_venv "$venv" "$reqs"; then
  rm -rf "$build" "$install" # built against the old wheels
fi
pyver=$("$venv/bin/python" -c 'import sys;print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
site="$venv/lib/python$pyver/site-packages"

# Quirk 4: point the wheels' CMake exports at this machine's Python headers and numpy.
py_include=$("$venv/bin/python" -c 'import sysconfig;print(sysconfig.get_paths()["include"])')
np_include=$("$venv/bin/python" -c 'import numpy;print(numpy.get_include())')
if grep -rlq "/opt/python/cp" "$venv/share" --include='*.cmake' 2>/dev/null; then
  step "rewriting /opt/python paths in the wheels' CMake exports"
  grep -rl "/opt/python/cp" "$venv/share" --include='*.cmake' | while read -r f; do
    sed -i -E \
      -e "s#/opt/python/cp[0-9]+-cp[0-9]+/include/python[0-9.]+#$py_include#g" \
      -e "s#/opt/python/cp[0-9]+-cp[0-9]+/lib/python[0-9.]+/site-packages/numpy/_core/include#$np_include#g" \
      "$f"
  done
fi

# Quirk 1: r2r links -lrmw_implementation; the wheels' rcl uses Fast DDS directly.
mkdir -p "$rmw/lib"
ln -sfn "$venv/lib/librmw_fastrtps_cpp.so" "$rmw/lib/librmw_implementation.so"

# Quirks 2 and 3: the loader path and libpython.
libdirs="$venv/lib"
for d in "$site"/ros_*.libs; do [[ -d "$d" ]] && libdirs="$libdirs:$d"; done
libpython_dir=$("$venv/bin/python" -c 'import sysconfig;print(sysconfig.get_config_var("LIBDIR"))')
libpython="$libpython_dir/$("$venv/bin/python" -c 'import sysconfig;print(sysconfig.get_config_var("INSTSONAME"))')"
[[ -f "$libpython" ]] || { echo "setup-ros: $libpython not found: lookout_node needs a shared libpython (quirk 3)" >&2; exit 1; }

# --- colcon -------------------------------------------------------------------------------------
# colcon (pinned, with colcon-ros-cargo and the cargo-ament-build wheel) in its own venv: ROS
# users build with it, and so do we, for the interface packages here and for the whole workspace in
# scripts/test-ros.sh.
colcon_venv="$cache/colcon-venv"
colcon_reqs="$here/scripts/python/requirements-colcon.txt"
pinned_venv "$colcon_venv" "$colcon_reqs" || true

# --- lookout's interface packages (ros/*/) ----------------------------------------------------
# Every package under ros/ (vision_msgs, autoware_perception_msgs, tf2_msgs: the messages the
# wheels lack), built by colcon into $install (a merged install space: the prefix ros-env.sh
# names), the same prefix and build base scripts/test-ros.sh's `colcon build` of the whole
# workspace uses, so that build finds them up to date and r2r sees one unchanged
# AMENT_PREFIX_PATH. The key covers every file of every package (and the venvs): a change to
# any of them rebuilds them all.
msgs_dirs=()
for d in "$here"/ros/*/; do [[ -f "$d/package.xml" ]] && msgs_dirs+=("${d%/}"); done
((${#msgs_dirs[@]})) || { echo "setup-ros: no interface packages under $here/ros" >&2; exit 1; }
msgs_key=$(
  cat "$venv/.lookout-key" "$colcon_venv/.lookout-key"
  for d in "${msgs_dirs[@]}"; do
    (cd "$d" && find . -type f \( -name CMakeLists.txt -o -name package.xml -o -name '*.msg' \) | LC_ALL=C sort |
      while read -r f; do echo "$(basename "$d")/$f"; cat "$f"; done)
  done | sha256sum | cut -c1-16
)
if [[ "$(cat "$install/.lookout-key" 2>/dev/null)" != "$msgs_key" ]]; then
  step "colcon build of ${msgs_dirs[*]#"$here/"} into $install"
  rm -rf "$build" "$install"
  mkdir -p "$build"
  (
    # colcon-ros-cargo writes .cargo/config.toml into the working directory: not the checkout.
    cd "$build"
    export PATH="$colcon_venv/bin:$venv/bin:$PATH" AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv" PYTHONPATH="$site"
    export LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    colcon --log-base "$build/log" build --merge-install --paths "${msgs_dirs[@]}" \
      --build-base "$build" --install-base "$install" --event-handlers console_direct- \
      --cmake-args -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
      -DPython3_EXECUTABLE="$venv/bin/python" -DPYTHON_EXECUTABLE="$venv/bin/python" >"$cache/ros-build.log" 2>&1
  ) || { tail -40 "$cache/ros-build.log" >&2; echo "setup-ros: interface packages build failed, log: $cache/ros-build.log" >&2; exit 1; }
  echo "$msgs_key" > "$install/.lookout-key"
fi
install_site=$(ls -d "$install"/lib/python*/site-packages 2>/dev/null | head -1)
install_site=${install_site:-$install/local/lib/python$pyver/dist-packages}

# --- env file ----------------------------------------------------------------------------------
cat > "$envfile.tmp" <<EOF
# Written by scripts/setup-ros.sh: ROS 2 Jazzy (PyPI wheels) + lookout's interface packages (ros/).
# Source it before building or running lookout_node and before the rclpy tests.
export ROS_DISTRO=jazzy
export ROS_VERSION=2
export ROS_PYTHON_VERSION=3
export LOOKOUT_ROS_PYTHON="$venv/bin/python"
export AMENT_PREFIX_PATH="$install:$venv"
export CMAKE_PREFIX_PATH="$install:$venv:$rmw"
# r2r generates bindings only for these packages (plus the ones it needs itself).
export IDL_PACKAGE_FILTER="std_msgs;sensor_msgs;geometry_msgs;diagnostic_msgs;vision_msgs;tf2_msgs;unique_identifier_msgs;autoware_perception_msgs;visualization_msgs;builtin_interfaces;rcl_interfaces;rosgraph_msgs"
export LIBRARY_PATH="$rmw/lib:$install/lib:$venv/lib\${LIBRARY_PATH:+:\$LIBRARY_PATH}"
export LD_LIBRARY_PATH="$install/lib:$libdirs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export PYTHONPATH="$install_site:$site\${PYTHONPATH:+:\$PYTHONPATH}"
export PATH="$venv/bin:\$PATH"
# Quirk 3: librcl dlopens *_rosidl_generator_py.so, which need libpython's symbols.
export LOOKOUT_LIBPYTHON="$libpython"
export RMW_IMPLEMENTATION=rmw_fastrtps_cpp
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
EOF
mv "$envfile.tmp" "$envfile"
step "done in $((SECONDS - t0))s; env file: $envfile"
