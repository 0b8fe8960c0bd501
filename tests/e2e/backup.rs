//! Backups, restores and upgrades against a real stack, checked from
//! outside with real clients (swaks for SMTP, curl for IMAPS, `tar`/`zstd`
//! to look into the archive):
//!
//! 1. mail in mailboxes on two domains; a message submitted while `backup`
//!    runs is delivered, and is in the archive whole or not at all; a
//!    message waiting in the queue is in the archive;
//! 2. a copy of the archive with one byte flipped is refused before anything
//!    changes (no directory, no volume);
//! 3. `down --volumes`, the project directory deleted, `restore` into a new
//!    directory, `up`: every message byte-identical, every user logs in with
//!    the old password, the queued message is delivered from the restored
//!    queue, DKIM keys and certificates are the same files;
//! 4. `upgrade` to an smtp image whose health check fails rolls back: the
//!    old container runs again, mail flows, the command exits non-zero
//!    naming `smtp`;
//! 5. a successful `upgrade` that recreates smtp while a client keeps
//!    sending (retrying on temporary errors, as MTAs do) loses no message;
//! 6. `restore --yes` over the same project once its stack is stopped.
//!
//! One stack for all scenarios, which run in order, each on what the one
//! before left. The
//! `Cleanup` guard removes everything carrying the project's label however
//! the test ends; the test images it builds are removed too.

use std::cell::{LazyCell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::Scenarios;
use crate::support::clients::{self, Imaps, Tls};
use crate::support::{
    assert_success, containers, docker, mailctl, mailctl_with_input, new_project_with, stderr,
    stdout, text, volumes, Cleanup,
};

const ADMIN: &str = "admin@example.test";
const BOB: &str = "bob@example.test";
const CAROL: &str = "carol@example.org";
const DELIVERY_DEADLINE: Duration = Duration::from_secs(90);

fn password(user: &str) -> &'static str {
    match user {
        ADMIN => "admin-backup-secret-1",
        BOB => "bob-backup-secret-2",
        CAROL => "carol-backup-secret-3",
        other => panic!("no password for {other}"),
    }
}

struct Client {
    ports: BTreeMap<&'static str, u16>,
}

impl Client {
    /// One message from outside on port 25 (STARTTLS); true when queued.
    fn send(&self, to: &str, subject: &str, body: &str) -> (bool, String) {
        let args = clients::message_from_outside(to, subject, body);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let swaks = clients::swaks(self.ports["smtp"], Tls::StartTls, 20, &args);
        (swaks.queue_id().is_some(), swaks.transcript)
    }

    #[track_caller]
    fn send_ok(&self, to: &str, subject: &str, body: &str) {
        let (queued, transcript) = self.send(to, subject, body);
        assert!(
            queued,
            "message `{subject}` to {to} not accepted\n{transcript}"
        );
    }

    fn imaps(&self) -> Imaps {
        Imaps {
            port: self.ports["imaps"],
        }
    }

    /// How many of `user`'s INBOX messages hold `token` in their subject.
    fn search(&self, user: &str, token: &str) -> Result<usize, String> {
        Ok(self.imaps().search(user, password(user), token)?.len())
    }

    #[track_caller]
    fn wait_for(&self, user: &str, token: &str) {
        if let Err(last) = self
            .imaps()
            .wait_for(user, password(user), token, DELIVERY_DEADLINE)
        {
            panic!("no message `{token}` for {user} after {DELIVERY_DEADLINE:?}: {last}");
        }
    }
}

/// Postfix's queue as JSON lines (`postqueue -j`).
fn queued(smtp_container: &str) -> String {
    docker(&["exec", smtp_container, "postqueue", "-j"])
}

/// (mailbox folder, SHA-256) of every message file in the mail volume.
fn message_hashes(imap_container: &str) -> BTreeSet<(String, String)> {
    let listing = docker(&[
        "exec",
        imap_container,
        "sh",
        "-c",
        "cd /var/mail && find . -type f \\( -path '*/cur/*' -o -path '*/new/*' \\) -exec sha256sum {} +",
    ]);
    listing
        .lines()
        .filter_map(|line| line.split_once("  "))
        .map(|(hash, path)| {
            let mailbox = path.split("/Maildir/").next().unwrap_or(path).to_owned();
            (mailbox, hash.to_owned())
        })
        .collect()
}

/// Files of `directory` (relative path → bytes).
fn tree(directory: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![directory.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.insert(
                    path.strip_prefix(directory).unwrap().to_owned(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    out
}

/// Sets (or with `None` removes) the `images:` override of smtp.
fn set_smtp_image(dir: &Path, image: Option<&str>) {
    let path = dir.join(mailctl::config::CONFIG_FILE);
    let mut config = mailctl::config::load_file(&path).unwrap();
    match image {
        Some(image) => config.images.insert("smtp".to_owned(), image.to_owned()),
        None => config.images.remove("smtp"),
    };
    mailctl::config::save_file(&path, &config).unwrap();
}

/// Builds `tag` FROM `base` with `extra` Dockerfile lines (no network needed).
fn build_test_image(scratch: &Path, tag: &str, base: &str, extra: &str) {
    let context = scratch.join(tag.replace(['/', ':'], "-"));
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        format!("FROM {base}\n{extra}\n"),
    )
    .unwrap();
    docker(&["build", "-q", "-t", tag, context.to_str().unwrap()]);
}

/// Removes the test's own images, however the test ends.
struct Images(Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for image in &self.0 {
            let _ = Command::new("docker")
                .args(["rmi", "-f", image])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// What every scenario uses: the project made by `0` (its directory
/// goes away in `3`; `restored` is where `5` puts it back) and the clients.
struct Setup {
    cleanup: Cleanup,
    client: Client,
    project: String,
    dir: PathBuf,
    scratch: PathBuf,
    restored: PathBuf,
    saved_archive: PathBuf,
    imap: String,
    smtp: String,
    run: String,
}

/// The test images of the upgrade scenarios, built from the running smtp
/// image and removed when the suite ends.
struct UpgradeImages {
    smtp_image: String,
    broken: String,
    good: String,
    _images: Images,
}

/// The suite: its scenarios run in order on one project, each building on
/// the state the one before left (see the list at the top).
pub fn suite(scenarios: &mut Scenarios) {
    let setup = LazyCell::new(|| {
        let (cleanup, ports) = new_project_with(
            "bk",
            &["--admin-password-stdin", "--offline-dns"],
            Some(&format!("{}\n", password(ADMIN))),
        );
        let project = cleanup.project.clone();
        let dir = cleanup.dir.clone();
        let scratch = dir.parent().unwrap().to_owned();
        Setup {
            client: Client { ports },
            imap: format!("{project}-imap-1"),
            smtp: format!("{project}-smtp-1"),
            run: format!("{}", std::process::id()),
            restored: scratch.join("restored"),
            saved_archive: scratch.join("saved.tar.zst"),
            cleanup,
            project,
            dir,
            scratch,
        }
    });
    let before = RefCell::new(BTreeSet::new());
    let old_dkim = RefCell::new(BTreeMap::new());
    let old_certs = RefCell::new(BTreeMap::new());
    let upgrade_images = LazyCell::new(|| {
        let smtp = &setup.smtp;
        let project = &setup.project;
        let smtp_image = docker(&["inspect", "-f", "{{.Config.Image}}", smtp])
            .trim()
            .to_owned();
        let broken = format!("mailctl-test/smtp-broken:{project}");
        let good = format!("mailctl-test/smtp-next:{project}");
        UpgradeImages {
            smtp_image,
            _images: Images(vec![broken.clone(), good.clone()]),
            broken,
            good,
        }
    });

    scenarios.scenario("0. init, mailboxes on two domains, up", || {
        let cleanup = &setup.cleanup;
        for user in [BOB, CAROL] {
            let output = mailctl_with_input(
                &cleanup.dir,
                &["user", "add", user, "--password-stdin"],
                &format!("{}\n", password(user)),
            );
            assert_success(&output, "mailctl user add");
        }
        assert_success(
            &mailctl(&cleanup.dir, &["up", "--timeout", "300"]),
            "mailctl up",
        );
    });

    scenarios.scenario("1. mail for three mailboxes on two domains", || {
        let Setup { client, run, .. } = &*setup;
        for user in [ADMIN, BOB, CAROL] {
            for index in 0..3 {
                client.send_ok(
                    user,
                    &format!("before-{run}-{index}"),
                    &format!("Message {index} for {user}.\nLast line of {index}."),
                );
            }
        }
        for user in [ADMIN, BOB, CAROL] {
            for index in 0..3 {
                client.wait_for(user, &format!("before-{run}-{index}"));
            }
        }
    });
    scenarios.scenario("1b. a message waiting in the queue", || {
        let Setup {
            client,
            imap,
            smtp,
            run,
            ..
        } = &*setup;
        // Deliveries to the mailboxes deferred, as an operator might: the
        // message waits in Postfix's queue.
        docker(&["exec", smtp, "postconf", "-e", "defer_transports=lmtp"]);
        docker(&["exec", smtp, "postfix", "reload"]);
        client.send_ok(ADMIN, &format!("queued-{run}"), "Waiting in the queue.");
        let begin = Instant::now();
        while !queued(smtp).contains(ADMIN) {
            assert!(
                begin.elapsed() < Duration::from_secs(30),
                "not queued: {}",
                queued(smtp)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        let hashes = message_hashes(imap);
        assert!(hashes.len() >= 9, "expected 9 messages, found {hashes:?}");
        *before.borrow_mut() = hashes;
    });

    scenarios.scenario("2. backup while a message is submitted", || {
        let Setup {
            client,
            dir,
            scratch,
            saved_archive,
            smtp,
            run,
            ..
        } = &*setup;
        let mut child = Command::new(crate::support::BINARY)
            .args(["-C", dir.to_str().unwrap(), "backup", "--keep", "2"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Submit the message once deliveries are held, while the volumes are read.
        let mut progress = String::new();
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap());
        loop {
            let mut line = String::new();
            if std::io::BufRead::read_line(&mut lines, &mut line).unwrap() == 0 {
                break;
            }
            progress.push_str(&line);
            if line.contains("deliveries held") {
                break;
            }
        }
        let token = format!("during-{run}");
        client.send_ok(
            BOB,
            &token,
            "Sent while the backup ran.\nEND-OF-DURING-MESSAGE",
        );
        std::io::Read::read_to_string(&mut lines, &mut progress).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "mailctl backup failed\n{progress}");
        assert!(progress.contains("deliveries held"), "{progress}");
        let archive = PathBuf::from(stdout(&output).trim());
        assert!(archive.is_file(), "no archive at {}", archive.display());
        // The backup put the operator's own setting back: still queued.
        assert!(queued(smtp).contains(ADMIN), "{}", queued(smtp));
        docker(&["exec", smtp, "postconf", "-X", "defer_transports"]);
        docker(&["exec", smtp, "postfix", "reload"]);
        docker(&["exec", smtp, "postqueue", "-f"]);
        // Delivered from the live stack once the hold is lifted.
        client.wait_for(BOB, &token);
        // In the archive whole, or not at all.
        let extracted = scratch.join("extracted");
        std::fs::create_dir_all(&extracted).unwrap();
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "zstd -dc '{}' | tar -x -C '{}'",
                archive.display(),
                extracted.display()
            ))
            .status()
            .unwrap();
        assert!(status.success(), "tar/zstd cannot read the archive");
        let mut holding = 0;
        for (path, bytes) in tree(&extracted) {
            let content = String::from_utf8_lossy(&bytes);
            let message_file = ["/cur/", "/new/", "volumes/queue/"]
                .iter()
                .any(|part| path.to_string_lossy().contains(part));
            if content.contains(&token) && message_file {
                holding += 1;
                assert!(
                    content.contains("END-OF-DURING-MESSAGE"),
                    "{} holds only part of the message",
                    path.display()
                );
            }
        }
        eprintln!(
            "    the message sent during the backup is in {holding} archived message file(s)"
        );
        assert!(extracted.join("MANIFEST.json").is_file());
        std::fs::copy(&archive, saved_archive).unwrap();
        *old_dkim.borrow_mut() = tree(&dir.join("dkim"));
        *old_certs.borrow_mut() = tree(&dir.join("certs"));
        assert!(!old_dkim.borrow().is_empty() && !old_certs.borrow().is_empty());
    });

    scenarios.scenario("3. down --volumes and delete the project", || {
        let Setup { project, dir, .. } = &*setup;
        assert_success(
            &mailctl(dir, &["down", "--volumes", "--yes"]),
            "mailctl down --volumes",
        );
        std::fs::remove_dir_all(dir).unwrap();
        assert!(volumes(project).is_empty());
    });

    scenarios.scenario("4. a damaged archive is refused, nothing changes", || {
        let Setup {
            project,
            scratch,
            restored,
            saved_archive,
            ..
        } = &*setup;
        let mut bytes = std::fs::read(saved_archive).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        let damaged = scratch.join("damaged.tar.zst");
        std::fs::write(&damaged, &bytes).unwrap();
        let output = mailctl(restored, &["restore", damaged.to_str().unwrap()]);
        assert!(!output.status.success(), "{}", text(&output));
        let message = stderr(&output);
        assert!(
            message.contains("is damaged") && message.contains("nothing was changed"),
            "{}",
            text(&output)
        );
        assert!(
            !restored.exists(),
            "the restore created {}",
            restored.display()
        );
        assert!(volumes(project).is_empty(), "the restore created volumes");
    });

    scenarios.scenario("5. restore into a new directory and up", || {
        let Setup {
            client,
            restored,
            saved_archive,
            imap,
            smtp,
            run,
            ..
        } = &*setup;
        let output = mailctl(restored, &["restore", saved_archive.to_str().unwrap()]);
        assert_success(&output, "mailctl restore");
        assert_success(
            &mailctl(restored, &["up", "--timeout", "300"]),
            "mailctl up",
        );
        let after = message_hashes(imap);
        let lost: Vec<_> = before.borrow().difference(&after).cloned().collect();
        assert!(
            lost.is_empty(),
            "messages differ after the restore: {lost:?}"
        );
        for user in [ADMIN, BOB, CAROL] {
            assert!(
                client.search(user, &format!("before-{run}")).unwrap() >= 3,
                "{user} cannot log in with the old password or lost mail"
            );
        }
        // The message that waited in the queue is in the restored queue,
        // and delivered from it (at once when flushed, instead of at its
        // next retry).
        assert!(queued(smtp).contains(ADMIN), "not in the restored queue");
        docker(&["exec", smtp, "postqueue", "-f"]);
        client.wait_for(ADMIN, &format!("queued-{run}"));
        assert_eq!(
            tree(&restored.join("dkim")),
            *old_dkim.borrow(),
            "DKIM keys differ"
        );
        assert_eq!(
            tree(&restored.join("certs")),
            *old_certs.borrow(),
            "certificates differ"
        );
        // Restoring over a running stack is refused.
        let output = mailctl(
            restored,
            &["--yes", "restore", saved_archive.to_str().unwrap()],
        );
        assert!(
            !output.status.success() && stderr(&output).contains("is running"),
            "{}",
            text(&output)
        );
    });

    scenarios.scenario(
        "6. an upgrade whose smtp fails its health check rolls back",
        || {
            let Setup {
                client,
                project,
                scratch,
                restored,
                smtp,
                run,
                ..
            } = &*setup;
            let UpgradeImages {
                smtp_image, broken, ..
            } = &*upgrade_images;
            build_test_image(
                scratch,
                broken,
                smtp_image,
                "RUN printf '#!/bin/sh\\nexit 1\\n' > /usr/local/bin/mailctl-healthcheck",
            );
            let before_ids = containers(project);
            set_smtp_image(restored, Some(broken));
            let output = mailctl(restored, &["upgrade", "--skip-rebuild", "--timeout", "15"]);
            assert!(
                !output.status.success(),
                "the upgrade succeeded\n{}",
                text(&output)
            );
            assert!(
                stderr(&output).contains("service `smtp` did not become healthy")
                    && stderr(&output).contains("rolled back"),
                "{}",
                text(&output)
            );
            assert_eq!(
                containers(project),
                before_ids,
                "the old containers are not the ones running"
            );
            let state = docker(&["inspect", "-f", "{{.State.Status}} {{.Config.Image}}", smtp]);
            assert_eq!(state.trim(), format!("running {smtp_image}"));
            let token = format!("after-rollback-{run}");
            client.send_ok(CAROL, &token, "Mail after the rollback.");
            client.wait_for(CAROL, &token);
        },
    );

    scenarios.scenario("7. a successful upgrade of smtp loses no message", || {
        let Setup {
            client,
            project,
            scratch,
            restored,
            smtp,
            run,
            ..
        } = &*setup;
        let UpgradeImages {
            smtp_image, good, ..
        } = &*upgrade_images;
        build_test_image(scratch, good, smtp_image, "LABEL mailctl.test=next");
        set_smtp_image(restored, Some(good));
        let stop = Arc::new(AtomicBool::new(false));
        let sender = {
            let stop = Arc::clone(&stop);
            let client = Client {
                ports: client.ports.clone(),
            };
            let run = run.clone();
            std::thread::spawn(move || {
                let mut sent = Vec::new();
                let mut retries = 0;
                let mut index = 0;
                while !stop.load(Ordering::Relaxed) || sent.len() < 3 {
                    let token = format!("steady-{run}-{index}");
                    // Like an MTA: retry a temporary failure until accepted.
                    loop {
                        let (queued, _) = client.send(ADMIN, &token, "Sent during the upgrade.");
                        if queued {
                            break;
                        }
                        retries += 1;
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    sent.push(token);
                    index += 1;
                }
                (sent, retries)
            })
        };
        std::thread::sleep(Duration::from_secs(2));
        let output = mailctl(restored, &["upgrade", "--skip-rebuild", "--timeout", "120"]);
        stop.store(true, Ordering::Relaxed);
        let (sent, retries) = sender.join().unwrap();
        assert_success(&output, "mailctl upgrade");
        assert!(
            stderr(&output).contains("recreate smtp"),
            "{}",
            text(&output)
        );
        let image = docker(&["inspect", "-f", "{{.Config.Image}}", smtp]);
        assert_eq!(image.trim(), good);
        eprintln!(
            "    {} messages sent during the upgrade, {retries} retries",
            sent.len()
        );
        for token in &sent {
            client.wait_for(ADMIN, token);
        }
        assert!(
            !containers(project)
                .keys()
                .any(|name| name.ends_with("-previous")),
            "the previous container was not removed"
        );
    });

    scenarios.scenario("8. restore over the existing, stopped stack", || {
        let Setup {
            client,
            restored,
            saved_archive,
            imap,
            run,
            ..
        } = &*setup;
        // Refused without `--yes`, before anything changes.
        let output = mailctl(restored, &["restore", saved_archive.to_str().unwrap()]);
        assert!(
            !output.status.success() && stderr(&output).contains("--yes"),
            "{}",
            text(&output)
        );
        assert_success(&mailctl(restored, &["down"]), "mailctl down");
        let output = mailctl(
            restored,
            &["--yes", "restore", saved_archive.to_str().unwrap()],
        );
        assert_success(&output, "mailctl restore --yes over the stopped stack");
        // The archive's configuration is back (no test image override).
        let config = mailctl::config::load_file(&restored.join("mailctl.yaml")).unwrap();
        assert!(config.images.is_empty(), "{:?}", config.images);
        assert_success(
            &mailctl(restored, &["up", "--timeout", "300"]),
            "mailctl up",
        );
        let after = message_hashes(imap);
        assert!(
            before.borrow().is_subset(&after),
            "messages differ after restoring over the stack"
        );
        // Mail received after the backup is gone with the replaced volumes.
        assert_eq!(
            client
                .search(CAROL, &format!("after-rollback-{run}"))
                .unwrap(),
            0
        );
        assert!(client.search(BOB, &format!("before-{run}")).unwrap() >= 3);
    });
}
