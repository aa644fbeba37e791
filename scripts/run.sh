#!/usr/bin/env bash
# Sets up, builds and runs the host with the three inputs on their sample configs and the
# embedded default sink (the file sink under ./data). Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export ENV_DEFAULT_ENABLED_INPUTS="${ENV_DEFAULT_ENABLED_INPUTS:-profile,pyroscope,pinpoint}"
exec build/bin/tributary --data-dir "${TRIB_DATA_DIR:-data}" "$@"
