//! `mailctl user import` and `mailctl import mailu` end to end with the
//! real binary, on a project made by `mailctl init … --tls self-signed
//! --yes` in a temporary directory. No stack runs: `live::apply_change`
//! says the change waits for `mailctl up` and carries on. Only
//! `mailu_hashes_verify_in_dovecot` needs Docker: it checks imported hashes
//! with `doveadm pw` in the `mailctl/imap` image, building the image from the
//! embedded context (as `mailctl up` does) when it is not present.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::PasswordVerifier;
use mailctl::config::{Config, Mailbox, Size};

const MAILU_EXPORT: &str = include_str!("../fixtures/import/mailu-export.yaml");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

use crate::support::mailctl;

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        stderr(output)
    )
}

/// A project with domains `example.test` (primary) and `example.org`, and
/// the mailbox `admin@example.test`. Its Compose name is unique, so that
/// `apply_change` never finds a running stack of another test.
struct Project {
    _parent: tempfile::TempDir,
    dir: PathBuf,
}

impl Project {
    fn new() -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let parent = tempfile::tempdir().expect("temp dir");
        let dir = parent.path().join("mail");
        let name = format!(
            "import-test-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let output = mailctl(
            &dir,
            &[&crate::support::INIT[..], &["--name", &name, "--yes"]].concat(),
        );
        assert!(
            output.status.success(),
            "init failed\n{}",
            describe(&output)
        );
        Project {
            _parent: parent,
            dir,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        mailctl(&self.dir, args)
    }

    /// Writes `text` to `name` inside the project's parent directory.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.parent().expect("parent").join(name);
        std::fs::write(&path, text).expect("file written");
        path
    }

    fn config_bytes(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("mailctl.yaml")).expect("config readable")
    }

    /// The configuration, loaded and validated as every command does.
    fn config(&self) -> Config {
        mailctl::config::load_file(&self.dir.join("mailctl.yaml"))
            .unwrap_or_else(|error| panic!("the configuration is invalid: {error}"))
    }
}

fn mailbox<'a>(config: &'a Config, address: &str) -> &'a Mailbox {
    config
        .mailbox(address)
        .unwrap_or_else(|| panic!("no mailbox `{address}`"))
}

fn verifies(hash: &str, password: &str) -> bool {
    let phc = hash.strip_prefix("{ARGON2ID}").expect("an Argon2id hash");
    let parsed = argon2::PasswordHash::new(phc).expect("a PHC string");
    argon2::Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A `{SHA512-CRYPT}` hash of `mailu-import-test`.
fn sha512_crypt_hash() -> String {
    mailctl::passwords::hash_sha512_crypt("mailu-import-test").expect("hash")
}

#[test]
fn a_thousand_rows_import_and_the_config_validates() {
    let project = Project::new();
    let hash = sha512_crypt_hash();
    let mut csv = String::from("address,password,password_hash,quota,name\n");
    for index in 0..1_000 {
        // Every tenth row has a password to hash; the others a hash to keep.
        let domain = if index % 2 == 0 {
            "example.test"
        } else {
            "example.org"
        };
        if index % 10 == 0 {
            csv.push_str(&format!(
                "user{index:04}@{domain},password-{index:04}-secret,,1G,\"User {index}, Bulk\"\n"
            ));
        } else {
            csv.push_str(&format!("user{index:04}@{domain},,{hash},,\n"));
        }
    }
    let file = project.file("users.csv", &csv);
    let output = project.run(&["user", "import", file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        stderr(&output).contains("imported 1000 mailboxes, skipped 0 invalid rows"),
        "{}",
        describe(&output)
    );

    let config = project.config();
    assert_eq!(config.mailboxes.len(), 1_001);
    let hashed = mailbox(&config, "user0010@example.test");
    assert!(verifies(&hashed.password_hash, "password-0010-secret"));
    assert_eq!(hashed.quota, Some(Size::from_bytes(1 << 30)));
    assert_eq!(hashed.name.as_deref(), Some("User 10, Bulk"));
    assert_eq!(mailbox(&config, "user0011@example.org").password_hash, hash);
    // The generated files were written for the new mailboxes too.
    let check = project.run(&["render", "--check"]);
    assert!(check.status.success(), "{}", describe(&check));
}

/// Three bad rows (lines 3, 5 and 7) among four good ones.
const MIXED_CSV: &str = "address,password,password_hash,quota,name\n\
    ann@example.test,ann-long-password,,,Ann\n\
    not an address,bob-long-password,,,\n\
    cid@example.org,cid-long-password,,500M,\n\
    dan@nowhere.test,dan-long-password,,,\n\
    eve@example.org,eve-long-password,,,\n\
    ANN@example.test,ann-other-password,,,\n\
    fay@example.test,fay-long-password,,,\n";

#[test]
fn bad_rows_are_all_reported_and_nothing_changes() {
    let project = Project::new();
    let before = project.config_bytes();
    let file = project.file("mixed.csv", MIXED_CSV);
    let name = file.display().to_string();
    let output = project.run(&["user", "import", &name]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let text = stderr(&output);
    assert!(
        text.contains("has 3 invalid rows; nothing was imported"),
        "{text}"
    );
    for line in [3, 5, 7] {
        assert!(
            text.contains(&format!("{name}:{line}: ")),
            "line {line}\n{text}"
        );
    }
    for line in [2, 4, 6, 8] {
        assert!(
            !text.contains(&format!("{name}:{line}: ")),
            "line {line}\n{text}"
        );
    }
    assert!(text.contains("first on line 2"), "{text}");
    assert!(text.contains("--skip-invalid"), "{text}");
    assert_eq!(project.config_bytes(), before, "the configuration changed");
}

#[test]
fn skip_invalid_imports_the_good_rows() {
    let project = Project::new();
    let file = project.file("mixed.csv", MIXED_CSV);
    let name = file.display().to_string();
    let output = project.run(&["user", "import", &name, "--skip-invalid"]);
    assert!(output.status.success(), "{}", describe(&output));
    let text = stderr(&output);
    assert!(
        text.contains("imported 4 mailboxes, skipped 3 invalid rows"),
        "{text}"
    );
    for line in [3, 5, 7] {
        assert!(text.contains(&format!("skipped {name}:{line}: ")), "{text}");
    }
    let config = project.config();
    for address in [
        "ann@example.test",
        "cid@example.org",
        "eve@example.org",
        "fay@example.test",
    ] {
        assert!(config.mailbox(address).is_some(), "{address} missing");
    }
    assert_eq!(config.mailboxes.len(), 5);
    assert_eq!(
        mailbox(&config, "cid@example.org").quota,
        Some(Size::from_bytes(500 << 20))
    );
    assert!(verifies(
        &mailbox(&config, "ann@example.test").password_hash,
        "ann-long-password"
    ));
}

#[test]
fn yaml_lists_import_and_report_items_by_line() {
    let project = Project::new();
    let hash = sha512_crypt_hash();
    let yaml = format!(
        "# mailboxes\n\
         - address: jane@example.test\n  password: jane-long-password\n  quota: 2G\n  name: Jane Doe\n\
         - address: joe@example.org\n  password_hash: '{hash}'\n\
         - address: bad@example.org\n  password: short\n\
         - address: kim@example.org\n  pasword: typo-long-password\n"
    );
    let file = project.file("users.txt", &yaml);
    let name = file.display().to_string();

    // The extension says nothing, so the format must be given.
    let output = project.run(&["user", "import", &name]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("--format"),
        "{}",
        describe(&output)
    );

    let before = project.config_bytes();
    let output = project.run(&["user", "import", &name, "--format", "yaml"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let text = stderr(&output);
    assert!(text.contains(&format!("{name}:8: ")), "{text}");
    assert!(text.contains(&format!("{name}:10: ")), "{text}");
    assert!(text.contains("has 2 invalid rows"), "{text}");
    assert_eq!(project.config_bytes(), before);

    let output = project.run(&[
        "user",
        "import",
        &name,
        "--format",
        "yaml",
        "--skip-invalid",
    ]);
    assert!(output.status.success(), "{}", describe(&output));
    let config = project.config();
    let jane = mailbox(&config, "jane@example.test");
    assert_eq!(jane.quota, Some(Size::from_bytes(2 << 30)));
    assert_eq!(jane.name.as_deref(), Some("Jane Doe"));
    assert!(verifies(&jane.password_hash, "jane-long-password"));
    assert_eq!(mailbox(&config, "joe@example.org").password_hash, hash);
    assert!(config.mailbox("bad@example.org").is_none());
    assert!(config.mailbox("kim@example.org").is_none());

    // Importing again: every row is now a duplicate, and nothing changes.
    let before = project.config_bytes();
    let output = project.run(&["user", "import", &name, "--format", "yaml"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(stderr(&output).contains("already exists"));
    assert_eq!(project.config_bytes(), before);
}

/// The line of the first line of the fixture holding `needle`.
fn fixture_line(needle: &str) -> usize {
    MAILU_EXPORT
        .lines()
        .position(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` is not in the fixture"))
        + 1
}

/// The hash the fixture gives `address`'s user, as written.
fn fixture_password(address: &str) -> String {
    let start = fixture_line(&format!("- email: {address}"));
    let line = MAILU_EXPORT
        .lines()
        .skip(start)
        .find(|line| line.starts_with("    password: "))
        .expect("a password line");
    let value = line.trim_start_matches("    password: ");
    value.trim_matches('\'').to_owned()
}

fn import_mailu(project: &Project) -> Output {
    let output = project.run(&[
        "import",
        "mailu",
        fixture("mailu-export.yaml").to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", describe(&output));
    output
}

#[test]
fn mailu_export_imports_domains_users_and_aliases() {
    let project = Project::new();
    let output = import_mailu(&project);
    let text = stderr(&output);
    let config = project.config();

    // Domains: the two new ones with fresh DKIM keys; example.org was there.
    let names: Vec<&str> = config.domains.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "example.test",
            "example.org",
            "example.com",
            "xn--bcher-kva.example"
        ]
    );
    for domain in ["example.com", "xn--bcher-kva.example"] {
        let selectors = &config.domain(domain).unwrap().dkim;
        assert_eq!(selectors.len(), 2);
        for selector in selectors {
            let key = project
                .dir
                .join("dkim")
                .join(domain)
                .join(format!("{}.key", selector.selector));
            assert!(key.is_file(), "{} missing", key.display());
        }
    }
    assert!(
        text.contains("domain `example.org` is already configured"),
        "{text}"
    );

    // Hashes Dovecot verifies are kept verbatim, labelled with their scheme.
    let alice = mailbox(&config, "alice@example.com");
    assert_eq!(
        alice.password_hash,
        format!("{{BLF-CRYPT}}{}", fixture_password("alice@example.com"))
    );
    let bob = mailbox(&config, "bob@example.com");
    assert_eq!(bob.password_hash, fixture_password("bob@example.com"));
    assert!(bob
        .password_hash
        .starts_with("{SHA512-CRYPT}$6$rounds=656000$"));
    let erin = mailbox(&config, "erin@example.com");
    assert_eq!(
        erin.password_hash,
        format!("{{SHA256-CRYPT}}{}", fixture_password("erin@example.com"))
    );
    let frank = mailbox(&config, "frank@xn--bcher-kva.example");
    assert_eq!(
        frank.password_hash,
        fixture_password("frank@bücher.example")
    );
    assert!(!frank.enabled, "disabled in Mailu, disabled here");
    assert!(alice.enabled && bob.enabled && erin.enabled);

    // Unverifiable or refused schemes: disabled, unusable hash, reported.
    for (address, scheme) in [
        ("carol@example.org", "{PBKDF2}"),
        ("dave@example.org", "$bcrypt-sha256$"),
        ("grace@xn--bcher-kva.example", "{MD5-CRYPT}"),
    ] {
        let user = mailbox(&config, address);
        assert!(!user.enabled, "{address} should be disabled");
        assert!(user.password_hash.starts_with("{ARGON2ID}$argon2id$"));
        assert!(
            text.contains(&format!(
                "password must be reset: `mailctl user passwd {address}`"
            )),
            "{address}\n{text}"
        );
        let reported = text
            .lines()
            .find(|line| line.contains(&format!("`{address}` is imported disabled")))
            .unwrap_or_else(|| panic!("{address} not reported\n{text}"));
        assert!(reported.contains(scheme), "{reported}");
    }
    assert!(
        text.contains("Dovecot's `{PBKDF2}` is `$1$salt$rounds$hex`"),
        "{text}"
    );
    assert!(
        text.contains("3 mailboxes must have their password reset"),
        "{text}"
    );

    // Quotas, names, forwarding and automatic replies.
    assert_eq!(alice.quota, Some(Size::from_bytes(2 << 30)));
    assert_eq!(bob.quota, Some(Size::from_bytes(1_000_000_000)));
    assert_eq!(mailbox(&config, "carol@example.org").quota, None);
    assert_eq!(frank.quota, Some(Size::from_bytes(500 << 20)));
    assert_eq!(alice.name.as_deref(), Some("Alice Martin"));
    let reply = alice.autoreply.as_ref().expect("alice answers");
    assert_eq!(reply.subject, "Out of office");
    assert!(reply.body.starts_with("I am on holiday until 15 July.\n"));
    assert_eq!(reply.from.as_deref(), Some("2024-07-01"));
    assert_eq!(reply.until.as_deref(), Some("2024-07-15"));
    let forward = erin.forward.as_ref().expect("erin forwards");
    assert_eq!(forward.to, vec!["erin.leroy@gmail.test".to_owned()]);
    assert!(!forward.keep);

    // Aliases: lists, comma strings, the `%` wildcard as catch-all, and the
    // role aliases `mailctl domain add` makes for the new domains.
    let alias = |source: &str| -> Vec<String> {
        config
            .aliases
            .iter()
            .find(|alias| alias.source == source)
            .unwrap_or_else(|| panic!("no alias `{source}`"))
            .destinations
            .clone()
    };
    assert_eq!(
        alias("info@example.com"),
        ["alice@example.com", "bob@example.com"]
    );
    assert_eq!(alias("@example.org"), ["carol@example.org"]);
    assert_eq!(
        alias("team@example.org"),
        [
            "carol@example.org",
            "dave@example.org",
            "partner@external.test"
        ]
    );
    assert_eq!(
        alias("sales@example.com"),
        ["bob@example.com", "alice@example.com"]
    );
    assert_eq!(
        alias("kontakt@xn--bcher-kva.example"),
        ["grace@xn--bcher-kva.example"]
    );
    for domain in ["example.com", "xn--bcher-kva.example"] {
        for role in ["postmaster", "abuse"] {
            assert_eq!(alias(&format!("{role}@{domain}")), ["admin@example.test"]);
        }
    }

    // What is not imported is said, with its line.
    let path = fixture("mailu-export.yaml").display().to_string();
    for (needle, message) in [
        (
            "- name: legacy.example.net",
            "relay `legacy.example.net` is not imported",
        ),
        (
            "- name: example.com",
            "alternative domain `example-mail.com`",
        ),
        ("- email: bob@example.com", "the authentication tokens"),
        ("- email: alice@example.com", "the fetched accounts"),
    ] {
        let expected = format!("{path}:{}: {message}", fixture_line(needle));
        assert!(text.contains(&expected), "{expected}\n{text}");
    }
    assert!(
        text.contains("imported 2 domains, 7 mailboxes, 9 aliases, skipped 0 invalid rows"),
        "{text}"
    );

    // The same export again: everything is a duplicate now.
    let before = project.config_bytes();
    let again = project.run(&[
        "import",
        "mailu",
        fixture("mailu-export.yaml").to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(1), "{}", describe(&again));
    assert_eq!(project.config_bytes(), before);
}

#[test]
fn mailu_invalid_entries_are_reported_by_line() {
    let project = Project::new();
    let export = format!(
        "{MAILU_EXPORT}\n\
         # appended by the test\n\
         extra: ignored\n"
    )
    .replace(
        "  - email: team@example.org\n",
        "  - email: 'sales-%@example.com'\n    destination: [bob@example.com]\n    wildcard: true\n\n  - email: team@example.org\n",
    )
    .replace(
        "    password: '{SHA512-CRYPT}",
        "    password: not-a-hash\n    comment: '{SHA512-CRYPT}",
    );
    let file = project.file("mailu.yaml", &export);
    let name = file.display().to_string();
    let line_of = |needle: &str| {
        export
            .lines()
            .position(|line| line.contains(needle))
            .unwrap()
            + 1
    };
    let before = project.config_bytes();
    let output = project.run(&["import", "mailu", &name]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let text = stderr(&output);
    // Bob's hash is not one, and the two aliases to bob cannot deliver.
    assert!(text.contains("has 4 invalid rows"), "{text}");
    for needle in [
        "- email: bob@example.com",
        "- email: info@example.com",
        "- email: sales@example.com",
    ] {
        assert!(
            text.contains(&format!("{name}:{}: ", line_of(needle))),
            "{needle}\n{text}"
        );
    }
    assert!(
        text.contains(&format!("{name}:{}: wildcard alias", line_of("sales-%"))),
        "{text}"
    );
    assert_eq!(project.config_bytes(), before);

    let output = project.run(&["import", "mailu", &name, "--skip-invalid"]);
    assert!(output.status.success(), "{}", describe(&output));
    let config = project.config();
    assert!(config.mailbox("bob@example.com").is_none());
    for source in ["info@example.com", "sales@example.com"] {
        assert!(config.aliases.iter().all(|alias| alias.source != source));
    }
    assert!(config.mailbox("alice@example.com").is_some());
    assert!(
        stderr(&output).contains("skipped 4 invalid rows"),
        "{}",
        describe(&output)
    );
}

// --- Dovecot -----------------------------------------------------------------

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("cannot run docker: this test needs the Docker CLI and daemon")
}

#[test]
fn mailu_hashes_verify_in_dovecot() {
    let project = Project::new();
    import_mailu(&project);
    let config = project.config();
    let bob = &mailbox(&config, "bob@example.com").password_hash;
    let frank = &mailbox(&config, "frank@xn--bcher-kva.example").password_hash;
    assert!(bob.starts_with("{SHA512-CRYPT}"));
    assert!(frank.starts_with("{BLF-CRYPT}"));
    let image = crate::support::ensure_image("imap");
    let script = r#"doveadm pw -t "$1" -p "$2" && doveadm pw -t "$3" -p "$4" \
        && ! doveadm pw -t "$1" -p wrong-password 2>/dev/null && echo all-verified"#;
    let output = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "sh",
        &image,
        "-c",
        script,
        "sh",
        bob,
        "bob-Secret-2024",
        frank,
        "frank-Secret-2024",
    ]);
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout).contains("all-verified"),
        "{}",
        describe(&output)
    );
}
