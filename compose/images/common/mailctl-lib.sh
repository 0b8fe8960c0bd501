# shellcheck shell=bash
# Shell helpers shared by the mailctl-sync scripts of every mailctl image.
#
# The runtime contract: the generated configuration of a service is
# bind-mounted read-only at /etc/mailctl/config, TLS files at
# /etc/mailctl/certs/{fullchain,privkey}.pem, DKIM keys (antispam only) at
# /etc/mailctl/dkim/<domain>/<selector>.key. The host files may be root-owned
# 0600, so each daemon gets its own copy with the owner and mode it needs.

MAILCTL_CONFIG=${MAILCTL_CONFIG:-/etc/mailctl/config}
MAILCTL_CERTS=${MAILCTL_CERTS:-/etc/mailctl/certs}
MAILCTL_DKIM=${MAILCTL_DKIM:-/etc/mailctl/dkim}
# When set, every installed file whose content changed (or that was
# removed) is appended to this file, so a reload can do no more than needed.
MAILCTL_CHANGED_FILE=${MAILCTL_CHANGED_FILE:-}

changed() {
  if [ -n "$MAILCTL_CHANGED_FILE" ]; then
    printf '%s\n' "$1" >>"$MAILCTL_CHANGED_FILE"
  fi
}

log() {
  printf 'mailctl-sync: %s\n' "$*" >&2
}

die() {
  printf 'mailctl-sync: error: %s\n' "$*" >&2
  exit 1
}

# require_file PATH: fail with a clear message when the configuration lacks it.
require_file() {
  [ -f "$1" ] || die "missing $1 (is the generated configuration mounted at $MAILCTL_CONFIG?)"
}

# put_file SRC DST MODE OWNER GROUP: replace DST atomically with a copy of
# SRC; an unchanged file is left in place (only its owner and mode are set).
put_file() {
  local src=$1 dst=$2 mode=$3 owner=$4 group=$5 tmp
  if [ -f "$dst" ] && cmp -s "$src" "$dst"; then
    chown "$owner:$group" "$dst"
    chmod "$mode" "$dst"
    return 0
  fi
  mkdir -p "$(dirname "$dst")"
  tmp="$(dirname "$dst")/.$(basename "$dst").mailctl-new"
  install -m "$mode" -o "$owner" -g "$group" "$src" "$tmp"
  mv -f "$tmp" "$dst"
  changed "$dst"
}

# mirror_dir SRC DST DIRMODE FILEMODE OWNER GROUP [KEEP-SUFFIX...]: make DST
# hold exactly the files of SRC. Files are replaced one by one (each
# atomically) and DST itself is never replaced: Rspamd, for one, keeps
# reading the old directory after a reload if its inode changes. Files in
# DST that SRC lacks are removed, except names ending in a KEEP-SUFFIX
# (files the sync script generates, e.g. .lmdb or .svbin).
mirror_dir() {
  local src=$1 dst=$2 dmode=$3 fmode=$4 owner=$5 group=$6
  shift 6
  local rel suffix keep
  install -d -m "$dmode" -o "$owner" -g "$group" "$dst"
  if [ -d "$src" ]; then
    while IFS= read -r -d '' rel; do
      install -d -m "$dmode" -o "$owner" -g "$group" "$dst/$rel"
    done < <(cd "$src" && find . -mindepth 1 -type d -print0)
    while IFS= read -r -d '' rel; do
      put_file "$src/$rel" "$dst/$rel" "$fmode" "$owner" "$group"
    done < <(cd "$src" && find . -type f -print0)
  fi
  while IFS= read -r -d '' rel; do
    [ -e "$src/$rel" ] && continue
    keep=0
    for suffix in "$@"; do
      case "$rel" in *"$suffix") keep=1 ;; esac
    done
    if [ $keep = 0 ]; then
      rm -f "$dst/$rel"
      changed "$dst/$rel"
    fi
  done < <(cd "$dst" && find . -type f -print0)
  # Directories that SRC no longer has (deepest first).
  while IFS= read -r -d '' rel; do
    [ -d "$src/$rel" ] || rmdir "$dst/$rel" 2>/dev/null || true
  done < <(cd "$dst" && find . -mindepth 1 -depth -type d -print0)
}

# put_certs DIR OWNER GROUP KEYMODE: copy fullchain.pem and privkey.pem.
put_certs() {
  local dir=$1 owner=$2 group=$3 keymode=$4 name
  for name in fullchain.pem privkey.pem; do
    require_file "$MAILCTL_CERTS/$name"
    grep -q -- '-----BEGIN ' "$MAILCTL_CERTS/$name" \
      || die "$MAILCTL_CERTS/$name is not a PEM file"
  done
  # A renewal that left a key and a certificate that do not belong together
  # must not replace a working pair.
  if [ "$(openssl x509 -in "$MAILCTL_CERTS/fullchain.pem" -noout -pubkey 2>/dev/null)" \
    != "$(openssl pkey -in "$MAILCTL_CERTS/privkey.pem" -pubout 2>/dev/null)" ]; then
    die "$MAILCTL_CERTS/privkey.pem does not match the first certificate of fullchain.pem"
  fi
  put_file "$MAILCTL_CERTS/fullchain.pem" "$dir/fullchain.pem" 0644 "$owner" "$group"
  put_file "$MAILCTL_CERTS/privkey.pem" "$dir/privkey.pem" "$keymode" "$owner" "$group"
}
