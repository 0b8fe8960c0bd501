#!/usr/bin/env bash
# `mailctl doctor` over 20 domains against a local BIND 9: prints the wall
# time of the whole run next to the slowest single check. The checks run
# concurrently, so the wall time should stay within 1.5x of the slowest.
#
#   bash bench/doctor.sh            (builds the release binary first)
#
# No stack is started: the stack, TLS and security checks fail at once
# (connection refused); the DNS, SPF, DKIM, DMARC, PTR, MTA-STS and
# blocklist lookups (about 260 queries) are what is measured. Needs bind9,
# bind9-utils (named, tsig-keygen) and python3.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
mailctl="$root/target/release/mailctl"
named="$(command -v named || echo /usr/sbin/named)"
work="$(mktemp -d)"
cleanup() {
    if [[ -f "$work/named.pid" ]]; then kill "$(cat "$work/named.pid")" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

domains=()
for n in $(seq -w 1 20); do domains+=(--domain "bench$n.test"); done
"$mailctl" -C "$work/project" init --hostname mail.bench01.test "${domains[@]}" \
    --admin admin@bench01.test --tls self-signed --bind 127.0.0.1 \
    --public-address 127.0.0.1 --offline-dns --yes >/dev/null 2>&1
cat >>"$work/project/mailctl.yaml" <<YAML
doctor:
  blocklists:
  - zone: bl.test
  domain_blocklists:
  - dbl.test
  outbound_smtp: 127.0.0.1:9
YAML

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
zones=()
write_zone() { # origin, records
    printf '$TTL 60\n$ORIGIN %s.\n@ IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 60\n@ IN NS ns.%s.\nns IN A 127.0.0.1\n%s\n' \
        "$1" "$1" "$1" "$1" "$2" >"$work/$1.zone"
    zones+=("$1")
}
for n in $(seq -w 1 20); do
    write_zone "bench$n.test" "$("$mailctl" -C "$work/project" dns "bench$n.test" --format zone)"
done
write_zone 1.0.0.127.in-addr.arpa "1.0.0.127.in-addr.arpa. IN PTR mail.bench01.test."
write_zone bl.test ""
write_zone dbl.test ""
{
    printf 'options { directory "%s"; pid-file "%s/named.pid"; listen-on port %s { 127.0.0.1; }; listen-on-v6 { none; }; recursion no; dnssec-validation no; notify no; };\ncontrols { };\n' "$work" "$work" "$port"
    for zone in "${zones[@]}"; do printf 'zone "%s" { type primary; file "%s/%s.zone"; };\n' "$zone" "$work" "$zone"; done
} >"$work/named.conf"
"$named" -4 -c "$work/named.conf" >"$work/named.log" 2>&1
for _ in $(seq 50); do
    dig +short +norecurse -p "$port" @127.0.0.1 bench01.test SOA | grep -q . && break
    sleep 0.1
done

runs=5
echo "mailctl doctor, 20 domains, local BIND on 127.0.0.1:$port, $runs runs"
for run in $(seq "$runs"); do
    start=$(date +%s%N)
    "$mailctl" -C "$work/project" doctor --json --resolver "127.0.0.1:$port" >"$work/report.json" 2>/dev/null || true
    end=$(date +%s%N)
    python3 - "$work/report.json" "$(( (end - start) / 1000000 ))" "$run" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
wall = int(sys.argv[2])
findings = report["findings"]
slowest = max(findings, key=lambda f: f["millis"])
inner = report["millis"]
print(f"run {sys.argv[3]}: {len(findings)} findings; wall {wall} ms (checks {inner} ms); "
      f"slowest check {slowest['millis']} ms ({slowest['check']} {slowest['subject']}); "
      f"ratio {inner / max(slowest['millis'], 1):.2f}x")
PY
done
