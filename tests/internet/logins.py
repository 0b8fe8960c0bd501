"""Login attempts and port probes from a host of the test internet.

  logins.py login PROTOCOL HOST PORT USER PASSWORD COUNT
      COUNT parallel logins over implicit TLS (imap, pop3, smtp: one
      mechanism, PLAIN, so one attempt is one failed login) or STARTTLS
      (sieve, ManageSieve); prints one
      line per attempt: ok, failed, or error:<what happened>. An attempt
      gives up after 8 s (a ban stalls connections already open).
  logins.py probe HOST PORT...
      one TCP connection per port, all at once; prints PORT
      open|refused|timeout|error.
"""

import base64
import imaplib
import poplib
import smtplib
import socket
import ssl
import sys
import threading


def context():
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    return tls


def attempt(protocol, host, port, user, password):
    try:
        if protocol == "imap":
            client = imaplib.IMAP4_SSL(host, port, ssl_context=context(), timeout=8)
            try:
                client.login(user, password)
            except imaplib.IMAP4.error:
                return "failed"
            client.logout()
            return "ok"
        if protocol == "pop3":
            client = poplib.POP3_SSL(host, port, context=context(), timeout=8)
            try:
                client.user(user)
                client.pass_(password)
            except poplib.error_proto:
                return "failed"
            client.quit()
            return "ok"
        if protocol == "smtp":
            client = smtplib.SMTP_SSL(host, port, context=context(), timeout=8)
            client.ehlo("client.test")
            client.user, client.password = user, password
            try:
                client.auth("PLAIN", client.auth_plain)
            except smtplib.SMTPAuthenticationError:
                return "failed"
            client.quit()
            return "ok"
        if protocol == "sieve":
            return sieve_login(host, port, user, password)
        return f"error:unknown protocol {protocol}"
    except (OSError, EOFError, smtplib.SMTPException, imaplib.IMAP4.error, poplib.error_proto) as error:
        return f"error:{type(error).__name__}:{error}"


def sieve_response(stream):
    """ManageSieve (RFC 5804): lines up to the one starting OK, NO or BYE."""
    while True:
        line = stream.readline()
        if not line:
            raise EOFError("connection closed")
        if line[:2] in (b"OK", b"NO") or line[:3] == b"BYE":
            return line


def sieve_login(host, port, user, password):
    with socket.create_connection((host, port), timeout=8) as plain:
        stream = plain.makefile("rb")
        sieve_response(stream)
        plain.sendall(b"STARTTLS\r\n")
        if not sieve_response(stream).startswith(b"OK"):
            return "error:STARTTLS refused"
        with context().wrap_socket(plain, server_hostname=host) as tls:
            stream = tls.makefile("rb")
            sieve_response(stream)
            token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            tls.sendall(f'AUTHENTICATE "PLAIN" "{token}"\r\n'.encode())
            answer = sieve_response(stream)
            if answer.startswith(b"OK"):
                tls.sendall(b"LOGOUT\r\n")
                return "ok"
            return "failed"


def login(protocol, host, port, user, password, count):
    results = [None] * count

    def run(index):
        results[index] = attempt(protocol, host, port, user, password)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for result in results:
        print(result or "error:no answer in 30 s")


def probe(host, ports):
    """All ports at once, so a round takes at most the 2 s timeout."""
    results = {}

    def one(port):
        try:
            with socket.create_connection((host, port), timeout=2):
                results[port] = "open"
        except (ConnectionRefusedError, ConnectionResetError):
            results[port] = "refused"
        except socket.timeout:
            results[port] = "timeout"
        except OSError as error:
            results[port] = f"error:{error}"

    threads = [threading.Thread(target=one, args=(port,)) for port in ports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    for port in ports:
        print(f"{port} {results.get(port, 'timeout')}")


def main(arguments):
    if arguments[0] == "login":
        protocol, host, port, user, password, count = arguments[1:7]
        login(protocol, host, int(port), user, password, int(count))
    elif arguments[0] == "probe":
        probe(arguments[1], [int(port) for port in arguments[2:]])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
