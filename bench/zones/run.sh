#!/usr/bin/env bash
# bench/zones/run.sh: load a big generated zone into AYA and Knot DNS, in
# turn, on loopback, and compare what it costs: the time from the server's
# start to its first answer from the zone, its resident memory once loaded
# (VmRSS), and the peak (VmHWM) across a reload of a changed zone, which
# both servers load while they keep serving the previous version.
#
# The zone is RECORDS A records under big.test. ("hN 300 IN A 10.x.y.z"),
# plus the apex SOA and NS; the first answer asked for is the last record's.
# Servers never run at the same time. See README.md.
#
# Usage: bench/zones/run.sh                   # 1M records, knot then aya
#        RECORDS=200000 SERVERS=aya bench/zones/run.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/../lib.sh"
REPO=$(cd "$HERE/../.." && pwd)

# ---- settings (all overridable from the environment) -----------------------
SERVERS=${SERVERS:-"knot aya"}
RECORDS=${RECORDS:-1000000}
ADDR=${ADDR:-127.77.39.1}          # loopback address both servers listen on, in turn
DNS_PORT=${DNS_PORT:-15391}
ADMIN_PORT=${ADMIN_PORT:-15392}    # aya's admin API
RAFT_PORT=${RAFT_PORT:-15393}      # aya's Raft transport
READY_TIMEOUT=${READY_TIMEOUT:-120} # seconds for a first answer (or a reload)
SETTLE=${SETTLE:-3}                # seconds after the first answer before VmRSS is read
SKIP_INSTALL=${SKIP_INSTALL:-0}
SKIP_BUILD=${SKIP_BUILD:-0}        # 1: use the existing $AYA_BIN
AYA_BIN=${AYA_BIN:-$REPO/bin/aya}  # the aya binary run (an A/B: a baseline built elsewhere)
KEEP_WORK=${KEEP_WORK:-0}
ORIGIN=big.test.

WORK=""
SERVER_PID=""
RESULTS=()

stop_server() {
    local pid=$SERVER_PID i
    [[ -n $pid ]] || return 0
    SERVER_PID=""
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_server
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ $KEEP_WORK == 1 ]]; then log "kept $WORK"; else rm -rf -- "$WORK"; fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }

# status_kb PID FIELD: a field of /proc/PID/status in kB (VmRSS, VmHWM).
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# answer NAME: the A record the server gives for NAME, or "".
answer() {
    dig +short +tries=1 +time=1 -p "$DNS_PORT" @"$ADDR" "$1" A 2>/dev/null | head -1
}

# wait_answer NAME WANT PID: bounded wait for NAME to be answered WANT;
# prints the seconds it took from $T0.
wait_answer() {
    local name=$1 want=$2 pid=$3 deadline
    deadline=$(($(date +%s) + READY_TIMEOUT))
    while (($(date +%s) < deadline)); do
        kill -0 "$pid" 2>/dev/null || return 1
        [[ $(answer "$name") == "$want" ]] && return 0
        sleep 0.05
    done
    return 1
}

# gen_zone FILE SERIAL SHIFT: the zone, with every address's last octet
# plus SHIFT (mod 256), so that a reload changes every record.
gen_zone() {
    awk -v n="$RECORDS" -v serial="$2" -v shift="$3" 'BEGIN {
        print "$ORIGIN big.test."
        print "$TTL 300"
        print "@ IN SOA ns1 hostmaster " serial " 7200 3600 1209600 30"
        print "@ IN NS ns1"
        print "ns1 IN A 192.0.2.53"
        for (i = 0; i < n; i++)
            printf "h%d IN A 10.%d.%d.%d\n", i, int(i / 65536) % 256, int(i / 256) % 256, (i + shift) % 256
    }' >"$1"
}

# want_last SHIFT: the address of the last record.
want_last() {
    local i=$((RECORDS - 1))
    echo "10.$(((i / 65536) % 256)).$(((i / 256) % 256)).$(((i + $1) % 256))"
}

knot_start() {
    local dir=$WORK/knot
    mkdir -p "$dir/zones" "$dir/run" "$dir/db"
    cp "$WORK/zone.v1" "$dir/zones/big.test.zone"
    sed -e "s|@WORKDIR@|$dir|g" -e "s|@PORT@|$DNS_PORT|g" -e "s|@ZONE@|$ORIGIN|g" \
        -e "s|listen: 127.0.0.1@|listen: $ADDR@|" "$REPO/bench/dns/knot.conf.in" >"$dir/knot.conf"
    knotc -c "$dir/knot.conf" conf-check >/dev/null || die "generated knot.conf is invalid"
    knotd -c "$dir/knot.conf" >"$WORK/knot.log" 2>&1 &
    SERVER_PID=$!
}

knot_reload() {
    cp "$WORK/zone.v2" "$WORK/knot/zones/big.test.zone"
    knotc -c "$WORK/knot/knot.conf" zone-reload "$ORIGIN" >/dev/null
}

# AYA: the repo's aya.yaml (one node bootstrapping its own cluster, with
# release.watch), its data dir and zones dir in the work dir.
aya_start() {
    local dir=$WORK/aya
    mkdir -p "$dir/zones" "$dir/data"
    cp "$WORK/zone.v1" "$dir/zones/big.test.zone"
    AYA_DNS_LISTEN=$ADDR:$DNS_PORT \
    AYA_ADMIN_LISTEN=$ADDR:$ADMIN_PORT \
    AYA_CLUSTER_BIND=$ADDR:$RAFT_PORT \
    AYA_CLUSTER_DATA_DIR=$dir/data \
    AYA_DNS_ZONES_DIR=$dir/zones \
    AYA_LOG_LEVEL=warn \
        "$AYA_BIN" serve --config "$REPO/aya.yaml" >"$WORK/aya.log" 2>&1 &
    SERVER_PID=$!
}

aya_reload() {
    # release.watch: the changed file is seen, built into a release and
    # applied through the Raft log, then served.
    cp "$WORK/zone.v2" "$WORK/aya/zones/big.test.zone"
}

run_server() {
    local name=$1 last t0 t1 ttfa rss hwm1 t2 t3 reload hwm2 cpu
    last="h$((RECORDS - 1)).$ORIGIN"
    T0=$(now)
    "${name}_start"
    log "$name started (pid $SERVER_PID)"
    if ! wait_answer "$last" "$(want_last 0)" "$SERVER_PID"; then
        sed 's/^/    /' "$WORK/$name.log" >&2 || true
        die "$name gave no answer for $last within ${READY_TIMEOUT}s"
    fi
    t1=$(now)
    ttfa=$(awk -v a="$T0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    cpu=$(awk -v t="$(cpu_ticks "$SERVER_PID")" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
    sleep "$SETTLE"
    rss=$(status_kb "$SERVER_PID" VmRSS)
    hwm1=$(status_kb "$SERVER_PID" VmHWM)
    log "$name: first answer after ${ttfa}s (${cpu}s CPU), VmRSS $((rss / 1024)) MB, VmHWM $((hwm1 / 1024)) MB"
    t2=$(now)
    "${name}_reload"
    if ! wait_answer "$last" "$(want_last 1)" "$SERVER_PID"; then
        sed 's/^/    /' "$WORK/$name.log" >&2 || true
        die "$name did not serve the reloaded zone within ${READY_TIMEOUT}s"
    fi
    t3=$(now)
    reload=$(awk -v a="$t2" -v b="$t3" 'BEGIN { printf "%.2f", b - a }')
    sleep "$SETTLE"
    hwm2=$(status_kb "$SERVER_PID" VmHWM)
    rss2=$(status_kb "$SERVER_PID" VmRSS)
    log "$name: reload served after ${reload}s, VmHWM $((hwm2 / 1024)) MB, VmRSS after $((rss2 / 1024)) MB"
    RESULTS+=("$(printf '%-5s %10s %8s %10d %10d %10s %10d %10d' "$name" "$ttfa" "$cpu" $((rss / 1024)) $((hwm1 / 1024)) "$reload" $((hwm2 / 1024)) $((rss2 / 1024)))")
    stop_server
}

# ---- main -------------------------------------------------------------------
for s in $SERVERS; do
    case $s in
        knot) need_cmd knotd knot; need_cmd knotc knot ;;
        aya) ;;
        *) die "unknown server $s (knot, aya)" ;;
    esac
done
need_cmd dig bind9-dnsutils
install_missing
if [[ " $SERVERS " == *" aya "* && $SKIP_BUILD != 1 ]]; then
    log "building AYA: go build -o bin/aya ./cmd/aya"
    (cd "$REPO" && go build -o "$AYA_BIN" ./cmd/aya) || die "go build ./cmd/aya failed"
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/aya-bench-zones.XXXXXX")
log "generating $RECORDS records"
gen_zone "$WORK/zone.v1" 1 0
gen_zone "$WORK/zone.v2" 2 1
log "zone file: $(($(stat -c %s "$WORK/zone.v1") / 1024 / 1024)) MiB"
for s in $SERVERS; do
    run_server "$s"
done
printf '\n%-5s %10s %8s %10s %10s %10s %10s %10s\n' server first_s cpu_s rss_MB hwm_MB reload_s hwm2_MB rss2_MB
printf '%s\n' "${RESULTS[@]}"
