#!/usr/bin/python3
"""Sends N messages to an SMTP server over C parallel connections, each
upgraded with STARTTLS once and reused for its share of the messages.

    smtp_load.py SERVER PORT N CONNECTIONS HELO SENDER MARKER RECIPIENT...

Every message carries MARKER in its subject and a unique Message-ID, goes to
the recipients in turn, and is an ordinary text message of about 2 KiB.
Prints one line: `accepted=<count> refused=<count> seconds=<wall time>`;
exits 1 when any message was refused. With SMTP_LOAD_RATE=R in the
environment, sends at most R messages per second in all (a steady stream).
"""
import os
import smtplib
import ssl
import sys
import threading
import time
from email.utils import formatdate

BODY = (
    "Hello,\r\n\r\n"
    + "This is the weekly report of the garden club: the new bench is ordered, "
    "the hedge is cut, and the compost is turned. " * 12
    + "\r\n\r\nRegards,\r\nThe garden club\r\n"
)


def message(sender, recipient, marker, number):
    return (
        f"Date: {formatdate(localtime=True)}\r\n"
        f"From: {sender}\r\n"
        f"To: {recipient}\r\n"
        f"Subject: Weekly report {marker} {number}\r\n"
        f"Message-ID: <{marker}-{number}@{sender.partition('@')[2]}>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n" + BODY
    )


def main():
    server, port, total, connections, helo, sender, marker = sys.argv[1:8]
    recipients = sys.argv[8:]
    port, total, connections = int(port), int(total), int(connections)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    counts = {"accepted": 0, "refused": 0}
    lock = threading.Lock()
    rate = float(os.environ.get("SMTP_LOAD_RATE", "0"))

    def worker(index):
        numbers = range(index, total, connections)
        smtp = smtplib.SMTP(server, port, local_hostname=helo, timeout=120)
        smtp.starttls(context=context)
        smtp.ehlo(helo)
        for number in numbers:
            if rate > 0:
                delay = started + number / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            recipient = recipients[number % len(recipients)]
            try:
                smtp.sendmail(sender, [recipient], message(sender, recipient, marker, number))
                outcome = "accepted"
            except smtplib.SMTPException as error:
                print(f"refused {number}: {error}", file=sys.stderr)
                outcome = "refused"
            with lock:
                counts[outcome] += 1
        smtp.quit()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(index,)) for index in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    print(f"accepted={counts['accepted']} refused={counts['refused']} seconds={elapsed:.3f}")
    sys.exit(1 if counts["refused"] else 0)


if __name__ == "__main__":
    main()
