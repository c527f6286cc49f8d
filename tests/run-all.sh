#!/usr/bin/env bash
# The test command (README, second command; .ci/run calls exactly this).
# On a fresh Debian machine it installs what is missing, then runs the format check, clippy with
# warnings as errors, cargo deny (deny.toml; cargo-deny is installed when missing), and every test
# of the workspace, including the Redis tests (which start their own redis-server, or a
# three-master Redis Cluster, on free loopback ports and fail, rather than skip, when redis-server
# or redis-cli is missing) and the RADIUS tests (which drive the accounting listener with
# FreeRADIUS's radclient, from freeradius-utils, and fail rather than skip when it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# redis-cli creates the test Redis Clusters (Debian's redis-server depends on redis-tools anyway).
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v radclient >/dev/null 2>&1 || missing+=(freeradius-utils)
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

export REQUIRE_REDIS_TESTS=1
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings

# cargo deny (deny.toml): bans, licenses and sources need no network once every platform's crates
# are downloaded (cargo metadata reads them all); advisories need the local RustSec database.
if ! cargo deny --version >/dev/null 2>&1; then
  echo "installing: cargo-deny 0.20.2 (cargo install cargo-deny --locked --version 0.20.2)"
  cargo install cargo-deny --locked --version 0.20.2
fi
cargo fetch --quiet
cargo deny --offline check bans licenses sources
advisory_dbs="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
if compgen -G "$advisory_dbs/advisory-db-*/" >/dev/null; then
  cargo deny --offline check advisories
else
  echo "cargo deny: advisory database not present, advisories NOT checked" \
    "(provide one in $advisory_dbs/: \`cargo deny fetch\` where the network allows it)" >&2
fi

if [ -f docker-compose.yml ]; then
  docker-compose -f docker-compose.yml config -q
fi
cargo test --workspace --all-features
