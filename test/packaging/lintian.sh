#!/usr/bin/env bash
# packaging.lintian: Debian's lintian reports no errors on either package (warnings are
# printed, not failed).
source "$(dirname "$0")/common.sh"
command -v lintian >/dev/null || fail "lintian is not installed (scripts/setup.sh --test installs it)"
# One run for both packages (lintian's start-up is most of its time). It exits 2 on
# errors; the test reads its tags rather than its status.
report=$(lintian --no-cfg --display-info "$(deb_of tributary)" "$(deb_of tributary-dev)" 2>&1 || true)
echo "$report"
errors=$(grep -c '^E: ' <<<"$report" || true)
((errors == 0)) || fail "lintian reported $errors error(s)"
echo "lintian: no errors"
