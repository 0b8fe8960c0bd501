//! End-to-end tests of `mailctl cert` against a real ACME server (Debian's
//! `pebble`) and a real DNS server (BIND 9, `tests/support/bind.rs`) on
//! 127.0.0.1, with one real stack in Docker.
//!
//! BIND serves the test domains (every certificate name points at
//! 127.0.0.1) and takes RFC 2136 updates with a TSIG key; Pebble resolves
//! through it (`-dnsserver`) and checks HTTP-01 on the stack's published
//! HTTP port. Pebble's own HTTPS certificate is signed by a CA made here
//! (`--acme-ca-root`); the certificates it issues chain to the root its
//! management endpoint hands out, which `openssl s_client
//! -verify_return_error` is given on every TLS port.
//!
//! The scenarios run in order on one shared stack, each starting from the
//! certificate the one before left: issue
//! over HTTP-01 through `web`; renew (not due, then forced, with IMAP and
//! SMTP sessions opened before and finished after); a challenge that cannot
//! succeed; DNS-01 through RFC 2136. No container may be recreated or
//! restarted at any point.

use crate::harness::Scenarios;
use crate::support::bind::Bind;
use crate::support::{docker, new_project_with, stderr, stdout, text, Cleanup};

use std::cell::{LazyCell, RefCell};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "admin@example.test";
const ADMIN_PASSWORD: &str = "admin-password-0";

fn mailctl(dir: &Path, args: &[&str]) -> Output {
    crate::support::mailctl(dir, args)
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {program}: {error}"))
}

/// Container name → `id StartedAt` for every container of the project.
fn container_states(project: &str) -> BTreeMap<String, String> {
    let names = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=mailctl.project={project}"),
        "--format",
        "{{.Names}}",
    ]);
    names
        .lines()
        .map(|name| {
            let state = docker(&["inspect", "-f", "{{.Id}} {{.State.StartedAt}}", name]);
            (name.to_owned(), state.trim().to_owned())
        })
        .collect()
}

// ------------------------------------------------------------------ pebble

/// Debian's Pebble on 127.0.0.1, with its own HTTPS certificate signed by a
/// CA made here.
struct Pebble {
    child: Child,
    directory: tempfile::TempDir,
    url: String,
    management: u16,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Pebble {
    fn start(http_port: u16, dns: std::net::SocketAddr) -> Pebble {
        let directory = tempfile::Builder::new()
            .prefix("mailctl-pebble-")
            .tempdir()
            .unwrap();
        let path = |name: &str| directory.path().join(name).display().to_string();
        let openssl = |args: &[&str]| {
            let output = run("openssl", args);
            assert!(
                output.status.success(),
                "openssl {args:?}\n{}",
                text(&output)
            );
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &path("ca.key"),
            "-out",
            &path("ca.pem"),
            "-days",
            "2",
            "-subj",
            "/CN=mailctl test minica",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &path("pebble.key"),
            "-out",
            &path("pebble.csr"),
            "-subj",
            "/CN=localhost",
        ]);
        std::fs::write(
            directory.path().join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            &path("pebble.csr"),
            "-CA",
            &path("ca.pem"),
            "-CAkey",
            &path("ca.key"),
            "-CAcreateserial",
            "-out",
            &path("pebble.pem"),
            "-days",
            "2",
            "-extfile",
            &path("ext.cnf"),
        ]);
        let ports = crate::support::free_ports();
        let (listen, management, tls) = (ports[0], ports[1], ports[2]);
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{listen}"),
                "managementListenAddress": format!("127.0.0.1:{management}"),
                "certificate": path("pebble.pem"),
                "privateKey": path("pebble.key"),
                "httpPort": http_port,
                "tlsPort": tls,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false
            }
        });
        std::fs::write(directory.path().join("pebble.json"), config.to_string()).unwrap();
        let log = std::fs::File::create(directory.path().join("pebble.log")).unwrap();
        let child = Command::new("pebble")
            .arg("-config")
            .arg(directory.path().join("pebble.json"))
            .arg("-dnsserver")
            .arg(dns.to_string())
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_VA_ALWAYS_VALID", "0")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            // As few reused authorizations as Pebble allows. Pebble 2.4 still
            // reuses a valid one about once in 100 names even at 0 (it keeps
            // the old one unless `rand.Intn(100) > PEBBLE_AUTHZREUSE`), so a
            // step that needs every name validated starts a new account
            // (`new_acme_account`).
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("pebble runs (apt install pebble)");
        let pebble = Pebble {
            child,
            directory,
            url: format!("https://127.0.0.1:{listen}/dir"),
            management,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let output = run(
                "curl",
                &[
                    "-sf",
                    "--cacert",
                    &pebble.ca_root().display().to_string(),
                    &pebble.url,
                ],
            );
            if output.status.success() && stdout(&output).contains("newOrder") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "pebble did not answer within 20 s:\n{}",
                pebble.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        pebble
    }

    /// The CA of Pebble's own HTTPS certificate.
    fn ca_root(&self) -> PathBuf {
        self.directory.path().join("ca.pem")
    }

    /// The root the issued certificates chain to, from the management endpoint.
    fn issuing_root(&self) -> PathBuf {
        let path = self.directory.path().join("issuing-root.pem");
        let output = run(
            "curl",
            &[
                "-sf",
                "--cacert",
                &self.ca_root().display().to_string(),
                &format!("https://127.0.0.1:{}/roots/0", self.management),
                "-o",
                &path.display().to_string(),
            ],
        );
        assert!(
            output.status.success(),
            "cannot fetch Pebble's root\n{}",
            text(&output)
        );
        path
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.directory.path().join("pebble.log")).unwrap_or_default()
    }
}

// -------------------------------------------------------------- TLS checks

/// The TLS ports and whether they need STARTTLS first.
const TLS_PORTS: [(&str, Option<&str>); 5] = [
    ("smtp", Some("smtp")),
    ("submissions", None),
    ("submission", Some("smtp")),
    ("imaps", None),
    ("https", None),
];

/// Connects with `openssl s_client -verify_return_error` trusting only
/// `root`; returns the leaf certificate (PEM) the server sent. Panics when
/// the chain does not verify.
fn served_certificate(port: u16, starttls: Option<&str>, root: &Path, servername: &str) -> String {
    let port = port.to_string();
    let root = root.display().to_string();
    let address = format!("127.0.0.1:{port}");
    let mut args = vec![
        "s_client",
        "-connect",
        &address,
        "-servername",
        servername,
        "-verify_hostname",
        servername,
        "-CAfile",
        &root,
        "-verify_return_error",
    ];
    if let Some(protocol) = starttls {
        args.extend(["-starttls", protocol]);
    }
    let output = Command::new("timeout")
        .arg("20")
        .arg("openssl")
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let all = stdout(&output);
    assert!(
        output.status.success() && all.contains("Verify return code: 0 (ok)"),
        "port {port} ({starttls:?}) does not verify against Pebble's root\n{}",
        text(&output)
    );
    first_pem(&all)
}

/// The first PEM certificate block of `text`, whitespace removed.
fn first_pem(text: &str) -> String {
    let start = text
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a certificate");
    let end = text[start..].find("-----END CERTIFICATE-----").unwrap() + start;
    text[start..end].split_whitespace().collect()
}

fn live_leaf(dir: &Path) -> String {
    first_pem(&std::fs::read_to_string(dir.join("certs/live/fullchain.pem")).unwrap())
}

fn assert_all_ports_serve(
    ports: &BTreeMap<&'static str, u16>,
    root: &Path,
    expected_leaf: &str,
    what: &str,
) {
    for (name, starttls) in TLS_PORTS {
        let served = served_certificate(ports[name], starttls, root, "mail.example.test");
        assert_eq!(
            served, expected_leaf,
            "{what}: port {name} ({}) serves another certificate than certs/live",
            ports[name]
        );
    }
}

/// The TLS ports, with the STARTTLS protocol as testssl.sh names it (None:
/// TLS from the first byte). ManageSieve (4190) is left out: Debian's
/// testssl.sh 3.0 cannot speak its STARTTLS; Dovecot serves it with the TLS
/// settings of 993 and 995.
const SCANNED_PORTS: [(&str, Option<&str>); 6] = [
    ("smtp", Some("smtp")),
    ("submissions", None),
    ("submission", Some("smtp")),
    ("imaps", None),
    ("pop3s", None),
    ("https", None),
];

/// Findings the test CA causes, not the server's TLS configuration: the
/// chain is verified with `--add-ca`, but Pebble's certificates name no
/// revocation service and are valid for five years (Let's Encrypt's: a CRL
/// and 90 days), and no CAA record exists for the test names.
const PRIVATE_CA_FINDINGS: [&str; 4] = [
    "cert_revocation",
    "cert_ocspURL",
    "cert_validityPeriod",
    "DNS_CAArecord",
];

/// Scans every TLS port with testssl.sh (Debian's package) at once, trusting
/// `root`: protocols, cipher categories, the server's preferences, forward
/// secrecy, the certificate, HTTP headers and the known vulnerabilities
/// (client simulation left out: it reports nothing graded). Returns the
/// MEDIUM, HIGH and CRITICAL findings, each with its port.
fn testssl_findings(
    ports: &BTreeMap<&'static str, u16>,
    root: &Path,
    scratch: &Path,
) -> Vec<String> {
    let mut runs = Vec::new();
    for (name, starttls) in SCANNED_PORTS {
        let json = scratch.join(format!("testssl-{name}.json"));
        let _ = std::fs::remove_file(&json);
        let mut command = Command::new("testssl");
        command.args([
            "--quiet",
            "--color",
            "0",
            "--warnings",
            "off",
            "--connect-timeout",
            "10",
            "--openssl-timeout",
            "10",
            "--protocols",
            "--std",
            "--server-preference",
            "--fs",
            "--server-defaults",
            "--headers",
            "--vulnerable",
            "--add-ca",
        ]);
        command.arg(root).arg("--jsonfile").arg(&json);
        if let Some(protocol) = starttls {
            command.args(["--starttls", protocol]);
        }
        command
            .args(["--ip", "127.0.0.1"])
            .arg(format!("mail.example.test:{}", ports[name]))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        runs.push((name, json, command.spawn().expect("cannot run testssl")));
    }
    let mut findings = Vec::new();
    for (name, json, child) in runs {
        let output = child.wait_with_output().unwrap();
        let report = std::fs::read_to_string(&json).unwrap_or_else(|error| {
            panic!(
                "testssl wrote no report for {name} ({error})\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        let report: Vec<serde_json::Value> = serde_json::from_str(&report).unwrap();
        assert!(
            report
                .iter()
                .any(|finding| finding["id"] == "cipherlist_NULL"),
            "testssl did not test the ciphers of {name}: {report:?}"
        );
        for finding in &report {
            let id = finding["id"].as_str().unwrap_or_default();
            let severity = finding["severity"].as_str().unwrap_or_default();
            if matches!(severity, "MEDIUM" | "HIGH" | "CRITICAL")
                && !PRIVATE_CA_FINDINGS.contains(&id)
            {
                findings.push(format!(
                    "{name} ({}): {severity} {id}: {}",
                    ports[name],
                    finding["finding"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    findings
}

/// The second certificate (names beyond `max_names_per_certificate`).
const EXTRA_ID: &str = "mail.example.test-2";

fn extra_leaf(dir: &Path) -> String {
    first_pem(
        &std::fs::read_to_string(
            dir.join("certs/live/extra")
                .join(EXTRA_ID)
                .join("fullchain.pem"),
        )
        .unwrap(),
    )
}

/// nginx serves the second certificate for its names, chaining to `root`.
fn assert_extra_served(ports: &BTreeMap<&'static str, u16>, root: &Path, dir: &Path, what: &str) {
    let expected = extra_leaf(dir);
    for name in [
        "mta-sts.example.org",
        "autoconfig.example.org",
        "autodiscover.example.org",
    ] {
        let served = served_certificate(ports["https"], None, root, name);
        assert_eq!(
            served, expected,
            "{what}: https for {name} is not the second certificate"
        );
    }
    let served = served_certificate(ports["https"], None, root, "mta-sts.example.test");
    assert_eq!(
        served,
        live_leaf(dir),
        "{what}: mta-sts.example.test is in the first certificate"
    );
}

// ---------------------------------------------------- long-lived sessions

/// An IMAP session (logged in) and an SMTP submission session (after
/// STARTTLS), opened now and finished when told to.
struct Sessions {
    child: Child,
}

const SESSIONS_SCRIPT: &str = r#"
import imaplib, smtplib, ssl, sys
imaps, submission, root, user, password = sys.argv[1:6]
context = ssl.create_default_context(cafile=root)
context.check_hostname = False
imap = imaplib.IMAP4_SSL("127.0.0.1", int(imaps), ssl_context=context)
imap.login(user, password)
smtp = smtplib.SMTP("127.0.0.1", int(submission), timeout=60)
smtp.ehlo("client.example.test")
smtp.starttls(context=context)
smtp.ehlo("client.example.test")
print("ready", flush=True)
sys.stdin.readline()
status, _ = imap.select("INBOX")
assert status == "OK", status
status, _ = imap.noop()
assert status == "OK", status
code, _ = smtp.noop()
assert code == 250, code
code, _ = smtp.mail("admin@example.test")
assert code == 250, code
smtp.rset()
imap.logout()
smtp.quit()
print("finished", flush=True)
"#;

impl Sessions {
    fn open(ports: &BTreeMap<&'static str, u16>, root: &Path) -> Sessions {
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(SESSIONS_SCRIPT)
            .arg(ports["imaps"].to_string())
            .arg(ports["submission"].to_string())
            .arg(root)
            .arg(ADMIN)
            .arg(ADMIN_PASSWORD)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.trim() != "ready" {
            let output = child.wait_with_output().unwrap();
            panic!("the sessions did not open\n{}", text(&output));
        }
        Sessions { child }
    }

    fn finish(mut self) {
        self.child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(b"go\n")
            .unwrap();
        let output = self.child.wait_with_output().unwrap();
        assert!(
            output.status.success() && stdout(&output).contains("finished"),
            "sessions opened before the renewal did not finish normally\n{}",
            text(&output)
        );
    }
}

// -------------------------------------------------------------------- test

fn zone_records(origin: &str, mta_sts_address: &str) -> String {
    let mut records = String::new();
    for (name, address) in [
        ("mail", "127.0.0.1"),
        ("mta-sts", mta_sts_address),
        ("autoconfig", "127.0.0.1"),
        ("autodiscover", "127.0.0.1"),
    ] {
        records.push_str(&format!("{name}.{origin}. IN A {address}\n"));
    }
    records
}

fn cert_status(dir: &Path) -> serde_json::Value {
    let output = mailctl(dir, &["--json", "cert", "status"]);
    assert!(output.status.success(), "cert status\n{}", text(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Forgets the project's ACME account, so the next order makes a new one
/// and the CA holds no earlier authorization of it to reuse: every name of
/// the order must then be validated.
fn new_acme_account(dir: &Path) {
    let accounts = dir.join("certs/accounts");
    let mut removed = 0;
    for entry in std::fs::read_dir(&accounts).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
        removed += 1;
    }
    assert_eq!(removed, 1, "one ACME account in {}", accounts.display());
}

/// Per certificate id, mailctl's record of its last order: the names whose
/// challenge it answered and those the CA had already authorized.
fn validations(dir: &Path) -> BTreeMap<String, (Vec<String>, Vec<String>)> {
    let status = cert_status(dir);
    let names = |value: &serde_json::Value| -> Vec<String> {
        let mut names: Vec<String> = value
            .as_array()
            .unwrap_or_else(|| panic!("a list of names: {value}"))
            .iter()
            .map(|name| name.as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    status["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|certificate| {
            let validation = &certificate["last_attempt"]["validation"];
            assert!(validation.is_object(), "no validation record\n{status:#}");
            (
                certificate["id"].as_str().unwrap().to_owned(),
                (
                    names(&validation["answered"]),
                    names(&validation["already_valid"]),
                ),
            )
        })
        .collect()
}

/// The names whose `_acme-challenge` TXT record BIND's log shows added.
fn challenge_records_added(log: &str) -> std::collections::BTreeSet<String> {
    log.lines()
        .filter_map(|line| line.split("adding an RR at '_acme-challenge.").nth(1))
        .filter_map(|rest| rest.split('\'').next())
        .map(|name| name.trim_end_matches('.').to_owned())
        .collect()
}

/// What the scenarios share: BIND with both zones, Pebble, and a project
/// in letsencrypt mode with Pebble as its directory.
struct Setup {
    bind: RefCell<Bind>,
    guard: Cleanup,
    ports: BTreeMap<&'static str, u16>,
    dir: PathBuf,
    pebble: Pebble,
    ca_root: String,
    resolver: String,
    config_path: PathBuf,
}

impl Setup {
    /// `mailctl ARGS --acme-ca-root … --resolver … EXTRA`: Pebble's CA and
    /// BIND for every ACME command.
    fn acme(&self, args: &[&str], extra: &[&str]) -> Output {
        let tail = [
            "--acme-ca-root",
            &self.ca_root,
            "--resolver",
            &self.resolver,
        ];
        mailctl(&self.dir, &[args, &tail[..], extra].concat())
    }
}

fn setup() -> Setup {
    let bind = Bind::start(&[
        ("example.test", &zone_records("example.test", "127.0.0.1")),
        ("example.org", &zone_records("example.org", "127.0.0.1")),
    ]);
    let (guard, ports) = new_project_with(
        "certe2e",
        &["--admin-password-stdin", "--offline-dns"],
        Some(&format!("{ADMIN_PASSWORD}\n")),
    );
    let dir = guard.dir.clone();
    let pebble = Pebble::start(ports["http"], bind.addr());
    let ca_root = pebble.ca_root().display().to_string();
    let resolver = bind.addr().to_string();
    // letsencrypt mode with Pebble as the directory; the threshold is
    // checked against Pebble's five-year certificates below.
    let config_path = dir.join("mailctl.yaml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    let config = config
        .replace(
            "  mode: self-signed\n",
            "  mode: letsencrypt\n  max_names_per_certificate: 4\n",
        )
        .replace(
            "  acme_directory: https://acme-v02.api.letsencrypt.org/directory\n",
            &format!("  acme_directory: {}\n", pebble.url),
        );
    assert!(config.contains(&pebble.url), "{config}");
    assert!(config.contains("mode: letsencrypt"), "{config}");
    std::fs::write(&config_path, config).unwrap();
    Setup {
        bind: RefCell::new(bind),
        guard,
        ports,
        dir,
        pebble,
        ca_root,
        resolver,
        config_path,
    }
}

/// The suite: its scenarios run in order on one project, each starting
/// from the certificate the one before left.
pub fn suite(scenarios: &mut Scenarios) {
    scenarios.scenario(
        "install-timer prints the schedule",
        install_timer_prints_the_schedule,
    );
    let setup = LazyCell::new(setup);
    // What a scenario leaves for later ones.
    let mut before_up = String::new();
    let mut states = BTreeMap::new();
    let mut root = PathBuf::new();
    let mut first = String::new();
    let mut first_key = String::new();
    let mut second = String::new();
    let mut second_key = String::new();

    // ---- 0. Before the first `up`: a temporary listener answers HTTP-01.
    scenarios.scenario("issue with the stack down", || {
        let Setup { dir, pebble, .. } = &*setup;
        let status = cert_status(dir);
        assert_eq!(
            status["live"]["issuer"], "CN=mail.example.test",
            "{status:#}"
        );
        let output = setup.acme(&["cert", "issue"], &[]);
        assert!(
            output.status.success(),
            "cert issue with the stack down\n{}\n--- pebble\n{}",
            text(&output),
            pebble.log()
        );
        assert!(
            stderr(&output).contains("a temporary listener on 127.0.0.1:"),
            "{}",
            text(&output)
        );
        assert!(
            stderr(&output).contains("at the next `mailctl up`"),
            "{}",
            text(&output)
        );
        before_up = live_leaf(dir);
    });

    scenarios.scenario("up", || {
        let Setup {
            guard,
            ports,
            dir,
            pebble,
            ..
        } = &*setup;
        let output = mailctl(dir, &["up"]);
        assert!(output.status.success(), "up\n{}", text(&output));
        assert!(
            !stderr(&output).contains("self-signed") && !stderr(&output).contains("expires in"),
            "up has nothing to warn about the certificate\n{}",
            text(&output)
        );
        states = container_states(&guard.project);
        assert_eq!(states.len(), 7, "{states:?}");
        root = pebble.issuing_root();
        assert_all_ports_serve(ports, &root, &before_up, "after up");
        assert_extra_served(ports, &root, dir, "after up");
    });

    // ---- 1. HTTP-01 through the running web container.
    scenarios.scenario("issue over HTTP-01", || {
        let Setup {
            guard,
            ports,
            dir,
            pebble,
            ..
        } = &*setup;
        let output = setup.acme(&["cert", "issue"], &[]);
        assert!(
            output.status.success(),
            "cert issue (http-01)\n{}\n--- pebble\n{}",
            text(&output),
            pebble.log()
        );
        let messages = stderr(&output);
        assert!(messages.contains("through `web`"), "{messages}");
        assert!(
            messages.contains("reloaded the certificate in imap, smtp, web"),
            "{messages}"
        );
        first = live_leaf(dir);
        assert_ne!(first, before_up, "cert issue installed no new certificate");
        assert_all_ports_serve(ports, &root, &first, "after cert issue");
        let info = mailctl::cert::parse_certificate(
            &std::fs::read(dir.join("certs/live/fullchain.pem")).unwrap(),
        )
        .unwrap();
        // Seven names, at most four per certificate: two certificates.
        assert_eq!(
            info.names,
            [
                "mail.example.test",
                "mta-sts.example.test",
                "autoconfig.example.test",
                "autodiscover.example.test",
            ]
        );
        let extra = mailctl::cert::parse_certificate(
            &std::fs::read(
                dir.join("certs/live/extra")
                    .join(EXTRA_ID)
                    .join("fullchain.pem"),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            extra.names,
            [
                "mta-sts.example.org",
                "autoconfig.example.org",
                "autodiscover.example.org"
            ]
        );
        assert!(extra.issuer.contains("Pebble"), "{}", extra.issuer);
        assert_extra_served(ports, &root, dir, "after cert issue");
        assert!(info.issuer.contains("Pebble"), "{}", info.issuer);
        let accounts: Vec<_> = std::fs::read_dir(dir.join("certs/accounts"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        assert_eq!(accounts.len(), 1, "{accounts:?}");
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&accounts[0])
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "the ACME account key is 0600");
            let key = std::fs::metadata(dir.join("certs/live/privkey.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(key & 0o777, 0o600, "the certificate key is 0600");
        }
        let status = cert_status(dir);
        let entry = &status["certificates"][0];
        assert_eq!(entry["last_attempt"]["result"], "issued", "{status:#}");
        assert_eq!(entry["in_service"], true, "{status:#}");
        assert_eq!(status["live"]["issuer"], entry["issuer"], "{status:#}");
        assert_eq!(
            status["certificates"].as_array().unwrap().len(),
            2,
            "{status:#}"
        );
        assert_eq!(status["certificates"][1]["id"], EXTRA_ID, "{status:#}");
        assert_eq!(
            status["certificates"][1]["last_attempt"]["result"], "issued",
            "{status:#}"
        );
        assert_eq!(status["certificates"][1]["in_service"], true, "{status:#}");
        assert_eq!(
            container_states(&guard.project),
            states,
            "cert issue recreated or restarted a container"
        );
        first_key = info.public_key_sha256.clone();
    });

    // ---- 1b. every TLS port as scanners grade it, with the CA's certificate.
    scenarios.scenario("testssl.sh on every TLS port", || {
        let Setup { ports, dir, .. } = &*setup;
        let findings = testssl_findings(ports, &root, dir.parent().unwrap());
        assert!(
            findings.is_empty(),
            "testssl.sh graded findings MEDIUM or worse:\n{}",
            findings.join("\n")
        );
    });

    // ---- 2. renew: nothing on a fresh certificate.
    scenarios.scenario("renew, not due", || {
        let Setup { dir, .. } = &*setup;
        let output = setup.acme(&["--json", "cert", "renew"], &[]);
        assert!(output.status.success(), "cert renew\n{}", text(&output));
        assert!(stderr(&output).contains("not due"), "{}", text(&output));
        let renewed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let results: Vec<&str> = renewed["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["result"].as_str().unwrap())
            .collect();
        assert_eq!(results, ["not-due", "not-due"], "{renewed:#}");
        assert!(!stderr(&output).contains("ordering"), "{}", text(&output));
        assert_eq!(
            live_leaf(dir),
            first,
            "a renewal that is not due changed the certificate"
        );
        assert_eq!(
            cert_status(dir)["certificates"][0]["last_attempt"]["result"],
            "not-due"
        );
    });

    // ---- 3. renew with the threshold beyond the certificate's lifetime
    // (Pebble issues for five years), keeping the key; sessions opened
    // before finish normally afterwards.
    scenarios.scenario("renew, forced, sessions survive", || {
        let Setup {
            guard,
            ports,
            dir,
            pebble,
            ..
        } = &*setup;
        let sessions = Sessions::open(ports, &root);
        let output = setup.acme(
            &["cert", "renew"],
            &["--renew-before-days", "3000", "--reuse-key"],
        );
        assert!(
            output.status.success(),
            "cert renew (forced)\n{}\n--- pebble\n{}",
            text(&output),
            pebble.log()
        );
        assert!(
            stderr(&output).contains("within the renewal threshold of 3000 day(s)"),
            "{}",
            text(&output)
        );
        second = live_leaf(dir);
        assert_ne!(second, first, "the renewal installed no new certificate");
        let renewed = mailctl::cert::parse_certificate(
            &std::fs::read(dir.join("certs/live/fullchain.pem")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            renewed.public_key_sha256, first_key,
            "--reuse-key keeps the key (TLSA 3 1 1 stays valid)"
        );
        sessions.finish();
        assert_all_ports_serve(ports, &root, &second, "after the renewal");
        assert_extra_served(ports, &root, dir, "after the renewal");
        assert_eq!(
            container_states(&guard.project),
            states,
            "cert renew recreated or restarted a container"
        );
        second_key = renewed.public_key_sha256.clone();
    });

    // ---- 3b. TLSA rollover (`tls.reuse_key`): `mailctl dns` publishes the
    // key in service and the next one; `cert rollover` waits until DNS
    // serves the next key's record, then moves the certificate to it.
    scenarios.scenario("TLSA rollover", || {
        let Setup {
            bind,
            ports,
            dir,
            pebble,
            ca_root,
            resolver,
            config_path,
            ..
        } = &*setup;
        let config = std::fs::read_to_string(config_path).unwrap();
        assert!(config.contains("  mode: letsencrypt\n"), "{config}");
        std::fs::write(
            config_path,
            config.replace(
                "  mode: letsencrypt\n",
                "  mode: letsencrypt\n  reuse_key: true\n",
            ),
        )
        .unwrap();
        let next_key = dir.join("certs/next-key.pem");
        assert!(
            next_key.exists(),
            "a renewal that keeps the key makes the next key"
        );
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(&next_key).unwrap().permissions()
            ) & 0o777,
            0o600
        );
        let tlsa = |dir: &Path| -> Vec<String> {
            let output = mailctl(dir, &["--json", "dns"]);
            assert!(output.status.success(), "dns\n{}", text(&output));
            let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            json.as_array()
                .unwrap()
                .iter()
                .flat_map(|domain| domain["records"]["records"].as_array().unwrap().iter())
                .filter(|record| record["type"] == "TLSA")
                .map(|record| {
                    assert_eq!(record["name"], "_25._tcp.mail.example.test", "{record}");
                    record["value"].as_str().unwrap().to_owned()
                })
                .collect()
        };
        let published = tlsa(dir);
        assert_eq!(published.len(), 2, "{published:?}");
        assert_eq!(published[0], format!("3 1 1 {}", second_key));
        let next_digest = published[1].trim_start_matches("3 1 1 ").to_owned();
        assert_ne!(next_digest, second_key);
        let rollover = |extra: &[&str]| {
            mailctl(
                dir,
                &[
                    &[
                        "cert",
                        "rollover",
                        "--acme-ca-root",
                        ca_root,
                        "--resolver",
                        resolver,
                    ][..],
                    extra,
                ]
                .concat(),
            )
        };
        let output = rollover(&[]);
        assert!(
            !output.status.success(),
            "rollover before DNS serves the record\n{}",
            text(&output)
        );
        assert!(
            stderr(&output).contains("DNS does not serve the next key's record")
                && stderr(&output).contains("hint:"),
            "{}",
            text(&output)
        );
        assert_eq!(
            live_leaf(dir),
            second,
            "a refused rollover changed the certificate"
        );
        let mut zone = zone_records("example.test", "127.0.0.1");
        for value in &published {
            zone.push_str(&format!(
                "_25._tcp.mail.example.test. 300 IN TLSA {value}\n"
            ));
        }
        bind.borrow_mut().set_records("example.test", &zone);
        let output = rollover(&[]);
        assert!(
            output.status.success(),
            "rollover once DNS serves the record\n{}\n--- pebble\n{}",
            text(&output),
            pebble.log()
        );
        let third = live_leaf(dir);
        let rolled = mailctl::cert::parse_certificate(
            &std::fs::read(dir.join("certs/live/fullchain.pem")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            rolled.public_key_sha256, next_digest,
            "the certificate uses the published next key"
        );
        let after = tlsa(dir);
        assert_eq!(after.len(), 2, "{after:?}");
        assert_eq!(after[0], format!("3 1 1 {next_digest}"));
        assert!(
            !published.contains(&after[1]),
            "a fresh next key: {after:?}"
        );
        assert_all_ports_serve(ports, &root, &third, "after the rollover");
        second = third;
        // The steps below take a new key at each order again.
        let config = std::fs::read_to_string(config_path).unwrap();
        std::fs::write(config_path, config.replace("  reuse_key: true\n", "")).unwrap();
    });

    // ---- 4. a challenge that cannot succeed: mta-sts.example.test points
    // at an address where nothing listens. A new account, so that Pebble
    // cannot pass the name on an authorization from the steps before.
    scenarios.scenario("failed challenge", || {
        let Setup {
            bind, ports, dir, ..
        } = &*setup;
        new_acme_account(dir);
        bind.borrow_mut()
            .set_records("example.test", &zone_records("example.test", "127.0.0.2"));
        let output = setup.acme(&["cert", "issue"], &[]);
        assert!(
            !output.status.success(),
            "cert issue must fail\n{}",
            text(&output)
        );
        let messages = stderr(&output);
        assert!(messages.contains("nothing was ordered"), "{messages}");
        assert!(messages.contains("mta-sts.example.test"), "{messages}");
        assert!(messages.contains("127.0.0.2"), "{messages}");
        assert!(messages.contains("hint:"), "{messages}");
        // Without the checks, the ACME server's own answer is explained.
        let output = setup.acme(&["cert", "issue"], &["--no-check"]);
        assert!(
            !output.status.success(),
            "cert issue --no-check must fail\n{}",
            text(&output)
        );
        let messages = stderr(&output);
        assert!(
            messages.contains("could not validate `mta-sts.example.test`"),
            "{messages}"
        );
        assert!(
            messages.contains(
                "http-01 checked http://mta-sts.example.test/.well-known/acme-challenge/"
            ),
            "{messages}"
        );
        assert!(messages.contains("the ACME server answered:"), "{messages}");
        assert!(
            messages.contains("urn:ietf:params:acme:error:"),
            "{messages}"
        );
        assert!(
            messages.contains("the certificate in service stays"),
            "{messages}"
        );
        assert!(
            messages.contains("hint:") && messages.contains("A record"),
            "{messages}"
        );
        assert_eq!(live_leaf(dir), second, "a failed order changed certs/live");
        assert_all_ports_serve(ports, &root, &second, "after the failed order");
        let status = cert_status(dir);
        assert_eq!(
            status["certificates"][0]["last_attempt"]["result"], "failed",
            "{status:#}"
        );
        assert!(
            status["certificates"][0]["last_attempt"]["message"]
                .as_str()
                .unwrap()
                .contains("mta-sts.example.test"),
            "{status:#}"
        );
        assert!(
            status["certificates"][0]["last_attempt"]["validation"]["answered"]
                .as_array()
                .unwrap()
                .iter()
                .any(|name| name == "mta-sts.example.test"),
            "the failed order's record names the challenge answered\n{status:#}"
        );
        let text_status = stdout(&mailctl(dir, &["cert", "status"]));
        assert!(
            text_status.contains("last attempt:") && text_status.contains("failed"),
            "{text_status}"
        );
        bind.borrow_mut()
            .set_records("example.test", &zone_records("example.test", "127.0.0.1"));
    });

    // ---- 5. DNS-01 through RFC 2136 at BIND with a TSIG key, on a new
    // account so that every name is validated over DNS.
    scenarios.scenario("issue over DNS-01", || {
        let Setup { bind, guard, ports, dir, pebble, ca_root, config_path, .. } = &*setup;
        new_acme_account(dir);
        let config = std::fs::read_to_string(config_path).unwrap();
        let config = config.replace(
            "  mode: letsencrypt\n",
            &format!(
                "  mode: letsencrypt\n  key_type: rsa-2048\n  challenge: dns-01\n  dns_update_server: {}\n  dns_update_key_file: {}\n",
                bind.borrow().addr(),
                bind.borrow().key_file.display()
            ),
        );
        std::fs::write(config_path, config).unwrap();
        let output = mailctl(dir, &["cert", "issue", "--acme-ca-root", ca_root]);
        assert!(
            output.status.success(),
            "cert issue (dns-01)\n{}\n--- pebble\n{}\n--- named\n{}",
            text(&output),
            pebble.log(),
            bind.borrow().log()
        );
        assert!(
            stderr(&output).contains("dns-01 through RFC 2136 updates"),
            "{}",
            text(&output)
        );
        let third = live_leaf(dir);
        assert_ne!(third, second, "DNS-01 installed no new certificate");
        let key_text = run(
            "openssl",
            &[
                "x509",
                "-noout",
                "-text",
                "-in",
                &dir.join("certs/live/fullchain.pem").display().to_string(),
            ],
        );
        assert!(
            stdout(&key_text).contains("rsaEncryption") && stdout(&key_text).contains("2048 bit"),
            "`key_type: rsa-2048` gives an RSA 2048 certificate\n{}",
            text(&key_text)
        );
        // mailctl's record says which names it answered; BIND's log must show
        // exactly those challenge records added, and a new account leaves no
        // authorization for the CA to reuse.
        let recorded = validations(dir);
        let mut answered = std::collections::BTreeSet::new();
        for (id, (names_answered, already_valid)) in &recorded {
            assert!(
                already_valid.is_empty(),
                "{id}: a new account has no authorization to reuse: {already_valid:?}"
            );
            answered.extend(names_answered.iter().cloned());
        }
        assert!(
            answered.contains("mail.example.test") && answered.contains("mta-sts.example.org"),
            "{recorded:?}"
        );
        assert_eq!(
            challenge_records_added(&bind.borrow().log()),
            answered,
            "BIND's challenge updates differ from the names mailctl answered\n{}",
            bind.borrow().log()
        );
        for name in ["mail.example.test", "mta-sts.example.org"] {
            assert!(
                bind.borrow().dig(&format!("_acme-challenge.{name}"), "TXT")
                    .is_empty(),
                "the challenge record of {name} was not removed"
            );
        }
        assert_all_ports_serve(ports, &root, &third, "after DNS-01");
        assert_extra_served(ports, &root, dir, "after DNS-01");
        assert_eq!(
            container_states(&guard.project),
            states,
            "DNS-01 recreated or restarted a container"
        );
    });

    // ---- 6. `up` afterwards changes nothing, and warns once the
    // certificate in service expires within 14 days.
    scenarios.scenario("up warns about expiry", || {
        let Setup { guard, dir, .. } = &*setup;
        let output = mailctl(dir, &["up"]);
        assert!(output.status.success(), "up\n{}", text(&output));
        assert!(
            stderr(&output).contains("nothing to do"),
            "{}",
            text(&output)
        );
        assert!(!stderr(&output).contains("expires in"), "{}", text(&output));
        let live = dir.join("certs/live");
        let output = run(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &live.join("privkey.pem").display().to_string(),
                "-out",
                &live.join("fullchain.pem").display().to_string(),
                "-days",
                "10",
                "-subj",
                "/CN=mail.example.test",
                "-addext",
                "subjectAltName=DNS:mail.example.test",
            ],
        );
        assert!(output.status.success(), "openssl\n{}", text(&output));
        let output = mailctl(dir, &["up"]);
        assert!(output.status.success(), "up\n{}", text(&output));
        assert!(
            stderr(&output).contains("expires in 9 day(s)")
                || stderr(&output).contains("expires in 10 day(s)"),
            "up warns about a certificate that expires within 14 days\n{}",
            text(&output)
        );
        assert!(
            stderr(&output).contains("mailctl cert renew"),
            "{}",
            text(&output)
        );
        assert_eq!(
            container_states(&guard.project),
            states,
            "up recreated or restarted a container"
        );
    });
}

/// `cert install-timer --print`: systemd units where systemd runs, else a
/// cron line; both run `cert renew` on this project with this binary.
fn install_timer_prints_the_schedule() {
    let temporary = tempfile::tempdir().unwrap();
    let dir = temporary.path().join("project");
    let output = mailctl(
        &dir,
        &[
            &crate::support::INIT[..9],
            &["--tls", "letsencrypt", "--yes"],
        ]
        .concat(),
    );
    assert!(output.status.success(), "init\n{}", text(&output));
    let output = mailctl(&dir, &["cert", "install-timer", "--print"]);
    assert!(output.status.success(), "install-timer\n{}", text(&output));
    let printed = stdout(&output);
    let project = std::fs::canonicalize(&dir).unwrap();
    let command = format!(
        "{} --dir {} cert renew",
        crate::support::BINARY,
        project.display()
    );
    assert!(printed.contains(&command), "{printed}");
    if Path::new("/run/systemd/system").is_dir() {
        assert!(printed.contains("OnCalendar=daily"), "{printed}");
        assert!(printed.contains("Type=oneshot"), "{printed}");
    } else {
        let line = printed.trim();
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(fields[0].parse::<u8>().unwrap() < 60, "{line}");
        assert!(fields[1].parse::<u8>().unwrap() < 24, "{line}");
        assert_eq!(&fields[2..5], ["*", "*", "*"], "{line}");
        assert!(stderr(&output).contains("crontab"), "{}", text(&output));
    }
}
