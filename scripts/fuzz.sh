#!/usr/bin/env bash
# Runs every libFuzzer binary (build-fuzz/bin/*fuzz_*) for N minutes each, with its corpus
# kept in the tree at test/fuzz/<area>/corpus/<target>/.
#
#   scripts/fuzz.sh --minutes N [--jobs J] [--only TARGET] [--ci] [--build-dir DIR]
#
# N may be a fraction (0.25 = 15 s). A person's run adds what the fuzzer finds to the
# corpus in the tree (commit what is worth keeping); with --ci the corpus is copied to a
# temporary directory first and the tree is left alone. Crashes are written to
# build-fuzz/fuzz-artifacts/<target>/ and make the script fail. The fuzz build dir is
# configured and built only when it has no fuzz binaries yet (as scripts/setup.sh --test).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

minutes=1 jobs=1 only="" ci=0 build_dir=build-fuzz
while (($#)); do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --ci) ci=1; shift ;;
    --build-dir) build_dir=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
seconds=$(awk -v m="$minutes" 'BEGIN { s = int(m * 60 + 0.5); if (s < 1) s = 1; print s }')

if ! compgen -G "$build_dir/bin/*fuzz_*" >/dev/null; then
  echo "fuzz.sh: no fuzzers in $build_dir/bin; building them"
  [[ -f $build_dir/build.ninja ]] || CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRIB_BUILD_FUZZ=ON -DTRIB_BUILD_BENCH=OFF
  cmake --build "$build_dir" --target fuzz_all -j"$(nproc)"
fi

# test/fuzz/<area>/corpus/<target>: where it already is, else <area> from the name
# (fuzz_<area>_* or <area>_fuzz_*).
corpus_of() {
  local t=$1 found area
  found=$(find test/fuzz -mindepth 3 -maxdepth 3 -type d -path "*/corpus/$t" | head -1)
  if [[ -n $found ]]; then echo "$found"; return; fi
  if [[ $t == fuzz_* ]]; then area=${t#fuzz_}; area=${area%%_*}; else area=${t%%_fuzz_*}; fi
  [[ -d test/fuzz/$area ]] || area=misc
  echo "test/fuzz/$area/corpus/$t"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run_one() {
  local bin=$1 t corpus work artifacts
  t=$(basename "$bin")
  corpus=$(corpus_of "$t")
  artifacts="$root/$build_dir/fuzz-artifacts/$t"
  mkdir -p "$artifacts"
  if ((ci)); then
    work="$tmp/$t"
    mkdir -p "$work"
    if [[ -d $corpus ]]; then cp -r "$corpus/." "$work/"; fi
  else
    mkdir -p "$corpus"
    work=$corpus
  fi
  # -timeout: one input taking 10 s is a finding (a hang), as is 1 GiB of RSS.
  if "$bin" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
       -artifact_prefix="$artifacts/" "$work" >"$tmp/$t.log" 2>&1; then
    echo "fuzz.sh: $t: ok ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$tmp/$t.log" | grep -o '[0-9]*$' || echo '?') runs, corpus $corpus)"
  else
    echo "fuzz.sh: $t: FAILED — last lines of its log (artifacts in $artifacts):" >&2
    tail -40 "$tmp/$t.log" >&2
    return 1
  fi
}

bins=()
for bin in "$build_dir"/bin/*fuzz_*; do
  [[ -x $bin && -f $bin ]] || continue
  [[ -z $only || $(basename "$bin") == "$only" ]] || continue
  bins+=("$bin")
done
((${#bins[@]})) || { echo "fuzz.sh: no fuzz target matched" >&2; exit 1; }
echo "fuzz.sh: ${#bins[@]} target(s), ${seconds}s each, $jobs at a time$( ((ci)) && echo ', corpus read-only')"

failed=0 running=0
declare -A pids=()
for bin in "${bins[@]}"; do
  run_one "$bin" & pids[$!]=$bin
  running=$((running + 1))
  if ((running >= jobs)); then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while ((running > 0)); do
  wait -n || failed=1
  running=$((running - 1))
done
exit $failed
