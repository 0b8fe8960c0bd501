//! The bad-input table: every way a `mailctl.yaml` (or an `init` flag) can
//! be wrong that we know of, run through the real binary. Each row mutates
//! one thing in a valid two-domain configuration and expects exit code 1,
//! an `error:` naming the problem (with `file:line:column` where the problem
//! has a position), a `hint:`, and a project directory left exactly as it
//! was: nothing rendered, no lock file, `mailctl.yaml` byte-identical.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::support::Mailctl;

/// Real SHA512-CRYPT hashes (of `demo-password-1` and `demo-password-2`,
/// as in `examples/one-domain.yaml`).
const HASH_ADMIN: &str = "{SHA512-CRYPT}$6$saltsaltsaltsal1$57lvVdaBysXz8Ji2ArhSIVvTLbkWP8EC5KzgCok3aZwq6v6ufTDe2DSnJGzBZeDsYamWXG6FPlr6P3XfklJj71";
const HASH_SAM: &str = "{SHA512-CRYPT}$6$saltsaltsaltsal2$/GwUmy4nZ4Ys/E1Q0sbPfNYle1J/d/5tSb6pXn/lRr.0LY6qtZ3M2E7jRy2SN6IXMtKZNyseQRYpF1qMdaPzI/";

/// How long one refusal may take; a YAML bomb that got expanded would not
/// finish in this time.
const TIME_LIMIT: Duration = Duration::from_secs(20);
const BOMB_TIME_LIMIT: Duration = Duration::from_secs(3);

/// The valid configuration every row starts from. Line numbers matter: the
/// rows' expected positions refer to them.
fn base() -> String {
    format!(
        "\
version: 1
name: mailctl
hostname: mail.example.test
primary_domain: example.test
network:
  bind: [0.0.0.0]
  subnet: 172.30.53.0/24
ports:
  smtp: 25
  submissions: 465
tls:
  mode: self-signed
limits:
  message_size: 50M
domains:
  - name: example.test
    dkim:
      - {{ selector: rsa202611, algorithm: rsa }}
      - {{ selector: ed202611, algorithm: ed25519 }}
  - name: example.org
    dkim:
      - {{ selector: rsa202611, algorithm: rsa }}
mailboxes:
  - address: admin@example.test
    password_hash: '{HASH_ADMIN}'
    quota: 2G
  - address: sam@example.org
    password_hash: '{HASH_SAM}'
aliases:
  - {{ source: postmaster@example.test, destinations: [admin@example.test] }}
  - {{ source: \"@example.org\", destinations: [sam@example.org] }}
"
    )
}

/// The base with the first occurrence of `from` replaced by `to`.
fn replace(from: &str, to: &str) -> String {
    let base = base();
    assert!(
        base.contains(from),
        "`{from}` is not in the base configuration"
    );
    base.replacen(from, to, 1)
}

/// The base with `text` inserted before line `line` (1-based).
fn insert_before(line: usize, text: &str) -> String {
    let mut lines: Vec<String> = base().lines().map(str::to_owned).collect();
    lines.insert(line - 1, text.trim_end_matches('\n').to_owned());
    lines.join("\n") + "\n"
}

/// The classic billion laughs: ten levels, each ten aliases of the one
/// below, 10^10 strings if expanded.
fn billion_laughs() -> String {
    let mut bomb = String::from("  - &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..10 {
        let previous = format!("*l{}", level - 1);
        bomb.push_str(&format!(
            "  - &l{level} [{}]\n",
            vec![previous; 10].join(", ")
        ));
    }
    replace("aliases:\n", &format!("aliases:\n{bomb}"))
}

/// More aliases than the parser's budget allows, all in a valid place.
fn alias_flood() -> String {
    let aliases = vec!["*admin"; 2_000].join(", ");
    replace(
        "destinations: [admin@example.test]",
        &format!("destinations: [&admin admin@example.test, {aliases}]"),
    )
}

/// A file one byte over the limit that would be a syntax error if parsed.
fn oversized() -> String {
    let mut text = String::from("{{{ this is not YAML\n");
    text.push_str(&base());
    let limit = mailctl::config::MAX_CONFIG_BYTES as usize;
    text.push('#');
    text.push_str(&"x".repeat(limit - text.len()));
    text.push('\n');
    assert_eq!(text.len(), limit + 1);
    text
}

struct Row {
    name: &'static str,
    yaml: String,
    /// A piece of the error message.
    fragment: &'static str,
    /// Line and column in `mailctl.yaml`, where the problem has a position.
    position: Option<(usize, usize)>,
    /// Text that must not appear in the output (a password).
    hidden: Option<&'static str>,
}

fn row(name: &'static str, yaml: String, fragment: &'static str, position: (usize, usize)) -> Row {
    Row {
        name,
        yaml,
        fragment,
        position: Some(position),
        hidden: None,
    }
}

fn rows() -> Vec<Row> {
    let truncated_hash = &HASH_SAM[..HASH_SAM.len() - 20];
    vec![
        // Names.
        row(
            "hostname_not_fully_qualified",
            replace("hostname: mail.example.test", "hostname: mail"),
            "hostname: `mail` is not a fully qualified domain name",
            (3, 11),
        ),
        row(
            "hostname_invalid_characters",
            replace("hostname: mail.example.test", "hostname: mail_x!.example.test"),
            "hostname: `mail_x!.example.test` is not a valid domain name",
            (3, 11),
        ),
        row(
            "domain_invalid",
            insert_before(23, "  - name: exa mple.example"),
            "`exa mple.example` is not a valid domain name",
            (23, 11),
        ),
        row(
            "domain_duplicate",
            insert_before(23, "  - name: Example.ORG"),
            "domain `example.org` is listed twice (first as domains[1])",
            (23, 11),
        ),
        row(
            "domain_duplicate_after_idn_normalisation",
            insert_before(23, "  - name: bücher.example\n  - name: xn--bcher-kva.example"),
            "domain `bücher.example (xn--bcher-kva.example)` is listed twice (first as domains[2])",
            (24, 11),
        ),
        row(
            "idn_error_shows_both_forms",
            insert_before(29, &format!("  - address: eva@bücher.example\n    password_hash: '{HASH_ADMIN}'")),
            "mailbox `eva@xn--bcher-kva.example` is on domain `bücher.example (xn--bcher-kva.example)`, which is not configured",
            (29, 14),
        ),
        row(
            "primary_domain_not_in_domains",
            replace("primary_domain: example.test", "primary_domain: example.net"),
            "primary domain `example.net` is not in `domains`",
            (4, 17),
        ),
        row(
            "no_domains",
            {
                let base = base();
                let start = base.find("domains:\n").unwrap_or_default();
                let end = base.find("mailboxes:\n").unwrap_or_default();
                format!("{}domains: []\n{}", &base[..start], &base[end..])
            },
            "no domain is configured",
            (15, 10),
        ),
        // Mailboxes.
        row(
            "mailbox_address_invalid",
            replace("address: sam@example.org", "address: sam..x@example.org"),
            "`sam..x@example.org` has an invalid local part `sam..x`",
            (27, 14),
        ),
        row(
            "mailbox_on_unconfigured_domain",
            replace("address: sam@example.org", "address: sam@example.net"),
            "mailbox `sam@example.net` is on domain `example.net`, which is not configured",
            (27, 14),
        ),
        row(
            "mailbox_duplicate",
            replace("address: sam@example.org", "address: Admin@Example.test"),
            "mailbox `admin@example.test` is listed twice (first as mailboxes[0])",
            (27, 14),
        ),
        Row {
            hidden: Some("hunter2"),
            ..row(
                "password_plain_text",
                replace(&format!("'{HASH_SAM}'"), "hunter2hunter2"),
                "mailbox `sam@example.org`: the password field is not a hash",
                (28, 20),
            )
        },
        Row {
            hidden: Some("hunter2"),
            ..row(
                "password_plain_scheme",
                replace(&format!("'{HASH_SAM}'"), "'{PLAIN}hunter2hunter2'"),
                "`{PLAIN}` stores the password in plain text, which is refused",
                (28, 20),
            )
        },
        row(
            "password_unknown_scheme_md5",
            replace(&format!("'{HASH_SAM}'"), "'{MD5}$1$abcdefgh$WZaiUuAlcnWoBXIhT0Xh01'"),
            "the scheme `{MD5}` is not one Dovecot verifies here",
            (28, 20),
        ),
        row(
            "password_hash_malformed",
            replace(&format!("'{HASH_SAM}'"), "'{SHA512-CRYPT}$6$short'"),
            "the `{SHA512-CRYPT}` hash is malformed",
            (28, 20),
        ),
        row(
            "password_hash_truncated",
            replace(HASH_SAM, truncated_hash),
            "the `{SHA512-CRYPT}` hash is malformed",
            (28, 20),
        ),
        row(
            "quota_bad_unit",
            replace("quota: 2G", "quota: 2Q"),
            "`2Q` is not a size",
            (26, 12),
        ),
        // Aliases.
        row(
            "alias_on_unconfigured_domain",
            replace("source: postmaster@example.test", "source: postmaster@example.net"),
            "alias `postmaster@example.net` is on domain `example.net`, which is not configured",
            (30, 15),
        ),
        row(
            "alias_destination_invalid",
            replace("destinations: [admin@example.test]", "destinations: [admin@]"),
            "`admin@` has an invalid domain: the name is empty",
            (30, 55),
        ),
        row(
            "alias_without_destinations",
            replace("destinations: [admin@example.test]", "destinations: []"),
            "alias `postmaster@example.test` has no destination",
            (30, 54),
        ),
        row(
            "alias_loop",
            replace(
                "  - { source: postmaster@example.test, destinations: [admin@example.test] }",
                "  - { source: a@example.test, destinations: [b@example.test] }\n  - { source: b@example.test, destinations: [a@example.test] }",
            ),
            "aliases form a loop: a@example.test → b@example.test → a@example.test",
            (30, 45),
        ),
        row(
            "alias_to_unknown_local_address",
            replace("destinations: [admin@example.test]", "destinations: [nobody@example.test]"),
            "alias `postmaster@example.test` points to `nobody@example.test`, which is neither a mailbox nor an alias",
            (30, 55),
        ),
        // Ports.
        row(
            "ports_collide",
            replace("submissions: 465", "submissions: 25"),
            "port 25 is given to both `smtp` and `submissions`",
            (10, 16),
        ),
        row(
            "port_out_of_range",
            replace("smtp: 25", "smtp: 70000"),
            "port 70000 is out of range",
            (9, 9),
        ),
        row(
            "port_true",
            replace("smtp: 25", "smtp: true"),
            "`true` is not a port",
            (9, 9),
        ),
        row(
            "smtp_port_off",
            replace("smtp: 25", "smtp: false"),
            "the `smtp` port is turned off, so no mail can arrive",
            (9, 9),
        ),
        // Network.
        row(
            "subnet_not_private",
            replace("subnet: 172.30.53.0/24", "subnet: 8.8.8.0/24"),
            "subnet 8.8.8.0/24 is not private",
            (7, 11),
        ),
        row(
            "subnet_overlaps_docker_bridge",
            replace("subnet: 172.30.53.0/24", "subnet: 172.17.5.0/24"),
            "subnet 172.17.5.0/24 overlaps Docker's default bridge 172.17.0.0/16",
            (7, 11),
        ),
        row(
            "subnet_with_host_bits",
            replace("subnet: 172.30.53.0/24", "subnet: 172.30.53.7/24"),
            "`172.30.53.7/24` has host bits set; the network is `172.30.53.0/24`",
            (7, 11),
        ),
        row(
            "dns_forwarder_not_an_address",
            insert_before(8, "  dns_forwarders: [\"resolver.example.net\"]"),
            "`resolver.example.net` is not an IP address with an optional port",
            (8, 20),
        ),
        row(
            "dns_forwarder_on_loopback",
            insert_before(8, "  dns_forwarders: [\"127.0.0.1:5353\"]"),
            "`127.0.0.1:5353` is a loopback address, which inside the resolver's container is the container itself",
            (8, 20),
        ),
        row(
            "dns_forwarders_with_offline_dns",
            insert_before(8, "  offline_dns: true\n  dns_forwarders: [192.0.2.53]"),
            "`offline_dns` turns every outside lookup off, but `dns_forwarders` are given",
            (8, 16),
        ),
        row(
            "dns_forwarder_ipv6",
            insert_before(8, "  dns_forwarders: [\"[2001:db8::53]:5353\"]"),
            "`[2001:db8::53]:5353` is an IPv6 address, but the stack's resolver asks over IPv4 only",
            (8, 20),
        ),
        row(
            "private_root_without_forwarders",
            insert_before(8, "  dns_trust_anchors: [\". IN DS 1 13 2 ABCD\"]"),
            "a trust anchor for `.` replaces the real root's key, but no `dns_forwarders` serve that private root",
            (8, 22),
        ),
        row(
            "dns_trust_anchor_not_a_record",
            insert_before(8, "  dns_trust_anchors: [\"example.net. IN A 192.0.2.1\"]"),
            "`example.net. IN A 192.0.2.1` is not a DS or DNSKEY record",
            (8, 23),
        ),
        row(
            "reject_blocklist_not_a_zone",
            format!("{}security:\n  reject_blocklists: [\"zen spamhaus\"]\n", base()),
            "`zen spamhaus` is not the DNS zone of a blocklist",
            (33, 23),
        ),
        row(
            "outbound_alert_zero",
            format!("{}security:\n  outbound_alert_per_hour: 0\n", base()),
            "0 would hold every message the sender submits",
            (33, 28),
        ),
        row(
            "outbound_alert_not_a_number",
            format!("{}security:\n  outbound_alert_per_day: many\n", base()),
            "outbound_alert_per_day",
            (33, 27),
        ),
        row(
            "ban_window_not_a_duration",
            format!("{}security:\n  bans:\n    window: ten minutes\n", base()),
            "`ten minutes` is not a duration",
            (34, 13),
        ),
        row(
            "ban_allow_not_an_address",
            format!("{}security:\n  bans:\n    allow: [\"198.51.100.300\"]\n", base()),
            "`198.51.100.300` is not an address or network",
            (34, 13),
        ),
        row(
            "ban_max_failures_zero",
            format!("{}security:\n  bans:\n    max_failures: 0\n", base()),
            "0 would ban an address before it ever failed",
            (34, 19),
        ),
        row(
            "ban_duration_longer_than_max",
            format!("{}security:\n  bans:\n    duration: 2w\n", base()),
            "`7d` is shorter than the first ban (`duration: 2w`)",
            (34, 5),
        ),
        row(
            "ipv6_subnet_invalid",
            insert_before(8, "  ipv6_subnet: \"fd00::/zz\""),
            "`fd00::/zz` is not an IPv6 subnet",
            (8, 16),
        ),
        row(
            "ipv6_subnet_not_ula",
            insert_before(8, "  ipv6_subnet: \"2001:db8::/64\""),
            "IPv6 subnet 2001:db8::/64 is not a unique local (fc00::/7) subnet",
            (8, 16),
        ),
        row(
            "bind_address_twice",
            replace("bind: [0.0.0.0]", "bind: [0.0.0.0, 0.0.0.0]"),
            "bind address 0.0.0.0 is listed twice",
            (6, 19),
        ),
        row(
            "public_address_not_public",
            insert_before(8, "  public_addresses: [10.1.2.3]"),
            "10.1.2.3 is not a public address",
            (8, 22),
        ),
        // Shape of the file.
        row(
            "unknown_top_level_key",
            insert_before(2, "colour: blue"),
            "unknown field `colour`",
            (2, 1),
        ),
        row(
            "unknown_nested_key",
            insert_before(13, "  colour: blue"),
            "unknown field `colour`",
            (13, 3),
        ),
        row(
            "wrong_type",
            {
                let base = base();
                let start = base.find("domains:\n").unwrap_or_default();
                let end = base.find("mailboxes:\n").unwrap_or_default();
                format!("{}domains: 5\n{}", &base[..start], &base[end..])
            },
            "expected sequence",
            (15, 10),
        ),
        row(
            "duplicate_key",
            insert_before(4, "hostname: mx.example.test"),
            "duplicate",
            (4, 1),
        ),
        row(
            "version_from_the_future",
            replace("version: 1", "version: 2"),
            "version 2 was written by a newer mailctl; this one reads version 1",
            (1, 10),
        ),
        row(
            "project_name_invalid",
            replace("name: mailctl", "name: Mail Server"),
            "project name `Mail Server` is not a valid Compose project name",
            (2, 7),
        ),
        // Domains' settings.
        row(
            "dkim_selector_invalid",
            replace("selector: ed202611", "selector: Bad_Sel"),
            "DKIM selector `Bad_Sel` is not a valid DNS label",
            (19, 21),
        ),
        row(
            "dkim_selector_duplicate",
            replace("selector: ed202611", "selector: rsa202611"),
            "DKIM selector `rsa202611` is listed twice for `example.test`",
            (19, 21),
        ),
        row(
            "mta_sts_max_age_out_of_range",
            insert_before(17, "    mta_sts: { max_age: 60 }"),
            "MTA-STS max_age 60 is outside 86400 (one day) to 31557600 (one year)",
            (17, 25),
        ),
        // Limits, TLS, components, images.
        row(
            "message_size_out_of_range",
            replace("message_size: 50M", "message_size: 4G"),
            "message size limit 4G is outside 1M to 2G",
            (14, 17),
        ),
        row(
            "tls_custom_without_files",
            replace("mode: self-signed", "mode: custom"),
            "TLS mode `custom` needs `tls.certificate_file`",
            (12, 3),
        ),
        row(
            "acme_email_invalid",
            insert_before(13, "  acme_email: not-an-address"),
            "ACME contact `not-an-address` is not a mail address",
            (13, 15),
        ),
        row(
            "optional_component_enabled",
            insert_before(11, "components:\n  webmail: true"),
            "the optional component `webmail` is not available in this version of mailctl",
            (12, 12),
        ),
        row(
            "image_for_unknown_service",
            insert_before(11, "images:\n  mailer: registry.example/postfix:1"),
            "`mailer` is not a service of the stack",
            (12, 11),
        ),
        // Hostile input.
        row("yaml_bomb_billion_laughs", billion_laughs(), "expected mapping start", (30, 9)),
        row("yaml_bomb_alias_flood", alias_flood(), "as a YAML bomb would", (30, 8082)),
        Row {
            name: "file_over_16_mib",
            yaml: oversized(),
            fragment: "bytes, over the limit of 16777216 bytes",
            position: None,
            hidden: None,
        },
    ]
}

/// Runs `mailctl` with `args`, `stdin` on its input, killing it after `limit`.
fn run(args: &[&str], stdin: Option<&str>, limit: Duration) -> (Output, Duration) {
    let run = Mailctl::new(args).limit(limit);
    match stdin {
        Some(text) => run.stdin(text),
        None => run,
    }
    .run_timed()
}

/// Every file and directory under `root`, relative, sorted.
fn tree(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(directory) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            if path.is_dir() {
                stack.push(path);
                found.push(format!("{relative}/"));
            } else {
                found.push(relative);
            }
        }
    }
    found.sort();
    found
}

/// Checks one row; returns what is wrong with the output, if anything.
fn check(row: &Row) -> Vec<String> {
    let project = tempfile::tempdir().expect("temp dir");
    let config_path = project.path().join("mailctl.yaml");
    std::fs::write(&config_path, &row.yaml).expect("config is written");
    let project_arg = project.path().display().to_string();
    let limit = if row.name.starts_with("yaml_bomb") {
        BOMB_TIME_LIMIT
    } else {
        TIME_LIMIT
    };
    let (output, elapsed) = run(&["-C", &project_arg, "render"], None, limit);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();

    let mut problems = Vec::new();
    if output.status.code() != Some(1) {
        problems.push(format!("exit code {:?}, expected 1", output.status.code()));
    }
    if !stderr.starts_with("error:") {
        problems.push("stderr does not start with `error:`".into());
    }
    if !stderr.contains(row.fragment) {
        problems.push(format!("stderr lacks `{}`", row.fragment));
    }
    if let Some((line, column)) = row.position {
        let located = format!("{}:{line}:{column}", config_path.display());
        if !stderr.contains(&located) {
            problems.push(format!("stderr lacks the position `{located}`"));
        }
    }
    if !stderr.contains("hint: ") {
        problems.push("stderr has no `hint:`".into());
    }
    if !stdout.is_empty() {
        problems.push(format!("stdout is not empty: {stdout:?}"));
    }
    if let Some(hidden) = row.hidden {
        if stderr.contains(hidden) {
            problems.push(format!("stderr repeats `{hidden}`"));
        }
    }
    if elapsed > limit {
        problems.push(format!("took {elapsed:?}, more than {limit:?}"));
    }
    let files = tree(project.path());
    if files != ["mailctl.yaml"] {
        problems.push(format!(
            "the project holds {files:?}, not only mailctl.yaml"
        ));
    }
    match std::fs::read(&config_path) {
        Ok(bytes) if bytes == row.yaml.as_bytes() => {}
        _ => problems.push("mailctl.yaml changed".into()),
    }
    if !problems.is_empty() {
        problems.push(format!("stderr was:\n{stderr}"));
    }
    problems
}

#[test]
fn base_configuration_is_valid() {
    let config = mailctl::config::parse_str(&base(), Path::new("mailctl.yaml"))
        .unwrap_or_else(|error| panic!("the base configuration is invalid: {error}"));
    assert_eq!(config.domains.len(), 2);
    assert_eq!(config.mailboxes.len(), 2);
    assert!(config.aliases.iter().any(|alias| alias.is_catch_all()));
    for row in rows() {
        assert_ne!(row.yaml, base(), "row `{}` changes nothing", row.name);
    }
}

#[test]
fn every_bad_configuration_is_refused_with_position_and_hint() {
    let rows = rows();
    assert!(rows.len() >= 30, "the table has only {} rows", rows.len());
    let mut failures = Vec::new();
    for row in &rows {
        let problems = check(row);
        if !problems.is_empty() {
            failures.push(format!("row `{}`:\n  {}", row.name, problems.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n\n")
    );
}

/// `init` with one bad flag: refused before anything is written.
#[test]
fn init_with_a_bad_flag_writes_nothing() {
    let good: [&str; 9] = [
        "--hostname",
        "mail.example.test",
        "--domain",
        "example.test",
        "--domain",
        "example.org",
        "--admin",
        "admin@example.test",
        "--yes",
    ];
    // (name, flags replacing their good counterparts, message fragment)
    let rows: [(&str, &[&str], &str); 9] = [
        (
            "hostname_not_fully_qualified",
            &["--hostname", "mail"],
            "`mail` is not a fully qualified domain name",
        ),
        (
            "first_domain_invalid",
            &["--domain", "exa mple.test"],
            "`exa mple.test` is not a valid domain name",
        ),
        (
            "second_domain_invalid",
            &["--domain", "example.test", "--domain", "exa mple.org"],
            "`exa mple.org` is not a valid domain name",
        ),
        (
            "port_out_of_range",
            &["--port", "smtp=99999"],
            "`99999` is not a port number",
        ),
        (
            "port_unknown_name",
            &["--port", "bogus=1"],
            "`bogus` is not a port name",
        ),
        (
            "ports_collide",
            &["--port", "smtp=2525", "--port", "imaps=2525"],
            "port 2525 is given to both `smtp` and `imaps`",
        ),
        (
            "subnet_public",
            &["--subnet", "8.8.8.0/24"],
            "subnet 8.8.8.0/24 is not private",
        ),
        (
            "admin_invalid",
            &["--admin", "admin@@example.test"],
            "`admin@@example.test` has an invalid local part",
        ),
        (
            "admin_on_unconfigured_domain",
            &["--admin", "admin@example.net"],
            "is on domain `example.net`, which is not configured",
        ),
    ];
    let mut failures = Vec::new();
    for (name, flags, fragment) in rows {
        let parent = tempfile::tempdir().expect("temp dir");
        let project = parent.path().join("project");
        let project_arg = project.display().to_string();
        // Each given flag replaces the good value of the same flag.
        let mut args: Vec<&str> = vec!["-C", &project_arg, "init", "--tls", "self-signed"];
        let replaced: Vec<&str> = flags
            .iter()
            .copied()
            .filter(|flag| flag.starts_with("--"))
            .collect();
        let mut index = 0;
        while index < good.len() {
            let flag = good[index];
            let takes_value = flag != "--yes";
            if !replaced.contains(&flag) {
                args.push(flag);
                if takes_value {
                    args.push(good[index + 1]);
                }
            }
            index += if takes_value { 2 } else { 1 };
        }
        args.extend_from_slice(flags);
        let (output, _) = run(&args, None, TIME_LIMIT);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let first_line = stderr.lines().next().unwrap_or_default();
        let mut problems = Vec::new();
        if output.status.success() {
            problems.push("init succeeded".to_owned());
        }
        if !first_line.starts_with("error:") {
            problems.push("stderr does not start with `error:`".into());
        }
        if !stderr.contains(fragment) {
            problems.push(format!("stderr lacks `{fragment}`"));
        }
        // The message itself comes first, not a hint or a cause.
        if !(first_line.contains(fragment) || first_line.contains("problem")) {
            problems.push(format!(
                "the first line does not state the problem: {first_line:?}"
            ));
        }
        if !stderr.contains("hint: ") {
            problems.push("stderr has no `hint:`".into());
        }
        let files = tree(&project);
        if !files.is_empty() {
            problems.push(format!("the project holds {files:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "row `{name}` ({}):\n  {}\n  stderr was:\n{stderr}",
                flags.join(" "),
                problems.join("\n  ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} init rows failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
