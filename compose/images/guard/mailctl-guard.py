#!/usr/bin/python3
"""mailctl guard: bans addresses that keep failing to log in.

Dovecot asks it before each login and reports each result (its
authentication policy protocol, JSON over HTTP); nginx reports the Rspamd
interface's refused logins (a JSON line over syslog/UDP). After
`max_failures` failures within `window_seconds` from one address (an IPv6
client by its /64), the address is banned: a rule in the host's firewall,
in the project's own chain jumped to from Docker's DOCKER-USER chain,
rejects its packets to the stack's network, so it is refused on every
published port. A ban lasts `duration_seconds`, doubled for each earlier
ban of the same network, up to `max_duration_seconds`.

Bans are kept in the state volume and restored at start; at stop (SIGTERM)
the chain and its jump are removed, so nothing of mailctl stays in the
host's firewall while the stack is down.

Usage:
  mailctl-guard serve                       the daemon (the entrypoint runs it)
  mailctl-guard health                      exit 0 when the daemon answers
  mailctl-guard status                      the daemon's view, JSON
  mailctl-guard list                        the bans, JSON
  mailctl-guard add NETWORK SECONDS REASON  ban by hand
  mailctl-guard remove NETWORK              lift a ban and forget the past
  mailctl-guard clean                       remove the firewall rules, no daemon
"""

import hmac
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SETTINGS = "/etc/mailctl/config/guard.json"
TOKEN = "/etc/mailctl/config/token"
STATE = "/var/lib/mailctl-guard/state.json"
# An earlier ban stops counting against a network after this long.
OFFENCE_MEMORY_SECONDS = 30 * 86400
IPV6_BAN_PREFIX = 64


def log(message):
    print(f"guard: {message}", file=sys.stderr, flush=True)


def read_settings():
    with open(SETTINGS, encoding="utf-8") as handle:
        settings = json.load(handle)
    with open(TOKEN, encoding="utf-8") as handle:
        settings["token"] = handle.read().strip()
    return settings


def ban_unit(text):
    """The network a ban of the address `text` covers, or None."""
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    if network.version == 6 and network.prefixlen > IPV6_BAN_PREFIX:
        network = network.supernet(new_prefix=IPV6_BAN_PREFIX)
    return network


def overlaps(one, other):
    return one.version == other.version and one.overlaps(other)


class Firewall:
    """The project's chain in the host's filter table, for IPv4 and, where
    the host's ip6tables works with Docker's chains, IPv6."""

    def __init__(self, settings):
        self.chain = settings["chain"]
        self.comment = f"mailctl {settings['project']}: bans"
        self.destinations = {4: [settings["subnet"]], 6: []}
        if settings.get("ipv6_subnet"):
            self.destinations[6].append(settings["ipv6_subnet"])
        self.tools = {4: self.find_tool(4), 6: self.find_tool(6)}

    @staticmethod
    def find_tool(version):
        """The iptables variant (nft or legacy) in which Docker made its
        DOCKER-USER chain: the one that edits what the host uses."""
        base = "iptables" if version == 4 else "ip6tables"
        for variant in ("nft", "legacy"):
            tool = f"{base}-{variant}"
            done = subprocess.run(
                [tool, "-w", "-n", "-L", "DOCKER-USER"],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode == 0:
                return tool
        return None

    def run(self, version, *args, check=True):
        done = subprocess.run(
            [self.tools[version], "-w", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{self.tools[version]} {' '.join(args)}: {done.stderr.strip()}"
            )
        return done

    def jump(self):
        return ["DOCKER-USER", "-m", "comment", "--comment", self.comment, "-j", self.chain]

    def install(self, bans):
        for version, tool in self.tools.items():
            if tool is None:
                continue
            self.run(version, "-N", self.chain, check=False)
            if self.run(version, "-C", *self.jump(), check=False).returncode != 0:
                self.run(version, "-I", "DOCKER-USER", "1", *self.jump()[1:])
        self.sync(bans)

    def installed(self):
        """Whether the jump is in place wherever a tool works (Docker
        recreates DOCKER-USER when its daemon restarts)."""
        return all(
            self.run(version, "-C", *self.jump(), check=False).returncode == 0
            for version, tool in self.tools.items()
            if tool is not None
        )

    def sync(self, bans):
        """Replaces the chain's rules with one per banned network, at once
        (iptables-restore without flushing anything else)."""
        for version, tool in self.tools.items():
            if tool is None:
                continue
            lines = ["*filter", f":{self.chain} - [0:0]"]
            # An ICMP "port unreachable" makes a new connection fail at
            # once ("connection refused"); conntrack translates it back to
            # the published address. (A TCP reset would leave with the
            # container's address, which the client ignores.)
            reject = "icmp-port-unreachable" if version == 4 else "icmp6-port-unreachable"
            for network in sorted(bans):
                if ipaddress.ip_network(network).version != version:
                    continue
                for destination in self.destinations[version]:
                    lines.append(
                        f"-A {self.chain} -s {network} -d {destination} "
                        f"-j REJECT --reject-with {reject}"
                    )
            lines.append("COMMIT")
            restore = f"{tool}-restore"
            done = subprocess.run(
                [restore, "-w", "--noflush"],
                input="\n".join(lines) + "\n",
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"{restore}: {done.stderr.strip()}")

    def remove(self):
        for version, tool in self.tools.items():
            if tool is None:
                continue
            while self.run(version, "-D", *self.jump(), check=False).returncode == 0:
                pass
            self.run(version, "-F", self.chain, check=False)
            self.run(version, "-X", self.chain, check=False)

    def describe(self):
        return {
            "ipv4": self.tools[4],
            "ipv6": self.tools[6],
            "chain": self.chain,
        }


class Guard:
    def __init__(self, settings):
        self.lock = threading.Lock()
        self.settings = settings
        self.failures = {}
        self.state = {"bans": {}, "offences": {}}
        self.load_state()
        self.firewall = Firewall(settings)

    # --- state -------------------------------------------------------------
    def load_state(self):
        try:
            with open(STATE, encoding="utf-8") as handle:
                state = json.load(handle)
            self.state = {
                "bans": dict(state.get("bans", {})),
                "offences": dict(state.get("offences", {})),
            }
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as error:
            log(f"cannot read {STATE} ({error}); starting without bans")

    def save_state(self):
        temporary = STATE + ".new"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(self.state, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, STATE)

    def protected(self, network):
        for entry in self.settings["protected"]:
            if overlaps(network, ipaddress.ip_network(entry["network"], strict=False)):
                return entry["reason"]
        return None

    def banned(self, network):
        ban = self.state["bans"].get(str(network))
        return ban is not None and ban["until"] > time.time()

    # --- decisions -----------------------------------------------------------
    def failure(self, address, surface):
        network = ban_unit(address)
        if network is None or self.protected(network):
            return
        key = str(network)
        now = time.time()
        with self.lock:
            if self.banned(network):
                return
            window = self.settings["window_seconds"]
            times = [t for t in self.failures.get(key, []) if t > now - window]
            times.append(now)
            self.failures[key] = times
            if len(times) >= self.settings["max_failures"]:
                reason = f"{len(times)} failed logins within {window} s (last: {surface})"
                self.ban_locked(network, None, reason)

    def ban_locked(self, network, seconds, reason):
        key = str(network)
        now = time.time()
        offence = self.state["offences"].get(key)
        earlier = 0
        if offence and offence["last"] > now - OFFENCE_MEMORY_SECONDS:
            earlier = offence["count"]
        if seconds is None:
            seconds = min(
                self.settings["duration_seconds"] * (2 ** min(earlier, 20)),
                self.settings["max_duration_seconds"],
            )
        self.state["bans"][key] = {
            "network": key,
            "since": int(now),
            "until": int(now + seconds),
            "offences": earlier + 1,
            "reason": reason,
        }
        self.state["offences"][key] = {"count": earlier + 1, "last": int(now)}
        self.failures.pop(key, None)
        self.apply_locked()
        log(f"banned {key} for {seconds} s: {reason}")

    def add(self, text, seconds, reason):
        network = ban_unit(text)
        if network is None:
            raise ValueError(f"`{text}` is not an address or network")
        why = self.protected(network)
        if why:
            raise ValueError(f"{network} is never banned: {why}")
        with self.lock:
            self.ban_locked(network, seconds, reason)
        return self.state["bans"][str(network)]

    def remove(self, text):
        network = ban_unit(text)
        if network is None:
            raise ValueError(f"`{text}` is not an address or network")
        key = str(network)
        with self.lock:
            found = self.state["bans"].pop(key, None) is not None
            self.state["offences"].pop(key, None)
            self.failures.pop(key, None)
            self.apply_locked()
        if found:
            log(f"ban of {key} lifted by hand")
        return found

    def expire(self, check_firewall=True):
        now = time.time()
        with self.lock:
            expired = [key for key, ban in self.state["bans"].items() if ban["until"] <= now]
            for key in expired:
                del self.state["bans"][key]
                log(f"ban of {key} expired")
            forgotten = [
                key
                for key, offence in self.state["offences"].items()
                if offence["last"] <= now - OFFENCE_MEMORY_SECONDS
            ]
            for key in forgotten:
                del self.state["offences"][key]
            if check_firewall and not self.firewall.installed():
                log("the jump to the bans chain was missing (Docker restarted?): restored")
                self.firewall.install(self.state["bans"])
            elif expired:
                self.apply_locked()
            elif forgotten:
                self.save_state()

    def apply_locked(self):
        """Drops bans of networks now protected, then writes the state and
        the firewall."""
        for key in list(self.state["bans"]):
            if self.protected(ipaddress.ip_network(key)):
                del self.state["bans"][key]
        self.save_state()
        self.firewall.sync(self.state["bans"])

    def reload(self):
        settings = read_settings()
        with self.lock:
            self.settings = settings
            self.apply_locked()
        log("settings reloaded")

    def listing(self):
        with self.lock:
            return sorted(self.state["bans"].values(), key=lambda ban: ban["since"])


GUARD = None


class Handler(BaseHTTPRequestHandler):
    server_version = "mailctl-guard"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorised(self):
        given = self.headers.get("Authorization", "")
        expected = f"Bearer {GUARD.settings['token']}"
        if hmac.compare_digest(given.encode(), expected.encode()):
            return True
        self.reply(401, {"error": "unauthorised"})
        return False

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > 65536:
            raise ValueError("request too large")
        raw = self.rfile.read(length) if length else b"{}"
        return json.loads(raw or b"{}")

    def do_GET(self):  # pylint: disable=invalid-name
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self.reply(200, {"ok": True})
            return
        if not self.authorised():
            return
        if path == "/bans":
            self.reply(200, {"bans": GUARD.listing()})
        elif path == "/status":
            self.reply(
                200,
                {
                    "firewall": GUARD.firewall.describe(),
                    "installed": GUARD.firewall.installed(),
                    "bans": len(GUARD.listing()),
                },
            )
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):  # pylint: disable=invalid-name
        if not self.authorised():
            return
        path, _, query = self.path.partition("?")
        try:
            body = self.body()
        except ValueError as error:
            self.reply(400, {"error": str(error)})
            return
        if path == "/dovecot":
            self.dovecot(query, body)
        elif path == "/bans":
            try:
                ban = GUARD.add(body.get("network", ""), int(body["seconds"]), body.get("reason", "added by hand"))
            except (KeyError, ValueError) as error:
                self.reply(400, {"error": str(error)})
                return
            self.reply(200, ban)
        elif path == "/unban":
            try:
                found = GUARD.remove(body.get("network", ""))
            except ValueError as error:
                self.reply(400, {"error": str(error)})
                return
            self.reply(200, {"removed": found})
        else:
            self.reply(404, {"error": "not found"})

    def dovecot(self, query, body):
        """Dovecot's authentication policy: `allow` before a login (0
        lets it go on, -1 refuses), `report` after it."""
        remote = str(body.get("remote") or "")
        command = dict(
            part.split("=", 1) for part in query.split("&") if "=" in part
        ).get("command")
        if command == "report":
            if body.get("success") is False and remote:
                GUARD.failure(remote, str(body.get("protocol") or "login"))
            self.reply(200, {"status": 0, "msg": ""})
            return
        network = ban_unit(remote) if remote else None
        if network is not None and GUARD.banned(network):
            self.reply(200, {"status": -1, "msg": "banned after repeated failed logins"})
        else:
            self.reply(200, {"status": 0, "msg": ""})


def listen_syslog(address, port, subnet):
    """nginx's reports: `<PRI>… mailctl_guard: {json}`, from the stack's
    network only."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, port))
    network = ipaddress.ip_network(subnet)
    while True:
        data, (source, _) = sock.recvfrom(4096)
        if ipaddress.ip_address(source) not in network:
            continue
        text = data.decode("utf-8", "replace")
        start = text.find("{")
        if start < 0:
            continue
        try:
            report = json.loads(text[start:])
        except ValueError:
            continue
        if report.get("remote"):
            GUARD.failure(report["remote"], str(report.get("surface") or "web"))


def serve():
    global GUARD  # pylint: disable=global-statement
    settings = read_settings()
    os.umask(0o077)
    GUARD = Guard(settings)
    firewall = GUARD.firewall
    if firewall.tools[4] is None:
        log(
            "no DOCKER-USER chain in the host's firewall (is Docker's iptables "
            "management off?): bans are refused at login only, not at the edge"
        )
    if firewall.tools[6] is None:
        log("no usable ip6tables DOCKER-USER chain: IPv6 bans are refused at login only")
    with GUARD.lock:
        firewall.install({})
        GUARD.apply_locked()
    GUARD.expire()
    log(
        f"listening on {settings['listen']}:{settings['port']}; "
        f"{len(GUARD.state['bans'])} ban(s) restored; firewall {firewall.describe()}"
    )

    stopping = threading.Event()

    def stop(signum, frame):  # pylint: disable=unused-argument
        stopping.set()

    def reload(signum, frame):  # pylint: disable=unused-argument
        threading.Thread(target=GUARD.reload, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)

    server = ThreadingHTTPServer((settings["listen"], settings["port"]), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Thread(
        target=listen_syslog,
        args=(settings["listen"], settings["port"], settings["subnet"]),
        daemon=True,
    ).start()
    ticks = 0
    while not stopping.wait(1):
        ticks += 1
        try:
            GUARD.expire(check_firewall=ticks % 10 == 0)
        except (OSError, RuntimeError) as error:
            log(f"cannot update the firewall: {error}")
    with GUARD.lock:
        firewall.remove()
    log("stopped; the firewall rules are removed, the bans are kept for the next start")


def request(method, path, body=None):
    settings = read_settings()
    url = f"http://{settings['listen']}:{settings['port']}{path}"
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {settings['token']}", "Content-Type": "application/json"}
    call = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(call, timeout=5) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        message = json.load(error).get("error", str(error))
        print(message, file=sys.stderr)
        sys.exit(2)
    except OSError as error:
        print(f"the guard does not answer at {url}: {error}", file=sys.stderr)
        sys.exit(1)


def main(arguments):
    command = arguments[0] if arguments else "serve"
    if command == "serve":
        serve()
    elif command == "health":
        settings = read_settings()
        url = f"http://{settings['listen']}:{settings['port']}/health"
        try:
            with urllib.request.urlopen(url, timeout=4) as response:
                sys.exit(0 if response.status == 200 else 1)
        except OSError:
            sys.exit(1)
    elif command == "status":
        print(json.dumps(request("GET", "/status")))
    elif command == "list":
        print(json.dumps(request("GET", "/bans")["bans"]))
    elif command == "add" and len(arguments) == 4:
        print(json.dumps(request("POST", "/bans", {"network": arguments[1], "seconds": int(arguments[2]), "reason": arguments[3]})))
    elif command == "remove" and len(arguments) == 2:
        print(json.dumps(request("POST", "/unban", {"network": arguments[1]})))
    elif command == "clean":
        Firewall(read_settings()).remove()
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
