//! End-to-end mail flow through a real stack, proved with real clients from
//! outside the project: swaks (SMTP, STARTTLS, implicit TLS, AUTH), curl
//! (IMAPS, the rspamd controller over HTTPS), `postcat` inside the smtp
//! container for a queued outbound message, and Debian's python3-dkim
//! (`tests/e2e/dkim_verify.py`) to verify the DKIM signatures against the
//! records `mailctl dns --format json` prints.
//!
//! One stack, made by the real binary (`init`, then mailboxes and aliases
//! added through the library, then `up`), shared by the scenarios of this
//! suite, which run in order (the last ones take the stack down and up).
//! Deliveries are awaited by polling IMAP until a deadline, never by fixed
//! sleeps. The `Cleanup` guard runs `down --volumes --yes` however the test
//! ends (`MAILCTL_TEST_KEEP=1` keeps the stack for a post-mortem).

use std::cell::LazyCell;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::Scenarios;

use crate::support::clients::{self, search_uids, Imaps, Tls};
use crate::support::swaks::Swaks;
use crate::support::{
    assert_second_up_changes_nothing, assert_success, containers, docker, mailctl, networks,
    new_project_with, stdout, text, volumes, Cleanup,
};
use base64::Engine as _;
use mailctl::config::{Alias, Mailbox};

use crate::support::clients::HOST;
/// Debian's interpreter: the one with python3-dkim and python3-nacl (the
/// `python3` on PATH may be another build without them).
const PYTHON: &str = "/usr/bin/python3";
const ADMIN: &str = "admin@example.test";
const BOB: &str = "bob@example.test";
const CAROL: &str = "carol@example.org";
/// Two destinations across both domains.
const TEAM: &str = "team@example.test";
/// How long a delivery may take before a step fails.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(60);
/// GTUBE (the Generic Test for Unsolicited Bulk Email): Rspamd rejects it.
const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

fn password(user: &str) -> &'static str {
    match user {
        ADMIN => "admin-secret-e2e-1",
        BOB => "bob-secret-e2e-2",
        CAROL => "carol-secret-e2e-3",
        other => panic!("no password for {other}"),
    }
}

/// A token unique to this run, for subjects and addresses.
fn run_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}-{}", std::process::id(), nanos % 1_000_000_000)
}

/// The running stack and what the clients need to reach it.
struct Stack {
    project: Cleanup,
    ports: BTreeMap<&'static str, u16>,
    /// The temporary directory around the project, for scratch files.
    scratch: PathBuf,
    run: String,
}

/// How a client reaches one of the SMTP ports.
#[derive(Clone, Copy, Debug)]
enum Smtp {
    /// Port 25 with STARTTLS.
    Mx,
    /// Port 587 with STARTTLS.
    Submission,
    /// Port 465 with implicit TLS.
    Submissions,
}

impl Stack {
    fn port(&self, name: &str) -> u16 {
        self.ports[name]
    }

    fn dir(&self) -> &Path {
        &self.project.dir
    }

    fn container(&self, service: &str) -> String {
        format!("{}-{service}-1", self.project.project)
    }

    fn token(&self, what: &str) -> String {
        format!("{what}-{}", self.run)
    }

    /// `swaks` against one of the SMTP ports; `extra` adds addresses,
    /// headers, AUTH and the body.
    fn swaks(&self, smtp: Smtp, extra: &[&str]) -> Swaks {
        let (port, tls) = match smtp {
            Smtp::Mx => (self.port("smtp"), Tls::StartTls),
            Smtp::Submission => (self.port("submission"), Tls::StartTls),
            Smtp::Submissions => (self.port("submissions"), Tls::Implicit),
        };
        clients::swaks(port, tls, 30, extra)
    }

    /// A message from outside (no AUTH) to `to`.
    fn send_from_outside(&self, smtp: Smtp, to: &str, subject: &str, body: &str) -> Swaks {
        let args = clients::message_from_outside(to, subject, body);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.swaks(smtp, &args)
    }

    /// Mail submitted by `user` (AUTH PLAIN with `secret`) from `from`.
    fn submit(
        &self,
        smtp: Smtp,
        user: &str,
        secret: &str,
        from: &str,
        to: &str,
        subject: &str,
    ) -> Swaks {
        self.swaks(
            smtp,
            &[
                "--auth",
                "PLAIN",
                "--auth-user",
                user,
                "--auth-password",
                secret,
                "--from",
                from,
                "--to",
                to,
                "--header",
                &format!("Subject: {subject}"),
                "--body",
                &format!("Submitted by {user} as {from}."),
            ],
        )
    }

    /// One IMAP command over IMAPS with curl; `path` is the URL path
    /// (`INBOX`, `INBOX;UID=3`). Errors carry curl's exit code and stderr.
    fn imap(&self, user: &str, path: &str, command: Option<&str>) -> Result<String, String> {
        Imaps {
            port: self.port("imaps"),
        }
        .command(user, password(user), path, command)
    }

    fn count(&self, user: &str) -> usize {
        let answer = self
            .imap(user, "INBOX", Some("UID SEARCH ALL"))
            .unwrap_or_else(|error| panic!("cannot list {user}'s INBOX\n{error}"));
        search_uids(&answer).len()
    }

    fn fetch(&self, user: &str, uid: u32) -> String {
        self.imap(user, &format!("INBOX;UID={uid}"), None)
            .unwrap_or_else(|error| panic!("cannot fetch UID {uid} of {user}\n{error}"))
    }

    /// Polls `user`'s INBOX until a message with `token` in its subject
    /// arrives, and returns it; fails after [`DELIVERY_DEADLINE`].
    fn wait_for_message(&self, user: &str, token: &str) -> String {
        let imaps = Imaps {
            port: self.port("imaps"),
        };
        let last = match imaps.wait_for(user, password(user), token, DELIVERY_DEADLINE) {
            Ok((uid, waited)) => {
                eprintln!(
                    "    `{token}` in {user}'s INBOX after {:.1}s",
                    waited.as_secs_f64()
                );
                return self.fetch(user, uid);
            }
            Err(last) => last,
        };
        let queue = Command::new("docker")
            .args(["exec", &self.container("smtp"), "postqueue", "-p"])
            .output()
            .map(|output| text(&output))
            .unwrap_or_default();
        panic!(
            "no message `{token}` in {user}'s INBOX after {}s (last IMAP answer: {last})\nsmtp queue:\n{queue}",
            DELIVERY_DEADLINE.as_secs()
        );
    }

    /// Verifies the message's DKIM signatures with python3-dkim against the
    /// records of `mailctl dns --format json`; returns the script's report.
    fn verify_dkim(&self, what: &str, message: &str, records: &Path) -> String {
        let file = self.scratch.join(format!("{}.eml", what.replace(' ', "-")));
        std::fs::write(&file, message).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/dkim_verify.py");
        let output = Command::new(PYTHON)
            .arg(&script)
            .arg(records)
            .arg(&file)
            .output()
            .expect("cannot run /usr/bin/python3");
        assert!(
            output.status.success(),
            "{what}: the DKIM signatures do not verify\n{}\n--- message\n{message}",
            text(&output)
        );
        stdout(&output)
    }

    fn rspamd_stat_status(&self, secret: &str) -> String {
        let url = format!("https://{HOST}:{}/rspamd/stat", self.port("https"));
        let output = Command::new("curl")
            .args([
                "-sk",
                "--max-time",
                "20",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ])
            .args(["-H", &format!("Password: {secret}"), &url])
            .output()
            .expect("cannot run curl");
        stdout(&output)
    }
}

/// A plain-text SMTP conversation (no TLS): each command's full reply.
struct PlainSmtp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl PlainSmtp {
    fn connect(port: u16) -> (PlainSmtp, String) {
        let stream = TcpStream::connect((HOST, port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let writer = stream.try_clone().unwrap();
        let mut smtp = PlainSmtp {
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = smtp.reply();
        (smtp, greeting)
    }

    /// Reads one reply, all its lines (the last has a space after the code).
    fn reply(&mut self) -> String {
        let mut reply = String::new();
        loop {
            let mut line = String::new();
            let read = self.reader.read_line(&mut line).unwrap();
            assert!(read > 0, "the server closed the connection after {reply:?}");
            reply.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] == b' ' {
                return reply;
            }
        }
    }

    fn command(&mut self, line: &str) -> String {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
        self.reply()
    }
}

/// What `docker ps` shows for the project, for failure messages.
fn project_state(name: &str) -> String {
    docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=mailctl.project={name}"),
        "--format",
        "{{.Names}}\t{{.Status}}",
    ])
}

pub fn suite(scenarios: &mut Scenarios) {
    let stack = LazyCell::new(|| {
        for (tool, args) in [
            ("swaks", vec!["--version"]),
            ("curl", vec!["--version"]),
            (PYTHON, vec!["-c", "import dkim, nacl"]),
            ("perl", vec!["-MNet::SSLeay", "-MIO::Socket::SSL", "-e1"]),
        ] {
            let status = Command::new(tool)
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            assert!(
                status.is_ok_and(|status| status.success()),
                "`{tool} {}` failed: the end-to-end test needs swaks with TLS, curl and /usr/bin/python3 with dkim and nacl\nhint: run `.ci/setup`, or `apt-get install swaks libnet-ssleay-perl libio-socket-ssl-perl curl python3-dkim python3-nacl`",
                args.join(" ")
            );
        }
        let (project, ports) = new_project_with(
            "e2e",
            &["--admin-password-stdin", "--offline-dns"],
            Some(&format!("{}\n", password(ADMIN))),
        );
        let scratch = project.dir.parent().unwrap().to_owned();
        let stack = Stack {
            project,
            ports,
            scratch,
            run: run_token(),
        };
        add_mailboxes_and_aliases(stack.dir());
        let output = mailctl(stack.dir(), &["up", "--timeout", "240"]);
        assert_success(&output, "mailctl up");
        stack
    });

    scenarios.scenario("1. inbound on 25 with STARTTLS, read over IMAPS", || {
        for user in [BOB, CAROL] {
            let token = stack.token(&format!("inbound-{}", user.replace('@', "-at-")));
            let body = format!("Inbound test for {user}");
            let swaks = stack.send_from_outside(Smtp::Mx, user, &token, &body);
            swaks.assert_queued(&format!("port 25 to {user}"));
            assert!(
                swaks
                    .transcript
                    .contains("<-  220 2.0.0 Ready to start TLS")
                    && swaks.transcript.contains("=== TLS started"),
                "port 25 to {user}: STARTTLS was not used\n{}",
                swaks.transcript
            );
            let message = stack.wait_for_message(user, &token);
            assert!(message.contains(&body), "{user}: wrong body\n{message}");
        }
    });

    scenarios.scenario("2. submission on 587 and 465, DKIM verifies", || {
        let output = mailctl(stack.dir(), &["dns", "--format", "json"]);
        assert_success(&output, "mailctl dns --format json");
        let records = stack.scratch.join("dns.json");
        std::fs::write(&records, &output.stdout).unwrap();

        for (smtp, from, to, what) in [
            (Smtp::Submission, BOB, CAROL, "587 STARTTLS+AUTH, ARGON2ID"),
            (
                Smtp::Submissions,
                CAROL,
                BOB,
                "465 implicit TLS, SHA512-CRYPT",
            ),
        ] {
            let token = stack.token(&format!("submit-{smtp:?}"));
            let swaks = stack.submit(smtp, from, password(from), from, to, &token);
            swaks.assert_queued(what);
            let message = stack.wait_for_message(to, &token);
            let report = stack.verify_dkim(&format!("delivered {smtp:?}"), &message, &records);
            let domain = from.split_once('@').unwrap().1;
            assert!(
                report.contains(&format!("d={domain} ")),
                "{what}: not signed for {domain}\n{report}"
            );
            eprintln!("    {what}: {}", report.trim().replace('\n', "; "));
        }

        // A foreign recipient: with offline DNS the message stays queued.
        let token = stack.token("outbound");
        let swaks = stack.submit(
            Smtp::Submission,
            BOB,
            password(BOB),
            BOB,
            "someone@relay-test.example.net",
            &token,
        );
        let queue_id = swaks.assert_queued("587 to a foreign domain");
        let smtp = stack.container("smtp");
        let begin = Instant::now();
        let message = loop {
            let output = Command::new("docker")
                .args(["exec", &smtp, "postcat", "-bh", "-q", &queue_id])
                .output()
                .unwrap();
            let message = stdout(&output);
            if output.status.success() && message.contains(&token) {
                break message;
            }
            assert!(
                begin.elapsed() < Duration::from_secs(20),
                "queued message {queue_id} cannot be read with postcat\n{}\nqueue:\n{}",
                text(&output),
                docker(&["exec", &smtp, "postqueue", "-p"])
            );
            std::thread::sleep(Duration::from_millis(300));
        };
        let report = stack.verify_dkim("outbound", &message, &records);
        assert!(report.contains("d=example.test "), "{report}");
        eprintln!(
            "    outbound {queue_id}: {}",
            report.trim().replace('\n', "; ")
        );
        docker(&["exec", &smtp, "postsuper", "-d", &queue_id]);
    });

    scenarios.scenario(
        "3. refusals: relay, AUTH before TLS, password, sender",
        || {
            let foreign = "victim@foreign.example.net";
            for smtp in [Smtp::Mx, Smtp::Submission, Smtp::Submissions] {
                let swaks = stack.swaks(
                    smtp,
                    &[
                        "--from",
                        BOB,
                        "--to",
                        foreign,
                        "--header",
                        &format!("Subject: {}", stack.token("relay")),
                    ],
                );
                let refusal = swaks.assert_refused(&format!("relay without AUTH on {smtp:?}"));
                eprintln!("    relay on {smtp:?}: {refusal}");
            }

            let (mut plain, greeting) = PlainSmtp::connect(stack.port("submission"));
            assert!(greeting.starts_with("220"), "587 greeting: {greeting}");
            let ehlo = plain.command("EHLO client.outside.test");
            assert!(ehlo.starts_with("250"), "587 EHLO: {ehlo}");
            assert!(
                ehlo.contains("STARTTLS"),
                "587 does not offer STARTTLS\n{ehlo}"
            );
            assert!(
                !ehlo.to_ascii_uppercase().contains("AUTH"),
                "587 offers AUTH before STARTTLS\n{ehlo}"
            );
            let credentials = base64::engine::general_purpose::STANDARD
                .encode(format!("\0{BOB}\0{}", password(BOB)));
            let auth = plain.command(&format!("AUTH PLAIN {credentials}"));
            assert!(
                auth.starts_with('5'),
                "AUTH before STARTTLS on 587 was not refused: {auth}"
            );
            let mail = plain.command(&format!("MAIL FROM:<{BOB}>"));
            assert!(
                mail.starts_with('5'),
                "MAIL before STARTTLS on 587 was not refused: {mail}"
            );
            let _ = plain.command("QUIT");
            eprintln!("    587 before STARTTLS: AUTH {}", auth.trim());

            for smtp in [Smtp::Submission, Smtp::Submissions] {
                let swaks = stack.submit(smtp, BOB, "wrong-password-1", BOB, CAROL, "wrong");
                let refusal = swaks.assert_refused(&format!("wrong password on {smtp:?}"));
                assert!(refusal.contains(" 535"), "{smtp:?}: {refusal}");
                let token = stack.token("spoof");
                let swaks = stack.submit(smtp, BOB, password(BOB), CAROL, ADMIN, &token);
                let refusal =
                    swaks.assert_refused(&format!("{BOB} sending as {CAROL} on {smtp:?}"));
                eprintln!("    {smtp:?}: wrong password and spoofed sender refused ({refusal})");
            }
        },
    );

    scenarios.scenario("4. alias, catch-all, role alias, GTUBE", || {
        let token = stack.token("alias");
        stack
            .send_from_outside(Smtp::Mx, TEAM, &token, "for the team")
            .assert_queued("alias");
        stack.wait_for_message(BOB, &token);
        stack.wait_for_message(CAROL, &token);

        let token = stack.token("catchall");
        let unknown = format!("nobody-{}@example.org", stack.run);
        stack
            .send_from_outside(Smtp::Mx, &unknown, &token, "catch-all")
            .assert_queued("catch-all");
        stack.wait_for_message(CAROL, &token);

        // The RFC 2142 role alias `init` made for every domain.
        let token = stack.token("postmaster");
        stack
            .send_from_outside(Smtp::Mx, "postmaster@example.org", &token, "role")
            .assert_queued("postmaster@example.org");
        stack.wait_for_message(ADMIN, &token);

        let refusal = stack
            .send_from_outside(Smtp::Mx, BOB, &stack.token("gtube"), GTUBE)
            .assert_refused("GTUBE on port 25");
        eprintln!("    GTUBE: {refusal}");
    });

    scenarios.scenario("rspamd controller behind web: password", || {
        let secret =
            std::fs::read_to_string(stack.dir().join("secrets/rspamd-controller-password"))
                .unwrap();
        let secret = secret.trim();
        assert_eq!(stack.rspamd_stat_status(secret), "200", "right password");
        assert_eq!(
            stack.rspamd_stat_status("wrong-controller-password"),
            "401",
            "wrong password"
        );
        let rendered = std::fs::read_to_string(
            stack
                .dir()
                .join("generated/config/antispam/override.d/worker-controller.inc"),
        )
        .unwrap();
        assert!(
            !rendered.contains(secret),
            "worker-controller.inc holds the controller password in clear"
        );
    });

    scenarios.scenario("5a. a second up changes nothing", || {
        let name = stack.project.project.clone();
        assert_second_up_changes_nothing(stack.dir(), &name);
    });

    scenarios.scenario("5b. down then up keeps every message", || {
        let name = stack.project.project.clone();
        let before: Vec<(&str, usize)> = [ADMIN, BOB, CAROL]
            .iter()
            .map(|user| (*user, stack.count(user)))
            .collect();
        assert!(
            before.iter().all(|(_, count)| *count > 0),
            "empty INBOX before down: {before:?}"
        );
        let output = mailctl(stack.dir(), &["down"]);
        assert_success(&output, "down");
        assert!(containers(&name).is_empty(), "down left containers");
        let output = mailctl(stack.dir(), &["up", "--timeout", "240"]);
        assert_success(&output, "up after down");
        let after: Vec<(&str, usize)> = [ADMIN, BOB, CAROL]
            .iter()
            .map(|user| (*user, stack.count(user)))
            .collect();
        assert_eq!(after, before, "INBOX counts changed across down/up");
        let token = stack.token("after-restart");
        stack
            .send_from_outside(Smtp::Mx, BOB, &token, "after down and up")
            .assert_queued("delivery after down/up");
        stack.wait_for_message(BOB, &token);
    });

    scenarios.scenario("5c. down --volumes --yes leaves nothing", || {
        let name = stack.project.project.clone();
        let output = mailctl(stack.dir(), &["down", "--volumes", "--yes"]);
        assert_success(&output, "down --volumes --yes");
        assert!(containers(&name).is_empty(), "{}", project_state(&name));
        assert!(networks(&name).is_empty(), "{:?}", networks(&name));
        assert!(volumes(&name).is_empty(), "{:?}", volumes(&name));
    });
}

/// Adds bob (ARGON2ID) and carol (SHA512-CRYPT), an alias to both, and a
/// catch-all for example.org, through the library as a program would.
fn add_mailboxes_and_aliases(dir: &Path) {
    let path = dir.join(mailctl::config::CONFIG_FILE);
    let mut config = mailctl::config::load_file(&path).unwrap();
    // The admin mailbox `init` made supplies the defaults of every other
    // field (the model grows optional fields).
    let admin = config
        .mailbox(ADMIN)
        .expect("init made no admin mailbox")
        .clone();
    let mailbox = |address: &str, password_hash: String| Mailbox {
        address: address.to_owned(),
        password_hash,
        quota: None,
        name: None,
        enabled: true,
        send_as: Vec::new(),
        ..admin.clone()
    };
    config.mailboxes.push(mailbox(
        BOB,
        mailctl::passwords::hash_argon2id(password(BOB)).unwrap(),
    ));
    config.mailboxes.push(mailbox(
        CAROL,
        mailctl::passwords::hash_sha512_crypt(password(CAROL)).unwrap(),
    ));
    config.aliases.push(Alias {
        source: TEAM.to_owned(),
        destinations: vec![BOB.to_owned(), CAROL.to_owned()],
    });
    config.aliases.push(Alias {
        source: "@example.org".to_owned(),
        destinations: vec![CAROL.to_owned()],
    });
    mailctl::config::save_file(&path, &config).unwrap();
}
