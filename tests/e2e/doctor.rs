//! `mailctl doctor` and `mailctl dns push` against a real BIND 9 on
//! 127.0.0.1 (authoritative for example.test, example.org, the reverse zone
//! of 127.0.0.1 and two test blocklists) and a real stack published on
//! 127.0.0.1, whose public address is 127.0.0.1.
//!
//! One stack, one BIND. Scenario `clean`: every record `mailctl dns` prints
//! is published and `doctor` must find no problem in DNS, reputation, TLS,
//! security and network. The next scenarios each break one record (BIND
//! only; the stack stays) and exactly the matching check must fail with the
//! right fix while the others still pass; then a certificate for another
//! name, and an expired one, are installed and reloaded.
//!
//! `dns push creates every record once`: no stack; push into empty zones,
//! push again (no change), and an unrelated record survives.

use std::cell::{LazyCell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Instant;

use crate::harness::Scenarios;
use crate::support::bind::Bind;
use crate::support::{
    assert_success, docker, mailctl, new_project_with, stderr, stdout, text, Cleanup,
};

const HOST: &str = "mail.example.test";
const REVERSE: &str = "1.0.0.127.in-addr.arpa";
const BLOCKLIST: &str = "bl.test";
const DOMAIN_BLOCKLIST: &str = "dbl.test";

/// The records `mailctl dns DOMAIN --format zone` prints.
fn zone(dir: &Path, domain: &str) -> String {
    let output = mailctl(dir, &["dns", domain, "--format", "zone"]);
    assert_success(&output, "mailctl dns");
    stdout(&output)
}

/// Adds the `doctor:` section the test needs to mailctl.yaml.
fn configure_doctor(dir: &Path, smtp_port: u16) {
    let path = dir.join("mailctl.yaml");
    let mut config = mailctl::config::load_file(&path).unwrap();
    config.doctor.blocklists = vec![mailctl::config::doctor_blocklist(BLOCKLIST, false)];
    config.doctor.domain_blocklists = vec![DOMAIN_BLOCKLIST.to_owned()];
    // No Internet here: the outbound test talks to the stack's own port 25.
    config.doctor.outbound_smtp = format!("127.0.0.1:{smtp_port}");
    mailctl::config::save_file(&path, &config).unwrap();
}

/// The findings of one `doctor --json` run, by (check, subject).
struct Report {
    output: Output,
    findings: BTreeMap<(String, String), serde_json::Value>,
}

impl Report {
    fn status(&self, check: &str, subject: &str) -> String {
        self.findings
            .get(&(check.to_owned(), subject.to_owned()))
            .unwrap_or_else(|| panic!("no finding {check} {subject}\n{}", text(&self.output)))
            ["status"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn field(&self, check: &str, subject: &str, field: &str) -> String {
        self.findings[&(check.to_owned(), subject.to_owned())][field]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Every finding that is neither ok nor info.
    fn problems(&self) -> Vec<(String, String)> {
        self.findings
            .iter()
            .filter(|(_, finding)| !matches!(finding["status"].as_str(), Some("ok" | "info")))
            .map(|(key, _)| key.clone())
            .collect()
    }
}

fn doctor(dir: &Path, bind: &Bind) -> Report {
    let resolver = bind.addr().to_string();
    let output = mailctl(dir, &["doctor", "--json", "--resolver", &resolver]);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("doctor printed no JSON ({error})\n{}", text(&output)));
    let findings = value["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| {
            (
                (
                    finding["check"].as_str().unwrap().to_owned(),
                    finding["subject"].as_str().unwrap().to_owned(),
                ),
                finding.clone(),
            )
        })
        .collect();
    let passed = value["passed"].as_bool().unwrap();
    assert_eq!(
        output.status.code(),
        Some(if passed { 0 } else { 1 }),
        "{}",
        text(&output)
    );
    Report { output, findings }
}

/// Runs `doctor` until `done` holds, for at most 20 seconds (services
/// finish a reload after the command returns); the last report.
fn doctor_until(dir: &Path, bind: &Bind, done: impl Fn(&Report) -> bool) -> Report {
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let report = doctor(dir, bind);
        if done(&report) || Instant::now() > deadline {
            return report;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Problems that depend on this machine rather than on the project: the
/// Docker daemon's userland proxy (on by default) hides client addresses,
/// and the host's free disk space is whatever it is. Their verdicts have
/// unit tests.
fn environmental(key: &(String, String)) -> bool {
    key.0 == "stack.client-address" || key.0 == "stack.disk"
}

/// Asserts that `report` differs from a clean run exactly by `broken`
/// (each (check, subject) must be an error) and that `fix` appears in the
/// first one's fix.
#[track_caller]
fn only_broken(report: &Report, broken: &[(&str, &str)], fix: &str) {
    let mut problems: Vec<(String, String)> = report
        .problems()
        .into_iter()
        .filter(|key| !environmental(key))
        .collect();
    problems.sort();
    let mut expected: Vec<(String, String)> = broken
        .iter()
        .map(|(c, s)| ((*c).to_owned(), (*s).to_owned()))
        .collect();
    expected.sort();
    assert_eq!(problems, expected, "{}", stdout(&report.output));
    for (check, subject) in broken {
        assert_eq!(report.status(check, subject), "error", "{check} {subject}");
    }
    let (check, subject) = broken[0];
    let found_fix = report.field(check, subject, "fix");
    assert!(
        found_fix.contains(fix),
        "fix of {check} {subject} is `{found_fix}`, expected `{fix}`"
    );
}

/// What the scenarios share: a running stack checked through BIND, which
/// serves its records, the PTR of 127.0.0.1 and two empty blocklists.
struct Setup {
    project: Cleanup,
    ports: BTreeMap<&'static str, u16>,
    dir: PathBuf,
    test_zone: String,
    org_zone: String,
    ptr: String,
    bind: RefCell<Bind>,
}

fn setup() -> Setup {
    let (project, ports) = new_project_with(
        "doctor",
        &["--public-address", "127.0.0.1", "--offline-dns"],
        None,
    );
    let dir = project.dir.clone();
    configure_doctor(&dir, ports["smtp"]);
    let test_zone = zone(&dir, "example.test");
    let org_zone = zone(&dir, "example.org");
    let ptr = format!("{REVERSE}. IN PTR {HOST}.\n");
    let bind = Bind::start(&[
        ("example.test", &test_zone),
        ("example.org", &org_zone),
        (REVERSE, &ptr),
        (BLOCKLIST, ""),
        (DOMAIN_BLOCKLIST, ""),
    ]);
    let up = mailctl(&dir, &["up", "--timeout", "240"]);
    assert_success(&up, "mailctl up");
    Setup {
        project,
        ports,
        dir,
        test_zone,
        org_zone,
        ptr,
        bind: RefCell::new(bind),
    }
}

/// The suite: one scenario per break on one stack; each puts back what it
/// broke, so they stand alone.
pub fn suite(scenarios: &mut Scenarios) {
    scenarios.scenario(
        "dns push creates every record once",
        dns_push_creates_every_record_once,
    );
    let setup = LazyCell::new(setup);
    // Everything published: only what this machine imposes may be reported.
    scenarios.scenario("clean", || {
        let Setup {
            ports, dir, bind, ..
        } = &*setup;
        let clean = doctor(dir, &bind.borrow());
        eprintln!("{}", stdout(&clean.output));
        assert_eq!(
            clean
                .problems()
                .into_iter()
                .filter(|key| !environmental(key))
                .collect::<Vec<_>>(),
            Vec::<(String, String)>::new(),
            "{}",
            text(&clean.output)
        );
        for (check, subject) in [
            ("dns.mx", "example.test"),
            ("dns.mx", "example.org"),
            ("dns.spf", "example.org"),
            ("dns.address", HOST),
            ("dns.ptr", "127.0.0.1"),
            ("dns.dmarc", "_dmarc.example.test"),
            (
                "network.outbound-25",
                &format!("127.0.0.1:{}", ports["smtp"]),
            ),
            ("security.relay", &format!("smtp ({})", ports["smtp"])),
            ("reputation.address", &format!("127.0.0.1 in {BLOCKLIST}")),
            (
                "reputation.domain",
                &format!("example.test in {DOMAIN_BLOCKLIST}"),
            ),
            (
                "dns.mta-sts-policy",
                "https://mta-sts.example.org/.well-known/mta-sts.txt",
            ),
        ] {
            assert_eq!(
                clean.status(check, subject),
                "ok",
                "{check} {subject}\n{}",
                stdout(&clean.output)
            );
        }
        // Self-signed: verified against the project's own certificate, and said so.
        assert_eq!(
            clean.status("tls.certificate", &format!("smtp ({})", ports["smtp"])),
            "info"
        );
        assert_eq!(
            clean.status("tls.certificate", &format!("https ({})", ports["https"])),
            "info"
        );
    });

    // MX to another host. SPF `mx` follows the MX, so it no longer covers
    // the server either: both are reported, nothing else.
    scenarios.scenario("mx elsewhere", || {
        let Setup {
            dir,
            test_zone,
            bind,
            ..
        } = &*setup;
        bind.borrow_mut().set_records(
            "example.test",
            &test_zone.replace(
                "MX    10 mail.example.test.",
                "MX    10 mx.other.example.test.",
            ),
        );
        only_broken(
            &doctor(dir, &bind.borrow()),
            &[("dns.mx", "example.test"), ("dns.spf", "example.test")],
            "example.test. 3600 IN MX 10 mail.example.test.",
        );
    });

    // SPF without the server.
    scenarios.scenario("spf without the server", || {
        let Setup {
            dir,
            test_zone,
            bind,
            ..
        } = &*setup;
        bind.borrow_mut().set_records(
            "example.test",
            &test_zone.replace("\"v=spf1 mx -all\"", "\"v=spf1 ip4:192.0.2.1 -all\""),
        );
        let report = doctor(dir, &bind.borrow());
        only_broken(
            &report,
            &[("dns.spf", "example.test")],
            "example.test. 3600 IN TXT \"v=spf1 mx -all\"",
        );
        assert!(report
            .field("dns.spf", "example.test", "summary")
            .contains("does not authorise"));
    });

    // Two SPF records.
    scenarios.scenario("two spf records", || {
        let Setup {
            dir,
            test_zone,
            bind,
            ..
        } = &*setup;
        bind.borrow_mut().set_records(
            "example.test",
            &format!("{test_zone}\nexample.test. IN TXT \"v=spf1 a -all\"\n"),
        );
        let report = doctor(dir, &bind.borrow());
        only_broken(&report, &[("dns.spf", "example.test")], "keep only one");
        assert!(report
            .field("dns.spf", "example.test", "summary")
            .contains("2 SPF records"));
    });

    // A DKIM key of another pair: example.org's key under example.test's selector.
    scenarios.scenario("dkim key of another pair", || {
        let Setup {
            dir,
            test_zone,
            org_zone,
            bind,
            ..
        } = &*setup;
        let selector = test_zone
            .lines()
            .find(|line| line.starts_with("rsa") && line.contains("._domainkey.example.test."))
            .unwrap()
            .split('.')
            .next()
            .unwrap()
            .to_owned();
        let test_key = test_zone
            .lines()
            .find(|line| line.starts_with(&format!("{selector}._domainkey")))
            .unwrap();
        let org_key = org_zone
            .lines()
            .find(|line| line.starts_with(&format!("{selector}._domainkey")))
            .unwrap();
        let foreign = org_key.replace("example.org.", "example.test.");
        bind.borrow_mut()
            .set_records("example.test", &test_zone.replace(test_key, &foreign));
        only_broken(
            &doctor(dir, &bind.borrow()),
            &[("dns.dkim", &format!("{selector}._domainkey.example.test"))],
            "mailctl dns example.test",
        );
    });

    // DMARC missing.
    scenarios.scenario("dmarc missing", || {
        let Setup {
            dir,
            test_zone,
            bind,
            ..
        } = &*setup;
        let dmarc_line = test_zone
            .lines()
            .find(|line| line.starts_with("_dmarc.example.test."))
            .unwrap();
        bind.borrow_mut()
            .set_records("example.test", &test_zone.replace(dmarc_line, ""));
        only_broken(
            &doctor(dir, &bind.borrow()),
            &[("dns.dmarc", "_dmarc.example.test")],
            "_dmarc.example.test. 3600 IN TXT \"v=DMARC1; p=quarantine\"",
        );
        bind.borrow_mut().set_records("example.test", test_zone);
    });

    // PTR mismatch.
    scenarios.scenario("ptr mismatch", || {
        let Setup { dir, ptr, bind, .. } = &*setup;
        bind.borrow_mut()
            .set_records(REVERSE, &format!("{REVERSE}. IN PTR host.provider.test.\n"));
        only_broken(
            &doctor(dir, &bind.borrow()),
            &[("dns.ptr", "127.0.0.1")],
            "1.0.0.127.in-addr.arpa. 3600 IN PTR mail.example.test.",
        );
        bind.borrow_mut().set_records(REVERSE, ptr);
    });

    // The server's address listed in the test blocklist with 127.0.0.2.
    scenarios.scenario("address blocklisted", || {
        let Setup { dir, bind, .. } = &*setup;
        bind.borrow_mut().set_records(
            BLOCKLIST,
            &format!("1.0.0.127.{BLOCKLIST}. IN A 127.0.0.2\n"),
        );
        let report = doctor(dir, &bind.borrow());
        only_broken(
            &report,
            &[("reputation.address", &format!("127.0.0.1 in {BLOCKLIST}"))],
            "ask its operators for removal",
        );
        assert!(report
            .field(
                "reputation.address",
                &format!("127.0.0.1 in {BLOCKLIST}"),
                "found"
            )
            .contains("127.0.0.2"));
        bind.borrow_mut().set_records(BLOCKLIST, "");
    });

    // A certificate for another name, installed and reloaded in the running stack.
    scenarios.scenario("certificates: another name, then expired", || {
        let Setup {
            project,
            ports,
            dir,
            bind,
            ..
        } = &*setup;
        let live = dir.join("certs/live");
        let original_certificate = std::fs::read(live.join("fullchain.pem")).unwrap();
        let original_key = std::fs::read(live.join("privkey.pem")).unwrap();
        let (certificate, key) =
            mailctl::tls::self_signed(&["wrong.example.net".to_owned()]).unwrap();
        std::fs::write(live.join("fullchain.pem"), certificate).unwrap();
        std::fs::write(live.join("privkey.pem"), key).unwrap();
        reload(&project.project);
        // A reload is graceful: wait until every TLS port serves the new file.
        let report = doctor_until(dir, &bind.borrow(), |report| {
            ["smtp", "submission", "submissions", "imaps", "https"]
                .iter()
                .all(|name| {
                    report.status("tls.certificate", &format!("{name} ({})", ports[*name]))
                        == "error"
                })
        });
        let tls: Vec<(String, String)> = report
            .problems()
            .into_iter()
            .filter(|key| !environmental(key))
            .collect();
        assert!(
            !tls.is_empty()
                && tls
                    .iter()
                    .all(|(check, _)| check == "tls.certificate" || check == "dns.mta-sts-policy"),
            "{}",
            stdout(&report.output)
        );
        let smtp = format!("smtp ({})", ports["smtp"]);
        assert_eq!(report.status("tls.certificate", &smtp), "error");
        assert!(
            report
                .field("tls.certificate", &smtp, "summary")
                .contains("does not cover `mail.example.test`"),
            "{}",
            stdout(&report.output)
        );
        for name in ["submission", "submissions", "imaps", "https"] {
            assert_eq!(
                report.status("tls.certificate", &format!("{name} ({})", ports[name])),
                "error",
                "{name}\n{}",
                stdout(&report.output)
            );
        }

        // An expired certificate for the right name.
        let (certificate, key) = expired_certificate(HOST);
        std::fs::write(live.join("fullchain.pem"), certificate).unwrap();
        std::fs::write(live.join("privkey.pem"), key).unwrap();
        reload(&project.project);
        let report = doctor_until(dir, &bind.borrow(), |report| {
            ["smtp", "submission", "submissions", "imaps", "https"]
                .iter()
                .all(|name| {
                    report
                        .field(
                            "tls.certificate",
                            &format!("{name} ({})", ports[*name]),
                            "summary",
                        )
                        .contains("expired")
                })
        });
        for name in ["smtp", "submission", "submissions", "imaps", "https"] {
            let subject = format!("{name} ({})", ports[name]);
            assert_eq!(
                report.status("tls.certificate", &subject),
                "error",
                "{name}\n{}",
                stdout(&report.output)
            );
            assert!(
                report
                    .field("tls.certificate", &subject, "summary")
                    .contains("expired"),
                "{name}\n{}",
                stdout(&report.output)
            );
        }
        assert!(
            report
                .field("tls.certificate", &smtp, "fix")
                .contains("certs/live"),
            "{}",
            stdout(&report.output)
        );

        std::fs::write(live.join("fullchain.pem"), original_certificate).unwrap();
        std::fs::write(live.join("privkey.pem"), original_key).unwrap();
        reload(&project.project);
        let restored = doctor_until(dir, &bind.borrow(), |report| {
            report.problems().into_iter().all(|key| environmental(&key))
        });
        assert_eq!(
            restored
                .problems()
                .into_iter()
                .filter(|key| !environmental(key))
                .collect::<Vec<_>>(),
            Vec::<(String, String)>::new(),
            "{}",
            stdout(&restored.output)
        );
    });

    // The human report: one line per finding, fixes under problems, exit 1
    // when something is wrong.
    scenarios.scenario("the human report", || {
        let Setup { dir, bind, .. } = &*setup;
        let plain = mailctl(
            dir,
            &["doctor", "--resolver", &bind.borrow().addr().to_string()],
        );
        let plain_text = stdout(&plain);
        assert!(
            plain_text.contains("dns\n") && plain_text.contains("checks:"),
            "{}",
            text(&plain)
        );
        assert!(
            stderr(&plain).is_empty() || !stderr(&plain).contains("error:"),
            "{}",
            text(&plain)
        );
    });
}

/// A self-signed certificate for `name` that expired yesterday, and its key.
fn expired_certificate(name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(90);
    params.not_after = now - time::Duration::days(1);
    let certificate = params.self_signed(&key).unwrap();
    (certificate.pem(), key.serialize_pem())
}

/// Runs each TLS service's reload so it picks up the files in certs/live.
fn reload(project: &str) {
    for service in ["smtp", "imap", "web"] {
        let name = docker(&[
            "ps",
            "--filter",
            &format!("label=mailctl.project={project}"),
            "--filter",
            &format!("label=mailctl.service={service}"),
            "--format",
            "{{.Names}}",
        ]);
        docker(&["exec", name.trim(), "mailctl-reload"]);
    }
}

fn dns_push_creates_every_record_once() {
    let dir_guard = tempfile::tempdir().unwrap();
    let dir = dir_guard.path().join("project");
    let init = mailctl(
        &dir,
        &[
            &crate::support::INIT[..],
            &[
                "--bind",
                "127.0.0.1",
                "--public-address",
                "127.0.0.1",
                "--offline-dns",
                "--yes",
            ],
        ]
        .concat(),
    );
    assert_success(&init, "mailctl init");
    let bind = Bind::start(&[
        ("example.test", "www.example.test. IN A 192.0.2.80\nexample.test. IN TXT \"site-verification=keep\"\nexample.test. IN MX 20 old-mx.example.test.\n"),
        ("example.org", ""),
    ]);
    let server = bind.addr().to_string();
    let key = bind.key_file.display().to_string();

    let dry = mailctl(
        &dir,
        &[
            "dns",
            "push",
            "--server",
            &server,
            "--tsig-key",
            &key,
            "--dry-run",
        ],
    );
    assert_success(&dry, "dns push --dry-run");
    assert!(
        stdout(&dry).contains("update add example.test. 3600 IN MX 10 mail.example.test."),
        "{}",
        text(&dry)
    );
    assert!(
        stdout(&dry).contains("update delete example.test. IN MX 20 old-mx.example.test."),
        "{}",
        text(&dry)
    );
    assert!(
        bind.dig("example.test", "MX") == vec!["20 old-mx.example.test.".to_owned()],
        "dry run changed the zone"
    );

    let push = mailctl(
        &dir,
        &["dns", "push", "--server", &server, "--tsig-key", &key],
    );
    assert_success(&push, "dns push");
    assert!(stderr(&push).contains("applied"), "{}", text(&push));

    // Every record `mailctl dns --format json` lists is now served.
    let json = mailctl(&dir, &["dns", "--format", "json"]);
    let domains: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let mut checked = 0;
    for domain in domains.as_array().unwrap() {
        for record in domain["records"]["records"].as_array().unwrap() {
            let name = record["name"].as_str().unwrap().trim_end_matches('.');
            let rtype = record["type"].as_str().unwrap();
            let served = bind.dig(name, rtype);
            assert!(
                !served.is_empty(),
                "{name} {rtype} is not served after the push\n{}",
                text(&push)
            );
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} records");
    assert_eq!(
        bind.dig("example.test", "MX"),
        vec!["10 mail.example.test.".to_owned()]
    );

    // A second push changes nothing.
    let again = mailctl(
        &dir,
        &["dns", "push", "--server", &server, "--tsig-key", &key],
    );
    assert_success(&again, "second dns push");
    assert_eq!(stdout(&again).trim(), "", "{}", text(&again));
    assert_eq!(
        stderr(&again).matches("up to date").count(),
        2,
        "{}",
        text(&again)
    );

    let json = mailctl(
        &dir,
        &[
            "--json",
            "dns",
            "push",
            "--server",
            &server,
            "--tsig-key",
            &key,
            "--dry-run",
        ],
    );
    assert_success(&json, "dns push --json");
    let zones: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    for zone in zones.as_array().unwrap() {
        assert_eq!(
            zone["changes"].as_array().unwrap().len(),
            0,
            "{}",
            text(&json)
        );
        assert_eq!(zone["applied"], false);
    }

    // Unrelated records survive.
    assert_eq!(
        bind.dig("www.example.test", "A"),
        vec!["192.0.2.80".to_owned()]
    );
    assert!(bind
        .dig("example.test", "TXT")
        .contains(&"\"site-verification=keep\"".to_owned()));
}
