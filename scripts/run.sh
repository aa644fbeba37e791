#!/usr/bin/env bash
# Sets up, builds and runs the host with the three inputs on their sample configs, the
# file sink under ./data and the built-in viewer at http://localhost:9529/ui/
# (configs/run-with-viewer.conf; no Node needed). Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export ENV_DEFAULT_ENABLED_INPUTS="${ENV_DEFAULT_ENABLED_INPUTS:-profile,pyroscope,pinpoint}"
exec build/bin/tributary --config configs/run-with-viewer.conf --data-dir "${TRIB_DATA_DIR:-data}" "$@"
