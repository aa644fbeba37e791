#!/usr/bin/env bash
# Sets up everything the tests need (Debian packages, npm agents), builds, and runs every
# test. This is the test command README.md gives and .ci/run runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
# Unit, golden and integration tests; then every fuzzer for a bounded time.
ctest --test-dir build --output-on-failure --timeout 600 -j2 "$@"
# Every fuzz_* binary for 20 s, two at a time, on a copy of its corpus (scripts/fuzz.sh).
scripts/fuzz.sh --minutes 0.33 --jobs 2 --ci
