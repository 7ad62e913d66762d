#!/usr/bin/env bash
# bench/dns/run.sh: compare AYA with Knot DNS and gdnsd on the same zone, on loopback.
#
# Each server in turn is pinned to CPU $SERVER_CPU and loaded by dnsperf pinned
# to CPU $CLIENT_CPU with identical settings, for each workload: static names,
# the GSLB name without ECS (geo) and with ECS from 7680 client subnets
# (geo_ecs), and the same zone signed, queried with ECS and the DO bit
# (geo_ecs_signed, served by aya_signed). For every (workload, server) it
# reports QPS, average / p50 / p99 latency, answered / lost counts and server
# CPU time per answered query, then AYA's ratios to the other servers, to its
# own static run, and of its signed to its unsigned ECS answers. See README.md.
#
# Usage: bench/dns/run.sh                      # all servers, all workloads
#        SERVERS="gdnsd aya" WORKLOADS=geo_ecs DURATION=5 bench/dns/run.sh
#        OUT=/tmp/bench.tsv bench/dns/run.sh     # also write a TSV summary
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/../lib.sh"
REPO=$(cd "$HERE/../.." && pwd)

# ---- settings (all overridable from the environment) -----------------------
SERVERS=${SERVERS:-"knot gdnsd aya aya_signed"}  # run order; servers never run concurrently
WORKLOADS=${WORKLOADS:-"static geo geo_ecs geo_ecs_signed"}  # each name X needs a workload_X function
# Workloads a server runs (X_WORKLOADS for server X; unset: all of $WORKLOADS).
# Knot has no geo steering: it serves the GSLB names statically and runs static only.
KNOT_WORKLOADS=${KNOT_WORKLOADS:-static}
# gdnsd has no DNSSEC; aya_signed (AYA with the zone signed: dnssec.keys_dir
# holds keys that bin/aya dnssec keygen made) runs the signed workload only.
GDNSD_WORKLOADS=${GDNSD_WORKLOADS:-"static geo geo_ecs"}
AYA_WORKLOADS=${AYA_WORKLOADS:-"static geo geo_ecs"}
AYA_SIGNED_WORKLOADS=${AYA_SIGNED_WORKLOADS:-geo_ecs_signed}
DURATION=${DURATION:-10}              # measured seconds per (workload, server)
WARMUP=${WARMUP:-2}                   # unmeasured seconds before each measurement
CLIENTS=${CLIENTS:-4}                 # dnsperf -c: UDP sockets (source ports)
OUTSTANDING=${OUTSTANDING:-100}       # dnsperf -q: max queries in flight
THREADS=${THREADS:-1}                 # dnsperf -T: send/receive thread pairs
QUERY_TIMEOUT=${QUERY_TIMEOUT:-2}     # dnsperf -t: seconds before a query counts as lost
EDNS=${EDNS:-1}                       # 1: dnsperf -e (queries carry an OPT RR)
VERBOSE=${VERBOSE:-1}                 # 1: dnsperf -v, needed for p50/p99
DNSPERF_EXTRA=${DNSPERF_EXTRA:-}      # extra dnsperf flags, word-split
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
KNOT_PORT=${KNOT_PORT:-15301}
AYA_PORT=${AYA_PORT:-15302}
AYA_ADMIN_PORT=${AYA_ADMIN_PORT:-15303}
GDNSD_PORT=${GDNSD_PORT:-15304}
AYA_SIGNED_PORT=${AYA_SIGNED_PORT:-15305}
AYA_SIGNED_ADMIN_PORT=${AYA_SIGNED_ADMIN_PORT:-15306}
ZONE_ORIGIN=${ZONE_ORIGIN:-gslb.example.com.}
ZONE_FILE=${ZONE_FILE:-$REPO/zones/${ZONE_ORIGIN%.}.zone}
SKIP_INSTALL=${SKIP_INSTALL:-0}       # 1: do not touch apt
SKIP_BUILD=${SKIP_BUILD:-0}           # 1: use the existing $REPO/bin/aya
OUT=${OUT:-}                          # path for the TSV summary (optional)
KEEP_WORK=${KEEP_WORK:-0}             # 1: keep the temp dir (server logs, dnsperf output)
SUBJECT=${SUBJECT:-aya}               # the server whose ratios are reported
BAR_VS_STATIC=${BAR_VS_STATIC:-0.8}   # bar: SUBJECT geo workload / SUBJECT static
BAR_VS_GDNSD=${BAR_VS_GDNSD:-0.5}     # bar: SUBJECT / gdnsd, per workload
BAR_VS_KNOT=${BAR_VS_KNOT:-0.7}       # bar: SUBJECT / Knot, per workload
BAR_SIGNED=${BAR_SIGNED:-1.2}         # bar: aya_signed geo_ecs_signed / aya geo_ecs, CPU per query (at most)
# The GSLB name of the geo workloads, and what each area of the bench geo
# source must get for it: aya.yaml's pool "web" (nearest region first), which
# bench/dns/gdnsd.config.in mirrors. Clients without ECS (127.0.0.1) are placed
# in Frankfurt, hence EU.
GEO_NAME=${GEO_NAME:-www.gslb.example.com.}
GEO_EXPECT=${GEO_EXPECT:-"NA=192.0.2.10,2001:db8:1::10 EU=198.51.100.10,2001:db8:2::10 AS=203.0.113.10,2001:db8:3::10"}
# What Knot serves for a GSLB name (it has no geo): the no-ECS answer, eu-west.
STATIC_GSLB_A=${STATIC_GSLB_A:-198.51.100.10}
STATIC_GSLB_AAAA=${STATIC_GSLB_AAAA:-2001:db8:2::10}
# AYA runs with response rate limiting and cookies on, as shipped, except
# that loopback (dnsperf's source) is not exempt and the rate is one the
# load never reaches: every reply pays the limiter's check, none is dropped.
AYA_RRL_RATE=${AYA_RRL_RATE:-1000000}
AYA_RRL_EXEMPT=${AYA_RRL_EXEMPT:-192.0.2.255/32}
OTHER_MAX=${OTHER_MAX:-25}            # warn when more than this % of a CPU went elsewhere
ROUNDS=${ROUNDS:-1}                   # >1: run every server that many times, alternating; report medians

# ---- state --------------------------------------------------------------------
WORK=""
SERVER_PID=""
SERVER_NAME=""
SERVER_PORT=""
CLIENT_PID=""       # the running dnsperf (via timeout), if any
RESULTS=""          # TSV rows, one per (workload, server), in $WORK
GEO_DIR=""          # bench geo source, mmdb, ECS query file ($WORK/geo)
GEO_MMDB=""         # the GeoIP2 City mmdb both AYA and gdnsd use
ECSGEN=""           # the compiled bench/dns/ecsgen
SKIPPED=()          # "server/workload" pairs not run
BINARY_WLS=()       # workloads run with dnsperf -B (no -e)
declare -A ANSWER_REF=()   # workload -> server whose answers the others are checked against


# ---- cleanup ------------------------------------------------------------------
stop_server() {
    local pid=$SERVER_PID
    [[ -n $pid ]] || return 0
    SERVER_PID=""
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        local i
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            warn "$SERVER_NAME (pid $pid) ignored SIGTERM for 5s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $CLIENT_PID ]]; then
        kill -TERM "$CLIENT_PID" 2>/dev/null || true
        wait "$CLIENT_PID" 2>/dev/null || true
    fi
    stop_server
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ $KEEP_WORK == 1 ]]; then
            log "kept the work dir (logs, dnsperf output, answers): $WORK"
        else
            rm -rf -- "$WORK"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- setup --------------------------------------------------------------------

ensure_deps() {
    MISSING_PKGS=()
    need_cmd dnsperf dnsperf
    need_cmd kdig knot-dnsutils
    need_cmd taskset util-linux
    need_cmd timeout coreutils
    need_cmd getconf libc-bin
    for s in $SERVERS; do
        case $s in
            knot) need_cmd knotd knot ;;
            gdnsd) need_cmd gdnsd gdnsd ;;
        esac
    done
    install_missing
    # The knot and gdnsd packages enable systemd units; we never use them (no
    # systemd here, and policy-rc.d normally stops them from starting).
}

# uses_geo: true if a server that needs the bench geo database will run.
uses_geo() {
    [[ " $SERVERS " == *" aya "* || " $SERVERS " == *" aya_signed "* || " $SERVERS " == *" gdnsd "* ]]
}

build_aya() {
    # bin/aya serves, and also builds the bench mmdb (for gdnsd too).
    uses_geo || return 0
    if [[ $SKIP_BUILD == 1 ]]; then
        [[ -x $REPO/bin/aya ]] || die "SKIP_BUILD=1 but $REPO/bin/aya does not exist"
        return 0
    fi
    # Not installed from apt: Debian's golang-go is older than the project's Go.
    command -v go >/dev/null 2>&1 || die "go not found in PATH (needed to build AYA; or set SKIP_BUILD=1)"
    log "building AYA: go build -o bin/aya ./cmd/aya"
    (cd "$REPO" && go build -o "$REPO/bin/aya" ./cmd/aya) || die "go build ./cmd/aya failed"
}

make_workdir() {
    local base=${TMPDIR:-/tmp}
    # tmpfs keeps dnsperf's per-query log (tens of MB) off the disk.
    [[ -d /dev/shm && -w /dev/shm ]] && base=/dev/shm
    WORK=$(mktemp -d "$base/aya-dnsbench.XXXXXX")
    RESULTS=$WORK/results.tsv
    : >"$RESULTS"
}

# prepare_geo: the bench geo source, its mmdb and the ECS query file, in $WORK/geo.
prepare_geo() {
    uses_geo || return 0
    GEO_DIR=$WORK/geo
    mkdir -p "$GEO_DIR"
    ECSGEN=$GEO_DIR/ecsgen
    (cd "$REPO" && go build -o "$ECSGEN" ./bench/dns/ecsgen) || die "go build ./bench/dns/ecsgen failed"
    log "generating the bench geo source, the ECS query file and the check sample (bench/dns/ecsgen)"
    "$ECSGEN" -name "$GEO_NAME" -source "$GEO_DIR/geo-bench.csv" -queries "$GEO_DIR/geo_ecs.raw" \
        -sample "$GEO_DIR/geo_ecs.sample" 2>&1 | sed 's/^/[bench] /' >&2
    # The same queries (same seed) with the DO bit, for geo_ecs_signed.
    "$ECSGEN" -name "$GEO_NAME" -queries "$GEO_DIR/geo_ecs_do.raw" -do 2>&1 | sed 's/^/[bench] /' >&2
    GEO_MMDB=$GEO_DIR/geo-bench.mmdb
    "$REPO/bin/aya" geo build "$GEO_DIR/geo-bench.csv" -o "$GEO_MMDB" 2>&1 | sed 's/^/[bench] aya geo build: /' >&2
    [[ -s $GEO_MMDB ]] || die "aya geo build did not write $GEO_MMDB"
    if ! grep -Eiq '^[^;]*[[:space:]]GSLB[[:space:]]' "$ZONE_FILE"; then
        warn "$ZONE_FILE has no GSLB record: $GEO_NAME is static, the geo workloads measure static answers"
    fi
}

# ---- DNS helpers ----------------------------------------------------------------
# dns_status PORT NAME TYPE: prints the RCODE, or nothing when there is no answer.
dns_status() {
    kdig @127.0.0.1 -p "$1" +time=1 +retry=0 +norecurse "$2" "$3" 2>/dev/null |
        awk '/->>HEADER<<-/ { for (i = 1; i <= NF; i++) if ($i == "status:") { s = $(i+1); sub(/;$/, "", s); print s; exit } }'
}

# port_in_use PORT: true if something already answers DNS there.
port_in_use() {
    [[ -n $(dns_status "$1" "$ZONE_ORIGIN" SOA) ]]
}

# wait_ready NAME PORT PID: bounded wait (~15 s) for NOERROR on the zone's SOA.
wait_ready() {
    local name=$1 port=$2 pid=$3 i st
    for i in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || return 1
        st=$(dns_status "$port" "$ZONE_ORIGIN" SOA)
        if [[ $st == NOERROR ]]; then
            log "$name answers on 127.0.0.1:$port (after ${i} tries)"
            return 0
        fi
        sleep 0.25
    done
    return 1
}

# describe_answers PORT QUERYFILE: one normalised line per query (rcode + sorted
# answer RRs incl. TTL), to check that the servers give the same answers. A
# query line is "NAME TYPE [SUBNET [LABEL]]": SUBNET (not "-") is sent as ECS
# (kdig +subnet), LABEL is copied to the output (check_regions reads it). The
# TTL of SOA records shows as "-": gdnsd clamps it to the SOA minimum (300).
describe_answers() {
    local port=$1 qfile=$2 name type subnet label
    local -a ecs
    while read -r name type subnet label _; do
        [[ -z $name || $name == \#* ]] && continue
        ecs=()
        [[ -n $subnet && $subnet != - ]] && ecs=("+subnet=$subnet")
        # A lost query shows as NO-RESPONSE (kdig's failure must not stop the script).
        { kdig @127.0.0.1 -p "$port" +time=1 +retry=1 +norecurse "${ecs[@]}" "$name" "$type" 2>/dev/null || true; } |
            awk -v q="$name $type${subnet:+ $subnet}${label:+ $label}" '
                /->>HEADER<<-/ { for (i = 1; i <= NF; i++) if ($i == "status:") { s = $(i+1); sub(/;$/, "", s) } }
                /^;; ANSWER SECTION:/ { ans = 1; next }
                /^;;/ || /^$/ { ans = 0; next }
                ans { $1 = tolower($1); if ($4 == "SOA") $2 = "-"; line = $0; gsub(/[ \t]+/, " ", line); rr[n++] = line }
                END {
                    # insertion sort: mawk has no asort
                    for (i = 1; i < n; i++) { v = rr[i]; for (j = i - 1; j >= 0 && rr[j] > v; j--) rr[j+1] = rr[j]; rr[j+1] = v }
                    out = q " -> " (s == "" ? "NO-RESPONSE" : s)
                    for (i = 0; i < n; i++) out = out " | " rr[i]
                    print out
                }'
    done <"$qfile"
}

# check_regions ANSWERS: for the lines whose query has a LABEL "AREA-...",
# check that the answer is exactly one record, the address GEO_EXPECT gives
# AREA for that type. Prints "OK TOTAL" and the offending lines.
check_regions() {
    awk -v expect="$GEO_EXPECT" '
        BEGIN { n = split(expect, e, " "); for (i = 1; i <= n; i++) { split(e[i], kv, "="); split(kv[2], ad, ","); a4[kv[1]] = ad[1]; a6[kv[1]] = ad[2] } }
        {
            split($0, half, " -> "); split(half[1], q, " ")
            if (q[4] == "") next
            area = q[4]; sub(/-.*/, "", area)
            want = (q[2] == "AAAA" ? a6[area] : a4[area])
            total++
            k = split(half[2], rr, " [|] ")
            if (k == 2 && rr[1] == "NOERROR" && rr[2] ~ (" IN " q[2] " ") && substr(rr[2], length(rr[2]) - length(want)) == " " want) ok++
            else bad = bad "    want " want ": " $0 "\n"
        }
        END { printf "%d %d\n%s", ok, total, bad }' "$1"
}

# ---- servers ------------------------------------------------------------------
# A server X provides server_X_start, which must start it in the background
# pinned to $SERVER_CPU and set SERVER_PID and SERVER_PORT. Stdout/stderr go to
# $WORK/X.log.

# translate_zone MODE < ZONE > ZONE: rewrite AYA's private "NAME [TTL] [IN] GSLB
# POOL" records, which other servers reject. MODE knot: static A and AAAA
# ($STATIC_GSLB_A, $STATIC_GSLB_AAAA); MODE gdnsd: "NAME TTL DYNA geoip!POOL".
# Other lines are copied as they are.
translate_zone() {
    awk -v mode="$1" -v a4="$STATIC_GSLB_A" -v a6="$STATIC_GSLB_AAAA" '
        {
            line = $0; sub(/;.*/, "", line)
            n = split(line, f, /[ \t]+/)
            g = 0
            for (i = 2; i <= 4 && i < n; i++) if (toupper(f[i]) == "GSLB") { g = i; break }
            if (!g) { print; next }
            ttl = ""
            for (i = 2; i < g; i++) {
                if (f[i] ~ /^[0-9]+$/) ttl = f[i]
                else if (toupper(f[i]) != "IN") { print; next }   # not "NAME [TTL] [IN] GSLB"
            }
            owner = (f[1] == "" ? "\t" : f[1]); pool = f[g + 1]
            if (mode == "gdnsd") print owner, ttl, "DYNA", "geoip!" pool
            else { print owner, ttl, "IN", "A", a4; print owner, ttl, "IN", "AAAA", a6 }
        }'
}

server_knot_start() {
    local dir=$WORK/knot
    mkdir -p "$dir/zones" "$dir/run" "$dir/db"
    translate_zone knot <"$ZONE_FILE" >"$dir/zones/${ZONE_ORIGIN%.}.zone"
    sed -e "s|@WORKDIR@|$dir|g" -e "s|@PORT@|$KNOT_PORT|g" -e "s|@ZONE@|$ZONE_ORIGIN|g" \
        "$HERE/knot.conf.in" >"$dir/knot.conf"
    knotc -c "$dir/knot.conf" conf-check >/dev/null || die "generated knot.conf is invalid"
    SERVER_PORT=$KNOT_PORT
    taskset -c "$SERVER_CPU" knotd -c "$dir/knot.conf" >"$WORK/knot.log" 2>&1 &
    SERVER_PID=$!
}

# gdnsd 3: config from gdnsd.config.in (geoip plugin, city auto mode, the
# bench mmdb, ECS on), zone file translated (GSLB -> DYNA geoip!POOL).
server_gdnsd_start() {
    local dir=$WORK/gdnsd
    mkdir -p "$dir/etc/zones" "$dir/run" "$dir/state"
    translate_zone gdnsd <"$ZONE_FILE" >"$dir/etc/zones/${ZONE_ORIGIN%.}"
    sed -e "s|@WORKDIR@|$dir|g" -e "s|@PORT@|$GDNSD_PORT|g" -e "s|@MMDB@|$GEO_MMDB|g" \
        "$HERE/gdnsd.config.in" >"$dir/etc/config"
    if ! gdnsd -c "$dir/etc" checkconf >"$dir/checkconf.log" 2>&1; then
        sed 's/^/    /' "$dir/checkconf.log" >&2
        die "generated gdnsd config or zone is invalid"
    fi
    SERVER_PORT=$GDNSD_PORT
    taskset -c "$SERVER_CPU" gdnsd -c "$dir/etc" start >"$WORK/gdnsd.log" 2>&1 &
    SERVER_PID=$!
}

# aya_serve NAME DIR PORT ADMIN_PORT [VAR=VALUE...]: start bin/aya serve
# with the repo's aya.yaml (pool "web", regions), zone dir = a copy of
# $ZONE_FILE alone in DIR/zones, geo database = the bench mmdb, and the
# extra environment given; its log is $WORK/NAME.log.
aya_serve() {
    local name=$1 dir=$2 port=$3 admin=$4
    shift 4
    mkdir -p "$dir/zones"
    cp "$ZONE_FILE" "$dir/zones/${ZONE_ORIGIN%.}.zone"
    SERVER_PORT=$port
    # env execs taskset, which execs aya: SERVER_PID is the server's.
    env "$@" \
        AYA_DNS_LISTEN=127.0.0.1:$port \
        AYA_ADMIN_LISTEN=127.0.0.1:$admin \
        AYA_DNS_ZONES_DIR=$dir/zones \
        AYA_GEO_DATABASE=$GEO_MMDB \
        AYA_DNS_RRL_RESPONSES_PER_SECOND=$AYA_RRL_RATE \
        AYA_DNS_RRL_EXEMPT=$AYA_RRL_EXEMPT \
        AYA_LOG_LEVEL=warn \
        taskset -c "$SERVER_CPU" "${AYA_BIN:-$REPO/bin/aya}" serve --config "$REPO/aya.yaml" \
        >"$WORK/$name.log" 2>&1 &
    SERVER_PID=$!
}

server_aya_start() {
    aya_serve aya "$WORK/aya" "$AYA_PORT" "$AYA_ADMIN_PORT"
}

# AYA with the zone signed: as aya, plus a KSK and a ZSK made by
# `aya dnssec keygen` in dnssec.keys_dir, so the release is signed (every
# answer of pool "web" included), and its own data dir (a fresh release).
server_aya_signed_start() {
    local dir=$WORK/aya_signed
    mkdir -p "$dir/keys"
    "${AYA_BIN:-$REPO/bin/aya}" dnssec keygen --zone "$ZONE_ORIGIN" --dir "$dir/keys" >"$dir/keygen.log" 2>&1 ||
        { sed 's/^/    /' "$dir/keygen.log" >&2; die "aya dnssec keygen failed"; }
    aya_serve aya_signed "$dir" "$AYA_SIGNED_PORT" "$AYA_SIGNED_ADMIN_PORT" \
        AYA_CLUSTER_DATA_DIR="$dir/data" AYA_DNSSEC_KEYS_DIR="$dir/keys"
}

# server_aya_signed_ready: the zone is served signed (its DNSKEY RRset
# answers); an aya that does not sign serves it unsigned, and the signed
# workload is then skipped.
server_aya_signed_ready() {
    local i
    for i in $(seq 1 20); do
        kdig @127.0.0.1 -p "$SERVER_PORT" +time=1 +retry=0 +norecurse +dnssec "$ZONE_ORIGIN" DNSKEY 2>/dev/null |
            grep -Eq '[[:space:]]DNSKEY[[:space:]]' && return 0
        sleep 0.25
    done
    return 1
}

start_server() {
    local name=$1 port_var
    declare -F "server_${name}_start" >/dev/null || die "unknown server '$name' (no server_${name}_start)"
    port_var=${name^^}_PORT
    if port_in_use "${!port_var}"; then
        die "something already answers DNS on 127.0.0.1:${!port_var}; set ${port_var}"
    fi
    SERVER_NAME=$name
    "server_${name}_start"
    log "started $name (pid $SERVER_PID) on CPU $SERVER_CPU"
    if ! wait_ready "$name" "$SERVER_PORT" "$SERVER_PID"; then
        warn "$name did not answer; its log:"
        sed 's/^/    /' "$WORK/$name.log" >&2 || true
        die "$name failed to start"
    fi
}

# ---- workloads ------------------------------------------------------------------
# A workload X provides workload_X, which writes a dnsperf query file to the path
# in $1 and may print extra dnsperf flags on stdout ("-B": the file is binary,
# dnsperf then gets no -e). The answer check queries, with kdig, the lines of
# the file workload_X_check writes to $1 if it exists ("NAME TYPE [SUBNET
# [LABEL]]", see describe_answers), else those of the query file; a workload
# may also provide workload_X_verify (extra checks against the running server).

# static: names with static records only (no GSLB name, no CNAME to one).
workload_static() {
    cp "$HERE/static.queries" "$1"
}

# geo: the GSLB name without ECS, 3 A for 1 AAAA. The client is 127.0.0.1,
# which the bench geo source places in Frankfurt: every answer is eu-west's.
workload_geo() {
    printf '%s A\n%s A\n%s AAAA\n%s A\n' "$GEO_NAME" "$GEO_NAME" "$GEO_NAME" "$GEO_NAME" >"$1"
}

workload_geo_check() {
    printf '%s %s - EU-loopback\n' "$GEO_NAME" A "$GEO_NAME" AAAA >"$1"
}

# geo_ecs: the GSLB name with ECS, one query per client subnet (6144 IPv4 /24s
# and 1536 IPv6 /56s in 24 cities of NA, EU and AS), 3 A for 1 AAAA, in a
# dnsperf -B file written by bench/dns/ecsgen (prepare_geo).
workload_geo_ecs() {
    [[ -s $GEO_DIR/geo_ecs.raw ]] || die "no ECS query file (prepare_geo did not run)"
    cp "$GEO_DIR/geo_ecs.raw" "$1"
    echo "-B"
}

# the kdig check: 4 queries per city (IPv4 and IPv6 subnet, A and AAAA)
workload_geo_ecs_check() {
    cp "$GEO_DIR/geo_ecs.sample" "$1"
}

# geo_ecs_signed: geo_ecs's queries with the DO bit, for the signed zone.
workload_geo_ecs_signed() {
    [[ -s $GEO_DIR/geo_ecs_do.raw ]] || die "no ECS query file with DO (prepare_geo did not run)"
    cp "$GEO_DIR/geo_ecs_do.raw" "$1"
    echo "-B"
}

workload_geo_ecs_signed_check() {
    cp "$GEO_DIR/geo_ecs.sample" "$1"
}

# every query of the load: the region of its area, and an RRSIG over the
# answer that verifies with the zone's DNSKEY (ecsgen -ask -do).
workload_geo_ecs_signed_verify() {
    local out=$WORK/answers-all.$SERVER_NAME.geo_ecs_signed rc=0
    "$ECSGEN" -ask "127.0.0.1:$SERVER_PORT" -queries "$GEO_DIR/geo_ecs_do.raw" -answers "$out" \
        -expect "$GEO_EXPECT" -do 2>"$out.log" || rc=$?
    sed "s|^|[bench] $SERVER_NAME/geo_ecs_signed: all queries: |" "$out.log" >&2
    ((rc == 0)) || warn "$SERVER_NAME/geo_ecs_signed: some of the load's queries got no answer, an answer outside their area's region, or no valid RRSIG (above)"
}

# and every query of the load, answered by the running server: ecsgen -ask
# writes the answers (compared with the reference server's) and checks each
# against the region of its subnet's area.
workload_geo_ecs_verify() {
    local out=$WORK/answers-all.$SERVER_NAME.geo_ecs ref rc=0
    "$ECSGEN" -ask "127.0.0.1:$SERVER_PORT" -queries "$GEO_DIR/geo_ecs.raw" -answers "$out" \
        -expect "$GEO_EXPECT" 2>"$out.log" || rc=$?
    sed "s|^|[bench] $SERVER_NAME/geo_ecs: all queries: |" "$out.log" >&2
    ((rc == 0)) || warn "$SERVER_NAME/geo_ecs: some of the load's queries got no answer or an answer outside their area's region (above)"
    ref=$WORK/answers-all.${ANSWER_REF[geo_ecs]}.geo_ecs
    if [[ ${ANSWER_REF[geo_ecs]} != "$SERVER_NAME" ]]; then
        if cmp -s "$ref" "$out"; then
            log "$SERVER_NAME/geo_ecs: all $(wc -l <"$out") answers identical to ${ANSWER_REF[geo_ecs]}'s"
        else
            warn "$SERVER_NAME/geo_ecs: $(diff "$ref" "$out" | grep -c '^>') of the load's answers differ from ${ANSWER_REF[geo_ecs]}'s (first 10; < ${ANSWER_REF[geo_ecs]}, > $SERVER_NAME):"
            diff "$ref" "$out" | grep '^[<>]' | head -20 | sed 's/^/    /' >&2 || true
        fi
    fi
}

# ---- measurement ------------------------------------------------------------------



# run_dnsperf SECONDS QFILE OUTFILE [extra flags...]
run_dnsperf() {
    local secs=$1 qfile=$2 outfile=$3
    shift 3
    local args=(-s 127.0.0.1 -p "$SERVER_PORT" -d "$qfile" -l "$secs"
        -c "$CLIENTS" -q "$OUTSTANDING" -T "$THREADS" -t "$QUERY_TIMEOUT")
    # -B (binary query file, whose messages carry their own OPT RR) excludes -e.
    [[ $EDNS == 1 && " $* " != *" -B "* ]] && args+=(-e)
    # shellcheck disable=SC2206
    [[ -n $DNSPERF_EXTRA ]] && args+=($DNSPERF_EXTRA)
    args+=("$@")
    # Hard bound: dnsperf stops sending after -l, waits at most -t for stragglers.
    # Run in the background and wait, so that a signal to this script is handled
    # at once (bash defers traps until a foreground child exits).
    local rc=0
    timeout -k 5 $((secs + QUERY_TIMEOUT + 20)) \
        taskset -c "$CLIENT_CPU" dnsperf "${args[@]}" >"$outfile" 2>&1 &
    CLIENT_PID=$!
    wait "$CLIENT_PID" || rc=$?
    CLIENT_PID=""
    if ((rc != 0)); then
        tail -20 "$outfile" | sed 's/^/    /' >&2
        die "dnsperf failed against $SERVER_NAME (exit $rc)"
    fi
}

# parse_dnsperf FILE: prints "sent completed lost runtime qps avg_us p50_us p99_us p999_us samples"
# from dnsperf's statistics and (if -v was used) its per-query lines
# "> RCODE name type LATENCY"; percentiles come from a 1-microsecond histogram.
parse_dnsperf() {
    awk '
        $1 == ">" {
            if ($2 == "T" || $2 == "I" || $NF !~ /^[0-9]+\.[0-9]+$/) next
            us = int($NF * 1000000 + 0.5)
            h[us]++; n++
            if (n == 1 || us < lo) lo = us
            if (us > hi) hi = us
            next
        }
        /^  Queries sent:/        { sent = $3 }
        /^  Queries completed:/   { done = $3 }
        /^  Queries lost:/        { lost = $3 }
        /^  Run time \(s\):/      { rt = $4 }
        /^  Queries per second:/  { qps = $4 }
        /^  Average Latency \(s\):/ { avg = $4 * 1000000 }
        END {
            if (sent == "") exit 1
            # one walk up the histogram: the smallest latency with >= p of the samples at or below it
            p50 = p99 = p999 = "NA"
            if (n > 0) {
                c = 0
                for (i = lo; i <= hi; i++) {
                    if (!(i in h)) continue
                    c += h[i]
                    if (p50 == "NA" && c >= 0.50 * n) p50 = i
                    if (p99 == "NA" && c >= 0.99 * n) p99 = i
                    if (c >= 0.999 * n) { p999 = i; break }
                }
            }
            printf "%s %s %s %s %.0f %.0f %s %s %s %d\n", sent, done, lost, rt, qps, avg, p50, p99, p999, n
        }' "$1"
}

# measure WORKLOAD: warm up, then one measured dnsperf run against the running server.
measure() {
    local wl=$1 qfile=$WORK/$1.queries extra clk t0 t1 out parsed
    local sent answered lost rt qps avg p50 p99 p999 samples cpu_s cpu_us cpu_pct cap
    local s0 s1 c0 c1 a0 a1 k0 k1 srv_busy cli_busy other_pct
    extra=$("workload_$wl" "$qfile")
    local -a xflags=()
    # shellcheck disable=SC2206
    [[ -n $extra ]] && xflags=($extra)
    if [[ " $extra " == *" -B "* && " ${BINARY_WLS[*]} " != *" $wl "* ]]; then
        BINARY_WLS+=("$wl")
    fi

    if ((WARMUP > 0)); then
        log "$SERVER_NAME/$wl: warm-up ${WARMUP}s"
        run_dnsperf "$WARMUP" "$qfile" "$WORK/warmup.out" "${xflags[@]}"
    fi

    out=$WORK/$SERVER_NAME.$wl.dnsperf
    local -a vflag=()
    [[ $VERBOSE == 1 ]] && vflag=(-v)
    clk=$(getconf CLK_TCK)
    log "$SERVER_NAME/$wl: measuring ${DURATION}s"
    s0=$(cpu_busy "$SERVER_CPU"); c0=$(cpu_busy "$CLIENT_CPU"); a0=$(cpu_busy "")
    k0=$(child_ticks)
    t0=$(cpu_ticks "$SERVER_PID")
    run_dnsperf "$DURATION" "$qfile" "$out" "${xflags[@]}" "${vflag[@]}"
    t1=$(cpu_ticks "$SERVER_PID")
    k1=$(child_ticks)
    s1=$(cpu_busy "$SERVER_CPU"); c1=$(cpu_busy "$CLIENT_CPU"); a1=$(cpu_busy "")
    kill -0 "$SERVER_PID" 2>/dev/null || die "$SERVER_NAME died during the run"

    parsed=$(parse_dnsperf "$out") || { tail -20 "$out" >&2; die "cannot parse dnsperf output"; }
    read -r sent answered lost rt qps avg p50 p99 p999 samples <<<"$parsed"
    if [[ $VERBOSE == 1 && $samples != "$answered" ]]; then
        warn "$SERVER_NAME/$wl: $samples latency samples for $answered completed queries"
    fi
    # Server CPU seconds, µs per answered query, % of one CPU over the run time,
    # and the QPS one fully busy CPU would give at that cost (answered / CPU s).
    read -r cpu_s cpu_us cpu_pct cap <<<"$(awk -v d=$((t1 - t0)) -v clk="$clk" -v n="$answered" -v rt="$rt" \
        'BEGIN { s = d / clk; printf "%.2f %.2f %.0f %.0f\n", s, (n > 0 ? s * 1e6 / n : 0), (rt > 0 ? 100 * s / rt : 0), (s > 0 ? n / s : 0) }')"
    # Context from /proc/stat: how busy the server's and dnsperf's CPUs were as a
    # whole (dnsperf's near 100% means the load generator was the bottleneck), and
    # the busy time of all CPUs not charged to the server or to dnsperf: other
    # processes (another build or test) plus kernel work outside both processes.
    read -r srv_busy cli_busy other_pct <<<"$(awk -v a="$s0 $s1" -v b="$c0 $c1" -v c="$a0 $a1" \
        -v srv=$((t1 - t0)) -v cli=$((k1 - k0)) -v clk="$clk" -v rt="$rt" 'BEGIN {
        split(a, x, " "); split(b, y, " "); split(c, z, " ")
        printf "%.0f %.0f %.0f\n", 100 * (x[3] - x[1]) / (x[4] - x[2] + 1e-9), 100 * (y[3] - y[1]) / (y[4] - y[2] + 1e-9),
            100 * ((z[3] - z[1]) - srv - cli) / clk / rt }')"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$wl" "$SERVER_NAME" "$qps" "$avg" "$p50" "$p99" "$p999" "$sent" "$answered" "$lost" \
        "$cpu_s" "$cpu_us" "$cpu_pct" "$rt" "$cap" "$srv_busy" "$cli_busy" "$other_pct" >>"$RESULTS"
    log "$SERVER_NAME/$wl: server process ${cpu_pct}% of a CPU; CPU $SERVER_CPU ${srv_busy}% busy, CPU $CLIENT_CPU (dnsperf) ${cli_busy}% busy; busy time charged to neither: ${other_pct}% of a CPU"
    if ((other_pct > OTHER_MAX)); then
        warn "$SERVER_NAME/$wl: ${other_pct}% of a CPU went to something other than the server and dnsperf (another build or test?): figures are noisy, rerun on an idle machine"
    fi
    grep -E '^  (Response codes|Average packet size):' "$out" | sed "s/^ */[bench] $SERVER_NAME\/$wl: /" >&2 || true
}

# check_answers WORKLOAD: query the workload's check list with kdig; compare
# with the answers of the first server that ran the workload (its reference),
# check the regions of labelled queries, then run workload_X_verify if any.
check_answers() {
    local wl=$1 qfile=$WORK/$1.check.queries mine=$WORK/answers.$SERVER_NAME.$1 ref regions ok total
    if declare -F "workload_${wl}_check" >/dev/null; then
        "workload_${wl}_check" "$qfile"
    else
        "workload_$wl" "$qfile" >/dev/null
    fi
    [[ -n ${ANSWER_REF[$wl]:-} ]] || ANSWER_REF[$wl]=$SERVER_NAME
    ref=$WORK/answers.${ANSWER_REF[$wl]}.$wl
    describe_answers "$SERVER_PORT" "$qfile" >"$mine"
    if grep -q -- '-> NO-RESPONSE' "$mine"; then
        warn "$SERVER_NAME/$wl: some queries got no response:"
        grep -- '-> NO-RESPONSE' "$mine" | sed 's/^/    /' >&2
    fi
    if [[ ${ANSWER_REF[$wl]} == "$SERVER_NAME" ]]; then
        log "$SERVER_NAME/$wl: $(wc -l <"$mine") check queries answered; the other servers' answers are compared with these"
    elif cmp -s "$ref" "$mine"; then
        log "$SERVER_NAME/$wl: $(wc -l <"$mine") check queries: same answers as ${ANSWER_REF[$wl]}"
    else
        warn "$SERVER_NAME/$wl answers differ from ${ANSWER_REF[$wl]}'s (< ${ANSWER_REF[$wl]}, > $SERVER_NAME):"
        diff "$ref" "$mine" | grep '^[<>]' | sed 's/^/    /' >&2 || true
    fi
    regions=$(check_regions "$mine")
    read -r ok total <<<"$regions"
    if ((total > 0)); then
        if ((ok == total)); then
            log "$SERVER_NAME/$wl: $ok/$total labelled check queries answered by their area's region"
        else
            warn "$SERVER_NAME/$wl: only $ok/$total labelled check queries answered by their area's region:"
            tail -n +2 <<<"$regions" | head -20 >&2
        fi
    fi
    if declare -F "workload_${wl}_verify" >/dev/null; then
        "workload_${wl}_verify"
    fi
}

# runs SERVER WORKLOAD: true if SERVER runs WORKLOAD (SERVER_WORKLOADS, upper case).
runs() {
    local var=${1^^}_WORKLOADS
    [[ -z ${!var+set} || " ${!var} " == *" $2 "* ]]
}

# ---- report ---------------------------------------------------------------------
report() {
    local header
    printf '\n'
    printf 'dnsperf %s: -c %s -q %s -T %s -t %s%s%s%s, %ss measured after %ss warm-up; server on CPU %s, dnsperf on CPU %s\n' \
        "$(dnsperf -h 2>&1 | awk '/^Version/ { print $2 }')" "$CLIENTS" "$OUTSTANDING" "$THREADS" "$QUERY_TIMEOUT" \
        "$([[ $EDNS == 1 ]] && echo ' -e')" "$([[ $VERBOSE == 1 ]] && echo ' -v')" \
        "$( ((${#BINARY_WLS[@]} > 0)) && echo " (${BINARY_WLS[*]}: -B, raw queries with ECS, no -e)")" \
        "$DURATION" "$WARMUP" "$SERVER_CPU" "$CLIENT_CPU"
    printf '\n'
    header=$(printf '%-14s %-10s %9s %8s %8s %8s %9s %7s %7s %9s %5s %9s' \
        workload server QPS avg_us p50_us p99_us answered lost cpu_s us/query cpu% QPS@1cpu)
    printf '%s\n' "$header"
    printf '%s\n' "${header//?/-}"
    awk -F'\t' '{ printf "%-14s %-10s %9s %8s %8s %8s %9s %7s %7s %9s %5s %9s\n", $1, $2, $3, $4, $5, $6, $9, $10, $11, $12, $13, $15 }' "$RESULTS"

    # Ratios of SUBJECT (aya) per workload: to each other server that ran the
    # workload, and to its own static run; each against its bar, both for QPS
    # (meaningful only when the servers were saturated) and for QPS@1cpu.
    local ratios bars="" srv var
    for srv in $SERVERS; do
        var=BAR_VS_${srv^^}
        bars+=" $srv=${!var:-}"
    done
    ratios=$(awk -F'\t' -v subj="$SUBJECT" -v wls="$WORKLOADS" -v srvs="$SERVERS" -v bars="$bars" -v sbar="$BAR_VS_STATIC" '
        function r(a, b) { return (b + 0 > 0 && a != "NA" && b != "NA") ? sprintf("%.2f", a / b) : "NA" }
        function v(x, b) { return (b == "" || x == "NA") ? "-" : (x + 0 >= b + 0 ? "ok" : "BELOW") }
        function row(w, label, k, b, bar,   rq, rc) {
            rq = r(q[k], q[b]); rc = r(cap[k], cap[b])
            printf "%-10s %-20s %6s %9s %9s %8s %8s %5s %8s %9s\n", w, label, rq, rc, r(cpu[k], cpu[b]), r(avg[k], avg[b]), r(p99[k], p99[b]),
                (bar == "" ? "-" : bar), v(rq, bar), v(rc, bar)
        }
        { key = $1 SUBSEP $2; q[key] = $3; avg[key] = $4; p99[key] = $6; cpu[key] = $12; cap[key] = $15 }
        END {
            nb = split(bars, bb, " "); for (i = 1; i <= nb; i++) { split(bb[i], kv, "="); bar[kv[1]] = kv[2] }
            nw = split(wls, W, " "); ns = split(srvs, S, " ")
            for (i = 1; i <= nw; i++) {
                w = W[i]; k = w SUBSEP subj
                if (!(k in q)) continue
                for (j = 1; j <= ns; j++)
                    if (S[j] != subj && ((w SUBSEP S[j]) in q)) row(w, subj "/" S[j], k, w SUBSEP S[j], bar[S[j]])
                if (w != "static" && (("static" SUBSEP subj) in q)) row(w, subj " " w "/static", k, "static" SUBSEP subj, sbar)
            }
        }' "$RESULTS")
    if [[ -n $ratios ]]; then
        printf '\n'
        header=$(printf '%-10s %-20s %6s %9s %9s %8s %8s %5s %8s %9s' workload ratio QPS QPS@1cpu us/query avg_lat p99_lat bar "QPS>=bar" "1cpu>=bar")
        printf '%s\n' "$header"
        printf '%s\n' "${header//?/-}"
        printf '%s\n' "$ratios"
    fi

    # Issue 12: a signed steered answer with DO costs at most BAR_SIGNED
    # times an unsigned one in server CPU per query, same run.
    awk -F'\t' -v bar="$BAR_SIGNED" '
        { cpu[$1 SUBSEP $2] = $12; cap[$1 SUBSEP $2] = $15 }
        END {
            s = "geo_ecs_signed" SUBSEP "aya_signed"; u = "geo_ecs" SUBSEP "aya"
            if (!(s in cpu) || !(u in cpu) || cpu[u] + 0 <= 0) exit
            r = cpu[s] / cpu[u]
            printf "\nsigned/unsigned: aya_signed geo_ecs_signed / aya geo_ecs: us/query %.2f (%s / %s), QPS@1cpu %.2f; bar <= %s: %s\n",
                r, cpu[s], cpu[u], (cap[u] + 0 > 0 ? cap[s] / cap[u] : 0), bar, (r <= bar + 0 ? "ok" : "ABOVE")
        }' "$RESULTS"

    if ((${#SKIPPED[@]} > 0)); then
        printf '\nskipped (X_WORKLOADS): %s\n' "${SKIPPED[*]}"
        if [[ " ${SKIPPED[*]}" == *" knot/"* ]]; then
            printf '      Knot has no geo steering: it serves %s statically (%s, %s), so it runs static only.\n' \
                "${GEO_NAME%.}" "$STATIC_GSLB_A" "$STATIC_GSLB_AAAA"
        fi
    fi

    # A server below ~90% CPU was not saturated: its QPS is bounded by dnsperf.
    awk -F'\t' '
        $13 + 0 < 90 { runs = runs sprintf("%s %s/%s %s%% (dnsperf CPU %s%%)", (runs == "" ? "" : ","), $2, $1, $13, $17) }
        END { if (runs != "") printf "\nnote: not saturated (server below 90%% of CPU %s):%s.\n      Their QPS and latency are what dnsperf on CPU %s could send, not server capacity,\n      and their QPS ratios are ~1 by construction: compare us/query and QPS@1cpu.\n", scpu, runs, ccpu }' \
        scpu="$SERVER_CPU" ccpu="$CLIENT_CPU" "$RESULTS"

    if [[ -n $OUT ]]; then
        {
            printf 'workload\tserver\tqps\tavg_lat_us\tp50_us\tp99_us\tp999_us\tsent\tanswered\tlost\tserver_cpu_s\tcpu_us_per_query\tserver_cpu_pct\trun_time_s\tqps_at_1cpu\tserver_cpu_busy_pct\tclient_cpu_busy_pct\tother_cpu_pct\n'
            cat "$RESULTS"
        } >"$OUT"
        log "TSV summary written to $OUT"
    fi
}

# rounds_report: with ROUNDS > 1, every run, then each SUBJECT/other ratio of
# CPU per answer and of p99 round by round (the two servers of a round ran
# minutes apart, so a neighbour's job seldom hits one and not the other) with
# their median and range; $RESULTS becomes the per-(workload, server) median
# of each column, which report prints as usual.
rounds_report() {
    local r header
    printf '\nevery run (%s rounds, server order in each: %s):\n\n' "$ROUNDS" "$SERVERS"
    header=$(printf '%-5s %-14s %-10s %9s %8s %9s %5s %6s' round workload server QPS p99_us us/query cpu% other%)
    printf '%s\n%s\n' "$header" "${header//?/-}"
    for ((r = 1; r <= ROUNDS; r++)); do
        awk -F'\t' -v r="$r" '{ printf "%-5s %-14s %-10s %9s %8s %9s %5s %6s\n", r, $1, $2, $3, $6, $12, $13, $18 }' "$WORK/results.$r.tsv"
    done
    printf '\npaired ratios, round by round (SUBJECT %s over the other server of the same round):\n\n' "$SUBJECT"
    header=$(printf '%-14s %-16s %-9s %-32s %s' workload ratio column "median (range)" "each round")
    printf '%s\n%s\n' "$header" "${header//?/-}"
    for ((r = 1; r <= ROUNDS; r++)); do
        awk -F'\t' -v r="$r" '{ print r "\t" $0 }' "$WORK/results.$r.tsv"
    done | awk -F'\t' -v subj="$SUBJECT" -v n="$ROUNDS" '
        function med(list,   a, k, i, j, t) {
            k = split(list, a, " ")
            for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
            return sprintf("%.2f (%.2f-%.2f)", (k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2), a[1], a[k])
        }
        { k = $2 SUBSEP $3 SUBSEP $1; cpu[k] = $13; p99[k] = $7; seen[$2 SUBSEP $3] = 1; if (!($2 in wl)) { wl[$2] = 1; wls[++nw] = $2 } if (!($3 in sv)) { sv[$3] = 1; svs[++ns] = $3 } }
        END {
            for (i = 1; i <= nw; i++) for (j = 1; j <= ns; j++) {
                w = wls[i]; o = svs[j]
                if (o == subj || !((w SUBSEP subj) in seen) || !((w SUBSEP o) in seen)) continue
                for (c = 1; c <= 2; c++) {
                    list = ""
                    for (r = 1; r <= n; r++) {
                        a = (c == 1 ? cpu[w SUBSEP subj SUBSEP r] : p99[w SUBSEP subj SUBSEP r])
                        b = (c == 1 ? cpu[w SUBSEP o SUBSEP r] : p99[w SUBSEP o SUBSEP r])
                        if (a != "" && b + 0 > 0 && a != "NA" && b != "NA") list = list sprintf(" %.2f", a / b)
                    }
                    if (list != "") printf "%-14s %-16s %-9s %-32s%s\n", w, subj "/" o, (c == 1 ? "us/query" : "p99"), med(list), list
                }
            }
        }'
    # The median run of each (workload, server), column by column.
    cat "$WORK"/results.[0-9]*.tsv | awk -F'\t' -v OFS='\t' '
        function med(list,   a, k, i, j, t) {
            k = split(list, a, " ")
            for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
            return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
        }
        { k = $1 SUBSEP $2; if (!(k in seen)) { seen[k] = 1; keys[++nk] = k; wl[k] = $1; sv[k] = $2 }
          for (c = 3; c <= NF; c++) col[k, c] = col[k, c] " " $c; nf = NF }
        END {
            for (i = 1; i <= nk; i++) {
                k = keys[i]; line = wl[k] OFS sv[k]
                for (c = 3; c <= nf; c++) { m = med(col[k, c]); line = line OFS (col[k, c] ~ /NA/ ? "NA" : (m == int(m) ? m : sprintf("%.2f", m))) }
                print line
            }
        }' >"$RESULTS"
    printf '\nmedians of the %s rounds (each column on its own) follow.\n' "$ROUNDS"
}

# ---- main -------------------------------------------------------------------------
main() {
    [[ -f $ZONE_FILE ]] || die "zone file $ZONE_FILE not found"
    [[ $(nproc) -ge 2 ]] || warn "fewer than 2 CPUs: server and dnsperf will share a core"
    local w s
    for w in $WORKLOADS; do
        declare -F "workload_$w" >/dev/null || die "unknown workload '$w' (no workload_$w function)"
    done
    for s in $SERVERS; do
        declare -F "server_${s}_start" >/dev/null || die "unknown server '$s' (no server_${s}_start function)"
    done
    ensure_deps
    build_aya
    make_workdir
    prepare_geo
    log "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (other busy processes skew the figures)"

    [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer (got '$ROUNDS')"
    local r all=$RESULTS
    for ((r = 1; r <= ROUNDS; r++)); do
        ((ROUNDS == 1)) || { RESULTS=$WORK/results.$r.tsv; : >"$RESULTS"; log "round $r of $ROUNDS"; }
        for s in $SERVERS; do
            local todo=()
            for w in $WORKLOADS; do
                if runs "$s" "$w"; then todo+=("$w"); elif ((r == 1)); then SKIPPED+=("$s/$w"); fi
            done
            ((${#todo[@]} > 0)) || { log "$s: no workload to run"; continue; }
            start_server "$s"
            if declare -F "server_${s}_ready" >/dev/null && ! "server_${s}_ready"; then
                warn "$s: not ready for its workloads (server_${s}_ready; for aya_signed: this aya does not sign zones); skipped"
                for w in "${todo[@]}"; do SKIPPED+=("$s/$w"); done
                stop_server
                continue
            fi
            for w in "${todo[@]}"; do
                ((r > 1)) || check_answers "$w"
                measure "$w"
            done
            stop_server
        done
    done
    if ((ROUNDS > 1)); then
        RESULTS=$all
        rounds_report
    fi
    report
}

main "$@"
