#!/usr/bin/env bash
# The one benchmark command (docs/performance.md):
#
#   crates/loadgen/bench.sh
#
# Builds the two servers and loadgen in release mode (in target-release/, so it never holds the
# debug build's lock), then for each algorithm profile: starts both servers on loopback with a
# benchmark configuration (temporary keys, in-memory store, logging at warn), measures cold start
# and idle RSS with the keys already on disk, runs each load mode for a bounded time, stops the
# servers. Prints the markdown table at the end; the raw results stay in target-release/bench/.
#
# Knobs (environment):
#   PROFILES="default es256-ecdh es256-dir"   which profiles to run
#   DURATION=6            measured seconds per closed-loop run (plus 1 s warm-up)
#   CONCURRENCY=32        requests/flows in flight (closed loop)
#   AS_PORT RS_PORT       loopback ports (default: the first free ones from 28080 up)
#   BENCH_LOG=warn        RUST_LOG of both servers (info logs every request)
#   CRYPTO=inline         server.crypto of both servers: inline (the default) or pool
#   SKIP_BUILD=1          reuse the binaries already in target-release/release
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET_DIR=${BENCH_TARGET_DIR:-$ROOT/target-release}
BIN=$TARGET_DIR/release
PROFILES=${PROFILES:-"default es256-ecdh es256-dir"}
DURATION=${DURATION:-6}
CONCURRENCY=${CONCURRENCY:-32}
BENCH_LOG=${BENCH_LOG:-warn}
CRYPTO=${CRYPTO:-inline}
case $CRYPTO in
    inline | pool) ;;
    *) echo "bench.sh: CRYPTO must be inline or pool" >&2; exit 1 ;;
esac

chrt --batch 0 true 2>/dev/null || { echo "bench.sh: chrt --batch (util-linux) does not work here" >&2; exit 1; }

port_free() { ! ss -ltn "sport = :$1" | grep -q LISTEN; }
free_port() { # FIRST [EXCEPT]
    local p
    for p in $(seq "$1" $(($1 + 500))); do
        [[ $p != "${2:-}" ]] && port_free "$p" && { echo "$p"; return 0; }
    done
    echo "bench.sh: no free port from $1 on" >&2
    exit 1
}
AS_PORT=${AS_PORT:-$(free_port 28080)}
RS_PORT=${RS_PORT:-$(free_port $((AS_PORT + 1)) "$AS_PORT")}
for p in "$AS_PORT" "$RS_PORT"; do
    port_free "$p" || { echo "bench.sh: port $p is in use (set AS_PORT / RS_PORT)" >&2; exit 1; }
done
AS_URL=http://127.0.0.1:$AS_PORT
RS_URL=http://127.0.0.1:$RS_PORT

if [[ -z "${SKIP_BUILD:-}" ]]; then
    echo "== building (release, $TARGET_DIR)"
    CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --quiet \
        -p authorization-server -p number-verification -p loadgen
fi
for b in authorization-server number-verification loadgen; do
    [[ -x $BIN/$b ]] || { echo "bench.sh: $BIN/$b is missing (run without SKIP_BUILD)" >&2; exit 1; }
done

OUT=$TARGET_DIR/bench
mkdir -p "$OUT"
SUMMARY=$OUT/summary.jsonl
: > "$SUMMARY"
WORK=$(mktemp -d /tmp/nv-bench.XXXXXX)
AS_PID=
RS_PID=

stop_servers() {
    for pid in $AS_PID $RS_PID; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $AS_PID $RS_PID; do
        wait "$pid" 2>/dev/null || true
    done
    AS_PID=
    RS_PID=
}
cleanup() {
    stop_servers
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_ready() { # URL PID NAME LOG
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || { echo "bench.sh: $3 exited; its log:" >&2; cat "$4" >&2; exit 1; }
        sleep 0.05
    done
    echo "bench.sh: $3 did not answer $1 within 15 s" >&2
    exit 1
}

start_servers() { # DIR
    RUST_LOG=$BENCH_LOG "$BIN/number-verification" --config "$1/rs.toml" >"$1/rs.log" 2>&1 &
    RS_PID=$!
    wait_ready "$RS_URL/healthz" "$RS_PID" number-verification "$1/rs.log"
    # The resource server first: for `dir` the authorization server reads the shared key it made.
    RUST_LOG=$BENCH_LOG "$BIN/authorization-server" --config "$1/as.toml" >"$1/as.log" 2>&1 &
    AS_PID=$!
    wait_ready "$AS_URL/healthz" "$AS_PID" authorization-server "$1/as.log"
}

rss_mib() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
hwm_mib() { awk '/^VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

loadgen() { "$BIN/loadgen" "$@"; }
# The load runs as SCHED_BATCH: a batch task does not preempt the running one when it wakes, so
# loadgen, woken by every response, no longer interrupts a server in the middle of its crypto and
# handles several responses per wake-up (2-6 % more flows, a third less loadgen CPU; decision
# 0008). The servers keep the default policy, as operators run them.
load() { chrt --batch 0 "$BIN/loadgen" "$@"; }

for profile in $PROFILES; do
    case $profile in
        default) SIG=RS256 ENC=RSA-OAEP-256 CLIENT=RS256 ;;
        es256-ecdh) SIG=ES256 ENC=ECDH-ES+A256KW CLIENT=ES256 ;;
        es256-dir) SIG=ES256 ENC=dir CLIENT=ES256 ;;
        *) echo "bench.sh: unknown profile $profile (default, es256-ecdh, es256-dir)" >&2; exit 1 ;;
    esac
    DIR=$WORK/$profile
    mkdir -p "$DIR/as-keys" "$DIR/rs-keys"
    cat >"$DIR/rs.toml" <<EOF
mode = "dev"
audience = "$RS_URL"
[server]
host = "127.0.0.1"
port = $RS_PORT
crypto = "$CRYPTO"
[authorization_server]
issuer = "$AS_URL"
[keys]
dir = "$DIR/rs-keys"
key_management = ["$ENC"]
[store]
url = "memory"
EOF
    if [[ $ENC == dir ]]; then
        # A shared secret is never published: the authorization server is given the file.
        RECIPIENT="encryption_key_file = \"$DIR/rs-keys/rs-encryption.jwk\""
    else
        RECIPIENT="encryption_jwks_uri = \"$RS_URL/.well-known/jwks.json\""
    fi
    cat >"$DIR/as.toml" <<EOF
mode = "dev"
[server]
host = "127.0.0.1"
port = $AS_PORT
crypto = "$CRYPTO"
[keys]
dir = "$DIR/as-keys"
generate_alg = "$SIG"
[access_token]
audience = "$RS_URL"
$RECIPIENT
[store]
url = "memory"
EOF
    if [[ $CLIENT != RS256 ]]; then
        # The relying party's own choice of key; dev mode would generate an RS256 one.
        "$BIN/authorization-server" generate-key --alg "$CLIENT" --out "$DIR/as-keys/demo-app.jwk" >/dev/null
    fi

    echo
    echo "== profile $profile: signing $SIG, encryption $ENC+A256GCM, client assertions $CLIENT, crypto $CRYPTO"
    # First start generates the keys; the measured starts below find them on disk.
    start_servers "$DIR"
    stop_servers
    loadgen startup --label "number-verification ($profile)" --summary "$SUMMARY" \
        --url "$RS_URL/healthz" -- env RUST_LOG="$BENCH_LOG" "$BIN/number-verification" --config "$DIR/rs.toml"
    loadgen startup --label "authorization-server ($profile)" --summary "$SUMMARY" \
        --url "$AS_URL/healthz" -- env RUST_LOG="$BENCH_LOG" "$BIN/authorization-server" --config "$DIR/as.toml"

    start_servers "$DIR"
    LABEL=$profile
    [[ $CRYPTO == inline ]] || LABEL="$profile, crypto $CRYPTO"
    common=(--as "$AS_URL" --rs "$RS_URL" --client-key "$DIR/as-keys/demo-app.jwk"
        --as-pid "$AS_PID" --rs-pid "$RS_PID" --label "$LABEL" --summary "$SUMMARY")
    load flow "${common[@]}" --duration "$DURATION" --concurrency "$CONCURRENCY" | tee "$DIR/flow.txt"
    max=$(awk -F'throughput=' '/^RESULT/ {split($2, a, " "); print a[1]}' "$DIR/flow.txt")
    half=$(awk -v m="$max" 'BEGIN {h = m / 2; if (h < 1) h = 1; printf "%.0f", h}')
    load flow "${common[@]}" --no-bound --duration "$DURATION" --concurrency 256 --rate "$half"
    load token "${common[@]}" --duration "$DURATION" --concurrency "$CONCURRENCY"
    load verify "${common[@]}" --duration "$DURATION" --concurrency "$CONCURRENCY"
    echo "RSS after the load: authorization-server $(rss_mib "$AS_PID") MiB (peak $(hwm_mib "$AS_PID")), number-verification $(rss_mib "$RS_PID") MiB (peak $(hwm_mib "$RS_PID"))" \
        | tee -a "$OUT/rss-after-load.txt"
    stop_servers
done

echo
echo "== results ($(nproc) cores, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo))"
loadgen report "$SUMMARY" | tee "$OUT/table.md"
