#!/usr/bin/env bash
# bench/proxy/run.sh: compare AYA's HTTP proxy with HAProxy and nginx, on loopback.
#
# Two instances of a tiny backend (bench/proxy/backend) answer a fixed body.
# Each proxy in turn (never two at once) balances them round robin over
# keep-alive connections; it and the backends are pinned to CPU $PROXY_CPU,
# wrk to CPU $CLIENT_CPU. After a warm-up, one measured wrk run gives
# requests/s, p50/p99 latency and the proxy process's CPU time per request.
# AYA then gets a second measured run with a CPU profile from its admin
# server (pprof). The report ends with AYA's ratios to the others and the
# bar: AYA req/s >= BAR x HAProxy req/s. See README.md.
#
# Usage: bench/proxy/run.sh                        # all proxies
#        PROXIES="haproxy aya" DURATION=5 CONNS=128 bench/proxy/run.sh
#        RESULTS_DIR=/tmp/pb bench/proxy/run.sh      # where the profile and wrk output go
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/../lib.sh"
REPO=$(cd "$HERE/../.." && pwd)

# ---- settings (all overridable from the environment) -----------------------
PROXIES=${PROXIES:-"haproxy nginx aya"}  # run order; proxies never run concurrently
DURATION=${DURATION:-10}              # measured seconds per proxy (and of the AYA profile)
WARMUP=${WARMUP:-3}                   # unmeasured wrk seconds before each measurement
CONNS=${CONNS:-64}                    # wrk -c: client keep-alive connections
THREADS=${THREADS:-1}                 # wrk -t: wrk threads (it has one CPU)
WRK_TIMEOUT=${WRK_TIMEOUT:-2}         # wrk --timeout, seconds
BODY_SIZE=${BODY_SIZE:-100}           # bytes of the backends' response body
PROXY_CPU=${PROXY_CPU:-1}             # the proxy and the backends
CLIENT_CPU=${CLIENT_CPU:-0}           # wrk
BACKEND_PORTS=${BACKEND_PORTS:-"18081 18082"}  # one backend instance per port
AYA_PORT=${AYA_PORT:-18080}
AYABASE_PORT=${AYABASE_PORT:-18085}
AYABASE_BIN=${AYABASE_BIN:-}          # proxy "ayabase": another aya binary (A/B against bin/aya)
AYA_ADMIN_PORT=${AYA_ADMIN_PORT:-19090}
HAPROXY_PORT=${HAPROXY_PORT:-18090}
NGINX_PORT=${NGINX_PORT:-18091}
ROUNDS=${ROUNDS:-1}                   # rounds over all proxies (interleaved); the report uses medians
PROFILE=${PROFILE:-1}                 # 1: second measured AYA run (last round) with a CPU profile
BAR=${BAR:-0.5}                       # bar: AYA req/s / HAProxy req/s
SKIP_INSTALL=${SKIP_INSTALL:-0}       # 1: do not touch apt
SKIP_BUILD=${SKIP_BUILD:-0}           # 1: use the existing $REPO/bin/aya
RESULTS_DIR=${RESULTS_DIR:-}          # kept: wrk output, profile, TSV (default: a new /tmp dir)
KEEP_WORK=${KEEP_WORK:-0}             # 1: keep the temp dir (configs, logs)
OTHER_MAX=${OTHER_MAX:-25}            # warn when more than this % of a CPU went elsewhere
SYSCALLS=${SYSCALLS:-0}               # 1: count the proxy's syscalls and context switches (perf stat)

# ---- state --------------------------------------------------------------------
WORK=""
PROXY_PID=""
PROXY_NAME=""
PROXY_PORT=""
CLIENT_PID=""       # the running wrk (via timeout), if any
PROF_PID=""         # the running profile download, if any
PERF_PID=""         # the running perf stat (SYSCALLS=1), if any
BACKEND_PIDS=()
RESULTS=""          # TSV rows, one per measured run, in $RESULTS_DIR
ROUND=0             # the current round (1..ROUNDS)


# ---- cleanup ------------------------------------------------------------------
# stop_pid PID NAME: SIGTERM, wait up to 5 s, then SIGKILL; only PIDs we started.
stop_pid() {
    local pid=$1 name=$2 i
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            warn "$name (pid $pid) ignored SIGTERM for 5s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

stop_proxy() {
    local pid=$PROXY_PID
    [[ -n $pid ]] || return 0
    PROXY_PID=""
    stop_pid "$pid" "$PROXY_NAME"
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in $CLIENT_PID $PROF_PID $PERF_PID; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    stop_proxy
    for pid in "${BACKEND_PIDS[@]}"; do
        stop_pid "$pid" backend
    done
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ $KEEP_WORK == 1 ]]; then
            log "kept the work dir (configs, logs): $WORK"
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
    need_cmd wrk wrk
    need_cmd curl curl
    need_cmd taskset util-linux
    need_cmd timeout coreutils
    need_cmd getconf libc-bin
    [[ $SYSCALLS != 1 ]] || need_cmd perf linux-perf
    local p
    for p in $PROXIES; do
        case $p in
            haproxy) need_cmd haproxy haproxy ;;
            nginx) need_cmd nginx nginx ;;
        esac
    done
    install_missing
    # The haproxy and nginx packages enable systemd units (on port 80 for
    # nginx); this script never uses them.
}

check_cpus() {
    local n
    n=$(getconf _NPROCESSORS_ONLN)
    ((PROXY_CPU < n && CLIENT_CPU < n)) || die "PROXY_CPU=$PROXY_CPU / CLIENT_CPU=$CLIENT_CPU: this machine has CPUs 0-$((n - 1))"
    ((PROXY_CPU != CLIENT_CPU)) || warn "the proxy and wrk share CPU $PROXY_CPU: figures are not comparable with other runs"
}

build() {
    command -v go >/dev/null 2>&1 || die "go not found in PATH (needed for the backend and AYA)"
    if [[ " $PROXIES " == *" aya "* ]]; then
        if [[ $SKIP_BUILD == 1 ]]; then
            [[ -x $REPO/bin/aya ]] || die "SKIP_BUILD=1 but $REPO/bin/aya does not exist"
        else
            log "building AYA: make build"
            make -C "$REPO" --no-print-directory build >&2 || die "make build failed"
        fi
    fi
    log "building the backend: go build ./bench/proxy/backend"
    (cd "$REPO" && go build -o "$WORK/backend" ./bench/proxy/backend) || die "go build ./bench/proxy/backend failed"
}

make_dirs() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/aya-proxybench.XXXXXX")
    if [[ -z $RESULTS_DIR ]]; then
        RESULTS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/aya-proxybench-results.XXXXXX")
    fi
    mkdir -p "$RESULTS_DIR"
    RESULTS=$RESULTS_DIR/results.tsv
    printf 'proxy\trps\tp50_us\tp99_us\trequests\tseconds\tproxy_cpu_s\tproxy_cpu_us_per_req\tproxy_cpu_pct\tbackend_cpu_us_per_req\tproxy_cpu_busy_pct\tclient_cpu_busy_pct\tother_cpu_pct\tsocket_errors\tnon_2xx_3xx\tround\tsyscalls_per_req\tcontext_switches_per_req\n' \
        >"$RESULTS"
}

# ---- HTTP helpers ---------------------------------------------------------------
port_in_use() {   # true if something accepts TCP connections on 127.0.0.1:PORT
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# http_check PORT: prints "STATUS BYTES" of GET / (nothing on no answer).
http_check() {
    curl -s -o /dev/null --max-time 1 -w '%{http_code} %{size_download}\n' "http://127.0.0.1:$1/" 2>/dev/null || true
}

# wait_http NAME PORT PID: bounded wait (~15 s) for a 200 with the backends' body.
wait_http() {
    local name=$1 port=$2 pid=$3 i got
    for i in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || return 1
        got=$(http_check "$port")
        if [[ $got == "200 $BODY_SIZE" ]]; then
            log "$name answers on 127.0.0.1:$port (after $i tries)"
            return 0
        fi
        sleep 0.25
    done
    warn "$name on 127.0.0.1:$port: last answer '${got:-none}', want '200 $BODY_SIZE'"
    return 1
}

start_backends() {
    local port pid
    for port in $BACKEND_PORTS; do
        port_in_use "$port" && die "something already listens on 127.0.0.1:$port; set BACKEND_PORTS"
        taskset -c "$PROXY_CPU" "$WORK/backend" -listen "127.0.0.1:$port" -size "$BODY_SIZE" \
            >"$WORK/backend-$port.log" 2>&1 &
        pid=$!
        BACKEND_PIDS+=("$pid")
        wait_http "backend" "$port" "$pid" || { sed 's/^/    /' "$WORK/backend-$port.log" >&2; die "backend on port $port failed to start"; }
    done
    log "backends (pids ${BACKEND_PIDS[*]}) on CPU $PROXY_CPU, ports $BACKEND_PORTS, ${BODY_SIZE}-byte body"
}

# ---- proxies ------------------------------------------------------------------
# A proxy X provides proxy_X_start, which must start it in the foreground of a
# background job pinned to $PROXY_CPU and set PROXY_PID (the process whose
# CPU, with its children's, is measured). Output goes to $WORK/X.log. Each one
# balances the backends round robin over kept-alive connections, adds
# X-Forwarded-For, and logs no requests.

proxy_haproxy_start() {
    local dir=$WORK/haproxy port servers=""
    mkdir -p "$dir"
    for port in $BACKEND_PORTS; do
        servers+="    server b$port 127.0.0.1:$port"$'\n'
    done
    cat >"$dir/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4096

defaults
    mode http
    option http-keep-alive
    option forwardfor
    timeout connect 2s
    timeout client 60s
    timeout server 30s
    timeout http-keep-alive 60s

frontend bench
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend backends

backend backends
    balance roundrobin
    http-reuse always
$servers
EOF
    haproxy -c -q -f "$dir/haproxy.cfg" >&2 || die "generated haproxy.cfg is invalid"
    # -db: foreground, no master process: one process, one thread.
    taskset -c "$PROXY_CPU" haproxy -db -f "$dir/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
    PROXY_PID=$!
}

proxy_nginx_start() {
    local dir=$WORK/nginx port servers="" user=""
    mkdir -p "$dir/logs" "$dir/tmp"
    for port in $BACKEND_PORTS; do
        servers+="        server 127.0.0.1:$port;"$'\n'
    done
    # As root nginx would switch its worker to "nobody": stay the current user.
    ((EUID == 0)) && user="user $(id -un) $(id -gn);"
    cat >"$dir/nginx.conf" <<EOF
$user
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;

events {
    worker_connections 4096;
}

http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;

    upstream backends {
$servers        keepalive 64;
        keepalive_requests 1000000;
    }

    server {
        listen 127.0.0.1:$NGINX_PORT;
        keepalive_requests 1000000;
        keepalive_timeout 60s;
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
}
EOF
    nginx -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" >&2 || die "generated nginx.conf is invalid"
    # A master and one worker; the measured CPU is the master's plus its children's.
    taskset -c "$PROXY_CPU" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" >"$WORK/nginx.log" 2>&1 &
    PROXY_PID=$!
}

proxy_aya_start() {
    aya_start aya "$REPO/bin/aya" "$AYA_PORT"
}

# proxy_ayabase_start: AYABASE_BIN (e.g. built from the base commit) with
# the same configuration, so that PROXIES="haproxy ayabase aya" interleaves
# an A/B of two AYA builds; the ratios then include aya/ayabase.
proxy_ayabase_start() {
    [[ -x $AYABASE_BIN ]] || die "proxy ayabase needs AYABASE_BIN, an aya binary"
    aya_start ayabase "$AYABASE_BIN" "$AYABASE_PORT"
}

# aya_start NAME BIN PORT
aya_start() {
    local name=$1 bin=$2 listen=$3
    local dir=$WORK/$name port backends=""
    mkdir -p "$dir"
    for port in $BACKEND_PORTS; do
        backends+="        - {name: b$port, address: 127.0.0.1:$port}"$'\n'
    done
    cat >"$dir/proxy.yaml" <<EOF
node:
  id: bench-proxy
admin:
  listen: 127.0.0.1:$AYA_ADMIN_PORT
log:
  level: warn
proxy:
  region: bench
  access_log: false
  listeners:
    - address: 127.0.0.1:$listen
  routes:
    - {pool: web}
  pools:
    - name: web
      algorithm: round_robin
      backends:
$backends
EOF
    port_in_use "$AYA_ADMIN_PORT" && die "something already listens on 127.0.0.1:$AYA_ADMIN_PORT; set AYA_ADMIN_PORT"
    taskset -c "$PROXY_CPU" "$bin" proxy --config "$dir/proxy.yaml" >"$WORK/$name.log" 2>&1 &
    PROXY_PID=$!
}

start_proxy() {
    local name=$1 port_var
    declare -F "proxy_${name}_start" >/dev/null || die "unknown proxy '$name' (no proxy_${name}_start)"
    port_var=${name^^}_PORT
    PROXY_PORT=${!port_var}
    port_in_use "$PROXY_PORT" && die "something already listens on 127.0.0.1:$PROXY_PORT; set $port_var"
    PROXY_NAME=$name
    "proxy_${name}_start"
    log "started $name (pid $PROXY_PID) on CPU $PROXY_CPU, port $PROXY_PORT"
    if ! wait_http "$name" "$PROXY_PORT" "$PROXY_PID"; then
        warn "$name did not answer; its log:"
        sed 's/^/    /' "$WORK/$name.log" >&2 || true
        die "$name failed to start"
    fi
}

# ---- measurement ------------------------------------------------------------------

tree_ticks() {  # cpu_ticks of PID plus its direct children (nginx's worker)
    local sum child children=""
    sum=$(cpu_ticks "$1")
    [[ -r /proc/$1/task/$1/children ]] && children=$(<"/proc/$1/task/$1/children")
    for child in $children; do
        sum=$((sum + $(cpu_ticks "$child")))
    done
    echo "$sum"
}

backend_ticks() {   # the backends' ticks, one per backend, space-separated
    local pid ticks=()
    for pid in "${BACKEND_PIDS[@]}"; do
        ticks+=("$(cpu_ticks "$pid")")
    done
    echo "${ticks[*]}"
}



# run_wrk SECONDS OUTFILE: wrk against the running proxy, bounded in time.
run_wrk() {
    local secs=$1 outfile=$2 rc=0
    # In the background, so that a signal to this script is handled at once.
    timeout -k 5 $((secs + WRK_TIMEOUT + 20)) \
        taskset -c "$CLIENT_CPU" wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" --timeout "${WRK_TIMEOUT}s" --latency \
        "http://127.0.0.1:$PROXY_PORT/" >"$outfile" 2>&1 &
    CLIENT_PID=$!
    wait "$CLIENT_PID" || rc=$?
    CLIENT_PID=""
    if ((rc != 0)); then
        tail -20 "$outfile" | sed 's/^/    /' >&2
        die "wrk failed against $PROXY_NAME (exit $rc)"
    fi
}

# parse_wrk FILE: prints "requests seconds rps p50_us p99_us errors non2xx".
parse_wrk() {
    awk '
        function us(v) {
            if (v ~ /us$/) return v + 0
            if (v ~ /ms$/) return (v + 0) * 1000
            if (v ~ /m$/)  return (v + 0) * 60000000
            if (v ~ /s$/)  return (v + 0) * 1000000
            return v + 0
        }
        / requests in / { req = $1; t = $4; sub(/,$/, "", t); sec = us(t) / 1000000 }
        /^Requests\/sec:/ { rps = $2 }
        $1 == "50%" { p50 = us($2) }
        $1 == "99%" { p99 = us($2) }
        /^  Socket errors:/ { for (i = 3; i <= NF; i += 2) { v = $(i + 1); sub(/,$/, "", v); err += v } }
        /^  Non-2xx or 3xx responses:/ { non = $NF }
        END {
            if (req == "" || rps == "") exit 1
            printf "%s %.2f %.0f %.0f %.0f %d %d\n", req, sec, rps, p50, p99, err, non
        }' "$1"
}

# measure LABEL: one measured wrk run against the running proxy; LABEL names
# the row ("aya", "aya+pprof"). Appends a row to $RESULTS.
measure() {
    local label=$1 out=$RESULTS_DIR/wrk.$1.txt clk t0 t1 b0 b1 parsed
    local reqs secs rps p50 p99 errs non cpu_s cpu_us cpu_pct bk_us
    local s0 s1 c0 c1 a0 a1 k0 k1 p_busy c_busy other_pct bk_min
    clk=$(getconf CLK_TCK)
    log "$label: round $ROUND/$ROUNDS, measuring ${DURATION}s (wrk -t$THREADS -c$CONNS)"
    s0=$(cpu_busy "$PROXY_CPU"); c0=$(cpu_busy "$CLIENT_CPU"); a0=$(cpu_busy "")
    k0=$(child_ticks); b0=$(backend_ticks)
    t0=$(tree_ticks "$PROXY_PID")
    start_perf "$label"
    run_wrk "$DURATION" "$out"
    stop_perf
    t1=$(tree_ticks "$PROXY_PID")
    k1=$(child_ticks); b1=$(backend_ticks)
    s1=$(cpu_busy "$PROXY_CPU"); c1=$(cpu_busy "$CLIENT_CPU"); a1=$(cpu_busy "")
    kill -0 "$PROXY_PID" 2>/dev/null || die "$PROXY_NAME died during the run"

    parsed=$(parse_wrk "$out") || { tail -20 "$out" >&2; die "cannot parse wrk output ($out)"; }
    read -r reqs secs rps p50 p99 errs non <<<"$parsed"
    ((errs == 0 && non == 0)) || warn "$label: $errs socket errors, $non non-2xx/3xx responses (see $out)"
    # proxy CPU s, µs per request, % of a CPU; the backends' µs per request and
    # the smaller backend's share (0 would mean no round robin).
    read -r cpu_s cpu_us cpu_pct bk_us bk_min <<<"$(awk -v d=$((t1 - t0)) -v b0="$b0" -v b1="$b1" \
        -v clk="$clk" -v n="$reqs" -v rt="$secs" 'BEGIN {
        s = d / clk; nb = split(b0, x, " "); split(b1, y, " "); bt = 0; mn = -1
        for (i = 1; i <= nb; i++) { v = y[i] - x[i]; bt += v; if (mn < 0 || v < mn) mn = v }
        printf "%.2f %.2f %.0f %.2f %.0f\n", s, (n > 0 ? s * 1e6 / n : 0), (rt > 0 ? 100 * s / rt : 0),
            (n > 0 ? bt / clk * 1e6 / n : 0), (bt > 0 ? 100 * mn / bt : 0) }')"
    # From /proc/stat: how busy the proxy's CPU and wrk's CPU were as a whole,
    # and the busy time of all CPUs charged to none of proxy, backends and wrk.
    read -r p_busy c_busy other_pct <<<"$(awk -v a="$s0 $s1" -v b="$c0 $c1" -v c="$a0 $a1" -v b0="$b0" -v b1="$b1" \
        -v own=$((t1 - t0 + k1 - k0)) -v clk="$clk" -v rt="$secs" 'BEGIN {
        split(a, x, " "); split(b, y, " "); split(c, z, " ")
        nb = split(b0, u, " "); split(b1, w, " "); for (i = 1; i <= nb; i++) own += w[i] - u[i]
        printf "%.0f %.0f %.0f\n", 100 * (x[3] - x[1]) / (x[4] - x[2] + 1e-9), 100 * (y[3] - y[1]) / (y[4] - y[2] + 1e-9),
            100 * ((z[3] - z[1]) - own) / clk / rt }')"
    local sys_req=- cs_req=-
    if [[ $SYSCALLS == 1 ]]; then
        read -r sys_req cs_req <<<"$(perf_per_req "$label" "$reqs")"
        log "$label: $sys_req syscalls and $cs_req context switches per request (perf stat, all threads)"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$label" "$rps" "$p50" "$p99" "$reqs" "$secs" "$cpu_s" "$cpu_us" "$cpu_pct" "$bk_us" \
        "$p_busy" "$c_busy" "$other_pct" "$errs" "$non" "$ROUND" "$sys_req" "$cs_req" >>"$RESULTS"
    log "$label: $rps req/s, p99 ${p99} us; proxy ${cpu_pct}% of a CPU, ${cpu_us} us/req; backends ${bk_us} us/req (smaller one ${bk_min}% of their CPU)"
    log "$label: CPU $PROXY_CPU (proxy+backends) ${p_busy}% busy, CPU $CLIENT_CPU (wrk) ${c_busy}% busy; busy time charged to none of them: ${other_pct}% of a CPU"
    ((bk_min >= 20)) || warn "$label: one backend got only ${bk_min}% of the backends' CPU: is the proxy balancing?"
    if ((other_pct > OTHER_MAX)); then
        warn "$label: ${other_pct}% of a CPU went to something other than proxy, backends and wrk (another build or test?): figures are noisy, rerun on an idle machine"
    fi
}

# start_perf LABEL: with SYSCALLS=1, count the proxy's (and its children's)
# syscalls and context switches until stop_perf. Counting costs the proxy a
# little CPU per syscall, which is why it is off by default.
start_perf() {
    [[ $SYSCALLS == 1 ]] || return 0
    local pids=$PROXY_PID child
    if [[ -r /proc/$PROXY_PID/task/$PROXY_PID/children ]]; then
        for child in $(<"/proc/$PROXY_PID/task/$PROXY_PID/children"); do
            pids+=",$child"
        done
    fi
    perf stat -x, -e raw_syscalls:sys_enter,context-switches${PERF_EXTRA:+,$PERF_EXTRA} -p "$pids" \
        -o "$RESULTS_DIR/perf.$1.r$ROUND.txt" 2>/dev/null &
    PERF_PID=$!
}

stop_perf() {
    [[ -n $PERF_PID ]] || return 0
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    PERF_PID=""
}

# perf_per_req LABEL REQUESTS: syscalls and context switches per request.
perf_per_req() {
    awk -F, -v n="$2" '
        $3 ~ /raw_syscalls:sys_enter/ { s = $1 }
        $3 ~ /context-switches/ { c = $1 }
        END { if (n > 0 && s != "") printf "%.2f %.2f\n", s / n, c / n; else print "- -" }' \
        "$RESULTS_DIR/perf.$1.r$ROUND.txt" 2>/dev/null || echo "- -"
}

# profile_aya: a second measured run of AYA with a CPU profile of the same length.
profile_aya() {
    local prof=$RESULTS_DIR/aya-proxy.pprof rc=0
    log "aya: CPU profile (${DURATION}s) during a second measured run -> $prof"
    timeout -k 5 $((DURATION + 30)) taskset -c "$CLIENT_CPU" \
        curl -s --max-time $((DURATION + 20)) -o "$prof" \
        "http://127.0.0.1:$AYA_ADMIN_PORT/debug/pprof/profile?seconds=$DURATION" &
    PROF_PID=$!
    measure aya+pprof
    wait "$PROF_PID" || rc=$?
    PROF_PID=""
    if ((rc != 0)) || [[ ! -s $prof ]]; then
        warn "aya: no profile (curl exit $rc)"
        return 0
    fi
    (cd "$REPO" && go tool pprof -top -nodecount=25 "$REPO/bin/aya" "$prof") >"$RESULTS_DIR/aya-proxy.top.txt" 2>&1 ||
        warn "go tool pprof failed (see $RESULTS_DIR/aya-proxy.top.txt)"
}

bench_proxy() {
    local name=$1
    start_proxy "$name"
    if ((WARMUP > 0)); then
        log "$name: warm-up ${WARMUP}s"
        run_wrk "$WARMUP" "$WORK/warmup.$name.txt"
    fi
    measure "$name"
    if [[ $name == aya && $PROFILE == 1 ]] && ((ROUND == ROUNDS)); then
        profile_aya
    fi
    stop_proxy
}

# ---- report ---------------------------------------------------------------------
report() {
    printf '\n%s; wrk -t%s -c%s -d%ss --latency after a %ss warm-up; %s backends, %s-byte body;\n' \
        "$(wrk -v 2>&1 | awk 'NR == 1 { print $1, $2 }')" "$THREADS" "$CONNS" "$DURATION" "$WARMUP" \
        "$(wc -w <<<"$BACKEND_PORTS")" "$BODY_SIZE"
    printf 'proxy and backends on CPU %s, wrk on CPU %s; %s\n' "$PROXY_CPU" "$CLIENT_CPU" "$(versions)"
    if ((ROUNDS > 1)); then
        printf '\nevery run (round order: %s):\n\n' "$PROXIES"
        table all
        printf '\nmedian of %s rounds:\n' "$ROUNDS"
    fi
    printf '\n'
    table median
    printf '\n'
    ratios
    if [[ -s $RESULTS_DIR/aya-proxy.top.txt ]]; then
        printf '\nAYA CPU profile (%s), go tool pprof -top -nodecount=25:\n' "$RESULTS_DIR/aya-proxy.pprof"
        sed 's/^/    /' "$RESULTS_DIR/aya-proxy.top.txt"
    fi
    printf '\nresults (wrk output, profile, TSV): %s\n' "$RESULTS_DIR"
}

# medians: one TSV row per proxy (first-seen order) with the median of each
# numeric column of $RESULTS over its rounds.
medians() {
    awk -F'\t' -v OFS='\t' '
        NR == 1 { nc = NF; next }
        !($1 in cnt) { order[n++] = $1 }
        { k = cnt[$1]++; for (c = 2; c <= nc; c++) v[$1, c, k] = $c }
        END {
            for (i = 0; i < n; i++) {
                p = order[i]; m = cnt[p]; line = p
                for (c = 2; c <= nc; c++) {
                    if (v[p, c, 0] == "-") { line = line OFS "-"; continue }  # not measured
                    for (j = 0; j < m; j++) a[j] = v[p, c, j] + 0
                    for (j = 1; j < m; j++) { x = a[j]; for (l = j - 1; l >= 0 && a[l] > x; l--) a[l + 1] = a[l]; a[l + 1] = x }
                    line = line OFS (m % 2 ? a[(m - 1) / 2] : (a[m / 2 - 1] + a[m / 2]) / 2)
                }
                print line
            }
        }' "$RESULTS"
}

# table all|median: the results table, every run or the medians.
table() {
    local -a rows
    if [[ $1 == all ]]; then
        mapfile -t rows < <(tail -n +2 "$RESULTS")
    else
        mapfile -t rows < <(medians)
    fi
    printf '%s\n' "${rows[@]}" | awk -F'\t' -v pc="$PROXY_CPU" -v cc="$CLIENT_CPU" '
        BEGIN {
            printf "%-10s %9s %8s %8s %11s %6s %11s %7s %7s %7s %8s %7s\n", "proxy", "req/s", "p50", "p99", "CPU us/req", "cpu%", "backend us", "CPU" pc, "CPU" cc, "other", "sys/req", "cs/req"
            print "-----------------------------------------------------------------------------------------------"
        }
        function ms(u) { return u >= 1000 ? sprintf("%.2fms", u / 1000) : sprintf("%dus", u) }
        function opt(v) { return v == "-" || v == "" ? "-" : sprintf("%.2f", v) }
        { printf "%-10s %9d %8s %8s %11.2f %5d%% %11.2f %6d%% %6d%% %6d%% %8s %7s\n", $1, $2, ms($3), ms($4), $8, $9, $10, $11, $12, $13, opt($17), opt($18) }'
}

versions() {
    local p names=()
    for p in $PROXIES; do
        case $p in
            haproxy) names+=("HAProxy $(haproxy -v 2>/dev/null | awk 'NR == 1 { print $3 }')") ;;
            nginx) names+=("nginx $(nginx -v 2>&1 | sed 's|.*/||')") ;;
            aya) names+=("AYA $("$REPO/bin/aya" version 2>/dev/null | awk 'NR == 1 { print $2 }')") ;;
        esac
    done
    local list
    list=$(printf '%s, ' "${names[@]}")
    echo "${list%, }"
}

# ratios: AYA's req/s and CPU per request over each other proxy's (medians), and the bar.
ratios() {
    medians | awk -F'\t' -v bar="$BAR" '
        { rps[$1] = $2; cpu[$1] = $8; p99[$1] = $4; order[n++] = $1 }
        END {
            if (!("aya" in rps)) exit
            printf "%-16s %7s %11s %7s %8s %s\n", "ratio", "req/s", "CPU us/req", "p99", "bar", "req/s>=bar"
            print "---------------------------------------------------------------"
            for (i = 0; i < n; i++) {
                o = order[i]
                if (o == "aya" || o == "aya+pprof") continue
                b = (o == "haproxy" ? sprintf("%.2f", bar) : "-")
                ok = (o == "haproxy" ? (rps["aya"] >= bar * rps[o] ? "ok" : "BELOW") : "-")
                printf "%-16s %7.2f %11.2f %7.2f %8s %s\n", "aya/" o, rps["aya"] / rps[o], cpu["aya"] / cpu[o], p99["aya"] / p99[o], b, ok
            }
            if ("haproxy" in rps)
                printf "\nbar: AYA req/s >= %s x HAProxy req/s: %s (%d >= %d)\n", bar,
                    (rps["aya"] >= bar * rps["haproxy"] ? "HOLDS" : "MISSED"), rps["aya"], bar * rps["haproxy"]
        }'
}

# ---- main -----------------------------------------------------------------------
main() {
    ensure_deps
    check_cpus
    make_dirs
    build
    start_backends
    local p
    for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
        for p in $PROXIES; do
            bench_proxy "$p"
        done
    done
    report
}

main "$@"
