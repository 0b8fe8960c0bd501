//! `mailctl user import` of N mailboxes with plain-text passwords (default
//! 1,000): every password is hashed with Argon2id, the slow part, spread
//! over every core. Measures one hash on this machine (median of 31) and
//! the same number of hashes on every core in-process, then
//! the real binary importing the file into a fresh project, and prints the
//! wall time against the ideal `single hash × N / cores` (target: at most
//! 1.15 × that).
//!
//!     cargo bench --bench import            (N=1000 by default)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Instant;

const BINARY: &str = env!("CARGO_BIN_EXE_mailctl");

fn main() {
    let total: usize = std::env::var("N")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1000);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);

    let mut singles: Vec<f64> = (0..31)
        .map(|round| {
            let started = Instant::now();
            mailctl::passwords::hash_argon2id(&format!("password-number-{round}")).unwrap();
            started.elapsed().as_secs_f64()
        })
        .collect();
    singles.sort_by(f64::total_cmp);
    let single = singles[singles.len() / 2];
    // The same hashes in this process on every core (rayon), without the
    // import around them: what the cores give when they hash together.
    let started = Instant::now();
    {
        use rayon::prelude::*;
        (0..total).into_par_iter().for_each(|number| {
            mailctl::passwords::hash_argon2id(&format!("parallel-{number}")).unwrap();
        });
    }
    let parallel = started.elapsed().as_secs_f64();

    let temporary = tempfile::tempdir().unwrap();
    let dir = temporary.path().join("project");
    let output = Command::new(BINARY)
        .arg("-C")
        .arg(&dir)
        .args([
            "init",
            "--hostname",
            "mail.example.test",
            "--domain",
            "example.test",
            "--admin",
            "admin@example.test",
            "--tls",
            "self-signed",
            "--offline-dns",
            "--yes",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "init: {output:?}");
    let mut csv = String::from("address,password\n");
    for number in 0..total {
        csv.push_str(&format!(
            "user{number}@example.test,correct-horse-battery-{number}\n"
        ));
    }
    let file = temporary.path().join("users.csv");
    std::fs::write(&file, csv).unwrap();

    let started = Instant::now();
    let output = Command::new(BINARY)
        .arg("-C")
        .arg(&dir)
        .args(["user", "import"])
        .arg(&file)
        .output()
        .unwrap();
    let wall = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "user import: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let config = std::fs::read_to_string(dir.join("mailctl.yaml")).unwrap();
    let imported = config
        .matches("@example.test\n  password_hash: \"{ARGON2ID}$argon2id$")
        .count();
    let ideal = single * total as f64 / cores as f64;
    let ratio = wall / ideal;
    println!("import benchmark: {total} mailboxes with plain-text passwords, {cores} core(s)");
    println!(
        "  one Argon2id hash: {:.1} ms (median of 31)",
        single * 1000.0
    );
    println!(
        "  {total} hashes on every core in one process: {parallel:.2} s ({:.2} × ideal; above 1 where the cores share memory bandwidth and cache)",
        parallel / ideal
    );
    println!(
        "  user import: {wall:.2} s; ideal single × N / cores = {ideal:.2} s; ratio {ratio:.2} (target ≤ 1.15: {})",
        if ratio <= 1.15 { "met" } else { "missed" }
    );
    println!(
        "  mailboxes in mailctl.yaml with an Argon2id hash: {imported} ({total} imported and the first)"
    );
    assert_eq!(imported, total + 1, "every imported mailbox has its hash");
}
