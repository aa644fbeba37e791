#!/usr/bin/env bash
# Formats the tracked C/C++ sources with the tree's .clang-format, or with --check lists the
# files that differ and exits 1 (the `style.clang_format` test runs that).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=(-i)
[[ ${1:-} == --check ]] && mode=(--dry-run --Werror)
fmt=$(command -v clang-format || true)
[[ -n $fmt ]] || { echo "clang-format is not installed (apt-get install clang-format)" >&2; exit 2; }
git ls-files -z -- '*.c' '*.cc' '*.cpp' '*.h' '*.hpp' | xargs -0 -r "$fmt" "${mode[@]}"
