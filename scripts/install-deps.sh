#!/usr/bin/env bash
# Installs what mixsweep needs from Debian 12's packages. Idempotent: does
# nothing when everything is there. Needs root (or sudo).
#   scripts/install-deps.sh          what the build and the tests need
#   scripts/install-deps.sh --fuzz   also clang and libFuzzer (scripts/fuzz.sh)
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libpqxx-dev postgresql-15
  libboost-dev prometheus-cpp-dev libspdlog-dev libcli11-dev nlohmann-json3-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  openssl  # scripts/make-test-ca.sh (test certificates for TLS)
  prometheus  # the real Prometheus server and promtool, for the metrics test
  chromium chromium-driver python3-selenium  # the dashboard's browser test
  python3-grpcio python3-protobuf  # the Python client (clients/python) and its test
  yamllint python3-yaml  # the offline check of the Helm chart (tests/deploy)
  slurm-wlm munge  # the SLURM test and benchmark: a one-node cluster (scripts/slurm-local-cluster.sh)
)
if [ "${1:-}" = "--fuzz" ]; then
  PACKAGES+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
