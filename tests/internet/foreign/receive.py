#!/usr/bin/python3
"""Judges one delivered message as a foreign provider would, and records it.

    receive CLIENT_ADDRESS CLIENT_HOSTNAME HELO SENDER RECIPIENT < MESSAGE

Writes /spool/<id>.eml (the message as delivered, Postfix's own Received
header on top) and then /spool/<id>.json: the client, the SPF result for the
envelope sender, every DKIM signature (d=, s=, a=, verified), DMARC
(the From domain's policy, SPF and DKIM alignment, the verdict) and
SpamAssassin's score and rules with its network tests on. Every lookup goes
to the resolver in /etc/resolv.conf (the simulated internet's DNS).
"""
import email.parser
import email.utils
import json
import os
import re
import subprocess
import sys
import time

import dkim
import dns.resolver
import spf

SPOOL = "/spool"


def organisational(domain):
    """The last two labels: enough for the simulated internet's names."""
    return ".".join(domain.lower().rstrip(".").split(".")[-2:])


def tags(value):
    unfolded = re.sub(r"\s+", "", value)
    return dict(
        (key, tag_value)
        for key, tag_value in (
            item.split("=", 1) for item in unfolded.split(";") if "=" in item
        )
    )


def dkim_signatures(message, headers):
    results = []
    for index, value in enumerate(headers.get_all("DKIM-Signature") or []):
        fields = tags(value)
        error = None
        try:
            verified = bool(dkim.DKIM(message).verify(idx=index))
        except Exception as problem:  # a broken signature is a result too
            verified = False
            error = str(problem)
        results.append(
            {
                "domain": fields.get("d", ""),
                "selector": fields.get("s", ""),
                "algorithm": fields.get("a", ""),
                "verified": verified,
                "error": error,
            }
        )
    return results


def dmarc_policy(domain):
    for name in (domain, organisational(domain)):
        try:
            answer = dns.resolver.resolve("_dmarc." + name, "TXT")
        except Exception:
            continue
        for record in answer:
            text = b"".join(record.strings).decode()
            if text.startswith("v=DMARC1"):
                return tags(text).get("p", "none")
    return None


def spamassassin(message):
    run = subprocess.run(
        ["spamassassin", "--test-mode"],
        input=message,
        capture_output=True,
        timeout=300,
        env={"HOME": "/tmp", "PATH": "/usr/bin:/bin"},
    )
    headers = email.parser.BytesHeaderParser().parsebytes(run.stdout)
    status = re.sub(r"\s+", " ", headers.get("X-Spam-Status", ""))
    score = re.search(r"score=(-?[0-9.]+)", status)
    rules = re.search(r"tests=(.*?)(?: autolearn=| version=|$)", status)
    return {
        "score": float(score.group(1)) if score else None,
        "rules": [
            rule.strip()
            for rule in (rules.group(1) if rules else "").split(",")
            if rule.strip()
        ],
        "status": status,
        "stderr": run.stderr.decode(errors="replace")[-2000:],
    }


def main():
    # A bounce's empty sender (null_sender=) may arrive as no argument.
    arguments = sys.argv[1:]
    if len(arguments) == 4:
        arguments.insert(3, "")
    client, client_name, helo, sender, recipient = arguments[:5]
    message = sys.stdin.buffer.read()
    # Postfix's pipe prepends Return-Path (flag R): judge the rest.
    judged = re.sub(rb"\AReturn-Path: [^\n]*\n", b"", message)
    headers = email.parser.BytesHeaderParser().parsebytes(judged)
    spf_result, spf_explanation = spf.check2(i=client, s=sender or "", h=helo)
    signatures = dkim_signatures(judged, headers)
    from_domain = email.utils.parseaddr(headers.get("From", ""))[1].rpartition("@")[2].lower()
    sender_domain = (sender or "").rpartition("@")[2].lower() or helo.lower()
    spf_aligned = spf_result == "pass" and organisational(sender_domain) == organisational(from_domain)
    dkim_aligned = any(
        signature["verified"] and organisational(signature["domain"]) == organisational(from_domain)
        for signature in signatures
    )
    record = {
        "client_address": client,
        "client_name": client_name,
        "helo": helo,
        "sender": sender,
        "recipient": recipient,
        "from_domain": from_domain,
        "spf": {"result": spf_result, "explanation": spf_explanation},
        "dkim": signatures,
        "dmarc": {
            "policy": dmarc_policy(from_domain) if from_domain else None,
            "spf_aligned": spf_aligned,
            "dkim_aligned": dkim_aligned,
            "result": "pass" if spf_aligned or dkim_aligned else "fail",
        },
        "spamassassin": spamassassin(judged),
    }
    name = "%d-%d" % (time.time_ns(), os.getpid())
    with open(os.path.join(SPOOL, name + ".eml"), "wb") as handle:
        handle.write(judged)
    # The JSON is written last and renamed into place: its presence means
    # the message is complete.
    partial = os.path.join(SPOOL, "." + name + ".json")
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1)
    os.rename(partial, os.path.join(SPOOL, name + ".json"))


if __name__ == "__main__":
    main()
