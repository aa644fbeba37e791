#!/usr/bin/env bash
# Tributary benchmarks. Usage: bench/run.sh [--quick] [--build-dir DIR] [--only LIST] [...]
# (every option: bench/run.sh --help). Builds the benchmark tools into the build dir when
# they are missing, then runs bench/run.py: prints a markdown table, writes
# bench/results/latest.json and latest.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
build="$repo/build"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --build-dir) build="${args[$((i + 1))]}" ;;
    --build-dir=*) build="${args[$i]#--build-dir=}" ;;
  esac
done
command -v nginx >/dev/null || { echo "bench: nginx is missing (apt-get install nginx)" >&2; exit 1; }
if [[ ! -x "$build/bench/bin/trib_bench_http" || ! -x "$build/bin/tributary" ]]; then
  if [[ ! -f "$build/build.ninja" && ! -f "$build/Makefile" ]]; then
    cmake -S "$repo" -B "$build" -G Ninja >/dev/null
  fi
  # Only what the benchmarks run: the host, its modules and the bench tools.
  targets=(bench_tools)
  for t in tributary profile pyroscope pyroscope_sink pinpoint viewer nats_sink; do
    if cmake --build "$build" --target help 2>/dev/null | grep -q "^$t:"; then targets+=("$t"); fi
  done
  cmake --build "$build" -j2 --target "${targets[@]}"
fi
exec python3 "$here/run.py" --build-dir "$build" "$@"
