#!/usr/bin/env bash
# packaging.build: scripts/package.sh on the existing build tree (nothing is rebuilt when
# it is up to date) into <deb dir>; both packages must come out.
#   build_packages.sh <deb dir> <source dir> <build dir>
source "$(dirname "$0")/common.sh"
src=$1 build=$2
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
[[ $prefix == /usr ]] || fail "$build is configured with CMAKE_INSTALL_PREFIX=$prefix; the packages need /usr" \
  "(scripts/setup.sh configures it so; or run scripts/package.sh outside ctest, which reconfigures)"
rm -rf "$DEB_DIR"
"$src/scripts/package.sh" --build-dir "$build" --out "$DEB_DIR"
for pkg in tributary tributary-dev; do
  deb=$(deb_of "$pkg")
  dpkg-deb --info "$deb" >/dev/null || fail "$deb is not a valid package"
  echo "built $deb ($(stat -c %s "$deb") bytes)"
done
