#!/usr/bin/env bash
# Installs what Tributary needs from Debian's packages and builds it into build/.
#   scripts/setup.sh           build dependencies, then build the host and its modules
#   scripts/setup.sh --test    also the real servers and clients the tests drive
#                              (InfluxDB, etcd, Go, OpenJDK, nginx, clang, Chromium, the npm agents,
#                              and dpkg-dev, lintian, systemd-analyze for the package tests),
#                              then build everything (tests, benches, fuzzers)
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[[ "${1:-}" == "--test" ]] && with_tests=1

build_pkgs=(build-essential cmake ninja-build pkg-config
  libpoco-dev nlohmann-json3-dev libcpptoml-dev libfmt-dev
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  zlib1g-dev libzstd-dev liblz4-dev libdeflate-dev libre2-dev catch2 libsqlite3-dev libnats-dev libssl-dev)
# chromium: the viewer's browser test drives it with puppeteer-core (test/clients).
# clang-format: the style test (scripts/format.sh --check).
# python3: the HTTPS capture server of the upstream TLS tests; nats-server: the NATS tests.
test_pkgs=(influxdb etcd-server golang-go openjdk-17-jdk-headless nginx clang clang-format curl procps openssl python3
  dpkg-dev lintian systemd chromium nats-server)

sudo_cmd=()
[[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)

missing=()
pkgs=("${build_pkgs[@]}")
((with_tests)) && pkgs+=("${test_pkgs[@]}")
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian's packages may start influxd, etcd or nginx on install: they are left alone (no
# script stops a process it did not start); the tests run their own servers on free ports.
if ((with_tests)); then
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends nodejs npm
  fi
  (cd test/clients && npm ci --no-audit --no-fund --loglevel=error)
fi

# Prefix /usr: the host compiles in its installed paths, and scripts/package.sh packages
# this build tree as is (/usr/bin, /usr/lib/tributary/plugins, /etc/tributary, /var/lib/tributary).
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr
# scripts/run.sh needs only the host and the modules; the tests and benches are built by
# scripts/test.sh (setup.sh --test).
if ((with_tests)); then
  cmake --build build -j"$(nproc)"
else
  cmake --build build -j"$(nproc)" --target host_and_modules
fi

# The libFuzzer targets need clang: a second build dir that builds only them.
if ((with_tests)); then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTRIB_BUILD_FUZZ=ON -DTRIB_BUILD_BENCH=OFF
  cmake --build build-fuzz --target fuzz_all -j"$(nproc)"
fi
