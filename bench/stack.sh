#!/usr/bin/env bash
# Benchmark: the real seven-container stack on the local Docker daemon.
#
#   Run from the repository root:   bash bench/stack.sh
#
# Environment (all optional): ROUNDS=3 (cold starts per side), NOCHANGE=5
# (no-change runs per side), IDLE=60 (seconds after healthy before the memory
# sample), MAILCTL=path (skip `cargo build --release` and use this binary;
# useful when other cargo jobs hold the build lock). Takes about 9 minutes.
#
# What it measures, on one fresh project (unique name, 127.0.0.1 ports that
# are free now, a private /24 no Docker network uses), always removed at the
# end by `mailctl down --volumes --yes` (plus a label sweep):
#  1. cold-ish start, alternating in each round: `docker-compose up -d` in
#     generated/ (after `mailctl down` or `docker-compose down`) plus polling
#     `docker inspect` every 0.2 s until the seven containers are healthy, then
#     `docker-compose down` and `mailctl up` (returns once every service is
#     healthy). Volumes and images are kept; a first `mailctl up` builds or
#     finds the images beforehand, so neither side builds.
#     Target: median mailctl/compose <= 1.
#  2. no-change `up` with the stack running: `docker-compose up -d` on the
#     compose-made stack of round 1, `mailctl up` on the mailctl-made stack
#     of the last round (target < 300 ms); both checked to keep every
#     container id. At the very end, informational: compose's config hash
#     against the mailctl-made containers, and one real `docker-compose up -d`
#     on them (does compose accept or recreate them?).
#  3. idle memory: IDLE s after the last `mailctl up` returned healthy, the
#     sum of `docker stats --no-stream` memory over the seven containers, with
#     each service's share. Target < 300 MiB.
set -euo pipefail
shopt -s inherit_errexit

ROUNDS=${ROUNDS:-3}
NOCHANGE=${NOCHANGE:-5}
IDLE=${IDLE:-60}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COMPOSE=${COMPOSE:-docker-compose}

if [[ -z "${MAILCTL:-}" ]]; then
    (cd "$ROOT" && cargo build --release --locked --quiet)
    MAILCTL="$ROOT/target/release/mailctl"
fi

TMP=$(mktemp -d /tmp/mailctl-bench.XXXXXX)
DIR="$TMP/project"
GEN="$DIR/generated"
LOG="$TMP/log"
NAME="mbench$$x$((RANDOM % 10000))"
: >"$LOG"

log() { printf '%s\n' "$*" >&2; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
mailctl() { NO_COLOR=1 "$MAILCTL" -C "$DIR" "$@" </dev/null; }
compose() { (cd "$GEN" && "$COMPOSE" --no-ansi "$@" </dev/null); }

exec 3>&1 4>&2 # the real stdout and stderr, for the exit trap
cleanup() {
    local status=$?
    set +e
    exec 1>&3 2>&4 # set -e may exit inside a function whose output goes to the log
    trap - EXIT INT TERM
    log "cleanup: removing project $NAME"
    if [[ -f "$DIR/mailctl.yaml" ]]; then
        mailctl down --volumes --yes >>"$LOG" 2>&1 || log "cleanup: mailctl down failed (see below)"
    fi
    # Belt and braces: whatever still carries the project's label goes too.
    local ids
    ids=$(docker ps -aq --filter "label=mailctl.project=$NAME")
    [[ -n "$ids" ]] && docker rm -f -v $ids >/dev/null 2>&1
    for network in $(docker network ls -q --filter "label=mailctl.project=$NAME"); do
        docker network rm "$network" >/dev/null 2>&1
    done
    for volume in $(docker volume ls -q --filter "label=mailctl.project=$NAME"); do
        docker volume rm -f "$volume" >/dev/null 2>&1
    done
    if [[ $status -ne 0 ]]; then
        log "benchmark failed (exit $status); last lines of $LOG:"
        tail -n 40 "$LOG" >&2
    fi
    rm -rf "$TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A private copy: a rebuild during the run must not swap the binary.
cp "$MAILCTL" "$TMP/mailctl"
MAILCTL="$TMP/mailctl"

# --- unique ports and subnet -------------------------------------------------
PORT_NAMES=(smtp submissions submission imaps pop3s sieve http https)
used_ports=" $(ss -Htan | awk '{n = split($4, a, ":"); print a[n]}' | sort -u | tr '\n' ' ') "
port=$((41000 + ($$ * 97) % 18000))
PORT_ARGS=()
for name in "${PORT_NAMES[@]}"; do
    while [[ "$used_ports" == *" $port "* ]]; do port=$((port + 1)); done
    PORT_ARGS+=(--port "$name=$port")
    port=$((port + 1))
done

used_subnets=" $(docker network ls -q | xargs docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}' | tr '\n' ' ') "
SUBNET=
start=$(($$ % 200))
for offset in $(seq 0 199); do
    third=$(((start + offset) % 200 + 20))
    candidate="10.217.$third.0/24"
    # Skip anything Docker already uses, including wider 10.x networks.
    if [[ "$used_subnets" != *" $candidate "* && "$used_subnets" != *" 10.217.0.0/16 "* && "$used_subnets" != *" 10.0.0.0/8 "* ]]; then
        SUBNET=$candidate
        break
    fi
done
[[ -n "$SUBNET" ]] || { log "no free subnet"; exit 1; }

# --- helpers -------------------------------------------------------------------
median() { sort -n | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
secs() { awk -v ms="$1" 'BEGIN {printf "%.2f s", ms / 1000}'; }

all_healthy() {
    local states
    states=$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "${CONTAINERS[@]}" 2>/dev/null) || return 1
    [[ $(grep -c '^running/healthy$' <<<"$states") -eq ${#CONTAINERS[@]} ]]
}

container_ids() { docker inspect -f '{{.Name}} {{.Id}}' "${CONTAINERS[@]}" 2>/dev/null | sort; }

project_containers() { docker ps -aq --filter "label=mailctl.project=$NAME" | wc -l; }

# A cold start by mailctl: `mailctl up` returns once every service is healthy.
mailctl_cold() {
    local t0 t1
    [[ $(project_containers) -eq 0 ]] || { log "containers left before mailctl up"; return 1; }
    t0=$(now_ms)
    mailctl up >>"$LOG" 2>&1
    t1=$(now_ms)
    all_healthy || { log "mailctl up returned but not all seven are healthy"; return 1; }
    echo $((t1 - t0))
}

# A cold start by compose: `up -d`, then poll until all seven are healthy.
compose_cold() {
    local t0 t1 deadline
    [[ $(project_containers) -eq 0 ]] || { log "containers left before docker-compose up"; return 1; }
    t0=$(now_ms)
    compose up -d >>"$LOG" 2>&1
    deadline=$((t0 + 300000))
    until all_healthy; do
        (($(now_ms) < deadline)) || { log "compose stack not healthy after 300 s"; return 1; }
        sleep 0.2
    done
    t1=$(now_ms)
    echo $((t1 - t0))
}

# --- setup -----------------------------------------------------------------------
log "project $NAME, subnet $SUBNET, ports ${PORT_ARGS[*]}, work dir $TMP"
mailctl init --hostname mail.example.test --domain example.test --domain example.org \
    --admin admin@example.test --tls self-signed --bind 127.0.0.1 "${PORT_ARGS[@]}" \
    --subnet "$SUBNET" --name "$NAME" --offline-dns --yes >>"$LOG" 2>&1
mapfile -t CONTAINERS < <(sed -n 's/^ *container_name: *"\(.*\)"$/\1/p' "$GEN/docker-compose.yml")
[[ ${#CONTAINERS[@]} -eq 7 ]] || { log "expected 7 containers in docker-compose.yml, found ${#CONTAINERS[@]}"; exit 1; }
grep -q "^COMPOSE_PROJECT_NAME=$NAME\$" "$GEN/.env" || { log "generated/.env does not name project $NAME"; exit 1; }

log "first mailctl up (builds any missing image)"
t0=$(now_ms)
mailctl up >>"$LOG" 2>&1
first_up=$(($(now_ms) - t0))
all_healthy
for container in "${CONTAINERS[@]}"; do
    image=$(docker inspect -f '{{.Config.Image}}' "$container")
    docker image inspect "$image" >/dev/null
done

# --- 1. cold-ish start, alternating; 2. no-change up ------------------------
# Each round: compose cold start (after round 1, compose's no-change runs on
# that compose-made stack), `docker-compose down`, mailctl cold start, and
# `mailctl down` except in the last round, whose mailctl-made stack serves
# the mailctl no-change runs and the idle memory sample.
mailctl down >>"$LOG" 2>&1
M_COLD=()
C_COLD=()
C_NOOP=()
for round in $(seq 1 "$ROUNDS"); do
    ms=$(compose_cold)
    C_COLD+=("$ms")
    log "round $round: docker-compose up  $(secs "$ms")"
    if ((round == 1)); then
        before=$(container_ids)
        for _ in $(seq 1 "$NOCHANGE"); do
            t0=$(now_ms)
            compose up -d >>"$LOG" 2>&1
            C_NOOP+=($(($(now_ms) - t0)))
        done
        [[ "$(container_ids)" == "$before" ]] || { log "docker-compose up -d (no change) recreated containers"; exit 1; }
        all_healthy
        log "no-change docker-compose up -d: ${C_NOOP[*]} ms"
    fi
    compose down >>"$LOG" 2>&1

    ms=$(mailctl_cold)
    healthy_at=$(now_ms)
    M_COLD+=("$ms")
    log "round $round: mailctl up         $(secs "$ms")"
    ((round == ROUNDS)) || mailctl down >>"$LOG" 2>&1
done

M_NOOP=()
before=$(container_ids)
for _ in $(seq 1 "$NOCHANGE"); do
    t0=$(now_ms)
    out=$(mailctl up 2>&1)
    M_NOOP+=($(($(now_ms) - t0)))
    printf '%s\n' "$out" >>"$LOG"
    grep -q 'nothing to do' <<<"$out" || { log "mailctl up (no change) did something: $out"; exit 1; }
done
[[ "$(container_ids)" == "$before" ]] || { log "mailctl up (no change) recreated containers"; exit 1; }
log "no-change mailctl up: ${M_NOOP[*]} ms"

# --- 3. idle memory -------------------------------------------------------------
wait_s=$(((healthy_at + IDLE * 1000 - $(now_ms) + 999) / 1000))
((wait_s > 0)) && { log "waiting ${wait_s} s for the idle memory sample"; sleep "$wait_s"; }
all_healthy
stats=$(docker stats --no-stream --format '{{.Name}} {{.MemUsage}}' "${CONTAINERS[@]}")
memory=$(awk -v project="$NAME" '
    function mib(value,    number, unit) {
        number = value + 0
        unit = value
        sub(/^[0-9.]+/, "", unit)
        if (unit == "B") return number / 1048576
        if (unit == "KiB" || unit == "kB") return number / 1024
        if (unit == "MiB" || unit == "MB") return number
        if (unit == "GiB" || unit == "GB") return number * 1024
        return -1
    }
    {
        name = $1; sub("^" project "-", "", name); sub(/-1$/, "", name)
        used = mib($2); total += used; share[name] = used; order[++n] = name
    }
    END {
        for (i = 1; i <= n; i++)
            printf "    %-10s %7.1f MiB  %5.1f%%\n", order[i], share[order[i]], 100 * share[order[i]] / total
        printf "    %-10s %7.1f MiB  (target < 300 MiB: %s)\n", "total", total, total < 300 ? "met" : "MISSED"
    }' <<<"$stats")

# Informational: compose's view of the mailctl-made containers. First its
# config hash against the containers' label (what decides a recreate), then
# a real `docker-compose up -d` (last, as it may recreate or fail).
mismatched=0
while read -r service hash; do
    label=$(docker inspect -f '{{index .Config.Labels "com.docker.compose.config-hash"}}' "$NAME-$service-1" 2>/dev/null || true)
    [[ "$label" == "$hash" ]] || mismatched=$((mismatched + 1))
done < <(compose config --hash='*' 2>>"$LOG")
before=$(container_ids)
if compose_out=$(compose up -d 2>&1); then
    after=$(container_ids)
    recreated=$(comm -13 <(awk '{print $2}' <<<"$before" | sort) <(awk '{print $2}' <<<"$after" | sort) | wc -l)
    compose_on_mailctl="succeeded, recreated $recreated of 7 containers"
else
    compose_on_mailctl="FAILED: $(grep -v '^[[:space:]^~]*$' <<<"$compose_out" | tail -n 1 || true)"
fi
printf '%s\n' "$compose_out" >>"$LOG"

# --- report ---------------------------------------------------------------------
m_cold=$(printf '%s\n' "${M_COLD[@]}" | median)
c_cold=$(printf '%s\n' "${C_COLD[@]}" | median)
m_noop=$(printf '%s\n' "${M_NOOP[@]}" | median)
c_noop=$(printf '%s\n' "${C_NOOP[@]}" | median)
ratio=$(awk -v m="$m_cold" -v c="$c_cold" 'BEGIN {printf "%.3f", m / c}')
noop_ratio=$(awk -v m="$m_noop" -v c="$c_noop" 'BEGIN {printf "%.2f", m / c}')

cat <<EOF

mailctl stack benchmark ($(docker version -f 'Docker {{.Server.Version}}'), $("$COMPOSE" version --short 2>/dev/null | sed 's/^/docker-compose /'), $(nproc) CPUs)
project $NAME, subnet $SUBNET; first mailctl up (images present or built): $(secs "$first_up"); whole run so far ${SECONDS} s

1. cold-ish start until all 6 healthy (containers removed, volumes and images kept), $ROUNDS rounds each, alternating
    mailctl up              median $(secs "$m_cold")   runs ms: ${M_COLD[*]}
    docker-compose up -d    median $(secs "$c_cold")   runs ms: ${C_COLD[*]}
    ratio mailctl/compose   $ratio   (target <= 1: $( ((m_cold <= c_cold)) && echo met || echo "MISSED by $((m_cold - c_cold)) ms"))

2. no-change up with the stack running, $NOCHANGE runs each (no container recreated, checked)
    mailctl up              median ${m_noop} ms   runs ms: ${M_NOOP[*]}   (target < 300 ms: $( ((m_noop < 300)) && echo met || echo MISSED))
    docker-compose up -d    median ${c_noop} ms   runs ms: ${C_NOOP[*]}   (on a compose-made stack)
    ratio mailctl/compose   $noop_ratio
    docker-compose on the mailctl-made stack: config-hash differs for $mismatched of 7 services; \`up -d\` $compose_on_mailctl

3. idle memory ${IDLE} s after all healthy (docker stats, mailctl-made stack)
$memory
EOF
