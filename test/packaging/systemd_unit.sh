#!/usr/bin/env bash
# packaging.systemd_unit: `systemd-analyze verify` accepts the packaged unit, checked in the
# unpacked tree (--root) so ExecStart's /usr/bin/tributary is the packaged binary. The
# machine's own systemd units (targets the unit orders itself after) are copied in beside it.
# systemd-analyze exits 0 on many problems (unknown keys, bad values) and only prints them,
# so any output fails the test too.
source "$(dirname "$0")/common.sh"
command -v systemd-analyze >/dev/null || fail "systemd-analyze is not installed (package systemd)"
unpack_into "$TEST_TMP"
root=$TEST_TMP/root
unit=
for d in lib/systemd/system usr/lib/systemd/system; do
  [[ -f $root/$d/tributary.service ]] && unit=$d/tributary.service
done
[[ -n $unit ]] || fail "no tributary.service in the package"
systemd_units=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
cp -an "$systemd_units/." "$root/$(dirname "$unit")/"

# What the issue asks of the unit.
for line in 'User=tributary' 'Restart=on-failure' 'ProtectSystem=strict' 'ReadWritePaths=/var/lib/tributary' \
    'NoNewPrivileges=yes' 'EnvironmentFile=-/etc/default/tributary' 'WantedBy=multi-user.target'; do
  grep -qxF "$line" "$root/$unit" || fail "$unit has no line $line"
done
grep -qE '^Type=(simple|notify)$' "$root/$unit" || fail "$unit: Type is not simple or notify"
grep -qE '^ExecStart=/usr/bin/tributary( |$)' "$root/$unit" || fail "$unit does not start /usr/bin/tributary"
nofile=$(sed -n 's/^LimitNOFILE=//p' "$root/$unit")
[[ $nofile =~ ^[0-9]+$ ]] && ((nofile >= 65536)) || fail "$unit: LimitNOFILE=$nofile, expected >= 65536"

out=$(systemd-analyze verify --man=no --root="$root" tributary.service 2>&1) ||
  fail "systemd-analyze verify rejected $unit:"$'\n'"$out"
[[ -z $out ]] || fail "systemd-analyze verify complained about $unit:"$'\n'"$out"
echo "systemd-analyze verify $unit: accepted"
