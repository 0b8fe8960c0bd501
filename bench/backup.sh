#!/usr/bin/env bash
# Backup and upgrade benchmarks, on a real stack (needs Docker, zstd, python3):
#
#  1. `mailctl backup` of a generated maildir of SIZE_MB MiB (default 1024,
#     many small messages) against `tar -c | zstd` (level 3, as mailctl) on
#     the same data in the same run: seconds, MiB/s, the ratio, and the peak
#     memory (max RSS) of mailctl;
#  2. the seconds during which the smtp port refuses connections (or gives
#     no 220 greeting) while `mailctl upgrade` recreates the smtp service.
#
# Usage: bash bench/backup.sh            (SIZE_MB=256 bash bench/backup.sh for a quick run)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-1024}

cargo build --release --quiet
MAILCTL=$PWD/target/release/mailctl
WORK=$(mktemp -d /tmp/mailctl-bench-backup.XXXXXX)
NAME=bkbench$$
DIR=$WORK/project
TEST_IMAGE=mailctl-test/smtp-bench:$NAME

cleanup() {
  "$MAILCTL" -C "$DIR" down --volumes --yes >/dev/null 2>&1 || true
  docker rmi -f "$TEST_IMAGE" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

read -r -a PORTS < <(python3 -c '
import socket
socks=[socket.socket() for _ in range(8)]
for s in socks: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
USED=$(docker network ls -q | xargs docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}' 2>/dev/null || true)
SUBNET=""
for i in $(seq 20 219); do
  candidate="10.214.$i.0/24"
  case "$USED" in *"$candidate"*) ;; *) SUBNET=$candidate; break ;; esac
done

echo "== setting up a stack ($NAME) in $DIR"
"$MAILCTL" -q -C "$DIR" init --hostname mail.example.test --domain example.test \
  --admin admin@example.test --tls self-signed --bind 127.0.0.1 --subnet "$SUBNET" \
  --name "$NAME" --offline-dns --yes \
  --port smtp="${PORTS[0]}" --port submissions="${PORTS[1]}" --port submission="${PORTS[2]}" \
  --port imaps="${PORTS[3]}" --port pop3s="${PORTS[4]}" --port sieve="${PORTS[5]}" \
  --port http="${PORTS[6]}" --port https="${PORTS[7]}" >/dev/null
"$MAILCTL" -q -C "$DIR" up --timeout 400 >/dev/null

MAIL=$(docker volume inspect -f '{{.Mountpoint}}' "${NAME}_mail")
echo "== generating ${SIZE_MB} MiB of messages in the mail volume"
python3 - "$MAIL" "$SIZE_MB" <<'EOF'
import os, random, sys
root, size_mb = sys.argv[1], int(sys.argv[2])
random.seed(1)
words = [''.join(random.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(random.randint(2, 10))) for _ in range(5000)]
target = size_mb << 20
written = 0
index = 0
users = [f"user{u}" for u in range(20)]
for user in users:
    for sub in ("cur", "new", "tmp"):
        os.makedirs(f"{root}/example.test/{user}/Maildir/{sub}", exist_ok=True)
while written < target:
    user = users[index % len(users)]
    body_len = int(random.lognormvariate(8.6, 0.9))  # median ~5 KiB, mean ~8 KiB
    body = ' '.join(random.choice(words) for _ in range(body_len // 6))
    attachment = os.urandom(random.choice([0, 0, 0, 4096, 16384])).hex() if index % 7 == 0 else ''
    text = (f"Return-Path: <s{index}@outside.test>\nFrom: s{index}@outside.test\nTo: {user}@example.test\n"
            f"Subject: generated message {index}\nMessage-ID: <{index}@outside.test>\n\n{body}\n{attachment}\n")
    name = f"{root}/example.test/{user}/Maildir/cur/{1700000000+index}.M{index}P1.bench,S={len(text)}:2,S"
    with open(name, "w") as f:
        f.write(text)
    written += len(text)
    index += 1
print(f"   {index} messages, {written / 2**20:.0f} MiB")
EOF
chown -R 5000:5000 "$MAIL"
sync

measure_tar() {
  local start end
  start=$(date +%s.%N)
  tar -c -C "$MAIL" . | zstd -3 -q -T1 >"$WORK/baseline.tar.zst"
  end=$(date +%s.%N)
  python3 -c "print(f'{$end-$start:.2f}')"
}

echo "== tar -c | zstd -3 (warm-up run, then the measured one)"
measure_tar >/dev/null
TAR_SECONDS=$(measure_tar)
TAR_BYTES=$(stat -c %s "$WORK/baseline.tar.zst")

echo "== mailctl backup"
/usr/bin/time -f '%e %M %U %S' -o "$WORK/time" "$MAILCTL" -q -C "$DIR" backup --output "$WORK/out" >/dev/null
read -r MAILCTL_SECONDS MAILCTL_RSS_KB MAILCTL_USER MAILCTL_SYS <"$WORK/time"
ARCHIVE=$(ls "$WORK"/out/*.tar.zst)
MAILCTL_BYTES=$(stat -c %s "$ARCHIVE")
TAR_SECONDS_AFTER=$(measure_tar)
# The same archive endpoint mailctl reads through, without mailctl.
CP_START=$(date +%s.%N)
docker cp "$NAME-imap-1:/var/mail" - | wc -c >/dev/null
CP_SECONDS=$(python3 -c "print(f'{$(date +%s.%N)-$CP_START:.2f}')")

python3 - "$SIZE_MB" "$TAR_SECONDS" "$TAR_SECONDS_AFTER" "$MAILCTL_SECONDS" "$MAILCTL_RSS_KB" "$TAR_BYTES" "$MAILCTL_BYTES" <<'EOF'
import sys
size, tar1, tar2, ours, rss, tar_bytes, our_bytes = (float(x) for x in sys.argv[1:])
tar = (tar1 + tar2) / 2
print(f"backup of {size:.0f} MiB of messages:")
print(f"  tar -c | zstd -3      {tar:6.2f} s  {size / tar:6.1f} MiB/s  (runs: {tar1:.2f} s, {tar2:.2f} s)  archive {tar_bytes / 2**20:.0f} MiB")
print(f"  mailctl backup        {ours:6.2f} s  {size / ours:6.1f} MiB/s  archive {our_bytes / 2**20:.0f} MiB (all volumes, project files, manifest)")
print(f"  ratio mailctl / tar   {ours / tar:6.2f}x  (target: within 1.3x)")
print(f"  mailctl peak memory   {rss / 1024:6.1f} MiB (max RSS)")
EOF
echo "  docker cp (the archive endpoint alone, mail volume only, no compression): ${CP_SECONDS} s"
echo "  mailctl CPU: user ${MAILCTL_USER} s, system ${MAILCTL_SYS} s; load average: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== port downtime during an upgrade that recreates smtp"
rm -rf "${MAIL:?}"/example.test/user*
rm -f "$WORK"/out/*.tar.zst "$WORK/baseline.tar.zst"
SMTP_IMAGE=$(docker inspect -f '{{.Config.Image}}' "$NAME-smtp-1")
mkdir -p "$WORK/image"
printf 'FROM %s\nLABEL mailctl.bench=next\n' "$SMTP_IMAGE" >"$WORK/image/Dockerfile"
docker build -q -t "$TEST_IMAGE" "$WORK/image" >/dev/null
python3 - "$DIR/mailctl.yaml" "$TEST_IMAGE" <<'EOF'
import sys
path, image = sys.argv[1], sys.argv[2]
text = open(path).read()
text = text.replace("\ndomains:", f"\nimages:\n  smtp: {image}\ndomains:", 1)
open(path, "w").write(text)
EOF
python3 - "${PORTS[0]}" "$WORK/probe.out" <<'EOF' &
import socket, sys, time, os
port, out = int(sys.argv[1]), sys.argv[2]
stop = out + ".stop"
down_since, longest, total_down, checks = None, 0.0, 0.0, 0
last = time.monotonic()
while not os.path.exists(stop):
    now = time.monotonic()
    ok = False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.settimeout(2)
            ok = s.recv(64).startswith(b"220")
    except OSError:
        ok = False
    checks += 1
    now = time.monotonic()
    if not ok and down_since is None:
        down_since = now
    if ok and down_since is not None:
        longest = max(longest, now - down_since)
        total_down += now - down_since
        down_since = None
    time.sleep(0.05)
if down_since is not None:
    longest = max(longest, time.monotonic() - down_since)
open(out, "w").write(f"{longest:.2f} {checks}\n")
EOF
PROBE=$!
sleep 1
/usr/bin/time -f '%e' -o "$WORK/upgrade.time" "$MAILCTL" -q -C "$DIR" upgrade --skip-rebuild >/dev/null
sleep 2
touch "$WORK/probe.out.stop"
wait "$PROBE"
read -r LONGEST CHECKS <"$WORK/probe.out"
echo "upgrade recreating smtp: $(cat "$WORK/upgrade.time") s in all (including the backup first)"
echo "  port ${PORTS[0]} (smtp) refused or gave no greeting for ${LONGEST} s at most (target: under 5 s; $CHECKS probes every 50 ms)"
