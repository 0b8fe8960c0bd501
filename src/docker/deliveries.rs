//! Holding and releasing Postfix's deliveries to the mailboxes.
//!
//! While deliveries are held, smtp still accepts and queues mail, and mail
//! for other servers still leaves; nothing goes to Dovecot. A backup holds
//! them while it reads the volumes. Stopping imap on purpose (`up`,
//! `restart`, `upgrade` replacing it) holds them too: Dovecot stopping in the
//! middle of an LMTP transaction can answer "421 Shutting down" after it has
//! saved the message, and Postfix then delivers it a second time. Release
//! puts Postfix's setting back and delivers the held mail at once.

use std::time::{Duration, Instant};

use super::Docker;
use crate::output;
use crate::plan::ContainerState;
use crate::service::Service;
use crate::spec::StackSpec;

/// The transport that delivers into the mailboxes (`virtual_transport`).
pub const MAILBOX_TRANSPORT: &str = "lmtp";
/// How long deliveries in flight may take to finish after the hold.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Deliveries held in one smtp container, to be released.
#[must_use = "held deliveries must be released"]
pub struct Held {
    container: String,
    /// `defer_transports` before the hold.
    previous: String,
}

/// Adds the mailbox transport to `defer_transports` in `container` and
/// reloads Postfix, then waits until no delivery is in flight.
pub async fn hold(docker: &Docker, container: &str) -> anyhow::Result<Held> {
    let previous = run_in(docker, container, &["postconf", "-h", "defer_transports"]).await?;
    let previous = previous.trim().to_owned();
    let held = if holds_mailboxes(&previous) {
        previous.clone()
    } else {
        format!("{previous} {MAILBOX_TRANSPORT}").trim().to_owned()
    };
    run_in(
        docker,
        container,
        &["postconf", "-e", &format!("defer_transports={held}")],
    )
    .await?;
    run_in(docker, container, &["postfix", "reload"]).await?;
    output::status("smtp      deliveries held: mail is accepted and queued for the mailboxes");
    let held = Held {
        container: container.to_owned(),
        previous,
    };
    // Deliveries that started before the reload finish; then the active
    // queue holds no message bound for a mailbox.
    let started = Instant::now();
    loop {
        let queue = run_in(docker, container, &["postqueue", "-j"]).await?;
        if !queue.contains("\"queue_name\": \"active\"") {
            return Ok(held);
        }
        if started.elapsed() > DRAIN_TIMEOUT {
            let _ = release(docker, held).await;
            anyhow::bail!(
                "deliveries in progress did not finish within {} s",
                DRAIN_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Puts `defer_transports` back, reloads Postfix and delivers the mail held
/// for the mailboxes (not the mail waiting for other servers: that keeps its
/// retry schedule).
pub async fn release(docker: &Docker, held: Held) -> anyhow::Result<()> {
    let Held {
        container,
        previous,
    } = held;
    let assignment = format!("defer_transports={previous}");
    let command: Vec<&str> = if previous.is_empty() {
        vec!["postconf", "-X", "defer_transports"]
    } else {
        vec!["postconf", "-e", &assignment]
    };
    run_in(docker, &container, &command).await?;
    run_in(docker, &container, &["postfix", "reload"]).await?;
    // Delivering held mail would deliver even what `defer_transports`
    // holds: not when the operator's own setting defers the mailboxes.
    if holds_mailboxes(&previous) {
        output::status("smtp      deliveries left deferred, as `defer_transports` was before");
    } else {
        run_in(docker, &container, &[crate::spec::DELIVER_HELD_COMMAND]).await?;
        output::status("smtp      deliveries released: the mail held meanwhile is delivered");
    }
    Ok(())
}

/// Holds deliveries before `service` is stopped on purpose, when that
/// service is imap and smtp runs. A hold that fails is a warning: the stop
/// goes ahead (a message may then be delivered twice, never lost).
pub async fn hold_for_stop(docker: &Docker, spec: &StackSpec, service: &str) -> Option<Held> {
    if service != Service::Imap.name() {
        return None;
    }
    let smtp = spec.service(Service::Smtp.name())?;
    let details = docker.details(&smtp.container_name).await.ok()??;
    if details.observed.state != ContainerState::Running {
        return None;
    }
    match hold(docker, &smtp.container_name).await {
        Ok(held) => Some(held),
        Err(error) => {
            output::warning(format!(
                "cannot hold deliveries while imap restarts ({error:#}): a message in delivery may arrive twice"
            ));
            None
        }
    }
}

/// Releases what [`hold_for_stop`] held; a failure is a warning naming the fix.
pub async fn release_after_start(docker: &Docker, held: Option<Held>) {
    let Some(held) = held else { return };
    let container = held.container.clone();
    if let Err(error) = release(docker, held).await {
        output::warning(format!(
            "cannot release the deliveries held in `{container}` ({error:#}): run `mailctl restart smtp`"
        ));
    }
}

/// Where the outbound brake (`mailctl-outbound-alert` in smtp) counts.
const OUTBOUND_ALERT_STATE: &str = "/var/spool/postfix/outbound-alert";

/// Sends (or with `delete`, deletes) the mail from `sender` that the
/// outbound brake put on hold in `container`, and clears the sender's counts.
/// Returns how many messages that was.
pub async fn release_held_from(
    docker: &Docker,
    container: &str,
    sender: &str,
    delete: bool,
) -> anyhow::Result<usize> {
    let queue = run_in(docker, container, &["postqueue", "-j"]).await?;
    let ids = held_from(&queue, sender);
    if !ids.is_empty() {
        // postsuper reads queue ids from stdin with `-`. Mail released from
        // hold goes to the deferred queue: `postqueue -i` sends it now.
        let script = if delete {
            r#"printf '%s\n' "$@" | postsuper -d - hold"#
        } else {
            r#"printf '%s\n' "$@" | postsuper -H - hold && for id; do postqueue -i "$id"; done"#
        };
        let mut command = vec!["sh", "-c", script, "sh"];
        command.extend(ids.iter().map(String::as_str));
        run_in(docker, container, &command).await?;
    }
    let counts = format!("{OUTBOUND_ALERT_STATE}/u-{}", outbound_alert_key(sender));
    run_in(docker, container, &["rm", "-rf", "--", &counts]).await?;
    Ok(ids.len())
}

/// The queue ids of the messages from `sender` in the hold queue, from
/// `postqueue -j` (one JSON object per line).
fn held_from(queue: &str, sender: &str) -> Vec<String> {
    queue
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| {
            message["queue_name"] == "hold"
                && message["sender"]
                    .as_str()
                    .is_some_and(|from| from.eq_ignore_ascii_case(sender))
        })
        .filter_map(|message| message["queue_id"].as_str().map(str::to_owned))
        .collect()
}

/// The directory name `mailctl-outbound-alert` keeps a login's counts under.
fn outbound_alert_key(login: &str) -> String {
    login
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@._+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Whether a `defer_transports` value names the mailbox transport.
fn holds_mailboxes(value: &str) -> bool {
    value
        .split([' ', ',', '\t'])
        .any(|item| item == MAILBOX_TRANSPORT)
}

async fn run_in(docker: &Docker, container: &str, command: &[&str]) -> anyhow::Result<String> {
    let result = docker.exec(container, command).await?;
    if result.exit_code != 0 {
        anyhow::bail!(
            "`{}` in `{container}` failed (exit {}): {}{}",
            command.join(" "),
            result.exit_code,
            result.stdout.trim(),
            result.stderr.trim()
        );
    }
    Ok(result.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_messages_are_picked_by_sender_from_the_hold_queue() {
        let queue = concat!(
            r#"{"queue_name": "hold", "queue_id": "4A1", "sender": "Bob@example.org", "recipients": []}"#,
            "\n",
            r#"{"queue_name": "deferred", "queue_id": "4A2", "sender": "bob@example.org", "recipients": []}"#,
            "\n",
            r#"{"queue_name": "hold", "queue_id": "4A3", "sender": "ann@example.org", "recipients": []}"#,
            "\n",
            r#"{"queue_name": "hold", "queue_id": "4A4", "sender": "bob@example.org", "recipients": []}"#,
            "\n"
        );
        assert_eq!(held_from(queue, "bob@example.org"), ["4A1", "4A4"]);
        assert!(held_from("", "bob@example.org").is_empty());
    }

    #[test]
    fn counts_are_kept_under_a_safe_name() {
        assert_eq!(outbound_alert_key("Bob@Example.org"), "bob@example.org");
        assert_eq!(outbound_alert_key("../x y"), ".._x_y");
    }

    #[test]
    fn the_mailbox_transport_is_found_in_a_list() {
        assert!(holds_mailboxes("lmtp"));
        assert!(holds_mailboxes("smtp, lmtp"));
        assert!(!holds_mailboxes(""));
        assert!(!holds_mailboxes("smtp lmtp2"));
    }
}
