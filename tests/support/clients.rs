//! Real clients against a stack published on 127.0.0.1: `swaks` for SMTP
//! and `curl` for IMAPS, with the waits the end-to-end suites share.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::swaks::Swaks;
use super::text;

pub const HOST: &str = "127.0.0.1";

/// How a client reaches one of the SMTP ports.
#[derive(Clone, Copy, Debug)]
pub enum Tls {
    /// STARTTLS after the greeting (ports 25 and 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
}

/// `swaks` to 127.0.0.1:`port` with `extra` arguments; it gives up after
/// `timeout` seconds of silence.
pub fn swaks(port: u16, tls: Tls, timeout_seconds: u32, extra: &[&str]) -> Swaks {
    let server = format!("{HOST}:{port}");
    let tls = match tls {
        Tls::StartTls => "--tls",
        Tls::Implicit => "--tlsc",
    };
    let output = Command::new("swaks")
        .args([
            "--server",
            &server,
            tls,
            "--helo",
            "client.outside.test",
            "--timeout",
            &timeout_seconds.to_string(),
        ])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run swaks");
    Swaks {
        transcript: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// The arguments of a plain message from outside: sender, recipient,
/// subject and body.
pub fn message_from_outside(to: &str, subject: &str, body: &str) -> Vec<String> {
    [
        "--from",
        "sender@outside.test",
        "--to",
        to,
        "--header",
        &format!("Subject: {subject}"),
        "--body",
        body,
    ]
    .iter()
    .map(|arg| (*arg).to_owned())
    .collect()
}

/// IMAPS on 127.0.0.1:`port`, one curl per command.
#[derive(Clone, Copy, Debug)]
pub struct Imaps {
    pub port: u16,
}

impl Imaps {
    /// `command` (or a FETCH of `path`'s message when `None`) as `user`;
    /// the server's answer with CRs removed, or curl's complaint.
    pub fn command(
        &self,
        user: &str,
        password: &str,
        path: &str,
        command: Option<&str>,
    ) -> Result<String, String> {
        let url = format!("imaps://{HOST}:{}/{path}", self.port);
        let mut curl = Command::new("curl");
        curl.args(["-sSk", "--max-time", "20", &url, "-u"])
            .arg(format!("{user}:{password}"));
        if let Some(command) = command {
            curl.args(["-X", command]);
        }
        let output = curl.output().expect("cannot run curl");
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).replace('\r', ""))
        } else {
            Err(text(&output))
        }
    }

    /// UIDs of `user`'s INBOX messages whose subject holds `token`.
    pub fn search(&self, user: &str, password: &str, token: &str) -> Result<Vec<u32>, String> {
        let answer = self.command(
            user,
            password,
            "INBOX",
            Some(&format!("UID SEARCH SUBJECT \"{token}\"")),
        )?;
        Ok(search_uids(&answer))
    }

    /// Polls `user`'s INBOX until a message with `token` in its subject
    /// arrives; its UID and how long it took, or the last answer when
    /// `deadline` passed first.
    pub fn wait_for(
        &self,
        user: &str,
        password: &str,
        token: &str,
        deadline: Duration,
    ) -> Result<(u32, Duration), String> {
        let begin = Instant::now();
        let mut last = String::new();
        while begin.elapsed() < deadline {
            match self.search(user, password, token) {
                Ok(uids) if !uids.is_empty() => return Ok((uids[0], begin.elapsed())),
                Ok(_) => last = "not there yet".to_owned(),
                Err(error) => last = error,
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        Err(last)
    }
}

/// The UIDs of the `* SEARCH` lines of an IMAP answer.
pub fn search_uids(answer: &str) -> Vec<u32> {
    answer
        .lines()
        .filter_map(|line| line.strip_prefix("* SEARCH"))
        .flat_map(str::split_whitespace)
        .filter_map(|uid| uid.parse().ok())
        .collect()
}
