#!/usr/bin/env bash
# Inbound delivery throughput on the simulated internet, filtered (Rspamd)
# against bare (milter off): see bench/delivery.rs for what it measures.
#
#   Run from the repository root as root:   bash bench/delivery.sh
#
# Environment (optional): N=2000 messages, CONNECTIONS=8. Needs Docker, the
# packages .ci/setup installs, and 203.0.113.0/24 unused on this machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec cargo bench --locked --bench delivery
