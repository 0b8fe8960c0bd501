//! Benchmark: render and write a project with 100 domains, 50 mailboxes
//! each (5,000 mailboxes) and 2,000 aliases; then a no-change render.
//! Targets: render + write under 300 ms, no-change render under 100 ms.
//!
//! Run with `cargo bench --bench render`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use mailctl::config::{self, Alias, Config, DkimAlgorithm, DkimSelector, Domain, Mailbox};
use mailctl::render::{self, Overrides, RenderInput};
use mailctl::secrets::Secrets;

fn big_config() -> Config {
    let hash = mailctl::passwords::hash_sha512_crypt("benchmark-password").unwrap_or_default();
    let mut config = Config {
        version: config::CURRENT_VERSION,
        name: "bench".into(),
        hostname: "mail.domain0.example".into(),
        primary_domain: "domain0.example".into(),
        network: Default::default(),
        ports: Default::default(),
        tls: Default::default(),
        limits: Default::default(),
        components: Default::default(),
        images: Default::default(),
        domains: Vec::new(),
        mailboxes: Vec::new(),
        aliases: Vec::new(),
        doctor: Default::default(),
        security: Default::default(),
    };
    for d in 0..100 {
        let domain = format!("domain{d}.example");
        config.domains.push(Domain {
            name: domain.clone(),
            dmarc: Default::default(),
            mta_sts: Default::default(),
            tls_rpt_address: None,
            dkim: vec![
                DkimSelector {
                    selector: "rsa1".into(),
                    algorithm: DkimAlgorithm::Rsa,
                },
                DkimSelector {
                    selector: "ed1".into(),
                    algorithm: DkimAlgorithm::Ed25519,
                },
            ],
        });
        for m in 0..50 {
            config.mailboxes.push(Mailbox {
                address: format!("user{m}@{domain}"),
                password_hash: hash.clone(),
                quota: Some("2G".parse().unwrap_or(config::Size::from_bytes(1 << 31))),
                name: Some(format!("User {m}")),
                enabled: true,
                send_as: Vec::new(),
                forward: None,
                autoreply: None,
                outbound_alert: None,
            });
        }
        for a in 0..20 {
            config.aliases.push(Alias {
                source: format!("alias{a}@{domain}"),
                destinations: vec![
                    format!("user{a}@{domain}"),
                    format!("user{}@{domain}", a + 20),
                ],
            });
        }
    }
    config
}

fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

fn main() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let root = directory.path();
    let config = big_config();
    let (validated, validate_time) = time(|| config::validate(config.clone()));
    let config = validated.map_err(|issues| anyhow::anyhow!("invalid bench config: {issues:?}"))?;
    let secrets = Secrets::fixed_for_tests();
    let overrides = Overrides::new();
    let input = RenderInput {
        config: &config,
        secrets: &secrets,
        root,
        overrides: &overrides,
    };
    let generated = root.join("generated");

    let mut first = Vec::new();
    let mut again = Vec::new();
    for round in 0..5 {
        if round > 0 {
            std::fs::remove_dir_all(&generated)?;
        }
        let (report, elapsed) = time(|| -> anyhow::Result<_> {
            let rendered = render::render(&input)?;
            render::write(&generated, &rendered.files)
        });
        let report = report?;
        assert!(report.changed());
        first.push(elapsed);
        let (report, elapsed) = time(|| -> anyhow::Result<_> {
            let rendered = render::render(&input)?;
            render::write(&generated, &rendered.files)
        });
        assert!(!report?.changed());
        again.push(elapsed);
    }
    let mut render_only = Vec::new();
    for _ in 0..5 {
        let (rendered, elapsed) = time(|| render::render(&input));
        rendered?;
        render_only.push(elapsed);
    }
    render_only.sort();
    first.sort();
    again.sort();
    let files = render::render(&input)?.files;
    let bytes: usize = files.iter().map(|file| file.contents.len()).sum();
    println!("config: 100 domains, 5000 mailboxes, 2000 aliases (validate: {validate_time:.1?})");
    println!("rendered: {} files, {} KiB", files.len(), bytes / 1024);
    println!(
        "render + write (fresh):  median {:>8.1?}  min {:>8.1?}  target < 300 ms",
        first[first.len() / 2],
        first[0]
    );
    println!(
        "render in memory only:   median {:>8.1?}  min {:>8.1?}",
        render_only[render_only.len() / 2],
        render_only[0]
    );
    println!(
        "render, no change:       median {:>8.1?}  min {:>8.1?}  target < 100 ms",
        again[again.len() / 2],
        again[0]
    );
    Ok(())
}
