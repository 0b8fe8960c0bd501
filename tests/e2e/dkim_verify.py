#!/usr/bin/python3
"""Verifies every DKIM-Signature of one message against the DNS records that
`mailctl dns --format json` printed (no DNS lookups, no key files).

    dkim_verify.py RECORDS.json MESSAGE.eml

Prints one line per signature, `<algorithm> d=<domain> s=<selector>
verified=<True|False>`, and exits 0 only when an rsa-sha256 and an
ed25519-sha256 signature are both present and every signature verifies.
Needs Debian's python3-dkim and python3-nacl (run with /usr/bin/python3).
"""
import json
import re
import sys

import dkim


def load_records(path):
    """TXT records by lower-case owner name, as the value a resolver returns."""
    records = {}
    with open(path, encoding="utf-8") as handle:
        for domain in json.load(handle):
            for record in domain["records"]["records"]:
                if record["type"] == "TXT":
                    name = record["name"].lower().rstrip(".")
                    records.setdefault(name, []).append(record["value"].encode())
    return records


def main():
    records = load_records(sys.argv[1])

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        values = records.get(name.lower().rstrip("."), [])
        return values[0] if values else b""

    with open(sys.argv[2], "rb") as handle:
        message = handle.read()
    # IMAP and postcat differ in line endings: DKIM is computed over CRLF.
    message = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    signatures = [value for name, value in dkim.DKIM(message).headers if name.lower() == b"dkim-signature"]
    if not signatures:
        print("no DKIM-Signature header")
        return 1
    verified = {}
    for index, value in enumerate(signatures):
        tags = dict(re.findall(rb"(\w+)=([^;]*)", re.sub(rb"\s+", b"", value)))
        algorithm = tags.get(b"a", b"?").decode()
        try:
            ok = dkim.DKIM(message).verify(idx=index, dnsfunc=dnsfunc)
        except Exception as error:  # dkimpy raises on malformed records
            print("%s: %s" % (algorithm, error))
            ok = False
        print(
            "%s d=%s s=%s verified=%s"
            % (algorithm, tags.get(b"d", b"?").decode(), tags.get(b"s", b"?").decode(), ok)
        )
        verified.setdefault(algorithm, []).append(ok)
    wanted = {"rsa-sha256", "ed25519-sha256"}
    every = all(all(results) for results in verified.values())
    return 0 if wanted <= set(verified) and every else 1


if __name__ == "__main__":
    sys.exit(main())
