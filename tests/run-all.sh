#!/usr/bin/env bash
# The test command (README, second command; .ci/run calls exactly this).
# On a fresh Debian machine it installs what is missing, then runs the format check, clippy with
# warnings as errors, and every test of the workspace, including the Redis tests (which start
# their own redis-server on a free loopback port and fail, rather than skip, when it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  # The package's own redis service is not needed: the tests start their own servers.
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

export NV_REQUIRE_REDIS=1
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
if [ -f docker-compose.yml ]; then
  docker-compose -f docker-compose.yml config -q
fi
cargo test --workspace --all-features
