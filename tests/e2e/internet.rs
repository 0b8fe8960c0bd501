//! The stack on a simulated internet (`tests/support/internet.rs`): a real
//! stack published on 203.0.113.1 as on a VPS, its resolver forwarding to
//! the internet's BIND (a signed private root), its records pushed there
//! with `mailctl dns push`, and real hosts around it: a foreign provider
//! whose Postfix judges what it receives (SPF, DKIM, DMARC, SpamAssassin
//! with network tests), that provider's sending host, a mail client and a
//! blocklisted attacker. Every connection is real TCP from another network
//! namespace, so the stack sees real client addresses.
//!
//! One stack serves every scenario; each scenario stands alone and is
//! reported as its own test (`cargo test --test e2e -- internet::bans`).

use std::cell::{LazyCell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::Scenarios;
use crate::support::internet::{self, Host, Internet};
use crate::support::swaks::Swaks;
use crate::support::{docker, text, Cleanup};

const HOSTNAME: &str = "mail.example.test";
const ADMIN: &str = "admin@example.test";
const ADMIN_PASSWORD: &str = "admin-password-0";
const FORWARDER: &str = "forwarder@example.test";
const FORWARDER_PASSWORD: &str = "forwarder-password-0";
/// How long greylisting makes a new sender wait (a test override).
const GREYLIST_DELAY: Duration = Duration::from_secs(10);
/// How long a first ban lasts here (a test setting; 1 h by default).
const BAN_DURATION: Duration = Duration::from_secs(20);
/// How long a message may take to arrive anywhere.
const DELIVERY: Duration = Duration::from_secs(90);

/// The stack and the internet around it.
struct World {
    // Dropped in this order: the stack first, then the internet it is
    // published on.
    project: Cleanup,
    internet: Internet,
    scratch: PathBuf,
    /// Distinguishes this run's messages.
    run: String,
}

fn mailctl(dir: &Path, args: &[&str]) -> Output {
    crate::support::mailctl(dir, args)
}

#[track_caller]
fn assert_ok(output: &Output, what: &str) {
    assert!(output.status.success(), "{what}\n{}", text(output));
}

impl World {
    fn dir(&self) -> &Path {
        &self.project.dir
    }

    fn container(&self, service: &str) -> String {
        format!("{}-{service}-1", self.project.project)
    }

    fn token(&self, what: &str) -> String {
        format!("{what}-{}", self.run)
    }

    /// `swaks` from `host` to the stack on `port` (465 is implicit TLS,
    /// the others STARTTLS); `data` is the whole message.
    fn swaks(&self, host: &Host, port: u16, helo: &str, extra: &[&str], data: &str) -> Swaks {
        let file = self.scratch.join(format!("message-{}.eml", unique()));
        std::fs::write(&file, data).unwrap();
        let tls = if port == 465 { "--tlsc" } else { "--tls" };
        let output = host.run(
            "swaks",
            &[
                &[
                    "--server",
                    &format!("{}:{port}", internet::STACK),
                    tls,
                    "--helo",
                    helo,
                    "--timeout",
                    "60",
                    "--data",
                    &format!("@{}", file.display()),
                ][..],
                extra,
            ]
            .concat(),
        );
        Swaks {
            transcript: text(&output),
        }
    }

    /// Submission on 587 by `user` from the mail client's host.
    fn submit(&self, user: &str, secret: &str, to: &str, data: &str) -> Swaks {
        self.swaks(
            &self.internet.client,
            587,
            "laptop.client.test",
            &[
                "--auth",
                "PLAIN",
                "--auth-user",
                user,
                "--auth-password",
                secret,
                "--from",
                user,
                "--to",
                to,
            ],
            data,
        )
    }

    /// A message from `host` to port 25, envelope from `from`.
    fn send_to_mx(&self, host: &Host, helo: &str, from: &str, to: &str, data: &str) -> Swaks {
        self.swaks(host, 25, helo, &["--from", from, "--to", to], data)
    }

    /// An ordinary message from alice@foreign.test to `to`, signed with the
    /// foreign provider's DKIM key and sent from its sending host to port
    /// 25; `marker` is in its Message-ID.
    fn send_from_foreign(&self, to: &str, subject: &str, marker: &str) -> Swaks {
        let message = ordinary_message(
            "alice@foreign.test",
            to,
            subject,
            &format!("{marker}@foreign.test"),
        );
        let signed = foreign_dkim_sign(self, &message);
        self.send_to_mx(
            &self.internet.foreign_out,
            internet::FOREIGN_OUT_NAME,
            "alice@foreign.test",
            to,
            &signed,
        )
    }

    /// `doveadm` in the imap container.
    fn doveadm(&self, args: &[&str]) -> String {
        let output = Command::new("docker")
            .args(["exec", &self.container("imap"), "doveadm"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_ok(&output, &format!("doveadm {}", args.join(" ")));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The whole text of `user`'s message in `mailbox` (`*` for any) that
    /// holds `marker`, once it has arrived.
    fn wait_for_mail(&self, user: &str, mailbox: &str, marker: &str) -> Option<String> {
        let deadline = Instant::now() + DELIVERY;
        loop {
            let found = self.doveadm(&[
                "fetch", "-u", user, "text", "mailbox", mailbox, "text", marker,
            ]);
            if !found.trim().is_empty() {
                return Some(found);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// How many of `user`'s messages anywhere hold `marker`.
    fn count_mail(&self, user: &str, marker: &str) -> usize {
        self.doveadm(&["search", "-u", user, "mailbox", "*", "text", marker])
            .lines()
            .filter(|line| !line.trim().is_empty())
            .count()
    }

    fn smtp_log(&self) -> String {
        self.log("smtp")
    }

    fn log(&self, service: &str) -> String {
        let output = Command::new("docker")
            .args(["logs", &self.container(service)])
            .output()
            .unwrap();
        text(&output)
    }

    fn queue(&self) -> String {
        let output = Command::new("docker")
            .args(["exec", &self.container("smtp"), "postqueue", "-p"])
            .output()
            .unwrap();
        text(&output)
    }

    /// The foreign provider's verdict on the message holding `marker`.
    fn foreign_verdict(&self, marker: &str) -> (serde_json::Value, String) {
        self.internet
            .wait_for_foreign_delivery(marker, DELIVERY)
            .unwrap_or_else(|| {
                panic!(
                    "the foreign MX recorded no message `{marker}`\n--- stack queue\n{}\n--- stack smtp log (tail)\n{}\n--- foreign MX log (tail)\n{}",
                    self.queue(),
                    tail(&self.smtp_log(), 40),
                    tail(&self.internet.foreign_log(), 40)
                )
            })
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn unique() -> String {
    format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// An ordinary message: text and HTML alternatives, every header a mail
/// program writes.
fn ordinary_message(from: &str, to: &str, subject: &str, message_id: &str) -> String {
    let date = Command::new("date")
        .arg("-R")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap();
    let boundary = format!("b-{}", unique());
    format!(
        "Date: {date}\r\n\
         From: {from}\r\n\
         To: {to}\r\n\
         Subject: {subject}\r\n\
         Message-ID: <{message_id}>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 7bit\r\n\
         \r\n\
         Hello,\r\n\
         \r\n\
         the minutes of Tuesday's meeting are below. We agreed to move the\r\n\
         garden work to Saturday morning and to order the new bench.\r\n\
         \r\n\
         See you then,\r\n\
         Admin\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: text/html; charset=utf-8\r\n\
         Content-Transfer-Encoding: 7bit\r\n\
         \r\n\
         <html><body><p>Hello,</p><p>the minutes of Tuesday's meeting are below. We agreed to\r\n\
         move the garden work to Saturday morning and to order the new bench.</p>\r\n\
         <p>See you then,<br>Admin</p></body></html>\r\n\
         \r\n\
         --{boundary}--\r\n"
    )
}

/// Signs `message` with the foreign provider's DKIM key (python3-dkim).
fn foreign_dkim_sign(world: &World, message: &str) -> String {
    dkim_sign(
        message,
        &world.internet.foreign_dkim_key,
        internet::FOREIGN_SELECTOR,
        internet::FOREIGN_DOMAIN,
    )
}

/// Signs `message` with the RSA key in `key` as `selector._domainkey.domain`.
fn dkim_sign(message: &str, key: &Path, selector: &str, domain: &str) -> String {
    let script = "import sys, dkim\n\
        key = open(sys.argv[1], 'rb').read()\n\
        message = sys.stdin.buffer.read()\n\
        signature = dkim.sign(message, sys.argv[2].encode(), sys.argv[3].encode(), key, include_headers=[b'from', b'to', b'subject', b'date', b'message-id'])\n\
        sys.stdout.buffer.write(signature + message)\n";
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(key)
        .args([selector, domain])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(message.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_ok(&output, "python3 dkim.sign");
    String::from_utf8(output.stdout).unwrap()
}

/// The project's RSA DKIM key of `domain`: its path and selector.
fn project_rsa_key(world: &World, domain: &str) -> (PathBuf, String) {
    let directory = world.dir().join("dkim").join(domain);
    let path = std::fs::read_dir(&directory)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("rsa"))
        })
        .unwrap_or_else(|| panic!("no RSA key in {}", directory.display()));
    let selector = path.file_stem().unwrap().to_string_lossy().into_owned();
    (path, selector)
}

/// The stack, initialised as a user on a VPS would: published on its
/// public address, the resolver pointed at the internet's DNS, its records
/// pushed there.
fn start_world() -> World {
    crate::support::ensure_base_image();
    let internet = Internet::start(HOSTNAME, &["example.test", "example.org"]);
    let project = internet.new_project("inet", HOSTNAME, ADMIN, ADMIN_PASSWORD);
    let dir = project.dir.clone();
    // example.org publishes and enforces `p=reject`.
    let config_path = dir.join("mailctl.yaml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    let quarantine = "- name: example.org\n  dmarc:\n    policy: quarantine\n";
    assert!(config.contains(quarantine), "{config}");
    let config = config.replacen(
        quarantine,
        "- name: example.org\n  dmarc:\n    policy: reject\n",
        1,
    );
    // POP3 is off by default; the bans scenario logs in over it too.
    assert!(config.contains("\n  pop3s: false\n"), "{config}");
    let config = config.replacen("\n  pop3s: false\n", "\n  pop3s: 995\n", 1);
    // Bans end after 20 s, so the test sees one end by itself.
    assert!(!config.contains("\nsecurity:"), "{config}");
    let config = format!(
        "{config}security:\n  bans:\n    duration: {}s\n    allow: [\"203.0.113.200/30\"]\n",
        BAN_DURATION.as_secs()
    );
    std::fs::write(&config_path, config).unwrap();
    // Greylisting accepts a retry after 5 minutes by default; a user's own
    // Rspamd setting (overrides/antispam/override.d/) shortens the wait so
    // the retry fits in the test.
    let greylist = dir.join("overrides/antispam/override.d/greylist.conf");
    std::fs::create_dir_all(greylist.parent().unwrap()).unwrap();
    std::fs::write(
        &greylist,
        format!("timeout = {}s;\n", GREYLIST_DELAY.as_secs()),
    )
    .unwrap();
    let output = crate::support::mailctl_with_input(
        &dir,
        &["user", "add", FORWARDER, "--password-stdin"],
        &format!("{FORWARDER_PASSWORD}\n"),
    );
    assert_ok(&output, "user add forwarder");
    internet.publish(&dir);
    let output = mailctl(&dir, &["up"]);
    assert!(
        output.status.success(),
        "up\n{}\n--- named\n{}",
        text(&output),
        internet.dns_log()
    );
    let scratch = internet.dir().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    World {
        project,
        internet,
        scratch,
        run: unique(),
    }
}

/// The suite: the simulated internet and the stack on it, shared by every
/// scenario; each scenario stands alone. The last one checks that nothing
/// of the internet is left once the world is taken down.
pub fn suite(scenarios: &mut Scenarios) {
    // The guard's chain of this project, known once the world is up.
    let chain = RefCell::new(None);
    let world = LazyCell::new(|| {
        let started = Instant::now();
        let world = start_world();
        eprintln!(
            "internet and stack up in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        *chain.borrow_mut() = Some(mailctl::bans::chain_name(&world.project.project));
        RefCell::new(world)
    });

    scenarios.scenario("the resolver validates the private root", || {
        resolver_validates(&world.borrow())
    });
    scenarios.scenario(
        "outbound: SPF, both DKIM signatures, DMARC and SpamAssassin at the foreign provider, over DANE",
        || outbound(&world.borrow()),
    );
    scenarios.scenario(
        "inbound: real client address and PTR, authentication results",
        || inbound(&world.borrow()),
    );
    scenarios.scenario(
        "inbound: a forged project From meets its domain's DMARC policy (quarantine, reject)",
        || forged_from(&world.borrow()),
    );
    scenarios.scenario(
        "inbound: the blocklisted attacker is refused naming the list, but reaches postmaster@; a client on two lists is refused by postscreen",
        || blocklisted(&world.borrow()),
    );
    scenarios.scenario(
        "inbound: postscreen drops a client that talks first; bare-LF smuggling stays one message",
        || postscreen_and_smuggling(&world.borrow()),
    );
    scenarios.scenario(
        "bans: failed IMAP, SMTP AUTH, POP3, ManageSieve and web logins ban one address on every port, not its neighbour",
        || bans(&world.borrow()),
    );
    scenarios.scenario(
        "bans by hand: survive a restart of the guard; allowed addresses are refused",
        || bans_by_hand(&world.borrow()),
    );
    scenarios.scenario(
        "inbound: greylisting defers a suspicious stranger once and takes its retry",
        || greylisting(&world.borrow()),
    );
    scenarios.scenario(
        "inbound: a real client's connection rate is limited",
        || connection_rate(&world.borrow()),
    );
    scenarios.scenario(
        "forwarding keeps SPF and the original DKIM signature at the foreign side",
        || forwarding(&world.borrow()),
    );
    scenarios.scenario(
        "bounces: a DSN for an unknown foreign user, no backscatter into mailboxes",
        || bounces(&world.borrow()),
    );
    scenarios.scenario(
        "doctor from the internet: clean but for what needs the real internet",
        || doctor(&world.borrow()),
    );
    scenarios.scenario("DANE: a wrong TLSA keeps the message deferred", || {
        wrong_tlsa(&mut world.borrow_mut())
    });

    drop(world);
    scenarios.scenario("nothing of the internet is left", || {
        // Nothing of the internet is left, even where a scenario failed.
        let namespaces = String::from_utf8_lossy(
            &Command::new("ip")
                .args(["netns", "list"])
                .output()
                .unwrap()
                .stdout,
        )
        .into_owned();
        assert!(!namespaces.contains("mcti-"), "left over: {namespaces}");
        let links = Command::new("ip")
            .args(["link", "show", "mcti0"])
            .output()
            .unwrap();
        assert!(!links.status.success(), "the bridge is left over");
        let rules = Command::new("iptables")
            .args(["-S", "FORWARD"])
            .output()
            .unwrap();
        assert!(
            !String::from_utf8_lossy(&rules.stdout).contains("mailctl-test-internet"),
            "the firewall rule is left over"
        );
        // `down --volumes` left no rule of the guard in the host's firewall.
        let firewall = Command::new("iptables-save").output().unwrap();
        let firewall = String::from_utf8_lossy(&firewall.stdout);
        let chain = chain
            .borrow()
            .clone()
            .unwrap_or_else(|| "MAILCTL-".to_owned());
        assert!(
            !firewall.contains(&chain),
            "the guard's rules ({chain}) are left over:\n{firewall}"
        );
        let containers = docker(&["ps", "-aq", "--filter", "name=^mcti-"]);
        assert!(containers.trim().is_empty(), "left over: {containers}");
        let netns_files = std::fs::read_dir("/etc/netns")
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|entry| entry.file_name().to_string_lossy().starts_with("mcti-"))
                    .count()
            })
            .unwrap_or(0);
        assert_eq!(netns_files, 0, "/etc/netns entries are left over");
    });
}

/// From the stack, the foreign MX is found by DNSSEC-validated lookups
/// (MX and TLSA through Unbound, which trusts the internet's signed root)
/// and verified by DANE: Postfix's own `posttls-finger` in the smtp
/// container.
fn resolver_validates(world: &World) {
    let finger = finger(world);
    assert!(
        finger.contains("Matched DANE EE certificate at depth 0: 3 1 1")
            && finger.contains("Verified TLS connection established to mx.foreign.test"),
        "posttls-finger from the stack to {}:\n{finger}\n--- named (tail)\n{}",
        internet::FOREIGN_DOMAIN,
        tail(&world.internet.dns_log(), 30)
    );
}

/// `posttls-finger` from the smtp container to the foreign domain's MX at
/// the DANE level.
fn finger(world: &World) -> String {
    let output = Command::new("docker")
        .args([
            "exec",
            &world.container("smtp"),
            "posttls-finger",
            "-t",
            "20",
            "-l",
            "dane",
            "-c",
            internet::FOREIGN_DOMAIN,
        ])
        .output()
        .unwrap();
    text(&output)
}

fn outbound(world: &World) {
    let marker = world.token("outbound");
    let message = ordinary_message(
        ADMIN,
        "bob@foreign.test",
        "Minutes of Tuesday's meeting",
        &format!("{marker}@example.test"),
    );
    let swaks = world.submit(ADMIN, ADMIN_PASSWORD, "bob@foreign.test", &message);
    assert!(
        swaks.queue_id().is_some(),
        "submission on 587 refused\n{}",
        swaks.transcript
    );
    let (verdict, delivered) = world.foreign_verdict(&marker);
    assert_eq!(
        verdict["client_address"], "203.0.113.1",
        "the foreign MX sees the stack's public address\n{verdict:#}"
    );
    assert_eq!(verdict["client_name"], HOSTNAME, "{verdict:#}");
    assert_eq!(verdict["spf"]["result"], "pass", "{verdict:#}");
    let signatures = verdict["dkim"].as_array().unwrap();
    let algorithms: Vec<&str> = signatures
        .iter()
        .map(|signature| signature["algorithm"].as_str().unwrap())
        .collect();
    assert!(
        algorithms.contains(&"rsa-sha256") && algorithms.contains(&"ed25519-sha256"),
        "both signatures present\n{verdict:#}"
    );
    assert!(
        signatures
            .iter()
            .all(|signature| signature["verified"] == true && signature["domain"] == "example.test"),
        "every DKIM signature verifies\n{verdict:#}"
    );
    assert_eq!(verdict["dmarc"]["result"], "pass", "{verdict:#}");
    assert_eq!(verdict["dmarc"]["spf_aligned"], true, "{verdict:#}");
    assert_eq!(verdict["dmarc"]["dkim_aligned"], true, "{verdict:#}");
    let score = verdict["spamassassin"]["score"].as_f64().unwrap_or(99.0);
    eprintln!(
        "    SpamAssassin at the foreign provider: {score} ({})",
        verdict["spamassassin"]["rules"]
    );
    assert!(
        score <= 0.0,
        "SpamAssassin score {score} > 0.0 for an ordinary message\n{verdict:#}"
    );
    assert!(
        delivered.contains("using TLSv1.3") || delivered.contains("using TLSv1.2"),
        "delivered over TLS\n{delivered}"
    );
    let log = world.smtp_log();
    assert!(
        log.contains("Verified TLS connection established to mx.foreign.test[203.0.113.25]:25"),
        "Postfix verified the foreign MX by DANE\n{}",
        tail(&log, 40)
    );
}

fn inbound(world: &World) {
    let marker = world.token("inbound");
    let swaks = world.send_from_foreign(ADMIN, "Lunch on Friday?", &marker);
    assert!(
        swaks.queue_id().is_some(),
        "port 25 refused a good message\n{}",
        swaks.transcript
    );
    assert!(
        swaks.transcript.contains("STARTTLS"),
        "{}",
        swaks.transcript
    );
    let delivered = world
        .wait_for_mail(ADMIN, "INBOX", &marker)
        .unwrap_or_else(|| panic!("not in the INBOX\n{}", tail(&world.smtp_log(), 40)));
    assert!(
        delivered.contains("from out.foreign.test (out.foreign.test [203.0.113.26])"),
        "the Received header shows the sending host's real address and PTR name\n{delivered}"
    );
    let results: String = delivered
        .lines()
        .skip_while(|line| !line.starts_with("Authentication-Results:"))
        .take_while(|line| {
            line.starts_with("Authentication-Results:") || line.starts_with(char::is_whitespace)
        })
        .collect::<Vec<_>>()
        .join("\n");
    for result in ["dkim=pass", "spf=pass", "dmarc=pass"] {
        assert!(
            results.contains(result),
            "{result} in\n{results}\n---\n{delivered}"
        );
    }
    let log = world.smtp_log();
    assert!(
        log.contains("connect from out.foreign.test[203.0.113.26]"),
        "Postfix logs the real client\n{}",
        tail(&log, 40)
    );
}

/// From a project domain, sent by a host that the domain's SPF does not
/// list (the foreign provider's), without a DKIM signature: DMARC fails and
/// the domain's published policy decides. example.test publishes the
/// default `p=quarantine` (into Junk), example.org `p=reject` (refused).
fn forged_from(world: &World) {
    for (domain, policy) in [("example.test", "quarantine"), ("example.org", "reject")] {
        let marker = world.token(&format!("forged-{domain}"));
        let forged = format!("postmaster@{domain}");
        let published = world
            .internet
            .dig(&format!("_dmarc.{domain}"), "TXT")
            .join(" ");
        assert!(published.contains(&format!("p={policy}")), "{published}");
        let message = ordinary_message(
            &forged,
            &forged,
            "Your mailbox is full",
            &format!("{marker}@{domain}"),
        );
        let swaks = world.send_to_mx(
            &world.internet.foreign_out,
            internet::FOREIGN_OUT_NAME,
            &forged,
            &forged,
            &message,
        );
        if policy == "reject" {
            assert!(
                swaks.reply('5').is_some() && swaks.queue_id().is_none(),
                "p=reject: refused\n{}",
                swaks.transcript
            );
            std::thread::sleep(Duration::from_secs(2));
            assert_eq!(world.count_mail(ADMIN, &marker), 0);
            // The control: the same message from the same host with the
            // domain's own DKIM signature passes DMARC and is delivered, so
            // the refusal was DMARC's.
            let signed_marker = world.token(&format!("signed-{domain}"));
            let signed = ordinary_message(
                &forged,
                &forged,
                "Your mailbox is full",
                &format!("{signed_marker}@{domain}"),
            );
            let (key, selector) = project_rsa_key(world, domain);
            let signed = dkim_sign(&signed, &key, &selector, domain);
            let swaks = world.send_to_mx(
                &world.internet.foreign_out,
                internet::FOREIGN_OUT_NAME,
                &forged,
                &forged,
                &signed,
            );
            assert!(
                swaks.queue_id().is_some(),
                "signed by the domain, the same message is accepted\n{}",
                swaks.transcript
            );
            assert!(
                world
                    .wait_for_mail(ADMIN, "INBOX", &signed_marker)
                    .is_some(),
                "the signed message arrives"
            );
        } else {
            assert!(
                swaks.queue_id().is_some(),
                "p=quarantine: accepted into Junk\n{}",
                swaks.transcript
            );
            assert!(
                world.wait_for_mail(ADMIN, "Junk", &marker).is_some(),
                "p=quarantine: the forged message is in Junk\n{}",
                tail(&world.smtp_log(), 40)
            );
            assert!(
                world
                    .doveadm(&["search", "-u", ADMIN, "mailbox", "INBOX", "text", &marker])
                    .trim()
                    .is_empty(),
                "not in the INBOX"
            );
        }
    }
}

/// A raw SMTP client in a harness host: connects to the stack's port 25,
/// sends `script` (Python bytes literal pieces, `None` meaning "read a
/// reply"), prints every byte received until the server closes or is quiet.
const RAW_SMTP: &str = r#"
import socket, sys, time
steps = eval(sys.argv[1])
s = socket.create_connection(("203.0.113.1", 25), 15)
s.settimeout(12)
def reply():
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return data, True
            data += chunk
            lines = data.split(b"\r\n")
            if len(lines) >= 2 and lines[-2][3:4] == b" ":
                return data, False
    except socket.timeout:
        return data, False
    except ConnectionError:
        return data, True
out = b""
for step in steps:
    if step is None:
        data, closed = reply()
        out += data
        if closed:
            out += b"<closed>"
            break
    else:
        try:
            s.sendall(step)
        except ConnectionError:
            out += b"<closed>"
            break
sys.stdout.write(out.decode("utf-8", "replace"))
"#;

fn raw_smtp(host: &internet::Host, steps: &str) -> String {
    let output = host.run("/usr/bin/python3", &["-c", RAW_SMTP, steps]);
    assert!(
        output.status.success(),
        "raw SMTP client\n{}",
        text(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// postscreen: a client that sends EHLO before the greeting is dropped with
/// 521 and logged as PREGREET; a patient client gets the whole greeting.
/// SMTP smuggling: a message whose body holds `<LF>.<LF>` and a second
/// transaction is one message (one reply to its end), never two.
fn postscreen_and_smuggling(world: &World) {
    let eager = raw_smtp(
        &world.internet.client,
        r#"[b"EHLO eager.client.invalid\r\n", None, None]"#,
    );
    assert!(
        eager.contains("521 ") && eager.contains("<closed>"),
        "the client that talked first was not dropped: {eager:?}"
    );
    let log = world.smtp_log();
    assert!(
        log.lines()
            .any(|line| line.contains("PREGREET") && line.contains(&internet::CLIENT.to_string())),
        "postscreen logged no PREGREET for the client\n{log}"
    );

    let marker = world.token("smuggled");
    let steps = format!(
        r#"[None, b"EHLO client.foreign.test\r\n", None, b"MAIL FROM:<alice@foreign.test>\r\n", None,
            b"RCPT TO:<{ADMIN}>\r\n", None, b"DATA\r\n", None,
            b"Subject: first {marker}\r\n\r\nhello\n.\nMAIL FROM:<alice@foreign.test>\r\nRCPT TO:<{ADMIN}>\r\nDATA\r\nSubject: second {marker}\r\n\r\nsmuggled\r\n.\r\n",
            None, None, b"QUIT\r\n", None]"#
    );
    let transcript = raw_smtp(&world.internet.client, &steps);
    let after_data = transcript
        .split("354 ")
        .nth(1)
        .unwrap_or_else(|| panic!("no DATA: {transcript:?}"));
    let replies: Vec<&str> = after_data
        .lines()
        .skip(1)
        .filter(|line| line.len() >= 4 && &line[3..4] == " ")
        .collect();
    assert!(
        !after_data.contains("354 ") && !after_data.contains("250 2.1.0"),
        "the smuggled transaction was answered as a second one: {transcript:?}"
    );
    // Whatever the verdict on the one message (Rspamd refuses its bare
    // <LF>s as spam here), it gets exactly one reply.
    assert_eq!(
        replies
            .iter()
            .filter(|reply| !reply.starts_with("221"))
            .count(),
        1,
        "not exactly one reply to the end of the single message: {transcript:?}"
    );
}

fn blocklisted(world: &World) {
    let marker = world.token("attacker");
    let message = ordinary_message(
        "someone@attacker.invalid",
        ADMIN,
        "Cheap watches",
        &format!("{marker}@attacker.invalid"),
    );
    let swaks = world.send_to_mx(
        &world.internet.attacker,
        "mail.attacker.invalid",
        "someone@attacker.invalid",
        ADMIN,
        &message,
    );
    let refusal = swaks
        .reply('5')
        .unwrap_or_else(|| panic!("no 5xx for the listed client\n{}", swaks.transcript));
    assert!(
        refusal.contains(internet::BLOCKLIST) && refusal.contains("203.0.113.66"),
        "the refusal names the list and the address: {refusal}"
    );
    assert!(swaks.queue_id().is_none(), "{}", swaks.transcript);
    assert_eq!(world.count_mail(ADMIN, &marker), 0);
    // The role addresses (RFC 2142) stay reachable: a listed sender can
    // still write to postmaster@ about the listing.
    let marker = world.token("attacker-to-postmaster");
    let message = ordinary_message(
        "someone@attacker.invalid",
        "postmaster@example.test",
        "Why am I blocked?",
        &format!("{marker}@attacker.invalid"),
    );
    let send = || {
        world.send_to_mx(
            &world.internet.attacker,
            "mail.attacker.invalid",
            "someone@attacker.invalid",
            "postmaster@example.test",
            &message,
        )
    };
    let mut swaks = send();
    // Rspamd still scores the listing: a first attempt may be greylisted,
    // and the retry that any MTA makes is taken.
    if swaks.reply('4').is_some() {
        std::thread::sleep(GREYLIST_DELAY + Duration::from_secs(2));
        swaks = send();
    }
    assert!(
        swaks.queue_id().is_some(),
        "mail to postmaster@ is accepted from a listed client\n{}",
        swaks.transcript
    );
    assert!(
        world.wait_for_mail(ADMIN, "*", &marker).is_some(),
        "the message to postmaster@ arrives"
    );
    // Listed in two lists, postscreen's weighting refuses the client
    // outright, postmaster@ included, naming a list.
    let marker = world.token("spambot");
    let swaks = world.send_to_mx(
        &world.internet.spambot,
        "mail.spambot.invalid",
        "someone@spambot.invalid",
        "postmaster@example.test",
        &ordinary_message(
            "someone@spambot.invalid",
            "postmaster@example.test",
            "Cheap watches",
            &format!("{marker}@spambot.invalid"),
        ),
    );
    let refusal = swaks
        .reply('5')
        .unwrap_or_else(|| panic!("no 5xx for the doubly listed client\n{}", swaks.transcript));
    assert!(
        refusal.contains("203.0.113.67")
            && (refusal.contains(internet::BLOCKLIST)
                || refusal.contains(internet::SECOND_BLOCKLIST)),
        "the refusal names a list and the address: {refusal}"
    );
    assert!(swaks.queue_id().is_none(), "{}", swaks.transcript);
    let log = world.smtp_log();
    assert!(
        log.contains("postscreen") && log.contains("DNSBL rank 2 for [203.0.113.67]"),
        "postscreen weighed both lists: {}",
        tail(&log, 15)
    );
}

fn greylisting(world: &World) {
    let marker = world.token("greylist");
    // A stranger: the mail client's host (no PTR), a HELO name that does
    // not resolve, a sender domain that does not exist, no DKIM, a bare
    // message without Date or Message-ID.
    let message = format!(
        "From: seller@stranger.test\r\nTo: {ADMIN}\r\nSubject: Offer {marker}\r\n\r\nWe have an offer for you. Reply soon.\r\n"
    );
    let send = || {
        world.send_to_mx(
            &world.internet.client,
            "desktop-7.lan",
            "seller@stranger.test",
            ADMIN,
            &message,
        )
    };
    let first = send();
    let deferral = first.reply('4').unwrap_or_else(|| {
        panic!(
            "the first attempt is deferred\n{}\n--- antispam log (tail)\n{}",
            first.transcript,
            tail(&world.log("antispam"), 20)
        )
    });
    assert!(first.queue_id().is_none(), "{}", first.transcript);
    assert!(
        deferral.to_ascii_lowercase().contains("greylist") || deferral.contains("Try again later"),
        "{deferral}"
    );
    std::thread::sleep(GREYLIST_DELAY + Duration::from_secs(2));
    let retry = send();
    assert!(
        retry.queue_id().is_some(),
        "the retry after the greylisting delay is accepted\n{}\n--- antispam log (tail)\n{}",
        retry.transcript,
        tail(&world.log("antispam"), 20)
    );
    eprintln!("    deferred with `{deferral}`, the retry accepted");
    assert!(
        world.wait_for_mail(ADMIN, "*", &marker).is_some(),
        "the retried message arrived"
    );
}

/// `limits.connections_per_minute_per_client` (60) applies to each real
/// client address: the attacker's host opens 70 connections in a row (a
/// bounded loop) and the last ones are turned away with 421.
fn connection_rate(world: &World) {
    let script = "import socket, sys\n\
        codes = []\n\
        for _ in range(70):\n\
        \x20   connection = socket.create_connection((sys.argv[1], 25), timeout=20)\n\
        \x20   codes.append(connection.recv(512)[:3].decode())\n\
        \x20   connection.sendall(b'QUIT\\r\\n')\n\
        \x20   connection.close()\n\
        print(' '.join(codes))\n";
    let output = world.internet.attacker.run(
        "/usr/bin/python3",
        &["-c", script, &internet::STACK.to_string()],
    );
    assert_ok(&output, "70 connections from the attacker's host");
    let codes: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(codes.len(), 70, "{codes:?}");
    let accepted = codes.iter().filter(|code| *code == "220").count();
    let limited = codes.iter().filter(|code| *code == "421").count();
    assert!(
        (50..=60).contains(&accepted) && accepted + limited == 70 && limited >= 10,
        "about 60 greetings, then 421: {codes:?}\n{}",
        tail(&world.smtp_log(), 10)
    );
    assert!(
        world
            .smtp_log()
            .contains("Connection rate limit exceeded: 61 from unknown[203.0.113.66]"),
        "{}",
        tail(&world.smtp_log(), 10)
    );
}

/// Runs `tests/internet/logins.py` on `host`; its standard output.
fn logins(host: &Host, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/internet/logins.py");
    let script = script.display().to_string();
    let output = host.run("/usr/bin/python3", &[&[script.as_str()][..], args].concat());
    assert_ok(&output, &format!("logins.py {args:?}"));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The ports a banned address is refused on, and one more of each kind.
const BANNED_PORTS: [&str; 7] = ["25", "465", "587", "993", "995", "4190", "443"];

/// Each port of [`BANNED_PORTS`] with what a connection from `host` met.
fn probe(host: &Host) -> BTreeMap<String, String> {
    let stack = internet::STACK.to_string();
    let output = logins(
        host,
        &[&["probe", stack.as_str()][..], &BANNED_PORTS[..]].concat(),
    );
    output
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(port, state)| (port.to_owned(), state.to_owned()))
        .collect()
}

/// Polls until every port meets `state` from `host`, for up to `limit`.
fn wait_for_ports(world: &World, host: &Host, state: &str, limit: Duration, what: &str) {
    let started = Instant::now();
    loop {
        let seen = probe(host);
        // A banned address meets "port unreachable" (connection refused),
        // or nothing once the kernel's ICMP rate limit is spent.
        let matches = |seen: &String| match state {
            "closed" => seen == "refused" || seen == "timeout",
            _ => seen == state,
        };
        if seen.values().all(matches) && seen.len() == BANNED_PORTS.len() {
            eprintln!(
                "  {what}: every port {state} after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{what}: not every port {state} within {limit:?}: {seen:?}\n--- guard\n{}",
            tail(&world.log("guard"), 20)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `mailctl ban list --json`.
fn ban_list(world: &World) -> Vec<serde_json::Value> {
    let output = mailctl(world.dir(), &["--json", "ban", "list"]);
    assert_ok(&output, "ban list --json");
    serde_json::from_slice(&output.stdout).unwrap()
}

fn bans(world: &World) {
    let attacker = &world.internet.attacker;
    let neighbour = &world.internet.client;
    let stack = internet::STACK.to_string();
    let banned = format!("{}/32", internet::ATTACKER);
    wait_for_ports(
        world,
        attacker,
        "open",
        Duration::from_secs(5),
        "before any failure",
    );
    for (surface, protocol, port) in [
        ("IMAP", "imap", "993"),
        ("SMTP AUTH", "smtp", "465"),
        ("POP3", "pop3", "995"),
        ("ManageSieve", "sieve", "4190"),
        ("the Rspamd web interface", "web", "443"),
    ] {
        eprintln!("  11 wrong passwords over {surface}");
        let started = Instant::now();
        if protocol == "web" {
            for _ in 0..11 {
                let output = attacker.run(
                    "curl",
                    &[
                        "-sk",
                        "-o",
                        "/dev/null",
                        "-w",
                        "%{http_code}\n",
                        "--max-time",
                        "5",
                        "-H",
                        "Password: wrong-password",
                        &format!("https://{stack}/rspamd/auth"),
                    ],
                );
                let code = String::from_utf8_lossy(&output.stdout).trim().to_owned();
                assert!(
                    ["401", "403", "000"].contains(&code.as_str()),
                    "a wrong web password got {code}"
                );
            }
        } else {
            let attempts = logins(
                attacker,
                &[
                    "login",
                    protocol,
                    &stack,
                    port,
                    ADMIN,
                    "wrong-password",
                    "11",
                ],
            );
            assert!(
                !attempts.lines().any(|line| line == "ok"),
                "a wrong password logged in: {attempts}"
            );
        }
        wait_for_ports(world, attacker, "closed", Duration::from_secs(5), surface);
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "{surface}: too slow"
        );
        // The neighbour logs in and sends meanwhile.
        let neighbour_login = logins(
            neighbour,
            &["login", "imap", &stack, "993", ADMIN, ADMIN_PASSWORD, "1"],
        );
        assert_eq!(
            neighbour_login.trim(),
            "ok",
            "{surface}: the neighbour's login"
        );
        let marker = world.token(&format!("ban-{protocol}"));
        let sent = world.submit(
            ADMIN,
            ADMIN_PASSWORD,
            &format!("bob@{}", internet::FOREIGN_DOMAIN),
            &ordinary_message(
                ADMIN,
                &format!("bob@{}", internet::FOREIGN_DOMAIN),
                "during a ban",
                &format!("<{marker}@example.test>"),
            ),
        );
        assert!(
            sent.queue_id().is_some(),
            "{surface}: the neighbour's submission\n{}",
            sent.transcript
        );
        let list = ban_list(world);
        let entry = list
            .iter()
            .find(|ban| ban["network"] == banned.as_str())
            .unwrap_or_else(|| panic!("{surface}: {banned} is not listed: {list:?}"));
        let left = entry["seconds_left"].as_u64().unwrap();
        assert!(
            left > 0 && left <= BAN_DURATION.as_secs(),
            "{surface}: {entry}\n--- guard\n{}",
            tail(&world.log("guard"), 20)
        );
        assert!(
            entry["until"]
                .as_str()
                .is_some_and(|until| until.ends_with('Z')),
            "{entry}"
        );
        assert_eq!(
            entry["offences"],
            1,
            "{surface}: a lifted ban is forgotten: {entry}\n--- guard\n{}",
            tail(&world.log("guard"), 20)
        );
        if protocol == "smtp" {
            // This one ends by itself.
            wait_for_ports(
                world,
                attacker,
                "open",
                BAN_DURATION + Duration::from_secs(5),
                "after the ban's end",
            );
            assert!(ban_list(world).is_empty(), "an ended ban is still listed");
            // An ended ban counts against the address next time: lift the
            // record so the next round starts afresh.
            assert_ok(
                &mailctl(
                    world.dir(),
                    &["ban", "remove", &internet::ATTACKER.to_string()],
                ),
                "ban remove",
            );
        } else {
            let output = mailctl(
                world.dir(),
                &["ban", "remove", &internet::ATTACKER.to_string()],
            );
            assert_ok(&output, "ban remove");
            wait_for_ports(
                world,
                attacker,
                "open",
                Duration::from_secs(2),
                "after ban remove",
            );
        }
    }
    let guard = world.log("guard");
    assert!(
        guard.contains("(last: imap)")
            && guard.contains("(last: smtp)")
            && guard.contains("(last: pop3)")
            && guard.contains("(last: sieve)")
            && guard.contains("(last: rspamd)"),
        "{}",
        tail(&guard, 30)
    );
}

fn bans_by_hand(world: &World) {
    let dir = world.dir();
    let address = "203.0.113.77";
    let output = mailctl(dir, &["ban", "add", address, "--for", "1h"]);
    assert_ok(&output, "ban add");
    let list = ban_list(world);
    assert!(
        list.iter().any(|ban| ban["network"] == "203.0.113.77/32"
            && ban["seconds_left"].as_u64().unwrap() > 3500),
        "{list:?}"
    );
    let chain = || {
        let rules = Command::new("iptables-save").output().unwrap();
        String::from_utf8_lossy(&rules.stdout)
            .lines()
            .filter(|line| line.contains("MAILCTL-"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert!(
        chain()
            .iter()
            .any(|rule| rule.contains("-s 203.0.113.77/32")),
        "{:?}",
        chain()
    );
    // The guard stopped removes its rules; started again, it restores the ban.
    let output = mailctl(dir, &["restart", "guard"]);
    assert_ok(&output, "restart guard");
    assert!(
        ban_list(world)
            .iter()
            .any(|ban| ban["network"] == "203.0.113.77/32"),
        "the ban did not survive a restart"
    );
    assert!(
        chain()
            .iter()
            .any(|rule| rule.contains("-s 203.0.113.77/32")),
        "{:?}",
        chain()
    );
    assert_ok(&mailctl(dir, &["ban", "remove", address]), "ban remove");
    assert!(ban_list(world).is_empty());
    assert!(
        !chain().iter().any(|rule| rule.contains("203.0.113.77")),
        "{:?}",
        chain()
    );
    // Never banned: loopback, the stack's network, `security.bans.allow`.
    for (address, reason) in [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("203.0.113.201", "security.bans.allow"),
    ] {
        let output = mailctl(dir, &["ban", "add", address]);
        assert!(!output.status.success(), "{}", text(&output));
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(reason),
            "{}",
            text(&output)
        );
    }
    for wrong in [
        &["ban", "add", "not-an-address"][..],
        &["ban", "add", address, "--for", "soon"][..],
    ] {
        let output = mailctl(dir, wrong);
        assert!(!output.status.success(), "{}", text(&output));
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("hint:"),
            "{}",
            text(&output)
        );
    }
    assert!(ban_list(world).is_empty());
}

fn forwarding(world: &World) {
    let output = mailctl(
        world.dir(),
        &["user", "forward", FORWARDER, "--to", "carol@foreign.test"],
    );
    assert_ok(&output, "user forward");
    let marker = world.token("forward");
    let swaks = world.send_from_foreign(FORWARDER, "Photos from the trip", &marker);
    assert!(swaks.queue_id().is_some(), "{}", swaks.transcript);
    let (verdict, _) = world.foreign_verdict(&marker);
    assert_eq!(verdict["recipient"], "carol@foreign.test", "{verdict:#}");
    assert_eq!(verdict["client_address"], "203.0.113.1", "{verdict:#}");
    assert_eq!(
        verdict["spf"]["result"], "pass",
        "the envelope sender is rewritten to a project address\n{verdict:#}"
    );
    assert!(
        verdict["sender"]
            .as_str()
            .unwrap()
            .ends_with("@example.test"),
        "{verdict:#}"
    );
    let original = verdict["dkim"]
        .as_array()
        .unwrap()
        .iter()
        .find(|signature| signature["domain"] == "foreign.test")
        .unwrap_or_else(|| panic!("the original signature is kept\n{verdict:#}"));
    assert_eq!(original["verified"], true, "{verdict:#}");
    assert_eq!(verdict["dmarc"]["result"], "pass", "{verdict:#}");
}

fn bounces(world: &World) {
    let marker = world.token("bounce");
    let message = ordinary_message(
        ADMIN,
        "nobody@foreign.test",
        "Are you there?",
        &format!("{marker}@example.test"),
    );
    let swaks = world.submit(ADMIN, ADMIN_PASSWORD, "nobody@foreign.test", &message);
    assert!(swaks.queue_id().is_some(), "{}", swaks.transcript);
    let dsn = world
        .wait_for_mail(ADMIN, "INBOX", &marker)
        .filter(|found| found.contains("Undelivered Mail Returned to Sender"))
        .unwrap_or_else(|| {
            panic!(
                "no DSN for the unknown foreign user\n{}",
                tail(&world.smtp_log(), 40)
            )
        });
    assert!(dsn.contains("nobody@foreign.test"), "{dsn}");

    // Backscatter: a forged bounce "from" the foreign provider for a
    // message the stack never sent, without the provider's DKIM signature:
    // its `p=reject` DMARC policy refuses it. (A bounce that the provider
    // really signed, for a message forged in the user's name elsewhere,
    // cannot be told apart without signed envelope senders, BATV.)
    let fake = world.token("backscatter");
    let bounce = format!(
        "From: MAILER-DAEMON@foreign.test\r\nTo: {ADMIN}\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <{fake}@foreign.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n--r\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.foreign.test\r\n\r\nFinal-Recipient: rfc822; someone@foreign.test\r\nAction: failed\r\nStatus: 5.1.1\r\n--r\r\nContent-Type: message/rfc822\r\n\r\nFrom: {ADMIN}\r\nTo: someone@foreign.test\r\nSubject: cheap pills\r\nMessage-ID: <never-sent-{fake}@example.test>\r\n\r\nbuy now\r\n--r--\r\n"
    );
    let swaks = world.send_to_mx(
        &world.internet.foreign_out,
        internet::FOREIGN_OUT_NAME,
        "<>",
        ADMIN,
        &bounce,
    );
    assert!(
        swaks.queue_id().is_none() && swaks.reply('5').is_some(),
        "the forged bounce is refused\n{}",
        swaks.transcript
    );
    assert_eq!(
        world.count_mail(ADMIN, &fake),
        0,
        "the forged bounce is in a mailbox"
    );
}

fn doctor(world: &World) {
    let resolver = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &world.container("resolver"),
    ]);
    let output = mailctl(
        world.dir(),
        &["--json", "doctor", "--resolver", resolver.trim()],
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("doctor --json: {error}\n{}", text(&output)));
    let findings = report["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("{report:#}"));
    let status = |check: &str| -> Vec<String> {
        findings
            .iter()
            .filter(|finding| finding["check"] == check)
            .map(|finding| finding["status"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    // What a correctly published domain on a working server must show.
    for check in [
        "dns.address",
        "dns.ptr",
        "dns.mx",
        "dns.spf",
        "dns.dkim",
        "dns.dmarc",
        "dns.mta-sts",
        "dns.mta-sts-policy",
        "reputation.address",
        "security.relay",
        "security.auth-before-tls",
    ] {
        let found = status(check);
        assert!(
            !found.is_empty() && found.iter().all(|status| status == "ok"),
            "`{check}` is {found:?}\n{}",
            text(&output)
        );
    }
    // Nothing is wrong but what needs the real internet.
    for finding in findings {
        let level = finding["status"].as_str().unwrap_or("");
        if level != "warning" && level != "error" {
            continue;
        }
        assert!(
            finding["check"] == "network.outbound-25"
                && level == "warning"
                && finding["summary"]
                    .as_str()
                    .unwrap_or("")
                    .contains("needs the real internet"),
            "unexpected {level}: {finding:#}"
        );
    }
}

fn wrong_tlsa(world: &mut World) {
    world
        .internet
        .set_foreign_tlsa("0000000000000000000000000000000000000000000000000000000000000000");
    // The resolver and Postfix keep the right record for its TTL.
    std::thread::sleep(Duration::from_secs(internet::TLSA_TTL + 1));
    let marker = world.token("dane");
    let message = ordinary_message(
        ADMIN,
        "bob@foreign.test",
        "Budget for next year",
        &format!("{marker}@example.test"),
    );
    let swaks = world.submit(ADMIN, ADMIN_PASSWORD, "bob@foreign.test", &message);
    let queue_id = swaks
        .queue_id()
        .unwrap_or_else(|| panic!("{}", swaks.transcript));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = world.smtp_log();
        let deferred = log
            .lines()
            .any(|line| line.contains(&queue_id) && line.contains("status=deferred"));
        if deferred {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the message was not deferred\n{}\n--- TLSA now served: {:?}\n--- posttls-finger\n{}",
            tail(&log, 40),
            world.internet.dig("_25._tcp.mx.foreign.test", "TLSA"),
            finger(world)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        world
            .internet
            .foreign_deliveries()
            .iter()
            .all(|(_, message)| !message.contains(&marker)),
        "sent despite the wrong TLSA"
    );
    assert!(world.queue().contains(&queue_id), "{}", world.queue());
    let finger = finger(world);
    assert!(
        finger.contains("no matching DANE TLSA records"),
        "posttls-finger sees the mismatch too\n{finger}"
    );
    let _ = docker(&[
        "exec",
        &world.container("smtp"),
        "postsuper",
        "-d",
        &queue_id,
    ]);
}
