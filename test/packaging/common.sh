# Sourced by the packaging tests. Usage: <test>.sh <deb dir> [more args]
set -euo pipefail

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# The one .deb of package $1 in $DEB_DIR.
deb_of() {
  local found=("$DEB_DIR/$1"_*.deb)
  [[ ${#found[@]} -eq 1 && -f ${found[0]} ]] || fail "expected one $1_*.deb in $DEB_DIR, found: ${found[*]}"
  echo "${found[0]}"
}

# A fresh temp dir removed when the test exits; the packages unpacked into $1/root
# (dpkg-deb -x, as dpkg would lay them out, without installing anything).
unpack_into() {
  local dir=$1 pkg
  mkdir -p "$dir/root"
  for pkg in tributary tributary-dev; do
    dpkg-deb -x "$(deb_of "$pkg")" "$dir/root"
  done
}

[[ $# -ge 1 ]] || fail "usage: $0 <deb dir> ..."
DEB_DIR=$1
shift
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/trib-pkg-test.XXXXXX")
trap 'rm -rf "$TEST_TMP"' EXIT
