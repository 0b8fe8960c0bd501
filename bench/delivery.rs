//! Inbound delivery throughput on the simulated internet
//! (`tests/support/internet.rs`): N messages (default 2,000) sent over port
//! 25 with STARTTLS from the foreign provider's sending host on C
//! connections (default 8), timed until every one is counted in the
//! mailboxes; then the same with the Rspamd milter turned off
//! (`smtpd_milters =` in overrides/smtp/main.cf) as the bare
//! Postfix → Dovecot reference. Prints messages per second for both, the
//! ratio (target: filtering costs at most 1.5 × the bare path) and how many
//! were lost or duplicated (target 0).
//!
//!     bash bench/delivery.sh            (N=2000 CONNECTIONS=8 by default)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::internet::{self, Internet};
use support::text;

const HOSTNAME: &str = "mail.example.test";
const ADMIN: &str = "admin@example.test";
const PASSWORD: &str = "bench-password-0";
const RECIPIENTS: [&str; 4] = [
    "admin@example.test",
    "ann@example.test",
    "ben@example.org",
    "cat@example.org",
];
const SENDER: &str = "alice@foreign.test";

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn doveadm_count(container: &str, marker: &str) -> usize {
    let output = Command::new("docker")
        .args([
            "exec", container, "doveadm", "search", "-A", "mailbox", "*", "subject", marker,
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "doveadm search\n{}", text(&output));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .count()
}

struct Round {
    accepted_seconds: f64,
    delivered_seconds: f64,
    delivered: usize,
}

/// Sends `total` messages marked `marker` and waits until the mailboxes
/// hold them all (or nothing more arrives for a minute).
fn round(internet: &Internet, imap: &str, marker: &str, total: usize, connections: usize) -> Round {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/smtp_load.py");
    let started = Instant::now();
    let mut args = vec![
        script.display().to_string(),
        internet::STACK.to_string(),
        "25".to_owned(),
        total.to_string(),
        connections.to_string(),
        internet::FOREIGN_OUT_NAME.to_owned(),
        SENDER.to_owned(),
        marker.to_owned(),
    ];
    args.extend(RECIPIENTS.iter().map(|recipient| (*recipient).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = internet.foreign_out.run("/usr/bin/python3", &args);
    let accepted_seconds = started.elapsed().as_secs_f64();
    assert!(output.status.success(), "smtp_load.py\n{}", text(&output));
    eprintln!("  {}", String::from_utf8_lossy(&output.stdout).trim());
    let mut delivered = 0;
    let mut last_change = Instant::now();
    let mut delivered_seconds = accepted_seconds;
    while delivered < total && last_change.elapsed() < Duration::from_secs(60) {
        let count = doveadm_count(imap, marker);
        if count != delivered {
            delivered = count;
            delivered_seconds = started.elapsed().as_secs_f64();
            last_change = Instant::now();
        }
        if delivered < total {
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    Round {
        accepted_seconds,
        delivered_seconds,
        delivered,
    }
}

/// CPU seconds each service's container has used so far (cgroup v1
/// `cpuacct.usage`, or v2 `cpu.stat`), by service name.
fn cpu_seconds(project: &str) -> std::collections::BTreeMap<String, f64> {
    let mut usage = std::collections::BTreeMap::new();
    for service in ["smtp", "antispam", "imap", "redis", "resolver", "web"] {
        let name = format!("{project}-{service}-1");
        let id = support::docker(&["inspect", "-f", "{{.Id}}", &name]);
        let id = id.trim();
        let v1 = format!("/sys/fs/cgroup/cpuacct/docker/{id}/cpuacct.usage");
        let v2 = format!("/sys/fs/cgroup/system.slice/docker-{id}.scope/cpu.stat");
        let seconds = if let Ok(nanos) = std::fs::read_to_string(&v1) {
            nanos.trim().parse::<f64>().unwrap_or(0.0) / 1e9
        } else if let Ok(stat) = std::fs::read_to_string(&v2) {
            stat.lines()
                .find_map(|line| line.strip_prefix("usage_usec "))
                .and_then(|micros| micros.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
                / 1e6
        } else {
            continue;
        };
        usage.insert(service.to_owned(), seconds);
    }
    usage
}

/// CPU milliseconds per message each service spent between two readings.
fn per_message(
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
    total: usize,
) -> String {
    after
        .iter()
        .map(|(service, seconds)| {
            let spent = seconds - before.get(service).copied().unwrap_or(0.0);
            format!("{service} {:.2}", spent * 1000.0 / total as f64)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let total = setting("N", 2000);
    let connections = setting("CONNECTIONS", 8);
    support::ensure_base_image();
    let internet = Internet::start(HOSTNAME, &["example.test", "example.org"]);
    let project = internet.new_project("dbench", HOSTNAME, ADMIN, PASSWORD);
    let dir = project.dir.clone();
    for user in &RECIPIENTS[1..] {
        let output = support::mailctl_with_input(
            &dir,
            &["user", "add", user, "--password-stdin"],
            &format!("{PASSWORD}\n"),
        );
        assert!(output.status.success(), "user add\n{}", text(&output));
    }
    internet.publish(&dir);
    let output = support::mailctl(&dir, &["up"]);
    assert!(output.status.success(), "up\n{}", text(&output));
    let imap = format!("{}-imap-1", project.project);
    let smtp = format!("{}-smtp-1", project.project);

    // Warm-up: caches, Rspamd's maps, Dovecot's indexes.
    round(&internet, &imap, "warmup-filtered", 40, connections);
    eprintln!("filtered: Postfix → Rspamd milter → Dovecot LMTP, {total} messages on {connections} connections");
    let before = cpu_seconds(&project.project);
    let filtered = round(&internet, &imap, "run-filtered", total, connections);
    let filtered_cpu = per_message(&before, &cpu_seconds(&project.project), total);

    let overrides = dir.join("overrides/smtp");
    std::fs::create_dir_all(&overrides).unwrap();
    std::fs::write(overrides.join("main.cf"), "smtpd_milters =\n").unwrap();
    let output = support::mailctl(&dir, &["up"]);
    assert!(
        output.status.success(),
        "up (milter off)\n{}",
        text(&output)
    );
    round(&internet, &imap, "warmup-bare", 40, connections);
    eprintln!(
        "bare: Postfix → Dovecot LMTP (milter off), {total} messages on {connections} connections"
    );
    let before = cpu_seconds(&project.project);
    let bare = round(&internet, &imap, "run-bare", total, connections);
    let bare_cpu = per_message(&before, &cpu_seconds(&project.project), total);

    let queue = Command::new("docker")
        .args(["exec", &smtp, "postqueue", "-p"])
        .output()
        .unwrap();
    let rate = |round: &Round| total as f64 / round.delivered_seconds;
    println!("delivery benchmark: {total} messages over port 25 with STARTTLS, {connections} connections, from a host of the simulated internet");
    for (name, result) in [
        ("filtered (Rspamd)", &filtered),
        ("bare (no milter)", &bare),
    ] {
        println!(
            "  {name:<18} all accepted in {:>6.1} s, all in mailboxes in {:>6.1} s: {:>6.1} msgs/s, delivered {} of {total}",
            result.accepted_seconds,
            result.delivered_seconds,
            rate(result),
            result.delivered
        );
    }
    println!("  CPU ms per message, filtered: {filtered_cpu}");
    println!("  CPU ms per message, bare:     {bare_cpu}");
    let ratio = filtered.delivered_seconds / bare.delivered_seconds;
    println!(
        "  filtering costs {ratio:.2} × the bare path (target ≤ 1.5: {})",
        if ratio <= 1.5 { "met" } else { "missed" }
    );
    let lost = (total - filtered.delivered.min(total)) + (total - bare.delivered.min(total));
    let extra = filtered.delivered.saturating_sub(total) + bare.delivered.saturating_sub(total);
    println!("  lost {lost}, duplicated {extra} (target 0)");
    println!(
        "  queue afterwards: {}",
        String::from_utf8_lossy(&queue.stdout).trim()
    );
    drop(project);
    drop(internet);
}
