//! A small internet on this machine, for end-to-end tests that need what a
//! real VPS meets: other hosts with their own addresses, authoritative DNS
//! with a signed root, reverse zones and a blocklist, and a foreign mail
//! provider that judges what it receives.
//!
//! Layout (all in 203.0.113.0/24, a documentation network that this
//! machine does not use; [`Internet::start`] checks `ip -4 route` first):
//! - a bridge `mcti0` in the host's namespace carries 203.0.113.1, the
//!   stack's public address: ports the stack publishes on it are DNATed
//!   into the containers with the client's own address, and the containers'
//!   outgoing traffic is masqueraded to it;
//! - every other host is a network namespace with one veth on the bridge
//!   and no default route (it reaches only the hosts here): the DNS server
//!   (BIND 9, [`DNS`]), the foreign provider's MX (a container of the
//!   `tests/internet/foreign` image, [`FOREIGN_MX`]) and its sending host
//!   ([`FOREIGN_OUT`]), a mail client ([`CLIENT`]), an attacker listed
//!   in the blocklist ([`ATTACKER`]) and a spambot listed in two
//!   ([`SPAMBOT`]);
//! - one firewall rule lets the hosts talk to each other across the bridge
//!   (Docker sets the FORWARD policy to DROP).
//!
//! Names and addresses are fixed, so only one internet exists at a time
//! (tests take [`super::serial`]), and whatever a killed run left behind is
//! removed before the next one starts. Dropping the guard removes every
//! namespace, veth, container, rule and process, however the test ends.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::text;

/// The bridge in the host's namespace.
const BRIDGE: &str = "mcti0";
/// Every namespace, veth, container and `/etc/netns` entry starts with it.
const PREFIX: &str = "mcti-";
/// The comment on the firewall rule, so a stale one can be found.
const RULE_COMMENT: &str = "mailctl-test-internet";
const NETWORK: &str = "203.0.113.0/24";

/// The stack's public address: the bridge's address in the host namespace.
pub const STACK: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
pub const DNS: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 53);
pub const FOREIGN_MX: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 25);
pub const FOREIGN_OUT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 26);
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 100);
pub const ATTACKER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 66);
/// A spambot listed in two blocklists ([`BLOCKLIST`] and
/// [`SECOND_BLOCKLIST`]): postscreen's weighting refuses it outright.
pub const SPAMBOT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 67);

/// The foreign provider's domain and hosts.
pub const FOREIGN_DOMAIN: &str = "foreign.test";
pub const FOREIGN_MX_NAME: &str = "mx.foreign.test";
pub const FOREIGN_OUT_NAME: &str = "out.foreign.test";
/// Its mailboxes; any other local part is refused at RCPT.
pub const FOREIGN_USERS: [&str; 2] = ["bob", "carol"];
/// The DKIM selector the foreign sending host signs with.
pub const FOREIGN_SELECTOR: &str = "harness";
/// The blocklist zone that lists [`ATTACKER`] (the name the stack's
/// default configuration queries).
pub const BLOCKLIST: &str = "zen.spamhaus.org";
/// A second blocklist, one of `doctor.blocklists`' defaults: it lists only
/// [`SPAMBOT`].
pub const SECOND_BLOCKLIST: &str = "bl.spamcop.net";
/// The name server of every zone.
const NAME_SERVER: &str = "ns.harness.test";

/// The TTL of the foreign MX's TLSA record, which a test may change: the
/// stack's resolver and Postfix (which caches TLSA per process) forget the
/// old data this many seconds after a change.
pub const TLSA_TTL: u64 = 5;

const FOREIGN_IMAGE: &str = "mailctl-test-foreign:latest";
const TSIG_KEY_NAME: &str = "mailctl-internet-update";

/// A host of the internet: a named network namespace.
#[derive(Debug, Clone)]
pub struct Host {
    pub namespace: String,
    pub address: Ipv4Addr,
}

impl Host {
    /// Runs a program inside the host's namespace (resolving names through
    /// [`DNS`]: `ip netns exec` mounts `/etc/netns/<name>/resolv.conf`).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.namespace, program])
            .stdin(Stdio::null());
        command
    }

    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        self.command(program)
            .args(args)
            .output()
            .unwrap_or_else(|error| panic!("cannot run {program} in {}: {error}", self.namespace))
    }
}

/// One zone served by the internet's BIND.
#[derive(Debug, Clone)]
struct Zone {
    origin: String,
    /// Master-file text with absolute names (SOA and NS are added).
    records: String,
    signed: bool,
    /// Takes RFC 2136 updates signed with the internet's TSIG key.
    dynamic: bool,
}

pub struct Internet {
    directory: tempfile::TempDir,
    pub dns: Host,
    pub foreign_mx: Host,
    pub foreign_out: Host,
    pub client: Host,
    pub attacker: Host,
    pub spambot: Host,
    zones: Vec<Zone>,
    named: Option<Child>,
    /// Trust anchor of the signed root, as `dnssec-dsfromkey` prints it.
    pub root_anchor: String,
    /// The TSIG key file (BIND format) that project zones take updates with.
    pub tsig_key_file: PathBuf,
    /// The foreign MX's recorded deliveries.
    pub spool: PathBuf,
    /// The private key the foreign sending host signs DKIM with (PEM).
    pub foreign_dkim_key: PathBuf,
    /// TLSA `3 1 1` data for the foreign MX's certificate.
    pub foreign_tlsa: String,
    namespaces: Vec<String>,
    containers: Vec<String>,
    rule: Option<Vec<String>>,
}

fn must(program: &str, args: &[&str]) -> Output {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {program}: {error}"));
    assert!(
        output.status.success(),
        "{program} {}\n{}",
        args.join(" "),
        text(&output)
    );
    output
}

fn quiet(program: &str, args: &[&str]) {
    let _ = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Removes what an earlier, killed run may have left: namespaces, the
/// bridge, containers, the firewall rule and `/etc/netns` entries, all
/// recognised by their fixed names.
fn remove_leftovers() {
    let namespaces = stdout_of(&must("ip", &["netns", "list"]));
    for line in namespaces.lines() {
        if let Some(name) = line.split_whitespace().next() {
            if name.starts_with(PREFIX) {
                // A namespace lives on while a process (named) is in it.
                let pids = stdout_of(&must("ip", &["netns", "pids", name]));
                for pid in pids.split_whitespace() {
                    quiet("kill", &["-9", pid]);
                }
                quiet("ip", &["netns", "delete", name]);
            }
        }
    }
    quiet("ip", &["link", "delete", BRIDGE]);
    let links = stdout_of(&must("ip", &["-o", "link", "show"]));
    for line in links.lines() {
        if let Some(name) = line.split(": ").nth(1) {
            let name = name.split('@').next().unwrap_or(name);
            if name.starts_with(PREFIX) {
                quiet("ip", &["link", "delete", name]);
            }
        }
    }
    let containers = stdout_of(&must(
        "docker",
        &["ps", "-aq", "--filter", &format!("name=^{PREFIX}")],
    ));
    for id in containers.split_whitespace() {
        quiet("docker", &["rm", "-f", id]);
    }
    let rules = stdout_of(&must("iptables", &["-S", "FORWARD"]));
    for rule in rules.lines().filter(|rule| rule.contains(RULE_COMMENT)) {
        let mut args: Vec<String> = rule.split_whitespace().map(str::to_owned).collect();
        if args.first().map(String::as_str) == Some("-A") {
            args[0] = "-D".to_owned();
            let args: Vec<String> = args.into_iter().map(|arg| arg.replace('"', "")).collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            quiet("iptables", &args);
        }
    }
    if let Ok(entries) = std::fs::read_dir("/etc/netns") {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(PREFIX) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Builds the foreign provider's image (cached by Docker after the first
/// build).
pub fn build_foreign_image() {
    super::ensure_base_image();
    let context = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/internet/foreign");
    must(
        "docker",
        &[
            "build",
            "-q",
            "-t",
            FOREIGN_IMAGE,
            &context.display().to_string(),
        ],
    );
}

impl Internet {
    /// Builds the internet: bridge, hosts, DNS (zones for the foreign
    /// provider, the reverse zone with [`STACK`]'s PTR naming
    /// `stack_hostname`, the blocklist, and an empty zone per
    /// `project_domains`, which take TSIG-signed updates) and the foreign
    /// MX.
    pub fn start(stack_hostname: &str, project_domains: &[&str]) -> Internet {
        let routes = stdout_of(&must("ip", &["-4", "route"]));
        remove_leftovers();
        assert!(
            !routes
                .lines()
                .any(|route| route.starts_with("203.0.113.") && !route.contains(BRIDGE)),
            "{NETWORK} is in use on this machine (ip -4 route):\n{routes}"
        );
        build_foreign_image();
        let directory = tempfile::Builder::new()
            .prefix("mailctl-internet-")
            .tempdir()
            .unwrap();
        let spool = directory.path().join("spool");
        std::fs::create_dir(&spool).unwrap();
        // The foreign MX's delivery agent runs as `nobody`.
        must("chmod", &["0777", &spool.display().to_string()]);
        let host = |name: &str, address: Ipv4Addr| Host {
            namespace: format!("{PREFIX}{name}"),
            address,
        };
        let mut internet = Internet {
            tsig_key_file: directory.path().join("update.key"),
            foreign_dkim_key: directory.path().join("foreign-dkim.pem"),
            directory,
            dns: host("dns", DNS),
            foreign_mx: host("mx", FOREIGN_MX),
            foreign_out: host("out", FOREIGN_OUT),
            client: host("client", CLIENT),
            attacker: host("attacker", ATTACKER),
            spambot: host("spambot", SPAMBOT),
            zones: Vec::new(),
            named: None,
            root_anchor: String::new(),
            spool,
            foreign_tlsa: String::new(),
            namespaces: Vec::new(),
            containers: Vec::new(),
            rule: None,
        };
        internet.build_network();
        internet.start_foreign_mx();
        internet.build_zones(stack_hostname, project_domains);
        internet.start_dns();
        internet
    }

    pub fn dir(&self) -> &Path {
        self.directory.path()
    }

    /// A project set up as on a VPS on this internet (`mailctl init` with
    /// the domains given to [`Internet::start`]): published on [`STACK`],
    /// which is also its public address; its resolver forwards to [`DNS`]
    /// and trusts the internet's root. Not started: add users or overrides,
    /// then [`Internet::publish`] and `mailctl up`.
    pub fn new_project(
        &self,
        prefix: &str,
        hostname: &str,
        admin: &str,
        admin_password: &str,
    ) -> super::Cleanup {
        let mut args = vec!["--hostname", hostname];
        for zone in &self.zones {
            if zone.dynamic && !zone.origin.ends_with(".arpa") {
                args.extend(["--domain", zone.origin.as_str()]);
            }
        }
        let stack = STACK.to_string();
        args.extend([
            "--admin",
            admin,
            "--admin-password-stdin",
            "--tls",
            "self-signed",
            "--bind",
            &stack,
            "--public-address",
            &stack,
        ]);
        let project = super::init_project(prefix, &args, Some(&format!("{admin_password}\n")));
        let config_path = project.dir.join("mailctl.yaml");
        let config = std::fs::read_to_string(&config_path).unwrap();
        let config = config.replacen(
            "network:\n",
            &format!(
                "network:\n  dns_forwarders: [\"{DNS}\"]\n  dns_trust_anchors:\n    - \"{}\"\n",
                self.root_anchor
            ),
            1,
        );
        std::fs::write(&config_path, config).unwrap();
        project
    }

    /// Publishes the project's records in the internet's DNS with
    /// `mailctl dns push` (RFC 2136, TSIG).
    pub fn publish(&self, project: &Path) {
        let output = super::mailctl(
            project,
            &[
                "dns",
                "push",
                "--server",
                &DNS.to_string(),
                "--tsig-key",
                &self.tsig_key_file.display().to_string(),
            ],
        );
        assert!(output.status.success(), "dns push\n{}", text(&output));
    }

    fn build_network(&mut self) {
        must("ip", &["link", "add", BRIDGE, "type", "bridge"]);
        must(
            "ip",
            &["address", "add", &format!("{STACK}/24"), "dev", BRIDGE],
        );
        must("ip", &["link", "set", BRIDGE, "up"]);
        let rule: Vec<String> = [
            "FORWARD",
            "-i",
            BRIDGE,
            "-o",
            BRIDGE,
            "-m",
            "comment",
            "--comment",
            RULE_COMMENT,
            "-j",
            "ACCEPT",
        ]
        .iter()
        .map(|arg| (*arg).to_owned())
        .collect();
        let mut insert = vec!["-I".to_owned()];
        insert.extend(rule.iter().cloned());
        let insert: Vec<&str> = insert.iter().map(String::as_str).collect();
        must("iptables", &insert);
        self.rule = Some(rule);
        for host in [
            self.dns.clone(),
            self.foreign_out.clone(),
            self.client.clone(),
            self.attacker.clone(),
            self.spambot.clone(),
        ] {
            must("ip", &["netns", "add", &host.namespace]);
            self.namespaces.push(host.namespace.clone());
            self.attach(&host);
        }
    }

    /// A veth from the bridge into `host.namespace`, its address, and
    /// `/etc/netns/<namespace>/resolv.conf` naming the internet's DNS.
    fn attach(&self, host: &Host) {
        let outside = host.namespace.clone();
        must(
            "ip",
            &[
                "link",
                "add",
                &outside,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &host.namespace,
            ],
        );
        must("ip", &["link", "set", &outside, "master", BRIDGE, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &host.namespace, "ip"];
            all.extend_from_slice(args);
            must("ip", &all);
        };
        inside(&["link", "set", "lo", "up"]);
        inside(&[
            "address",
            "add",
            &format!("{}/24", host.address),
            "dev",
            "eth0",
        ]);
        inside(&["link", "set", "eth0", "up"]);
        let etc = Path::new("/etc/netns").join(&host.namespace);
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(etc.join("resolv.conf"), format!("nameserver {DNS}\n")).unwrap();
    }

    /// The foreign MX: a container without a network of Docker's, whose
    /// namespace gets a veth on the bridge like any other host.
    fn start_foreign_mx(&mut self) {
        let tls = self.dir().join("foreign-tls");
        std::fs::create_dir(&tls).unwrap();
        let key = tls.join("key.pem");
        let certificate = tls.join("cert.pem");
        must(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "30",
                "-subj",
                &format!("/CN={FOREIGN_MX_NAME}"),
                "-addext",
                &format!("subjectAltName=DNS:{FOREIGN_MX_NAME}"),
                "-keyout",
                &key.display().to_string(),
                "-out",
                &certificate.display().to_string(),
            ],
        );
        must("chmod", &["0644", &key.display().to_string()]);
        self.foreign_tlsa = tlsa_3_1_1(&certificate);
        let name = self.foreign_mx.namespace.clone();
        // Tracked before it exists, so that a failed start is removed too.
        self.containers.push(name.clone());
        must(
            "docker",
            &[
                "run",
                "-d",
                "--name",
                &name,
                "--network",
                "none",
                "--hostname",
                FOREIGN_MX_NAME,
                "-e",
                &format!("HARNESS_DNS={DNS}"),
                "-e",
                &format!("HARNESS_DOMAIN={FOREIGN_DOMAIN}"),
                "-e",
                &format!("HARNESS_HOSTNAME={FOREIGN_MX_NAME}"),
                "-e",
                &format!("HARNESS_USERS={}", FOREIGN_USERS.join(" ")),
                "-v",
                &format!("{}:/harness/tls:ro", tls.display()),
                "-v",
                &format!("{}:/spool", self.spool.display()),
                FOREIGN_IMAGE,
            ],
        );
        let pid = stdout_of(&must("docker", &["inspect", "-f", "{{.State.Pid}}", &name]))
            .trim()
            .to_owned();
        must("ip", &["netns", "attach", &name, &pid]);
        self.namespaces.push(name);
        self.attach(&self.foreign_mx.clone());
    }

    /// Zone data: the foreign provider's signed zone, the reverse zone, the
    /// blocklist, one empty zone per project domain, and the signed root
    /// delegating to all of them.
    fn build_zones(&mut self, stack_hostname: &str, project_domains: &[&str]) {
        let key = must("tsig-keygen", &["-a", "hmac-sha256", TSIG_KEY_NAME]);
        std::fs::write(&self.tsig_key_file, &key.stdout).unwrap();
        must(
            "openssl",
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                &self.foreign_dkim_key.display().to_string(),
            ],
        );
        let public_key = must(
            "openssl",
            &[
                "pkey",
                "-in",
                &self.foreign_dkim_key.display().to_string(),
                "-pubout",
                "-outform",
                "DER",
            ],
        );
        let dkim_value = format!("v=DKIM1; k=rsa; p={}", {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(&public_key.stdout)
        });
        let foreign = format!(
            "{FOREIGN_DOMAIN}. IN MX 10 {FOREIGN_MX_NAME}.\n\
             {FOREIGN_DOMAIN}. IN TXT \"v=spf1 ip4:{FOREIGN_MX} ip4:{FOREIGN_OUT} -all\"\n\
             _dmarc.{FOREIGN_DOMAIN}. IN TXT \"v=DMARC1; p=reject\"\n\
             {FOREIGN_SELECTOR}._domainkey.{FOREIGN_DOMAIN}. IN TXT {}\n\
             {FOREIGN_MX_NAME}. IN A {FOREIGN_MX}\n\
             {FOREIGN_OUT_NAME}. IN A {FOREIGN_OUT}\n\
             _25._tcp.{FOREIGN_MX_NAME}. {TLSA_TTL} IN TLSA 3 1 1 {}\n",
            txt_strings(&dkim_value),
            self.foreign_tlsa
        );
        let reverse = format!(
            "{} IN PTR {stack_hostname}.\n{} IN PTR {FOREIGN_MX_NAME}.\n{} IN PTR {FOREIGN_OUT_NAME}.\n",
            reverse_name(STACK),
            reverse_name(FOREIGN_MX),
            reverse_name(FOREIGN_OUT),
        );
        let blocklist = format!(
            "{attacker}.{BLOCKLIST}. IN A 127.0.0.2\n\
             {attacker}.{BLOCKLIST}. IN TXT \"listed: {ATTACKER} sends spam (simulated)\"\n\
             {spambot}.{BLOCKLIST}. IN A 127.0.0.4\n\
             2.0.0.127.{BLOCKLIST}. IN A 127.0.0.2\n",
            attacker = reversed_octets(ATTACKER),
            spambot = reversed_octets(SPAMBOT),
        );
        let second_blocklist = format!(
            "{spambot}.{SECOND_BLOCKLIST}. IN A 127.0.0.2\n\
             2.0.0.127.{SECOND_BLOCKLIST}. IN A 127.0.0.2\n",
            spambot = reversed_octets(SPAMBOT),
        );
        self.zones = vec![
            Zone {
                origin: FOREIGN_DOMAIN.to_owned(),
                records: foreign,
                signed: true,
                dynamic: false,
            },
            Zone {
                origin: "113.0.203.in-addr.arpa".to_owned(),
                records: reverse,
                signed: false,
                dynamic: true,
            },
            Zone {
                origin: BLOCKLIST.to_owned(),
                records: blocklist,
                signed: false,
                dynamic: false,
            },
            Zone {
                origin: SECOND_BLOCKLIST.to_owned(),
                records: second_blocklist,
                signed: false,
                dynamic: false,
            },
        ];
        for domain in project_domains {
            self.zones.push(Zone {
                origin: (*domain).to_owned(),
                records: String::new(),
                signed: false,
                dynamic: true,
            });
        }
        std::fs::create_dir(self.dir().join("keys")).unwrap();
        for origin in [".", FOREIGN_DOMAIN] {
            must(
                "dnssec-keygen",
                &[
                    "-q",
                    "-a",
                    "ECDSAP256SHA256",
                    "-f",
                    "KSK",
                    "-K",
                    &self.dir().join("keys").display().to_string(),
                    origin,
                ],
            );
        }
        self.root_anchor = self.ds_record(".");
        self.write_zones();
    }

    /// The DS record of the signed zone `origin`'s key.
    fn ds_record(&self, origin: &str) -> String {
        let prefix = if origin == "." {
            "K.+".to_owned()
        } else {
            format!("K{origin}.+")
        };
        let key = std::fs::read_dir(self.dir().join("keys"))
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .find(|path| {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with(&prefix) && name.ends_with(".key")
            })
            .unwrap_or_else(|| panic!("no key for {origin}"));
        let output = must("dnssec-dsfromkey", &["-2", &key.display().to_string()]);
        stdout_of(&output).trim().to_owned()
    }

    fn zone_file(&self, origin: &str) -> PathBuf {
        let name = if origin == "." { "root" } else { origin };
        self.dir().join(format!("{name}.zone"))
    }

    /// Writes every zone file (signing the signed ones) and the root.
    fn write_zones(&self) {
        let header = |origin: &str| {
            let owner = if origin == "." {
                ".".to_owned()
            } else {
                format!("{origin}.")
            };
            format!(
                "$TTL 60\n{owner} IN SOA {NAME_SERVER}. hostmaster.harness.test. {} 3600 600 86400 60\n{owner} IN NS {NAME_SERVER}.\n",
                serial()
            )
        };
        let mut root = header(".");
        root.push_str(&format!("{NAME_SERVER}. IN A {DNS}\n"));
        for zone in &self.zones {
            let text = format!("{}{}", header(&zone.origin), zone.records);
            self.write_zone_file(&zone.origin, &text, zone.signed);
            root.push_str(&format!("{}. IN NS {NAME_SERVER}.\n", zone.origin));
            if zone.signed {
                root.push_str(&self.ds_record(&zone.origin));
                root.push('\n');
            }
        }
        self.write_zone_file(".", &root, true);
    }

    fn write_zone_file(&self, origin: &str, text: &str, signed: bool) {
        let file = self.zone_file(origin);
        let _ = std::fs::remove_file(file.with_extension("zone.jnl"));
        std::fs::write(&file, text).unwrap();
        let zone_name = if origin == "." { "." } else { origin };
        must(
            "named-checkzone",
            &["-q", zone_name, &file.display().to_string()],
        );
        if signed {
            let signed_file = file.with_extension("zone.signed");
            must(
                "dnssec-signzone",
                &[
                    "-q",
                    "-S",
                    "-z",
                    "-K",
                    &self.dir().join("keys").display().to_string(),
                    "-d",
                    &self.dir().display().to_string(),
                    "-o",
                    zone_name,
                    "-f",
                    &signed_file.display().to_string(),
                    &file.display().to_string(),
                ],
            );
        }
    }

    fn write_config(&self) {
        let dir = self.dir().display().to_string();
        let key = std::fs::read_to_string(&self.tsig_key_file).unwrap();
        let mut config = format!(
            "options {{\n  directory \"{dir}\";\n  pid-file \"{dir}/named.pid\";\n  session-keyfile \"{dir}/session.key\";\n  managed-keys-directory \"{dir}\";\n  listen-on port 53 {{ {DNS}; }};\n  listen-on-v6 {{ none; }};\n  recursion no;\n  dnssec-validation no;\n  notify no;\n  allow-query {{ any; }};\n  minimal-responses no;\n}};\ncontrols {{ }};\n{key}\n"
        );
        let mut zones: Vec<(&str, bool, bool)> = vec![(".", true, false)];
        zones.extend(
            self.zones
                .iter()
                .map(|zone| (zone.origin.as_str(), zone.signed, zone.dynamic)),
        );
        for (origin, signed, dynamic) in zones {
            let file = if signed {
                self.zone_file(origin).with_extension("zone.signed")
            } else {
                self.zone_file(origin)
            };
            config.push_str(&format!(
                "zone \"{origin}\" {{\n  type primary;\n  file \"{}\";\n{}}};\n",
                file.display(),
                if dynamic {
                    format!("  allow-update {{ key {TSIG_KEY_NAME}; }};\n")
                } else {
                    String::new()
                }
            ));
        }
        std::fs::write(self.dir().join("named.conf"), config).unwrap();
    }

    fn start_dns(&mut self) {
        self.write_config();
        let log = std::fs::File::create(self.dir().join("named.log")).unwrap();
        let child = self
            .dns
            .command("/usr/sbin/named")
            .args(["-g", "-4", "-c"])
            .arg(self.dir().join("named.conf"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("named runs (apt install bind9)");
        self.named = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let loaded = std::iter::once(".".to_owned())
                .chain(self.zones.iter().map(|zone| zone.origin.clone()))
                .all(|origin| self.dig(&origin, "SOA").len() == 1);
            if loaded {
                return;
            }
            if let Some(Ok(Some(status))) = self.named.as_mut().map(Child::try_wait) {
                panic!("named exited ({status}):\n{}", self.dns_log());
            }
            assert!(
                Instant::now() < deadline,
                "named did not load its zones in 30 s:\n{}",
                self.dns_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop_dns(&mut self) {
        if let Some(mut child) = self.named.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn dns_log(&self) -> String {
        std::fs::read_to_string(self.dir().join("named.log")).unwrap_or_default()
    }

    /// `dig +short` at the internet's DNS, from the DNS host itself.
    pub fn dig(&self, name: &str, rtype: &str) -> Vec<String> {
        let output = self.dns.run(
            "dig",
            &[
                "+short",
                "+time=2",
                "+tries=2",
                &format!("@{DNS}"),
                name,
                rtype,
            ],
        );
        stdout_of(&output)
            .lines()
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Replaces the foreign provider's TLSA data (re-signing its zone) and
    /// restarts the DNS server.
    pub fn set_foreign_tlsa(&mut self, data: &str) {
        let zone = self
            .zones
            .iter_mut()
            .find(|zone| zone.origin == FOREIGN_DOMAIN)
            .unwrap();
        let start = zone.records.find("_25._tcp.").unwrap();
        let end = start + zone.records[start..].find('\n').unwrap();
        zone.records.replace_range(
            start..end,
            &format!("_25._tcp.{FOREIGN_MX_NAME}. {TLSA_TTL} IN TLSA 3 1 1 {data}"),
        );
        let zone = zone.clone();
        let text = format!(
            "$TTL 60\n{origin}. IN SOA {NAME_SERVER}. hostmaster.harness.test. {} 3600 600 86400 60\n{origin}. IN NS {NAME_SERVER}.\n{}",
            serial(),
            zone.records,
            origin = zone.origin
        );
        self.write_zone_file(&zone.origin, &text, true);
        self.stop_dns();
        self.start_dns();
    }

    /// The foreign MX's recorded deliveries, oldest first: each the JSON
    /// verdict of `receive` and the message as delivered.
    pub fn foreign_deliveries(&self) -> Vec<(serde_json::Value, String)> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.spool)
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "json")
                    && !path.file_name().unwrap().to_string_lossy().starts_with('.')
            })
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|path| {
                let verdict = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                    .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
                let message =
                    std::fs::read_to_string(path.with_extension("eml")).unwrap_or_default();
                (verdict, message)
            })
            .collect()
    }

    /// Waits until the foreign MX has recorded a delivery whose message
    /// contains `marker`.
    pub fn wait_for_foreign_delivery(
        &self,
        marker: &str,
        timeout: Duration,
    ) -> Option<(serde_json::Value, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self
                .foreign_deliveries()
                .into_iter()
                .find(|(_, message)| message.contains(marker))
            {
                return Some(found);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The foreign MX's Postfix log.
    pub fn foreign_log(&self) -> String {
        let output = Command::new("docker")
            .args(["logs", &self.foreign_mx.namespace])
            .output()
            .unwrap();
        text(&output)
    }

    /// The address of every host, by namespace (for messages).
    pub fn hosts(&self) -> BTreeMap<String, Ipv4Addr> {
        [
            &self.dns,
            &self.foreign_mx,
            &self.foreign_out,
            &self.client,
            &self.attacker,
            &self.spambot,
        ]
        .iter()
        .map(|host| (host.namespace.clone(), host.address))
        .collect()
    }
}

impl Drop for Internet {
    fn drop(&mut self) {
        self.stop_dns();
        for container in &self.containers {
            quiet("docker", &["rm", "-f", container]);
        }
        for namespace in &self.namespaces {
            quiet("ip", &["netns", "delete", namespace]);
            let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(namespace));
        }
        quiet("ip", &["link", "delete", BRIDGE]);
        if let Some(rule) = self.rule.take() {
            let mut args = vec!["-D".to_owned()];
            args.extend(rule);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            quiet("iptables", &args);
        }
    }
}

/// A zone serial that grows with every write (seconds since 2020 would
/// collide within a second; a counter would restart with the process).
fn serial() -> u32 {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    (seconds / 4).wrapping_add(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// `4.3.2.1` for 1.2.3.4.
pub fn reversed_octets(address: Ipv4Addr) -> String {
    let [a, b, c, d] = address.octets();
    format!("{d}.{c}.{b}.{a}")
}

/// The PTR owner name of an address.
pub fn reverse_name(address: Ipv4Addr) -> String {
    format!("{}.in-addr.arpa.", reversed_octets(address))
}

/// TLSA `3 1 1` data: SHA-256 of the certificate's SubjectPublicKeyInfo.
pub fn tlsa_3_1_1(certificate: &Path) -> String {
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -in '{}' -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum",
            certificate.display()
        ))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    stdout_of(&output)
        .split_whitespace()
        .next()
        .unwrap()
        .to_uppercase()
}

/// A TXT value as master-file strings of at most 255 octets.
fn txt_strings(value: &str) -> String {
    value
        .as_bytes()
        .chunks(255)
        .map(|chunk| format!("\"{}\"", String::from_utf8_lossy(chunk)))
        .collect::<Vec<_>>()
        .join(" ")
}
