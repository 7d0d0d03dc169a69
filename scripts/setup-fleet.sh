#!/usr/bin/env bash
# One-time (idempotent, cached) setup of the fleet driver's Python venv: Ray and tqdm pinned in
# scripts/python/requirements-fleet.txt, from PyPI, into $LOOKOUT_CACHE/venv-fleet.
# Also the iproute2 tools (`ip netns`, veth) the fleet tests need (tests/fleet/).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${LOOKOUT_CACHE:-$HOME/.cache/lookout}
py=${PYTHON:-python3}
command -v ip >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null
}
venv="$cache/venv-fleet" req="$here/scripts/python/requirements-fleet.txt"
stamp="$venv/.lookout-requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
echo "setup: python venv venv-fleet (requirements-fleet.txt)" >&2
rm -rf "$venv"
"$py" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
