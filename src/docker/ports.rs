//! Which port a failed start could not bind, and who holds it: parses the
//! daemon's bind errors, then looks the listening socket up in
//! `/proc/net/tcp{,6}` and `/proc/*/fd` (or, failing that, `ss -ltnp`).
//! The parsers are pure and unit-tested.

use std::path::Path;

/// A host port the daemon could not publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindFailure {
    pub address: String,
    pub port: u16,
    /// Docker itself has the port allocated (another container publishes it).
    pub allocated: bool,
}

/// Finds the address and port in a daemon error such as
/// `listen tcp4 127.0.0.1:2525: bind: address already in use` or
/// `Bind for 0.0.0.0:25 failed: port is already allocated`.
pub fn parse_bind_error(message: &str) -> Option<BindFailure> {
    if let Some(start) = message.find("Bind for ") {
        let rest = &message[start + "Bind for ".len()..];
        let end = rest.find(" failed")?;
        let (address, port) = split_address(&rest[..end])?;
        return Some(BindFailure {
            address,
            port,
            allocated: true,
        });
    }
    if !message.contains("address already in use") {
        return None;
    }
    let start = message.find("listen tcp")? + "listen ".len();
    // `tcp4 127.0.0.1:2525: bind: …`
    let after_protocol = message[start..].split_once(' ')?.1;
    let end = after_protocol.find(": bind")?;
    let (address, port) = split_address(&after_protocol[..end])?;
    Some(BindFailure {
        address,
        port,
        allocated: false,
    })
}

/// `127.0.0.1:25` or `[::]:25` into address and port.
fn split_address(text: &str) -> Option<(String, u16)> {
    let (address, port) = text.rsplit_once(':')?;
    let port = port.trim().parse().ok()?;
    Some((
        address.trim_matches(|c| c == '[' || c == ']').to_owned(),
        port,
    ))
}

/// The socket inodes listening on `port` in a `/proc/net/tcp` or
/// `/proc/net/tcp6` table.
pub fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    const LISTEN: &str = "0A";
    let mut inodes = Vec::new();
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(state), Some(inode)) = (fields.get(1), fields.get(3), fields.get(9))
        else {
            continue;
        };
        let local_port = local
            .rsplit_once(':')
            .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok());
        if local_port == Some(port) && *state == LISTEN {
            if let Ok(inode) = inode.parse() {
                inodes.push(inode);
            }
        }
    }
    inodes
}

/// The first `users:(("name",pid=N,fd=M))` entry of an `ss -ltnp` line.
pub fn parse_ss_users(line: &str) -> Option<(String, u32)> {
    let start = line.find("users:((\"")? + "users:((\"".len();
    let rest = &line[start..];
    let name_end = rest.find('"')?;
    let name = rest[..name_end].to_owned();
    let pid_start = rest.find("pid=")? + "pid=".len();
    let pid: String = rest[pid_start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((name, pid.parse().ok()?))
}

/// Who listens on `port` on this host, e.g. `nginx (pid 812)`, when it can
/// be told.
pub fn holder(port: u16) -> Option<String> {
    holder_from_proc(Path::new("/proc"), port).or_else(|| holder_from_ss(port))
}

fn holder_from_proc(proc: &Path, port: u16) -> Option<String> {
    let mut inodes = Vec::new();
    for table in ["net/tcp", "net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(proc.join(table)) {
            inodes.extend(listening_inodes(&text, port));
        }
    }
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes
        .iter()
        .map(|inode| format!("socket:[{inode}]"))
        .collect();
    for entry in std::fs::read_dir(proc).ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(descriptors) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for descriptor in descriptors.flatten() {
            let Ok(target) = std::fs::read_link(descriptor.path()) else {
                continue;
            };
            if wanted
                .iter()
                .any(|socket| target.as_os_str() == socket.as_str())
            {
                let name = std::fs::read_to_string(entry.path().join("comm"))
                    .map(|comm| comm.trim().to_owned())
                    .unwrap_or_else(|_| "a process".to_owned());
                return Some(format!("{name} (pid {pid})"));
            }
        }
    }
    None
}

fn holder_from_ss(port: u16) -> Option<String> {
    let output = std::process::Command::new("ss")
        .args(["-H", "-ltnp", &format!("sport = :{port}")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(parse_ss_users)
        .map(|(name, pid)| format!("{name} (pid {pid})"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_userland_proxy_error() {
        let message = "driver failed programming external connectivity on endpoint t-smtp-1 (0123): Error starting userland proxy: listen tcp4 127.0.0.1:2525: bind: address already in use";
        assert_eq!(
            parse_bind_error(message),
            Some(BindFailure {
                address: "127.0.0.1".to_owned(),
                port: 2525,
                allocated: false
            })
        );
    }

    #[test]
    fn parses_an_ipv6_bind_error() {
        let message =
            "Error starting userland proxy: listen tcp6 [::]:993: bind: address already in use";
        assert_eq!(
            parse_bind_error(message),
            Some(BindFailure {
                address: "::".to_owned(),
                port: 993,
                allocated: false
            })
        );
    }

    #[test]
    fn parses_the_already_allocated_error() {
        let message = "driver failed programming external connectivity on endpoint x (y): Bind for 0.0.0.0:25 failed: port is already allocated";
        assert_eq!(
            parse_bind_error(message),
            Some(BindFailure {
                address: "0.0.0.0".to_owned(),
                port: 25,
                allocated: true
            })
        );
    }

    #[test]
    fn other_errors_are_not_bind_errors() {
        assert_eq!(
            parse_bind_error("OCI runtime create failed: no such file"),
            None
        );
    }

    #[test]
    fn finds_listening_sockets_in_proc_net_tcp() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:09C5 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:09C5 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 100 0 0 10 0
   2: 00000000:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1 0000000000000000 100 0 0 10 0";
        assert_eq!(listening_inodes(table, 2501), vec![4242]);
        assert_eq!(listening_inodes(table, 25), vec![77]);
        assert!(listening_inodes(table, 80).is_empty());
    }

    #[test]
    fn parses_ss_users() {
        let line = "LISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:((\"nginx\",pid=812,fd=6),(\"nginx\",pid=813,fd=6))";
        assert_eq!(parse_ss_users(line), Some(("nginx".to_owned(), 812)));
        assert_eq!(parse_ss_users("LISTEN 0 511 0.0.0.0:80 0.0.0.0:*"), None);
    }

    #[test]
    fn finds_this_process_as_the_holder_of_its_own_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let found = holder(port).unwrap();
        assert!(
            found.contains(&format!("pid {}", std::process::id())),
            "{found}"
        );
    }
}
