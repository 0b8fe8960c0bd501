//! Verdicts on the Docker host: disk and memory headroom, and which SMTP
//! clients Docker's userland proxy hides the address of. The caller reads
//! `statvfs`, `/proc/meminfo`, `/proc/*/cmdline` and Docker's
//! `daemon.json`. Pure.

use std::net::{IpAddr, Ipv4Addr};

use super::{Check, Finding, Status};

const GIB: u64 = 1024 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;

/// Free space: below 1 GiB is an error, below 5 GiB a warning. On small
/// disks the share counts too (below 5 % an error, below 15 % a warning),
/// but 10 GiB free is never an error and 20 GiB free never a warning: a
/// large disk with a few percent free still holds years of mail.
pub fn disk(path: &str, available: u64, total: u64) -> Finding {
    let percent = available
        .saturating_mul(100)
        .checked_div(total)
        .unwrap_or(0);
    let found = format!(
        "{:.1} GiB free of {:.1} GiB ({percent}%)",
        available as f64 / GIB as f64,
        total as f64 / GIB as f64
    );
    let status = if available < GIB || (percent < 5 && available < 10 * GIB) {
        Status::Error
    } else if available < 5 * GIB || (percent < 15 && available < 20 * GIB) {
        Status::Warning
    } else {
        Status::Ok
    };
    let finding = Finding::new(
        Check::StackDisk,
        path,
        status,
        match status {
            Status::Ok => "enough free disk space".to_owned(),
            _ => "little free disk space: mail, queues and logs stop when the disk is full"
                .to_owned(),
        },
    )
    .found(found);
    if status == Status::Ok {
        finding
    } else {
        finding
            .expected("at least 5 GiB free, and 15% of the disk unless 20 GiB or more are free")
            .fix("free space (`docker system df`, old backups, logs) or grow the disk")
    }
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
pub fn mem_available(meminfo: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        meminfo
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kib| kib * 1024)
    };
    Some((field("MemAvailable:")?, field("MemTotal:")?))
}

/// Available memory: below 128 MiB an error, below 512 MiB a warning.
pub fn memory(available: u64, total: u64) -> Finding {
    let found = format!("{} MiB available of {} MiB", available / MIB, total / MIB);
    let status = if available < 128 * MIB {
        Status::Error
    } else if available < 512 * MIB {
        Status::Warning
    } else {
        Status::Ok
    };
    let finding = Finding::new(
        Check::StackMemory,
        "host",
        status,
        match status {
            Status::Ok => "enough free memory".to_owned(),
            _ => {
                "little free memory: Rspamd and ClamAV are killed first when it runs out".to_owned()
            }
        },
    )
    .found(found);
    if status == Status::Ok {
        finding
    } else {
        finding
            .expected("at least 512 MiB available")
            .fix("add memory or swap, or turn off `components.antivirus`")
    }
}

/// The host address and port a `docker-proxy` command line listens on
/// (`-host-ip A -host-port N`), `None` for any other process. Arguments are
/// NUL-separated as in `/proc/PID/cmdline`.
pub fn docker_proxy_listener(cmdline: &[u8]) -> Option<(IpAddr, u16)> {
    let arguments: Vec<&[u8]> = cmdline.split(|byte| *byte == 0).collect();
    let program = arguments.first()?;
    if !program.ends_with(b"docker-proxy") {
        return None;
    }
    let value = |flag: &[u8]| {
        let position = arguments.iter().position(|argument| *argument == flag)?;
        std::str::from_utf8(arguments.get(position + 1)?).ok()
    };
    let port = value(b"-host-port")?.parse().ok()?;
    let ip = value(b"-host-ip")
        .and_then(|ip| ip.parse().ok())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    Some((ip, port))
}

/// Which SMTP clients keep their own address. IPv4 connections from other
/// hosts are DNATed by Docker's iptables rules and arrive with their own
/// address whatever the userland proxy does; only what goes through a
/// `docker-proxy` arrives from the bridge `gateway`: connections to a port
/// published on loopback, containers connecting to the host's published
/// port, and IPv6 when Docker has no `ip6tables` NAT for it.
pub fn client_addresses(
    smtp_port: u16,
    listeners: &[(IpAddr, u16)],
    gateway: Ipv4Addr,
    ip6tables: bool,
) -> Finding {
    let check = Check::StackClientAddress;
    let subject = format!("port {smtp_port}");
    let on_port: Vec<IpAddr> = listeners
        .iter()
        .filter(|(_, port)| *port == smtp_port)
        .map(|(ip, _)| *ip)
        .collect();
    if on_port.is_empty() {
        return Finding::ok(
            check,
            subject,
            "no userland proxy on the SMTP port: every client reaches Postfix with its own address",
        );
    }
    if let Some(ipv6) = on_port
        .iter()
        .find(|ip| ip.is_ipv6())
        .filter(|_| !ip6tables)
    {
        return Finding::new(
            check,
            subject,
            Status::Warning,
            format!("IPv6 clients reach the SMTP port through Docker's userland proxy and arrive as the Docker gateway {gateway}: SPF, blocklists, rate limits and bans cannot tell them apart (the gateway is never banned)"),
        )
        .found(format!("a `docker-proxy` listens on [{ipv6}]:{smtp_port} and Docker has no `ip6tables` NAT"))
        .expected("IPv6 clients reach Postfix with their own address, or port 25 is not published on IPv6")
        .fix("publish on IPv4 only (`network.bind: [<public IPv4>]`), or give Docker IPv6 NAT: `\"ipv6\": true, \"ip6tables\": true` (20.10 also needs `\"experimental\": true`) and `\"userland-proxy\": false` in /etc/docker/daemon.json, a `network.ipv6_subnet`, then `systemctl restart docker` and `mailctl up`");
    }
    Finding::new(
        check,
        subject,
        Status::Info,
        format!("IPv4 clients from other hosts reach Postfix with their own address (Docker NATs them); only connections through Docker's userland proxy, to a loopback-published port or from a container to the host's address, arrive as the gateway {gateway}, get no address-based checks and cannot be banned individually (the gateway is never banned)"),
    )
    .found(format!(
        "a `docker-proxy` listens on {}",
        on_port
            .iter()
            .map(|ip| std::net::SocketAddr::new(*ip, smtp_port).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Whether Docker's daemon configuration turns on `ip6tables`.
pub fn daemon_has_ip6tables(daemon_json: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(daemon_json)
        .ok()
        .and_then(|value| value.get("ip6tables").and_then(serde_json::Value::as_bool))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_thresholds() {
        assert_eq!(disk("/", 50 * GIB, 100 * GIB).status, Status::Ok);
        assert_eq!(disk("/", 3 * GIB, 10 * GIB).status, Status::Warning);
        assert_eq!(disk("/", GIB / 2, 100 * GIB).status, Status::Error);
        assert_eq!(disk("/", 8 * GIB, 200 * GIB).status, Status::Error);
        assert_eq!(disk("/", 12 * GIB, 200 * GIB).status, Status::Warning);
        assert_eq!(disk("/", 30 * GIB, 252 * GIB).status, Status::Ok);
    }

    #[test]
    fn memory_from_meminfo() {
        let (available, total) =
            mem_available("MemTotal:  2048000 kB\nMemFree: 1 kB\nMemAvailable:  1024000 kB\n")
                .unwrap();
        assert_eq!(available, 1_024_000 * 1024);
        assert_eq!(memory(available, total).status, Status::Ok);
        assert_eq!(memory(100 * MIB, total).status, Status::Error);
    }

    #[test]
    fn docker_proxy_is_recognised() {
        let line = b"/usr/bin/docker-proxy\x00-proto\x00tcp\x00-host-ip\x00127.0.0.1\x00-host-port\x002525\x00-container-ip\x00172.30.53.2\x00-container-port\x0025\x00";
        assert_eq!(
            docker_proxy_listener(line),
            Some((IpAddr::from([127, 0, 0, 1]), 2525))
        );
        let line =
            b"/usr/bin/docker-proxy\x00-proto\x00tcp\x00-host-ip\x00::\x00-host-port\x0025\x00";
        assert_eq!(
            docker_proxy_listener(line),
            Some(("::".parse().unwrap(), 25))
        );
        assert_eq!(docker_proxy_listener(b"/usr/sbin/sshd\x00-D\x00"), None);
    }

    #[test]
    fn only_proxied_ipv6_loses_client_addresses() {
        let gateway = Ipv4Addr::new(172, 30, 53, 1);
        let v4 = (IpAddr::from([0, 0, 0, 0]), 25);
        let v6 = ("::".parse().unwrap(), 25);
        assert_eq!(client_addresses(25, &[], gateway, false).status, Status::Ok);
        assert_eq!(
            client_addresses(25, &[(v4.0, 2525)], gateway, false).status,
            Status::Ok
        );
        let ipv4_only = client_addresses(25, &[v4], gateway, false);
        assert_eq!(ipv4_only.status, Status::Info);
        assert!(
            ipv4_only.summary.contains("their own address"),
            "{ipv4_only:?}"
        );
        assert!(ipv4_only.summary.contains("172.30.53.1"), "{ipv4_only:?}");
        let ipv6 = client_addresses(25, &[v4, v6], gateway, false);
        assert_eq!(ipv6.status, Status::Warning);
        assert!(ipv6.summary.contains("IPv6 clients"), "{ipv6:?}");
        assert!(format!("{ipv6:?}").contains("ip6tables"), "{ipv6:?}");
        assert_eq!(
            client_addresses(25, &[v4, v6], gateway, true).status,
            Status::Info
        );
    }

    #[test]
    fn ip6tables_from_the_daemon_configuration() {
        assert!(daemon_has_ip6tables(r#"{"ipv6": true, "ip6tables": true}"#));
        assert!(!daemon_has_ip6tables(r#"{"ipv6": true}"#));
        assert!(!daemon_has_ip6tables("not json"));
    }
}
