#!/usr/bin/env bash
# Sets up everything the tests need (Debian packages, npm agents), builds, and runs every
# test. This is the test command README.md gives and .ci/run runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
cd build
ctest --output-on-failure --timeout 600 -j2 "$@"
