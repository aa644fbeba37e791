#!/usr/bin/env bash
# Builds the Debian packages from an existing build tree (no second build of the sources):
#   tributary_<version>-1_<arch>.deb   host, modules, helper libraries, config, systemd unit
#   tributary-dev_<version>-1_all.deb  the SDK: headers, fake host, CMake package, examples
#
#   scripts/package.sh [--build-dir DIR] [--out DIR]     (defaults: build, build/packages)
#
# The host compiles its installed paths in from CMAKE_INSTALL_PREFIX, so the build tree is
# (re)configured with prefix /usr first; then only the packaged targets are built (nothing
# to do after scripts/setup.sh). Components are staged with `cmake --install` (DESTDIR), the
# runtime Depends computed by dpkg-shlibdeps, and the .deb files made by dpkg-deb. Needs
# dpkg-dev (and lintian to check the result).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

build=build
out=
while (($#)); do
  case "$1" in
    --build-dir) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: scripts/package.sh [--build-dir DIR] [--out DIR]" >&2; exit 2 ;;
  esac
done
build=$(realpath "$build")
out=${out:-$build/packages}
mkdir -p "$out"
out=$(realpath "$out")
if [[ ! -f $build/CMakeCache.txt ]]; then
  echo "package.sh: $build is not a configured build tree (run scripts/setup.sh first)" >&2
  exit 1
fi

prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
if [[ $prefix != /usr ]]; then
  echo "package.sh: reconfiguring $build with CMAKE_INSTALL_PREFIX=/usr (was $prefix)"
  cmake -S "$src" -B "$build" -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
fi
cmake --build "$build" --target tributary_package_files -j"$(nproc)"

# One version: project(tributary VERSION ...) in CMakeLists.txt, as the host reports it.
version=$("$build/bin/tributary" --version | awk '{print $2}')
[[ $version =~ ^[0-9]+(\.[0-9]+)*$ ]] || { echo "package.sh: cannot read the version ('$version')" >&2; exit 1; }
debversion=$version-1
arch=$(dpkg --print-architecture)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debian"
cp "$src/packaging/debian/control" "$work/debian/control"
# A changelog dated like the sources (reproducible: no build-time clock).
date=$(git -C "$src" log -1 --format=%cD 2>/dev/null || date -R)
cat >"$work/debian/changelog" <<EOF
tributary ($debversion) unstable; urgency=medium

  * Tributary $version (module ABI $("$build/bin/tributary" --version | sed -n 's/.*module ABI \([0-9.]*\).*/\1/p')).

 -- Tributary Maintainers <maintainers@tributary.invalid>  $date
EOF

umask 022
# stage <package> <cmake install component> [--strip]
stage() {
  local pkg=$1 component=$2
  shift 2
  local root=$work/debian/$pkg
  mkdir -p "$root/DEBIAN"
  DESTDIR=$root cmake --install "$build" --component "$component" "$@" >/dev/null
  # Debian's docs: copyright and the changelog, compressed reproducibly.
  local doc=$root/usr/share/doc/$pkg
  mkdir -p "$doc"
  cp "$src/packaging/debian/copyright" "$doc/copyright"
  gzip -9n <"$work/debian/changelog" >"$doc/changelog.Debian.gz"
  find "$root/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9n {} + 2>/dev/null || true
}
stage tributary host --strip
stage tributary-dev sdk

# Shared objects are not programs; libraries keep 0644 (dpkg-deb keeps file modes).
find "$work/debian/tributary/usr/lib" -name '*.so' -exec chmod 0644 {} +

# tributary: Depends from the ELF files' NEEDED libraries (shlibs/symbols files of the
# installed runtime packages); libtrib_profiling.so is found in the package itself (its
# "can't extract name and version" warning is expected: a private library has no SONAME version).
cd "$work"
mapfile -t elves < <(find debian/tributary -type f \( -path '*/bin/*' -o -name '*.so' \))
dpkg-shlibdeps -Tdebian/tributary.substvars "${elves[@]}"
for pkg in tributary tributary-dev; do
  root=debian/$pkg
  dpkg-gencontrol -p"$pkg" -P"$root" -Tdebian/"$pkg".substvars -V'misc:Depends='
  # Every file under /etc is a conffile: an upgrade never overwrites a user's edits.
  if [[ -d $root/etc ]]; then
    (cd "$root" && find etc -type f | sort | sed 's|^|/|') >"$root/DEBIAN/conffiles"
  fi
  for script in postinst prerm postrm; do
    if [[ -f $src/packaging/debian/$pkg.$script ]]; then
      install -m 0755 "$src/packaging/debian/$pkg.$script" "$root/DEBIAN/$script"
    fi
  done
  (cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print0 | sort -z |
    xargs -0 md5sum | sed 's|  \./|  |') >"$root/DEBIAN/md5sums"
  deb_arch=$(sed -n 's/^Architecture: //p' "$root/DEBIAN/control")
  dpkg-deb --root-owner-group -Zxz --build "$root" "$out/${pkg}_${debversion}_${deb_arch}.deb" >/dev/null
  echo "package.sh: $out/${pkg}_${debversion}_${deb_arch}.deb"
done
