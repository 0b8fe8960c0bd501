#!/usr/bin/env bash
# Held mail after imap comes back: for each way imap goes away (killed from
# the host, `mailctl restart imap`, an upgrade recreating it), the time from
# imap healthy again to the last held message in its mailbox (target < 10 s),
# against the reference measured in the same run: Postfix alone, with the
# port where imap asks for the held mail removed, after the same crash.
#
#   Run from the repository root as root:   bash bench/recovery.sh
#
# Environment (optional): N=400 messages per scenario, RATE=0 (as fast as the
# stack accepts, on 4 connections). The reference can take up to Postfix's
# queue run (5 minutes).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
MAILCTL_RECOVERY_MESSAGES=${N:-400} MAILCTL_RECOVERY_RATE=${RATE:-0} \
  MAILCTL_RECOVERY_REFERENCE=1 \
  cargo test --locked --release --test e2e -- recovery:: 2>&1 | tee "$log" \
  | grep -E -A2 '^    [a-z]+: |^--- |^test |^held mail after' || true
echo
echo "held mail, seconds from imap healthy to the last held message delivered:"
awk '/^held mail after /{name=$4; sub(":", "", name); secs=$7; fig[name]=secs; order[++n]=name}
     END {
       ref = fig["reference"]
       for (i = 1; i <= n; i++) {
         name = order[i]; if (name == "reference") continue
         ratio = (ref > 0) ? sprintf("%.3f", fig[name] / ref) : "n/a"
         printf "  %-10s %7.1f s   target < 10 s: %s   ratio to the reference: %s\n", name, fig[name], (fig[name] < 10 ? "met" : "MISSED"), ratio
       }
       if (ref != "") printf "  %-10s %7.1f s   (Postfix alone, same crash; 330 s means at least that)\n", "reference", ref
     }' "$log"
grep -q '^test result: ok' "$log"
