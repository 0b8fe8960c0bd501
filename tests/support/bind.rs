//! A real BIND 9 for tests: `named` in the foreground on a free port of
//! 127.0.0.1, authoritative for the zones a test gives it, accepting
//! TSIG-signed dynamic updates (RFC 2136) with a key made by `tsig-keygen`.
//! Dropping the guard stops the server and removes its directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The name of the key every zone accepts updates with.
pub const KEY_NAME: &str = "mailctl-test-update";

pub struct Bind {
    pub port: u16,
    /// The TSIG key in BIND's key-file format.
    pub key_file: PathBuf,
    directory: tempfile::TempDir,
    zones: Vec<String>,
    child: Option<Child>,
    /// A value only this server serves (a TXT record in every zone), so a
    /// readiness check never mistakes another test's server on a port both
    /// picked for this one.
    instance: String,
}

/// The owner (under each zone) of the TXT record naming the instance.
const INSTANCE_LABEL: &str = "mailctl-bind-instance";

impl Bind {
    /// Starts `named -g` authoritative for each `(origin, records)` zone; the
    /// SOA and NS records are added here. `records` is master-file text with
    /// absolute names.
    pub fn start(zones: &[(&str, &str)]) -> Bind {
        let directory = tempfile::Builder::new()
            .prefix("mailctl-bind-")
            .tempdir()
            .unwrap();
        let key = Command::new("tsig-keygen")
            .args(["-a", "hmac-sha256", KEY_NAME])
            .output()
            .expect("tsig-keygen runs (apt install bind9-utils)");
        assert!(key.status.success(), "tsig-keygen failed");
        let key_file = directory.path().join("update.key");
        std::fs::write(&key_file, &key.stdout).unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let mut bind = Bind {
            port: 0,
            key_file,
            directory,
            zones: zones.iter().map(|(origin, _)| origin.to_string()).collect(),
            child: None,
            instance: format!("{}-{nanos}", std::process::id()),
        };
        for (origin, records) in zones {
            bind.write_zone(origin, records);
        }
        // A port found free may be taken by another test before named binds
        // it (named then runs without listening): try another one.
        for _ in 0..5 {
            bind.port = super::free_ports()[0];
            bind.write_config();
            if bind.launch() {
                return bind;
            }
            bind.stop();
        }
        panic!(
            "named did not start on a free port in 5 tries:\n{}",
            bind.log()
        );
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn dir(&self) -> &Path {
        self.directory.path()
    }

    /// `dig +short` at this server, one line per record.
    pub fn dig(&self, name: &str, rtype: &str) -> Vec<String> {
        self.dig_with(&["+tries=2"], name, rtype)
    }

    fn dig_tcp(&self, name: &str, rtype: &str) -> Vec<String> {
        self.dig_with(&["+tcp", "+tries=1"], name, rtype)
    }

    fn dig_with(&self, flags: &[&str], name: &str, rtype: &str) -> Vec<String> {
        let port = self.port.to_string();
        let output = Command::new("dig")
            .args(["+short", "+norecurse", "+time=2"])
            .args(flags)
            .args(["@127.0.0.1", "-p", &port, name, rtype])
            .output()
            .expect("dig runs (apt install bind9-dnsutils)");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .filter(|line| !line.is_empty())
            .collect()
    }

    /// Replaces the records of one zone (dropping any dynamic updates made to
    /// it) and restarts the server on the same port.
    pub fn set_records(&mut self, origin: &str, records: &str) {
        assert!(
            self.zones.iter().any(|zone| zone == origin),
            "zone {origin} is not served"
        );
        self.stop();
        self.write_zone(origin, records);
        assert!(
            self.launch(),
            "named did not start again on port {}:\n{}",
            self.port,
            self.log()
        );
    }

    fn zone_file(&self, origin: &str) -> PathBuf {
        self.dir().join(format!("{origin}.zone"))
    }

    fn write_zone(&self, origin: &str, records: &str) {
        let file = self.zone_file(origin);
        let _ = std::fs::remove_file(file.with_extension("zone.jnl"));
        let text = format!(
            "$TTL 60\n$ORIGIN {origin}.\n@ IN SOA ns.{origin}. hostmaster.{origin}. 1 3600 600 86400 60\n@ IN NS ns.{origin}.\nns IN A 127.0.0.1\n{INSTANCE_LABEL} IN TXT \"{}\"\n{records}\n",
            self.instance
        );
        std::fs::write(&file, text).unwrap();
        let check = Command::new("named-checkzone")
            .arg(origin)
            .arg(&file)
            .output()
            .expect("named-checkzone runs (apt install bind9-utils)");
        assert!(
            check.status.success(),
            "zone {origin} does not load:\n{}",
            String::from_utf8_lossy(&check.stdout)
        );
    }

    fn write_config(&self) {
        let dir = self.dir().display().to_string();
        let key = std::fs::read_to_string(&self.key_file).unwrap();
        let mut config = format!(
            "options {{\n  directory \"{dir}\";\n  pid-file \"{dir}/named.pid\";\n  session-keyfile \"{dir}/session.key\";\n  managed-keys-directory \"{dir}\";\n  listen-on port {port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n  recursion no;\n  dnssec-validation no;\n  notify no;\n  allow-query {{ any; }};\n}};\ncontrols {{ }};\n{key}\n",
            port = self.port
        );
        for origin in &self.zones {
            config.push_str(&format!(
                "zone \"{origin}\" {{\n  type primary;\n  file \"{}\";\n  allow-update {{ key {KEY_NAME}; }};\n}};\n",
                self.zone_file(origin).display()
            ));
        }
        std::fs::write(self.dir().join("named.conf"), config).unwrap();
    }

    /// Starts named and waits until it answers for its own instance over
    /// UDP and TCP; false when it does not (port taken, exited, timeout).
    fn launch(&mut self) -> bool {
        let log = std::fs::File::create(self.dir().join("named.log")).unwrap();
        let child = Command::new(named_binary())
            .args(["-g", "-4", "-c"])
            .arg(self.dir().join("named.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("named runs (apt install bind9)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        let marker = format!("{INSTANCE_LABEL}.{}", self.zones[0]);
        let expected = vec![format!("\"{}\"", self.instance)];
        loop {
            // Zones load one by one (named answers SERVFAIL until then): every
            // zone must answer with this instance's record.
            let loaded = self
                .zones
                .iter()
                .all(|zone| self.dig(&format!("{INSTANCE_LABEL}.{zone}"), "TXT") == expected);
            if loaded && self.dig_tcp(&marker, "TXT") == expected {
                return true;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    return false;
                }
            }
            if self.log().contains("address in use") || Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("named.log")).unwrap_or_default()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        self.stop();
    }
}

fn named_binary() -> &'static str {
    if Path::new("/usr/sbin/named").exists() {
        "/usr/sbin/named"
    } else {
        "named"
    }
}
