#!/usr/bin/env bash
# setup.sh: installs the Debian packages Tributary needs (when root; otherwise
# prints the apt-get command to run and stops), then configures and builds
# into build/ (or $BUILD_DIR).  Idempotent: quiet when there is nothing to do.
#
# Environment: BUILD_DIR (default build), BUILD_TYPE (default Release),
#              CMAKE_ARGS (extra configure arguments), CI=true (warnings are errors).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

mapfile -t wanted < <(grep -v -E '^\s*(#|$)' scripts/packages.txt)
missing=()
for p in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing packages; run as root:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

build=${BUILD_DIR:-build}
werror=OFF
[[ ${CI:-} == true ]] && werror=ON
log="$build/setup.log"
mkdir -p "$build"
if [[ ! -f $build/CMakeCache.txt ]]; then
  # shellcheck disable=SC2086
  if ! cmake -S . -B "$build" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" -DTRIB_WERROR=$werror \
       ${CMAKE_ARGS:-} >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup: configure failed (log: $log)" >&2
    exit 1
  fi
fi
if ! cmake --build "$build" -j "$(nproc)" >"$log" 2>&1; then
  grep -E 'error|Error' "$log" | head -40 >&2
  echo "setup: build failed (full log: $log)" >&2
  exit 1
fi
if grep -q -E 'Building C|Linking C' "$log"; then
  echo "setup: built $build/ ($(ls "$build/bin" 2>/dev/null | wc -l) programs in $build/bin)"
fi
