#!/usr/bin/env bash
# packaging.layout: both packages unpacked into a temp root (dpkg-deb -x). Checks the
# files and where they are, conffiles and maintainer scripts, that the declared Depends
# cover every library the host, the modules and the helper libraries load (ldd), and
# that the unpacked host lists its three inputs from its compiled-in plugins dir when
# TRIBUTARY_INSTALL_ROOT points that dir at the unpacked tree.
source "$(dirname "$0")/common.sh"
unpack_into "$TEST_TMP"
root=$TEST_TMP/root
deb=$(deb_of tributary)
dev_deb=$(deb_of tributary-dev)

# ---- layout
for f in usr/bin/tributary usr/lib/tributary/libtrib_profiling.so \
    usr/lib/tributary/plugins/profile.so usr/lib/tributary/plugins/pyroscope.so usr/lib/tributary/plugins/pinpoint.so \
    usr/lib/tributary/plugins/nats_sink.so usr/lib/tributary/plugins/nats_input.so \
    usr/lib/tributary/plugins/pyroscope_sink.so \
    etc/tributary/tributary.conf etc/default/tributary \
    etc/tributary/conf.d/profile/profile.conf.sample etc/tributary/conf.d/pyroscope/pyroscope.conf.sample \
    etc/tributary/conf.d/pinpoint/pinpoint.conf.sample \
    usr/share/man/man1/tributary.1.gz usr/share/doc/tributary/copyright \
    usr/include/tributary/plugin.h usr/include/tributary/plugin.hpp usr/include/tributary/testing/fake_host.hpp \
    usr/lib/cmake/Tributary/TributaryConfig.cmake usr/lib/cmake/Tributary/TributaryConfigVersion.cmake \
    usr/lib/cmake/Tributary/TributaryTargets.cmake usr/lib/cmake/Tributary/TributaryModule.cmake \
    usr/share/doc/tributary-dev/examples/example_input/CMakeLists.txt \
    usr/share/doc/tributary-dev/examples/example_input/example_input.cpp \
    usr/share/doc/tributary-dev/examples/example_sink/example_sink.cpp \
    usr/share/doc/tributary-dev/copyright; do
  [[ -f $root/$f ]] || fail "/$f is not in the packages"
done
[[ -x $root/usr/bin/tributary ]] || fail "/usr/bin/tributary is not executable"
[[ -d $root/var/lib/tributary ]] || fail "/var/lib/tributary (the data dir) is not in the package"
unit=
for d in lib/systemd/system usr/lib/systemd/system; do
  [[ -f $root/$d/tributary.service ]] && unit=$root/$d/tributary.service
done
[[ -n $unit ]] || fail "no tributary.service under /lib/systemd/system or /usr/lib/systemd/system"
# The loader takes every *.so in the plugins dir: nothing but the modules may be there.
extra=$(cd "$root/usr/lib/tributary/plugins" && ls | grep -vxE 'profile\.so|pyroscope\.so|pyroscope_sink\.so|pinpoint\.so|viewer\.so|nats_sink\.so|nats_input\.so' || true)
[[ -z $extra ]] || fail "unexpected files in /usr/lib/tributary/plugins: $extra"
# Each package holds its own part only.
# (Outputs are read whole: with pipefail, `producer | grep -q` fails when grep stops early.)
dev_files=$(dpkg-deb -c "$dev_deb")
host_files=$(dpkg-deb -c "$deb")
grep -qE '\./usr/(bin|lib/tributary)/' <<<"$dev_files" && fail "tributary-dev ships host files"
grep -qE '\./usr/include/' <<<"$host_files" && fail "tributary ships SDK headers"
echo "layout: ok"

# ---- control data: conffiles, maintainer scripts, version
ctl=$TEST_TMP/control
dpkg-deb -e "$deb" "$ctl"
expected=$(cd "$root" && find etc -type f | sed 's|^|/|' | sort)
actual=$(sort "$ctl/conffiles")
[[ $expected == "$actual" ]] || fail "conffiles differ from the files under /etc:"$'\n'"expected:"$'\n'"$expected"$'\n'"got:"$'\n'"$actual"
for s in postinst prerm postrm; do
  [[ -x $ctl/$s ]] || fail "no executable $s"
  sh -n "$ctl/$s" || fail "$s is not valid sh"
done
grep -qE 'adduser --system .*tributary' "$ctl/postinst" || fail "postinst does not create the system user tributary"
grep -q 'chown tributary:tributary /var/lib/tributary' "$ctl/postinst" || fail "postinst does not give /var/lib/tributary to the user"

host=$root/usr/bin/tributary
version_line=$("$host" --version)
host_version=$(awk '{print $2}' <<<"$version_line")
abi_minor=$(sed -n 's/^#define TRIB_ABI_MINOR_CURRENT \([0-9]*\).*/\1/p' "$root/usr/include/tributary/plugin.h")
abi_major=$(sed -n 's/^#define TRIB_ABI_MAJOR \([0-9]*\).*/\1/p' "$root/usr/include/tributary/plugin.h")
[[ $version_line == "tributary $host_version (module ABI $abi_major.$abi_minor)" ]] ||
  fail "--version prints '$version_line', expected the ABI of the packaged plugin.h ($abi_major.$abi_minor)"
for d in "$deb" "$dev_deb"; do
  v=$(dpkg-deb -f "$d" Version)
  [[ $v == "$host_version-1" ]] || fail "$(basename "$d") has Version $v; the host says $host_version"
done
sdk_version=$(sed -n 's/^set(PACKAGE_VERSION "\(.*\)")/\1/p' "$root/usr/lib/cmake/Tributary/TributaryConfigVersion.cmake")
[[ $sdk_version == "$host_version" ]] || fail "the CMake package says version $sdk_version, the host $host_version"
echo "control and version ($version_line): ok"

# ---- Depends: computed, runtime only, covering every library loaded
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
# Package names, alternatives included, without versions or arch qualifiers.
names_of() { tr ',|' '\n\n' | sed -e 's/(.*)//' -e 's/:.*//' -e 's/[[:space:]]//g' | grep -v '^$' | sort -u; }
direct=$(names_of <<<"$depends")
grep -qx libc6 <<<"$direct" || fail "Depends lacks libc6: not computed by dpkg-shlibdeps?"
bad=$(grep -E -- '-dev$|^(gcc|g\+\+|cpp|cmake|binutils|build-essential|ninja-build|protobuf-compiler.*|pkg-config|pkgconf)$' <<<"$direct" || true)
[[ -z $bad ]] || fail "Depends has build-time packages: $bad"
# What installing the package pulls: its Depends and theirs, as installed here (one
# dpkg-query for every installed package, then a walk in awk).
closure=$(dpkg-query -W -f='${Package}\t${Depends}, ${Pre-Depends}\n' | awk -F'\t' -v roots="$(tr '\n' ' ' <<<"$direct")" '
  { deps[$1] = $2 }
  END {
    n = split(roots, queue, " ")
    for (i = 1; i <= n; i++) seen[queue[i]] = 1
    for (i = 1; i <= n; i++) {
      m = split(deps[queue[i]], alts, /[,|]/)
      for (j = 1; j <= m; j++) {
        d = alts[j]; sub(/\(.*\)/, "", d); sub(/:.*/, "", d); gsub(/[[:space:]]/, "", d)
        if (d != "" && !(d in seen)) { seen[d] = 1; queue[++n] = d }
      }
    }
    for (d in seen) print d
  }' | sort)

# Every library the ELF files load, by ldd: "elf<TAB>soname<TAB>path".
mapfile -t elves < <(find "$root/usr/bin" "$root/usr/lib/tributary" -type f \( -path '*/bin/*' -o -name '*.so' \) | sort)
((${#elves[@]} >= 5)) || fail "expected the host, three modules and the helper library, found ${elves[*]}"
loads=
declare -A needed_by # the libraries each ELF file names itself (NEEDED), the rest come through them
for elf in "${elves[@]}"; do
  rel=${elf#"$root"}
  deps=$(ldd "$elf") || fail "ldd $rel failed"
  needed_by[$rel]=$(readelf -d "$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  if grep -q 'not found' <<<"$deps"; then
    fail "$rel: libraries not found:"$'\n'"$(grep 'not found' <<<"$deps")"
  fi
  while read -r line; do
    if [[ $line == *" => "* ]]; then
      loads+="$rel"$'\t'"${line%% =>*}"$'\t'"$(awk '{print $3}' <<<"$line")"$'\n'
    elif [[ $line == /* ]]; then
      loads+="$rel"$'\t'"$(basename "${line%% *}")"$'\t'"${line%% *}"$'\n'
    fi # else linux-vdso: the kernel's
  done <<<"$deps"
done
# Which Debian package owns each library file; ldd may name /lib/... for a /usr/lib/...
# file (merged /usr) or a symlink, so every spelling is asked for, in one dpkg-query.
declare -A owner
mapfile -t paths < <(cut -f3 <<<"$loads" | grep -v "^$root/" | grep -v '^$' | sort -u)
spellings() { local p=$1 r; r=$(realpath "$p"); printf '%s\n' "$p" "/usr$p" "${p#/usr}" "$r" "/usr$r" "${r#/usr}"; }
mapfile -t candidates < <(for p in "${paths[@]}"; do spellings "$p"; done | sort -u)
declare -A owner_of_file
while IFS= read -r line; do
  [[ $line == diversion* ]] && continue
  owner_of_file[${line#*: }]=$(cut -d: -f1 <<<"${line%%: /*}" | cut -d, -f1)
done < <(dpkg-query -S "${candidates[@]}" 2>/dev/null || true)
for p in "${paths[@]}"; do
  while read -r c; do
    if [[ -n ${owner_of_file[$c]:-} ]]; then
      owner[$p]=${owner_of_file[$c]}
      break
    fi
  done < <(spellings "$p")
done
while IFS=$'\t' read -r rel name path; do
  [[ -n $rel ]] || continue
  if [[ $path == "$root"/* ]]; then
    # Our own helper library, found through the module's RUNPATH inside the package.
    [[ $path == "$root/usr/lib/tributary/"* ]] || fail "$rel loads $path from an unexpected place"
    continue
  fi
  pkg=${owner[$path]:-}
  [[ -n $pkg ]] || fail "$rel loads $path, which no Debian package owns"
  if grep -qxF -- "$name" <<<"${needed_by[$rel]}"; then
    grep -qx -- "$pkg" <<<"$direct" || fail "$rel needs $name ($pkg), which Depends does not name"
  else
    grep -qx -- "$pkg" <<<"$closure" || fail "$rel loads $name ($pkg), which Depends does not pull"
  fi
done <<<"$loads"
for m in profile pyroscope; do
  module_deps=$(ldd "$root/usr/lib/tributary/plugins/$m.so")
  grep -qF "libtrib_profiling.so => $root/usr/lib/tributary/plugins/../libtrib_profiling.so" <<<"$module_deps" ||
    fail "$m.so does not find libtrib_profiling.so beside its plugins dir (RUNPATH \$ORIGIN/..)"
done
echo "Depends cover the ${#paths[@]} libraries the ${#elves[@]} ELF files load: ok"

# ---- the unpacked host
help=$("$host" --help)
for p in /usr/lib/tributary/plugins /var/lib/tributary /etc/tributary/tributary.conf; do
  grep -qF "$p" <<<"$help" || fail "--help does not name the installed default $p"
done
mkdir -p "$TEST_TMP/conf"
: >"$TEST_TMP/conf/tributary.conf"
list=$(TRIBUTARY_INSTALL_ROOT=$root "$host" --config "$TEST_TMP/conf/tributary.conf" --data-dir "$TEST_TMP/data" \
  --list-plugins 2>"$TEST_TMP/list.err") || fail "--list-plugins failed: $(cat "$TEST_TMP/list.err")"
echo "$list"
[[ ! -s $TEST_TMP/list.err ]] || fail "--list-plugins complained: $(cat "$TEST_TMP/list.err")"
for m in profile pyroscope pinpoint; do
  grep -qE "^$m +[^ ]+ +input +$abi_major\.[0-9]+ +$root/usr/lib/tributary/plugins/$m\.so$" <<<"$list" ||
    fail "the unpacked host does not list input $m from $root/usr/lib/tributary/plugins"
done
# The packaged config with every sample turned on is valid (and conf.d is found beside it).
cp -r "$root/etc/tributary" "$TEST_TMP/etc"
for s in "$TEST_TMP"/etc/conf.d/*/*.conf.sample; do cp "$s" "${s%.sample}"; done
check=$(TRIBUTARY_INSTALL_ROOT=$root "$host" --config "$TEST_TMP/etc/tributary.conf" --data-dir "$TEST_TMP/data" \
  --check-config 2>&1) || fail "the packaged config with its samples is refused: $check"
tables=$(cat "$TEST_TMP"/etc/conf.d/*/*.conf | grep -cE '^\[\[inputs\.')
((tables >= 3)) || fail "the packaged samples hold $tables [[inputs.*]] tables, expected one per input"
grep -qF "configuration OK: $tables input instance(s)" <<<"$check" || fail "unexpected --check-config answer: $check"
# With no flags at all the host reads its compiled-in config, /etc/tributary/tributary.conf,
# and conf.d beside it (here under the unpacked root): one sample turned on, one instance.
cp "$root/etc/tributary/conf.d/profile/profile.conf.sample" "$root/etc/tributary/conf.d/profile/profile.conf"
check=$(TRIBUTARY_INSTALL_ROOT=$root "$host" --check-config 2>&1) || fail "the default config is refused: $check"
grep -qF "configuration OK: 1 input instance(s)" <<<"$check" ||
  fail "the host without --config did not read /etc/tributary/tributary.conf and its conf.d: $check"
echo "unpacked host: ok"
