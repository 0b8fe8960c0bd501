//! Verdicts on the Docker host: disk and memory headroom, and whether
//! Docker's userland proxy hides client addresses from Postfix. The caller
//! reads `statvfs`, `/proc/meminfo` and `/proc/*/cmdline`. Pure.

use super::{Finding, Status};

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
        "stack.disk",
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
        "stack.memory",
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

/// The host port a `docker-proxy` command line forwards (`-host-port N`),
/// `None` for any other process. Arguments are NUL-separated as in
/// `/proc/PID/cmdline`.
pub fn docker_proxy_port(cmdline: &[u8]) -> Option<u16> {
    let arguments: Vec<&[u8]> = cmdline.split(|byte| *byte == 0).collect();
    let program = arguments.first()?;
    if !program.ends_with(b"docker-proxy") {
        return None;
    }
    let position = arguments
        .iter()
        .position(|argument| *argument == b"-host-port")?;
    std::str::from_utf8(arguments.get(position + 1)?)
        .ok()?
        .parse()
        .ok()
}

/// Whether Postfix sees real client addresses: when a `docker-proxy`
/// forwards the SMTP port, every client arrives from the bridge gateway,
/// and SPF, blocklists, rate limits and postscreen see one address.
pub fn client_addresses(smtp_port: u16, proxied_ports: &[u16]) -> Finding {
    let check = "stack.client-address";
    let subject = format!("port {smtp_port}");
    if proxied_ports.contains(&smtp_port) {
        Finding::new(
            check,
            subject,
            Status::Warning,
            "Docker's userland proxy forwards the SMTP port: Postfix sees every client as the Docker gateway",
        )
        .found(format!("a `docker-proxy` process listens on port {smtp_port}"))
        .expected("connections reach Postfix with the client's own address")
        .fix("set `\"userland-proxy\": false` in /etc/docker/daemon.json, restart Docker (`systemctl restart docker`), then `mailctl up`")
    } else {
        Finding::ok(
            check,
            subject,
            "no userland proxy on the SMTP port: Postfix sees real client addresses",
        )
    }
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
        assert_eq!(docker_proxy_port(line), Some(2525));
        assert_eq!(docker_proxy_port(b"/usr/sbin/sshd\x00-D\x00"), None);
        assert_eq!(client_addresses(2525, &[2525]).status, Status::Warning);
        assert_eq!(client_addresses(25, &[2525]).status, Status::Ok);
    }
}
