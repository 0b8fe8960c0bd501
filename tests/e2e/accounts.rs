//! End-to-end tests of the account commands (`domain`, `user`, `alias`)
//! against one real stack in Docker, with the real `mailctl` binary and real
//! clients: swaks and Python's smtplib on port 25, curl over IMAPS.
//!
//! Every change is applied live (`mailctl-reload` in the running
//! containers), so after the numbered steps every container must still have
//! the id and start time it had after `up`. The steps are scenarios of one
//! suite on one stack, run in order, each building on the accounts the
//! earlier ones made; waits poll with deadlines. Another
//! mailbox logs in over and over in the background, as on a busy server: a
//! change must hold from the moment its command returns. A guard
//! runs `down --volumes --yes` (and removes whatever still carries the
//! project's label) however the test ends; `MAILCTL_TEST_KEEP=1` keeps it.

use crate::harness::Scenarios;
use crate::support::{
    docker, mailctl, mailctl_with_input, new_project_with, stderr, stdout, text, Cleanup, Input,
    Mailctl,
};

use std::cell::{LazyCell, RefCell};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Output};
use std::time::{Duration, Instant};

const ADMIN: &str = "admin@example.test";
const ADMIN_PASSWORD: &str = "admin-password-0";
/// How long a message may take from `250` at end of data to the INBOX.
const DELIVERY: Duration = Duration::from_secs(20);
/// How long to keep watching for mail that must not arrive, counted from
/// the moment the message that would cause it was itself delivered.
const SETTLE: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------- processes

fn mailctl_input(dir: &Path, args: &[&str], input: &str) -> Output {
    mailctl_with_input(dir, args, input)
}

fn labelled(kind: &str, project: &str, format: &str) -> Vec<String> {
    let filter = format!("label=mailctl.project={project}");
    let mut args = vec![kind, "ls", "--filter", &filter, "--format", format];
    if kind == "container" {
        args.insert(2, "-a");
    }
    docker(&args).lines().map(str::to_owned).collect()
}

/// Container name → `id StartedAt` for every container of the project.
fn container_states(project: &str) -> BTreeMap<String, String> {
    let names = labelled("container", project, "{{.Names}}");
    names
        .into_iter()
        .map(|name| {
            let state = docker(&["inspect", "-f", "{{.Id}} {{.State.StartedAt}}", &name]);
            (name, state.trim().to_owned())
        })
        .collect()
}

// ------------------------------------------------------- unique resources

// ------------------------------------------------------------------ cleanup

// -------------------------------------------------------------------- stack

/// The running project and the clients that talk to it.
struct Stack {
    guard: Cleanup,
    ports: BTreeMap<&'static str, u16>,
    /// A counter that makes every subject unique.
    sequence: std::cell::Cell<u32>,
}

/// What the server answered to the recipient and to the message.
#[derive(Debug)]
struct Sent {
    /// The reply to RCPT TO (e.g. `250 2.1.5 Ok`).
    rcpt: String,
    /// Whether the message was accepted at the end of DATA.
    accepted: bool,
    transcript: String,
}

impl Stack {
    fn dir(&self) -> &Path {
        &self.guard.dir
    }

    fn run(&self, step: &str, args: &[&str]) -> Output {
        let output = mailctl(self.dir(), args);
        assert!(
            output.status.success(),
            "[{step}] `mailctl {}` failed\n{}",
            args.join(" "),
            text(&output)
        );
        output
    }

    fn run_input(&self, step: &str, args: &[&str], input: &str) -> Output {
        let output = mailctl_input(self.dir(), args, input);
        assert!(
            output.status.success(),
            "[{step}] `mailctl {}` failed\n{}",
            args.join(" "),
            text(&output)
        );
        output
    }

    fn token(&self, label: &str) -> String {
        let next = self.sequence.get() + 1;
        self.sequence.set(next);
        format!("{label}{next}x{}", self.guard.project)
    }

    fn container(&self, service: &str) -> String {
        format!("{}-{service}-1", self.guard.project)
    }

    /// Sends a short message over port 25 with swaks.
    fn send(&self, step: &str, from: &str, to: &str, subject: &str) -> Sent {
        let port = self.ports["smtp"].to_string();
        let output = Command::new("swaks")
            .args(["--server", "127.0.0.1", "--port", &port])
            .args(["--helo", "client.example.net", "--timeout", "30"])
            .args(["--from", from, "--to", to])
            .args(["--header", &format!("Subject: {subject}")])
            .args(["--body", &format!("Test message {subject}.\n")])
            .output()
            .expect("cannot run swaks");
        let transcript = format!("{}{}", stdout(&output), stderr(&output));
        let lines: Vec<&str> = transcript.lines().map(str::trim).collect();
        let rcpt = lines
            .iter()
            .position(|line| line.starts_with("-> RCPT TO"))
            .and_then(|index| lines[index + 1..].iter().find(|line| line.starts_with('<')))
            .map(|line| {
                line.trim_start_matches(['<', '-', '~', '*', ' '])
                    .to_owned()
            })
            .unwrap_or_else(|| panic!("[{step}] swaks never reached RCPT TO\n{transcript}"));
        Sent {
            rcpt,
            accepted: output.status.success(),
            transcript,
        }
    }

    #[track_caller]
    fn deliver(&self, step: &str, from: &str, to: &str, subject: &str) {
        let sent = self.send(step, from, to, subject);
        assert!(
            sent.accepted && sent.rcpt.starts_with("250"),
            "[{step}] mail from {from} to {to} was not accepted\n{}",
            sent.transcript
        );
    }

    /// Runs curl against the IMAPS port: `Ok(stdout)` after a successful
    /// login, `Err(())` when the login was refused (curl exit 67).
    fn imap(
        &self,
        step: &str,
        user: &str,
        password: &str,
        path: &str,
        command: &str,
    ) -> Result<String, ()> {
        let url = format!("imaps://127.0.0.1:{}/{path}", self.ports["imaps"]);
        let output = Command::new("curl")
            .args(["--silent", "--show-error", "--insecure", "--max-time", "20"])
            .args(["--user", &format!("{user}:{password}")])
            .args(["--request", command, &url])
            .output()
            .expect("cannot run curl");
        match output.status.code() {
            Some(0) => Ok(stdout(&output)),
            Some(67) => Err(()),
            _ => panic!(
                "[{step}] IMAPS `{command}` as {user} failed unexpectedly\n{}",
                text(&output)
            ),
        }
    }

    /// Dovecot's recent log lines about `user`, for failure messages.
    fn imap_log(&self, user: &str) -> String {
        let output = Command::new("docker")
            .args(["logs", "--since", "2m", &self.container("imap")])
            .output()
            .expect("cannot run docker");
        let log = format!("{}{}", stdout(&output), stderr(&output));
        let lines: Vec<&str> = log.lines().filter(|line| line.contains(user)).collect();
        format!(
            "--- imap log about {user}\n{}",
            lines[lines.len().saturating_sub(20)..].join("\n")
        )
    }

    fn can_log_in(&self, step: &str, user: &str, password: &str) -> bool {
        self.imap(step, user, password, "", "NOOP").is_ok()
    }

    /// Polls until `user` can log in, for at most `within`; returns how
    /// long it took. Dovecot answers a refused login after 2 s
    /// (`auth_failure_delay`), so one refusal already costs that much.
    #[track_caller]
    fn wait_login(&self, step: &str, user: &str, password: &str, within: Duration) -> Duration {
        let start = Instant::now();
        let mut refused = 0;
        loop {
            if self.can_log_in(step, user, password) {
                assert!(
                    start.elapsed() < within,
                    "[{step}] {user} logged in only after {:?} ({refused} login(s) refused first)\n{}",
                    start.elapsed(),
                    self.imap_log(user)
                );
                return start.elapsed();
            }
            refused += 1;
            assert!(
                start.elapsed() < within,
                "[{step}] {user} could not log in within {within:?} ({refused} login(s) refused)\n{}",
                self.imap_log(user)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How many messages of `user`'s INBOX have `token` in their subject.
    fn count_subject(&self, step: &str, user: &str, password: &str, token: &str) -> usize {
        self.search(step, user, password, &format!("SUBJECT \"{token}\""))
    }

    /// How many messages of `user`'s INBOX match the IMAP search `criteria`.
    fn search(&self, step: &str, user: &str, password: &str, criteria: &str) -> usize {
        self.uids(step, user, password, criteria).len()
    }

    /// The UIDs of the messages of `user`'s INBOX that match `criteria`.
    fn uids(&self, step: &str, user: &str, password: &str, criteria: &str) -> Vec<String> {
        let found = self
            .imap(
                step,
                user,
                password,
                "INBOX",
                &format!("UID SEARCH {criteria}"),
            )
            .unwrap_or_else(|()| panic!("[{step}] {user} cannot log in to search"));
        found
            .lines()
            .find_map(|line| line.trim().strip_prefix("* SEARCH"))
            .map(|uids| uids.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// The header of the one message in `user`'s INBOX with `token` in its subject.
    fn header(&self, step: &str, user: &str, password: &str, token: &str) -> String {
        let uids = self.uids(step, user, password, &format!("SUBJECT \"{token}\""));
        assert_eq!(
            uids.len(),
            1,
            "[{step}] {user}: messages `{token}`: {uids:?}"
        );
        let url = format!(
            "imaps://127.0.0.1:{}/INBOX;UID={};SECTION=HEADER",
            self.ports["imaps"], uids[0]
        );
        let output = Command::new("curl")
            .args(["--silent", "--show-error", "--insecure", "--max-time", "20"])
            .args(["--user", &format!("{user}:{password}"), &url])
            .output()
            .expect("cannot run curl");
        assert!(
            output.status.success(),
            "[{step}] FETCH failed\n{}",
            text(&output)
        );
        stdout(&output)
    }

    /// The number of messages in `user`'s INBOX.
    fn inbox_size(&self, step: &str, user: &str, password: &str) -> usize {
        let status = self
            .imap(step, user, password, "", "STATUS INBOX (MESSAGES)")
            .unwrap_or_else(|()| panic!("[{step}] {user} cannot log in to count"));
        status
            .split("MESSAGES ")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .and_then(|number| number.trim().parse().ok())
            .unwrap_or_else(|| panic!("[{step}] unexpected STATUS answer: {status}"))
    }

    /// Polls until `user` has `count` messages with `token` in the subject
    /// (failing if there are ever more); returns how long it took.
    #[track_caller]
    fn wait_mail(
        &self,
        step: &str,
        user: &str,
        password: &str,
        token: &str,
        count: usize,
        within: Duration,
    ) -> Duration {
        let start = Instant::now();
        loop {
            let found = self.count_subject(step, user, password, token);
            assert!(
                found <= count,
                "[{step}] {user} has {found} messages `{token}`, expected {count}"
            );
            if found == count {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "[{step}] {user} has {found} of {count} messages `{token}` after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits `SETTLE`, then checks that `user` has exactly `count` messages
    /// with `token`.
    #[track_caller]
    fn settle_and_expect(&self, step: &str, user: &str, password: &str, token: &str, count: usize) {
        std::thread::sleep(SETTLE);
        let found = self.count_subject(step, user, password, token);
        assert_eq!(
            found, count,
            "[{step}] {user} has {found} messages `{token}` {SETTLE:?} after delivery, expected {count}"
        );
    }
}

/// A fresh project (`mailctl init`) with unique name, ports and subnet.
fn new_stack() -> Stack {
    let (guard, ports) = new_project_with(
        "acct",
        &["--admin-password-stdin", "--offline-dns"],
        Some(&format!("{ADMIN_PASSWORD}\n")),
    );
    eprintln!("[accounts] project `{}`, ports {ports:?}", guard.project);
    Stack {
        guard,
        ports,
        sequence: std::cell::Cell::new(0),
    }
}

/// Another mailbox logging in over IMAPS in a loop until dropped, as the
/// users of a busy server do. Dovecot's passwd-file then rereads its user
/// lists at most once a second (`passwd_file_sync` in db-passwd-file.c), so
/// a change that is only seen up to a second after the command returned
/// shows up here as it would for real users.
struct Churn {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<(usize, Vec<String>)>>,
}

impl Churn {
    fn start(port: u16, user: &str, password: &str) -> Churn {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let url = format!("imaps://127.0.0.1:{port}/");
        let credentials = format!("{user}:{password}");
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let (mut logins, mut failures) = (0, Vec::new());
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let output = Command::new("curl")
                    .args(["--silent", "--show-error", "--insecure", "--max-time", "20"])
                    .args(["--user", &credentials, "--request", "NOOP", &url])
                    .output()
                    .expect("cannot run curl");
                if output.status.success() {
                    logins += 1;
                } else {
                    failures.push(format!(
                        "at {:.1}s: {}",
                        started.elapsed().as_secs_f64(),
                        stderr(&output).trim()
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            (logins, failures)
        });
        Churn {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Churn {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if let Ok((logins, failures)) = thread.join() {
                eprintln!(
                    "[accounts] background logins: {logins} ok, {} failed {failures:?}",
                    failures.len()
                );
            }
        }
    }
}

/// `YYYY-MM-DD`, `days` from today (UTC).
fn date_in(days: i64) -> String {
    let date = time::OffsetDateTime::now_utc().date() + time::Duration::days(days);
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Sends a message of `size` bytes with Python's smtplib, which announces
/// the size in `MAIL FROM … SIZE=` as real mail servers do. Returns
/// `ACCEPTED`, or `RCPT <code> <text>` / `REFUSED <code> <text>`.
fn send_large(port: u16, from: &str, to: &str, subject: &str, size: usize) -> String {
    const SCRIPT: &str = r#"
import email.utils, smtplib, sys
port, sender, rcpt, subject, size = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab\r\n"
body = line * (size // len(line))
date, message_id = email.utils.formatdate(), email.utils.make_msgid(domain="client.example.net")
message = (f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: {subject}\r\nDate: {date}\r\n"
           f"Message-ID: {message_id}\r\n\r\n{body}")
client = smtplib.SMTP("127.0.0.1", int(port), local_hostname="client.example.net", timeout=60)
try:
    client.sendmail(sender, [rcpt], message)
    print("ACCEPTED")
except smtplib.SMTPRecipientsRefused as error:
    code, text = error.recipients[rcpt]
    print("RCPT", code, text.decode())
except smtplib.SMTPResponseException as error:
    print("REFUSED", error.smtp_code, error.smtp_error.decode())
client.quit()
"#;
    let output = Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT, &port.to_string(), from, to, subject])
        .arg(size.to_string())
        .output()
        .expect("cannot run python3");
    assert!(
        output.status.success(),
        "the smtplib client failed\n{}",
        text(&output)
    );
    stdout(&output).trim().to_owned()
}

// --------------------------------------------------------------------- test

/// The suite: `0 up` starts the stack and a second mailbox logging in all
/// the time; scenarios 1 to 9 change accounts on the running stack, each
/// building on the mailboxes the earlier ones made; `10` checks that no
/// container was recreated or restarted meanwhile.
pub fn suite(scenarios: &mut Scenarios) {
    let stack: LazyCell<Stack, fn() -> Stack> = LazyCell::new(new_stack);
    let before = RefCell::new(BTreeMap::new());
    let churn = RefCell::new(None);
    scenarios.scenario("0 up", || {
        let output = mailctl(stack.dir(), &["up", "--timeout", "240"]);
        assert!(output.status.success(), "[up] failed\n{}", text(&output));
        let states = container_states(&stack.guard.project);
        assert_eq!(
            states.len(),
            7,
            "[up] expected seven containers: {states:?}"
        );
        *before.borrow_mut() = states;
        assert!(
            stack.can_log_in("up", ADMIN, ADMIN_PASSWORD),
            "[up] the admin mailbox cannot log in"
        );
        *churn.borrow_mut() = Some(Churn::start(stack.ports["imaps"], ADMIN, ADMIN_PASSWORD));
    });
    account_steps(scenarios, &stack);

    // 10. Nothing was recreated or restarted, and `up` has nothing to do.
    scenarios.scenario("10 nothing recreated", || {
        drop(churn.borrow_mut().take());
        let step = "10 nothing recreated";
        let project = &stack.guard.project;
        let before = before.borrow();
        assert_eq!(
            container_states(project),
            *before,
            "[{step}] a container was recreated or restarted"
        );
        let output = stack.run(step, &["up"]);
        assert!(
            stderr(&output).contains("nothing to do"),
            "[{step}] `up` found something to do\n{}",
            text(&output)
        );
        assert_eq!(
            container_states(project),
            *before,
            "[{step}] `up` changed containers"
        );
    });

    scenarios.scenario("11 down --volumes", || {
        drop(churn.borrow_mut().take());
        let project = &stack.guard.project;
        stack.run("down", &["down", "--volumes", "--yes"]);
        assert!(labelled("container", project, "{{.ID}}").is_empty());
        assert!(labelled("volume", project, "{{.Name}}").is_empty());
    });
}

/// Scenarios 1 to 9; `stack` comes up with the first that runs.
fn account_steps(scenarios: &mut Scenarios, stack: &LazyCell<Stack, fn() -> Stack>) {
    let alice = "alice@example.test";
    let alice_password = "alice-password-1";
    let bob = "bob@example.org";
    let bob_password = "bob-password-01";
    let carol = "carol@third.test";
    let carol_password = "carol-password-1";

    // 1. A new mailbox logs in and receives mail at once.
    scenarios.scenario("1 user add", || {
        let step = "1 user add";
        let started = Instant::now();
        stack.run_input(
            step,
            &["user", "add", alice, "--password-stdin"],
            &format!("{alice_password}\n"),
        );
        let returned = Instant::now();
        let command_time = returned - started;
        let login_time = stack.wait_login(step, alice, alice_password, Duration::from_secs(10));
        let subject = stack.token("first");
        stack.deliver(step, "sender@client.example.net", alice, &subject);
        stack.wait_mail(step, alice, alice_password, &subject, 1, DELIVERY);
        let in_inbox = returned.elapsed();
        eprintln!(
            "[accounts] {step}: command {:.2}s, first login {:.3}s after it returned, \
         first message in the INBOX {:.2}s after it returned",
            command_time.as_secs_f64(),
            login_time.as_secs_f64(),
            in_inbox.as_secs_f64()
        );
        assert!(
            in_inbox < Duration::from_secs(2),
            "[{step}] login and delivery took {in_inbox:?} after `user add` returned (limit 2s)"
        );
        assert!(
            !stack.can_log_in(step, alice, "wrong-password-1"),
            "[{step}] a wrong password logged in"
        );
        stack.run_input(
            step,
            &["user", "add", bob, "--password-stdin"],
            &format!("{bob_password}\n"),
        );
    });

    // 2. A new domain: the command prints its records; its mailbox receives.
    scenarios.scenario("2 domain add", || {
        let step = "2 domain add";
        let output = stack.run(step, &["domain", "add", "third.test"]);
        let zone = stdout(&output);
        for expected in [
            "$ORIGIN third.test.",
            "IN MX    10 mail.example.test.",
            "\"v=spf1 mx -all\"",
            "._domainkey.third.test.",
            "_dmarc.third.test.",
        ] {
            assert!(
                zone.contains(expected),
                "[{step}] the zone lacks `{expected}`\n{}",
                text(&output)
            );
        }
        stack.run_input(
            step,
            &["user", "add", carol, "--password-stdin"],
            &format!("{carol_password}\n"),
        );
        let subject = stack.token("third");
        stack.deliver(step, "sender@client.example.net", carol, &subject);
        stack.wait_mail(step, carol, carol_password, &subject, 1, DELIVERY);
    });

    // 3. Aliases: two destinations, removal, catch-all.
    scenarios.scenario("3 alias", || {
        let step = "3 alias";
        let team = "team@example.test";
        stack.run(step, &["alias", "add", team, alice, carol]);
        let subject = stack.token("team");
        stack.deliver(step, "sender@client.example.net", team, &subject);
        stack.wait_mail(step, alice, alice_password, &subject, 1, DELIVERY);
        stack.wait_mail(step, carol, carol_password, &subject, 1, DELIVERY);
        stack.run(step, &["alias", "remove", team]);
        let sent = stack.send(
            step,
            "sender@client.example.net",
            team,
            &stack.token("gone"),
        );
        assert!(
            sent.rcpt.starts_with('5') && !sent.accepted,
            "[{step}] mail to the removed alias {team} was not refused at RCPT\n{}",
            sent.transcript
        );
        let unknown = format!("{}@third.test", stack.token("nobody"));
        let sent = stack.send(step, "sender@client.example.net", &unknown, "before");
        assert!(
            sent.rcpt.starts_with('5'),
            "[{step}] {unknown} was accepted before any catch-all\n{}",
            sent.transcript
        );
        stack.run(step, &["alias", "add", "@third.test", carol]);
        let subject = stack.token("catchall");
        stack.deliver(step, "sender@client.example.net", &unknown, &subject);
        stack.wait_mail(step, carol, carol_password, &subject, 1, DELIVERY);
    });

    // 4. Forwarding (bob on the second domain stands in for an outside address).
    scenarios.scenario("4 forward", || {
        let step = "4 forward";
        stack.run(step, &["user", "forward", alice, "--to", bob]);
        let subject = stack.token("forward");
        stack.deliver(step, "sender@client.example.net", alice, &subject);
        stack.wait_mail(step, bob, bob_password, &subject, 1, DELIVERY);
        // The forward leaves with the forwarding mailbox as envelope sender (SPF-safe).
        let header = stack.header(step, bob, bob_password, &subject);
        assert!(
            header.contains(&format!("Return-Path: <{alice}>")),
            "[{step}] the forwarded copy's envelope sender is not {alice}\n{header}"
        );
        stack.settle_and_expect(step, alice, alice_password, &subject, 0);
        stack.run(step, &["user", "forward", alice, "--to", bob, "--keep"]);
        let subject = stack.token("keep");
        stack.deliver(step, "sender@client.example.net", alice, &subject);
        stack.wait_mail(step, alice, alice_password, &subject, 1, DELIVERY);
        stack.wait_mail(step, bob, bob_password, &subject, 1, DELIVERY);
        stack.run(step, &["user", "forward", alice, "--off"]);
        let subject = stack.token("off");
        stack.deliver(step, "sender@client.example.net", alice, &subject);
        stack.wait_mail(step, alice, alice_password, &subject, 1, DELIVERY);
        stack.settle_and_expect(step, bob, bob_password, &subject, 0);
    });

    // 5. Automatic replies: once per sender; nothing before the window opens.
    scenarios.scenario("5 autoreply", || {
        let step = "5 autoreply";
        let body_file = stack.dir().join("away.txt");
        std::fs::write(&body_file, "I am away until Monday.\n").unwrap();
        let body_file = body_file.to_str().unwrap();
        let reply = stack.token("away");
        stack.run(
            step,
            &[
                "user",
                "autoreply",
                alice,
                "--subject",
                &reply,
                "--body-file",
                body_file,
            ],
        );
        let first = stack.token("question");
        let second = stack.token("question");
        stack.deliver(step, carol, alice, &first);
        stack.deliver(step, carol, alice, &second);
        stack.wait_mail(step, alice, alice_password, &first, 1, DELIVERY);
        stack.wait_mail(step, alice, alice_password, &second, 1, DELIVERY);
        stack.wait_mail(step, carol, carol_password, &reply, 1, DELIVERY);
        stack.settle_and_expect(step, carol, carol_password, &reply, 1);
        let later = stack.token("away");
        let opens = date_in(30);
        stack.run(
            step,
            &[
                "user",
                "autoreply",
                alice,
                "--subject",
                &later,
                "--body-file",
                body_file,
                "--from",
                &opens,
            ],
        );
        let subject = stack.token("early");
        stack.deliver(step, bob, alice, &subject);
        stack.wait_mail(step, alice, alice_password, &subject, 1, DELIVERY);
        stack.settle_and_expect(step, bob, bob_password, &later, 0);
        // Control: the same sender is answered once the window includes today.
        let open = stack.token("away");
        let (yesterday, tomorrow) = (date_in(-1), date_in(1));
        stack.run(
            step,
            &[
                "user",
                "autoreply",
                alice,
                "--subject",
                &open,
                "--body-file",
                body_file,
                "--from",
                &yesterday,
                "--until",
                &tomorrow,
            ],
        );
        stack.deliver(step, bob, alice, &stack.token("inwindow"));
        stack.wait_mail(step, bob, bob_password, &open, 1, DELIVERY);
        stack.run(step, &["user", "autoreply", alice, "--off"]);
    });

    // 6. Quota: an oversized message is refused, the mailbox keeps its mail.
    scenarios.scenario("6 quota", || {
        let step = "6 quota";
        stack.run(step, &["user", "quota", alice, "1M"]);
        let had = stack.inbox_size(step, alice, alice_password);
        let subject = stack.token("large");
        let answer = send_large(stack.ports["smtp"], carol, alice, &subject, 2_000_000);
        eprintln!("[accounts] {step}: server answered `{answer}`");
        if answer == "ACCEPTED" {
            // Accepted at RCPT: LMTP refuses it and Postfix bounces to carol.
            let start = Instant::now();
            loop {
                let criteria = format!("SUBJECT \"Undelivered\" BODY \"5.2.2\" BODY \"{subject}\"");
                if stack.search(step, carol, carol_password, &criteria) > 0 {
                    break;
                }
                assert!(
                start.elapsed() < DELIVERY,
                "[{step}] the oversized message was accepted and no 5.2.2 bounce reached {carol}"
            );
                std::thread::sleep(Duration::from_millis(200));
            }
        } else {
            assert!(
                answer.starts_with("RCPT 552") && answer.contains("5.2.2"),
                "[{step}] the oversized message got `{answer}`, expected 552 5.2.2 at RCPT"
            );
        }
        stack.settle_and_expect(step, alice, alice_password, &subject, 0);
        let has = stack.inbox_size(step, alice, alice_password);
        assert_eq!(
            has, had,
            "[{step}] the INBOX had {had} messages and has {has}"
        );
        let subject = stack.token("small");
        stack.deliver(step, carol, alice, &subject);
        stack.wait_mail(step, alice, alice_password, &subject, 1, DELIVERY);
    });

    // 7. A disabled mailbox cannot log in but still receives mail.
    scenarios.scenario("7 disable", || {
        let step = "7 disable";
        stack.run(step, &["user", "disable", alice]);
        assert!(
            !stack.can_log_in(step, alice, alice_password),
            "[{step}] {alice} still logs in after `user disable`"
        );
        let subject = stack.token("disabled");
        stack.deliver(step, "sender@client.example.net", alice, &subject);
        let imap = stack.container("imap");
        let start = Instant::now();
        loop {
            let found = docker(&[
                "exec", &imap, "doveadm", "search", "-u", alice, "mailbox", "INBOX", "subject",
                &subject,
            ]);
            if !found.trim().is_empty() {
                break;
            }
            assert!(
                start.elapsed() < DELIVERY,
                "[{step}] mail to the disabled {alice} was not delivered"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        stack.run(step, &["user", "enable", alice]);
        assert!(
            stack.can_log_in(step, alice, alice_password),
            "[{step}] {alice} cannot log in after `user enable`"
        );
        assert_eq!(
            stack.count_subject(step, alice, alice_password, &subject),
            1,
            "[{step}] the message delivered while disabled is not in the INBOX"
        );
    });

    // 8. Two `user add` at the same moment both take effect.
    scenarios.scenario("8 concurrent user add", || {
        let step = "8 concurrent user add";
        let dave = "dave@example.org";
        let erin = "erin@example.org";
        // Both started before either is given its password.
        let mut children: Vec<(Child, Option<ChildStdin>)> = [dave, erin]
            .iter()
            .map(|address| {
                Mailctl::in_dir(stack.dir(), &["user", "add", address, "--password-stdin"])
                    .input(Input::Silent)
                    .spawn()
            })
            .collect();
        for ((_, stdin), address) in children.iter_mut().zip([dave, erin]) {
            let mut stdin = stdin.take().unwrap();
            writeln!(stdin, "{address}-password").unwrap();
        }
        for ((child, _), address) in children.into_iter().zip([dave, erin]) {
            let output = child.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "[{step}] `user add {address}` failed\n{}",
                text(&output)
            );
        }
        for address in [dave, erin] {
            stack.wait_login(
                step,
                address,
                &format!("{address}-password"),
                Duration::from_secs(2),
            );
        }
        let output = stack.run(step, &["user", "list", "--json"]);
        let listed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        for address in [dave, erin] {
            assert!(
                listed
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|mailbox| mailbox["address"] == address),
                "[{step}] `user list` lacks {address}: {listed:#}"
            );
        }
        stack.run(step, &["render", "--check"]);
    });

    // 9. A new password replaces the old one at once.
    scenarios.scenario("9 passwd", || {
        let step = "9 passwd";
        let new_password = "alice-password-2";
        stack.run_input(
            step,
            &["user", "passwd", alice, "--password-stdin"],
            &format!("{new_password}\n"),
        );
        assert!(
            !stack.can_log_in(step, alice, alice_password),
            "[{step}] the old password still logs in"
        );
        assert!(
            stack.can_log_in(step, alice, new_password),
            "[{step}] the new password does not log in"
        );
    });
}
