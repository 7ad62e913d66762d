# shellcheck shell=bash
# bench/lib.sh: what the bench scripts share (sourced by bench/*/run.sh).
# Logging, installing missing Debian packages, and reading CPU time from
# /proc. It defines functions only.

log()  { printf '[bench] %s\n' "$*" >&2; }
warn() { printf '[bench] WARNING: %s\n' "$*" >&2; }
die()  { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

# need_cmd CMD PACKAGE: record PACKAGE in MISSING_PKGS if CMD is missing.
MISSING_PKGS=()
need_cmd() {
    command -v "$1" >/dev/null 2>&1 || MISSING_PKGS+=("$2")
}

# install_missing: apt-get install MISSING_PKGS (as root, or through sudo),
# retrying once after apt-get update; dies when SKIP_INSTALL=1.
install_missing() {
    ((${#MISSING_PKGS[@]} == 0)) && return 0
    [[ ${SKIP_INSTALL:-0} == 1 ]] && die "missing packages: ${MISSING_PKGS[*]} (SKIP_INSTALL=1)"
    local -a sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 || die "missing packages ${MISSING_PKGS[*]}; run as root, or install them"
        sudo=(sudo)
    fi
    log "installing: ${MISSING_PKGS[*]}"
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${MISSING_PKGS[@]}" >&2; then
        log "install failed; running apt-get update and retrying"
        "${sudo[@]}" apt-get update >&2
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${MISSING_PKGS[@]}" >&2
    fi
}

cpu_ticks() {   # utime + stime of a process (all threads), in clock ticks; 0 if gone
    local stat rest
    [[ -r /proc/$1/stat ]] || { echo 0; return; }
    stat=$(<"/proc/$1/stat")
    rest=${stat##*) }            # strip "pid (comm) ", comm may contain spaces
    # shellcheck disable=SC2086
    set -- $rest                 # $1 = state (field 3), so utime (14) = $12
    echo $((${12} + ${13}))
}

cpu_busy() {    # "busy total" jiffies of CPU N, or of all CPUs for "", from /proc/stat
    # busy = user + nice + system + irq + softirq + steal; total adds idle + iowait
    awk -v c="cpu$1" '$1 == c { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6 }' /proc/stat
}

child_ticks() {  # cutime + cstime of this script: CPU of its reaped children (the load client)
    local stat rest
    stat=$(<"/proc/$$/stat")
    rest=${stat##*) }
    # shellcheck disable=SC2086
    set -- $rest
    echo $((${14} + ${15}))
}
