//! The binary end to end without Docker: `init` in its non-interactive
//! forms, then `render` and `dns` on the project it made. Outputs are
//! snapshotted (exit code, stdout, stderr) with temporary paths, generated
//! passwords, DKIM keys and dated selectors filtered out.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use argon2::PasswordVerifier;

/// The call the README gives, run with `-C <temp>`.
use crate::support::INIT;
use crate::support::{Input, Mailctl};

/// How long one command may run before the test gives up on it.
const TIME_LIMIT: Duration = Duration::from_secs(120);

/// What one run of the binary did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Exit code and both streams, with everything that differs between
    /// runs replaced by a placeholder.
    fn normalised(&self, project: &Path) -> String {
        let text = format!(
            "exit code: {:?}\n----- stdout -----\n{}----- stderr -----\n{}",
            self.code, self.stdout, self.stderr
        );
        let project = project.display().to_string();
        text.replace(&project, "[PROJECT]")
    }
}

/// Runs `mailctl -C project args…`, killing it after `TIME_LIMIT`.
fn mailctl(project: &Path, args: &[&str], input: Input) -> Run {
    let output = Mailctl::in_dir(project, args)
        .input(input)
        .limit(TIME_LIMIT)
        .output();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A fresh project directory (not yet created) inside a temp dir.
fn project_dir() -> (tempfile::TempDir, PathBuf) {
    let parent = tempfile::tempdir().expect("temp dir");
    let project = parent.path().join("mail");
    (parent, project)
}

/// `init` with the README's flags plus `extra`, asserting success.
fn init(project: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<&str> = INIT.to_vec();
    args.extend_from_slice(extra);
    let run = mailctl(project, &args, Input::Null);
    assert!(run.success(), "init failed:\n{}", run.stderr);
    run
}

/// Filters for what changes between runs: generated passwords, DKIM
/// public keys, selectors named after the current month.
fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"(?m)^[a-km-zA-HJ-NP-Z2-9]{20}$", "[PASSWORD]"),
        (
            r#"p=[A-Za-z0-9+/=]{40,}(?:" "[A-Za-z0-9+/=]+)*"#,
            "p=[PUBLIC KEY]",
        ),
        (r"\b(rsa|ed)20[0-9]{4}\b", "${1}[YYYYMM]"),
    ]
}

macro_rules! snapshot {
    ($name:expr, $text:expr) => {
        insta::with_settings!({ filters => filters() }, {
            insta::assert_snapshot!($name, $text);
        })
    };
}

/// Every file under `root` with its bytes and mode, by relative path.
fn files(root: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    let mut found = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(directory) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let metadata = std::fs::symlink_metadata(&path).expect("metadata");
            let mode = metadata.permissions().mode() & 0o7777;
            let relative = path.strip_prefix(root).expect("inside root").to_owned();
            if metadata.is_dir() {
                found.insert(relative, (Vec::new(), mode));
                stack.push(path);
            } else {
                found.insert(relative, (std::fs::read(&path).expect("readable"), mode));
            }
        }
    }
    found
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn load(project: &Path) -> mailctl::config::Config {
    mailctl::config::load_file(&project.join("mailctl.yaml"))
        .unwrap_or_else(|error| panic!("mailctl.yaml does not load: {error}"))
}

fn admin_hash(project: &Path) -> String {
    load(project)
        .mailbox("admin@example.test")
        .expect("the admin mailbox exists")
        .password_hash
        .clone()
}

/// Checks `password` against a `{ARGON2ID}` hash the way Dovecot would.
fn argon2_verifies(hash: &str, password: &str) -> bool {
    let phc = hash.strip_prefix("{ARGON2ID}").expect("an {ARGON2ID} hash");
    argon2::Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

#[test]
fn init_then_render_check_then_dns() {
    let (_parent, project) = project_dir();

    let run = init(&project, &["--yes"]);
    snapshot!("init", run.normalised(&project));

    let run = mailctl(&project, &["render", "--check"], Input::Null);
    assert!(run.success(), "render --check failed:\n{}", run.stderr);
    assert!(run.stderr.contains("up to date"), "{}", run.stderr);
    snapshot!("render_check", run.normalised(&project));

    let run = mailctl(&project, &["dns"], Input::Null);
    assert!(run.success(), "dns failed:\n{}", run.stderr);
    for domain in ["example.test", "example.org"] {
        let zone = &run.stdout;
        assert!(
            zone.contains(&format!("{domain}.")),
            "no records for {domain}"
        );
        assert!(
            zone.lines()
                .any(|line| line.starts_with(&format!("{domain}.")) && line.contains(" MX ")),
            "no MX for {domain}"
        );
        assert!(zone.contains("v=spf1"), "no SPF record");
        assert!(
            zone.contains(&format!("._domainkey.{domain}.")),
            "no DKIM for {domain}"
        );
        assert!(
            zone.contains(&format!("_dmarc.{domain}.")),
            "no DMARC for {domain}"
        );
    }
    assert!(run.stdout.contains("v=DKIM1; k=rsa; p=") && run.stdout.contains("v=DMARC1"));
    snapshot!("dns_zone", run.normalised(&project));

    let run = mailctl(&project, &["dns", "--format", "json"], Input::Null);
    assert!(run.success(), "dns --format json failed:\n{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|error| panic!("dns --format json is not JSON: {error}\n{}", run.stdout));
    let text = json.to_string();
    for needle in [
        "example.test",
        "example.org",
        "MX",
        "v=spf1",
        "v=DKIM1",
        "v=DMARC1",
    ] {
        assert!(text.contains(needle), "the JSON lacks `{needle}`");
    }
    snapshot!("dns_json", run.normalised(&project));
}

#[test]
fn files_are_private() {
    let (_parent, project) = project_dir();
    init(&project, &["--yes"]);

    assert_eq!(mode(&project.join("mailctl.yaml")), 0o600, "mailctl.yaml");
    let secrets = project.join("secrets");
    assert_eq!(mode(&secrets), 0o700, "secrets/");
    let mut secret_files = 0;
    for entry in std::fs::read_dir(&secrets).expect("secrets/ is listed") {
        let path = entry.expect("entry").path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        secret_files += 1;
    }
    assert!(secret_files > 0, "secrets/ is empty");

    let keys: Vec<PathBuf> = files(&project.join("dkim"))
        .into_iter()
        .filter(|(path, _)| path.extension().is_some_and(|extension| extension == "key"))
        .map(|(path, _)| project.join("dkim").join(path))
        .collect();
    assert_eq!(
        keys.len(),
        4,
        "two selectors for each of two domains: {keys:?}"
    );
    for key in &keys {
        assert_eq!(mode(key), 0o600, "{}", key.display());
        assert_eq!(
            mode(key.parent().expect("a domain directory")),
            0o700,
            "{}",
            key.display()
        );
    }

    let generated = files(&project.join("generated"));
    assert!(generated.contains_key(Path::new("docker-compose.yml")));
    for (path, (_, mode)) in &generated {
        assert_eq!(
            mode & 0o007,
            0,
            "generated/{} is world-accessible ({mode:o})",
            path.display()
        );
    }
}

#[test]
fn init_again_without_force_changes_nothing() {
    let (_parent, project) = project_dir();
    init(&project, &["--yes"]);
    let before = files(&project);

    let mut args = INIT.to_vec();
    args.push("--yes");
    let run = mailctl(&project, &args, Input::Null);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(
        run.stderr.contains("already holds a mailctl project"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        files(&project) == before,
        "a refused init changed the project"
    );
    snapshot!("init_again_without_force", run.normalised(&project));
}

#[test]
fn init_force_keeps_keys_secrets_and_the_admin_password() {
    let (_parent, project) = project_dir();
    init(&project, &["--yes"]);
    let before = files(&project);
    let hash = admin_hash(&project);

    let run = init(&project, &["--yes", "--force"]);
    assert!(
        run.stdout.is_empty(),
        "a kept mailbox's password was printed: {}",
        run.stdout
    );
    let after = files(&project);
    for (path, content) in &before {
        if path.starts_with("dkim") || path.starts_with("secrets") {
            assert!(
                after.get(path) == Some(content),
                "{} changed",
                path.display()
            );
        }
    }
    let kept_keys = before
        .keys()
        .filter(|path| path.starts_with("dkim"))
        .count();
    assert_eq!(
        after.keys().filter(|path| path.starts_with("dkim")).count(),
        kept_keys
    );
    assert_eq!(admin_hash(&project), hash, "the admin's hash changed");

    let run = mailctl(&project, &["render", "--check"], Input::Null);
    assert!(run.success(), "{}", run.stderr);
}

#[test]
fn admin_password_from_stdin_is_stored_as_argon2id() {
    let (_parent, project) = project_dir();
    let password = "correct horse battery staple";
    let mut args = INIT.to_vec();
    args.extend(["--yes", "--admin-password-stdin"]);
    let run = mailctl(&project, &args, Input::Text(format!("{password}\n")));
    assert!(run.success(), "{}", run.stderr);
    assert!(
        run.stdout.is_empty(),
        "a given password is not printed: {}",
        run.stdout
    );

    let hash = admin_hash(&project);
    assert!(hash.starts_with("{ARGON2ID}$argon2id$"), "{hash}");
    assert!(
        argon2_verifies(&hash, password),
        "the hash does not verify the password"
    );
    assert!(
        !argon2_verifies(&hash, "wrong password"),
        "the hash verifies anything"
    );
    let config_text = std::fs::read_to_string(project.join("mailctl.yaml")).expect("config");
    assert!(
        !config_text.contains(password),
        "the password is stored in plain text"
    );
}

#[test]
fn admin_password_stdin_empty_is_an_error() {
    let (_parent, project) = project_dir();
    let mut args = INIT.to_vec();
    args.extend(["--yes", "--admin-password-stdin"]);
    let run = mailctl(&project, &args, Input::Text(String::new()));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(
        run.stderr.contains("stdin held no password"),
        "{}",
        run.stderr
    );
    assert!(
        files(&project).is_empty(),
        "a failed init left files: {:?}",
        files(&project).keys()
    );
    snapshot!("admin_password_stdin_empty", run.normalised(&project));
}

#[test]
fn without_a_terminal_a_password_is_generated_and_printed_once() {
    let (_parent, project) = project_dir();
    let run = init(&project, &["--yes"]);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "stdout holds only the password: {:?}",
        run.stdout
    );
    let password = lines[0];
    assert_eq!(password.chars().count(), 20, "{password:?}");
    assert!(
        !run.stderr.contains(password),
        "the password is also on stderr"
    );
    assert!(run.stderr.contains("shown once"), "{}", run.stderr);
    assert!(
        argon2_verifies(&admin_hash(&project), password),
        "the printed password is not the stored one"
    );
    let config_text = std::fs::read_to_string(project.join("mailctl.yaml")).expect("config");
    assert!(!config_text.contains(password));

    // Shown once: a later run does not show it again.
    let run = init(&project, &["--yes", "--force"]);
    assert!(!run.stdout.contains(password) && !run.stderr.contains(password));
}

#[test]
fn answers_file_is_read_and_flags_win() {
    let (_parent, project) = project_dir();
    let answers = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-answers.yaml");
    let answers_arg = answers.display().to_string();
    let run = mailctl(
        &project,
        &[
            "init",
            "--answers",
            &answers_arg,
            "--yes",
            "--hostname",
            "mx.example.test",
            "--port",
            "smtp=2526",
            "--name",
            "flag-wins",
        ],
        Input::Null,
    );
    assert!(run.success(), "{}", run.stderr);
    let config = load(&project);
    // From the flags.
    assert_eq!(config.hostname, "mx.example.test");
    assert_eq!(config.ports.smtp.number(), Some(2526));
    assert_eq!(config.name, "flag-wins");
    // From the answers file.
    let domains: Vec<&str> = config
        .domains
        .iter()
        .map(|domain| domain.name.as_str())
        .collect();
    assert_eq!(domains, ["example.test", "example.org"]);
    assert_eq!(config.primary_domain, "example.test");
    assert!(config.mailbox("admin@example.test").is_some());
    assert_eq!(config.tls.mode, mailctl::config::TlsMode::SelfSigned);
    assert_eq!(config.network.subnet, "172.30.54.0/24");
    assert_eq!(
        config.network.bind,
        ["127.0.0.1".parse::<std::net::IpAddr>().expect("address")]
    );
    assert_eq!(config.ports.submissions.number(), Some(4465));
    assert_eq!(config.ports.https.number(), Some(8443));
}

#[test]
fn without_a_terminal_or_yes_init_never_waits_for_input() {
    // stdin is /dev/null.
    let (_parent, project) = project_dir();
    let run = mailctl(&project, &INIT, Input::Null);
    assert!(run.success(), "{}", run.stderr);
    assert!(project.join("mailctl.yaml").is_file());

    // stdin is a pipe that never delivers anything: any read would hang
    // until the time limit kills the command.
    let (_parent, project) = project_dir();
    let run = mailctl(
        &project,
        &["init", "--domain", "example.test", "--tls", "self-signed"],
        Input::Silent,
    );
    assert!(run.success(), "{}", run.stderr);
    let config = load(&project);
    assert_eq!(config.hostname, "mail.example.test", "defaults are taken");
    assert!(config.mailbox("admin@example.test").is_some());
}

#[test]
fn render_check_finds_a_hand_edit_and_render_repairs_it() {
    let (_parent, project) = project_dir();
    init(&project, &["--yes"]);
    let compose = project.join("generated/docker-compose.yml");
    let original = std::fs::read_to_string(&compose).expect("compose file");
    let edited = format!("# edited by hand\n{original}");
    std::fs::write(&compose, &edited).expect("compose file is written");

    let run = mailctl(&project, &["render", "--check"], Input::Null);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("generated/docker-compose.yml"),
        "{}",
        run.stderr
    );
    snapshot!("render_check_after_hand_edit", run.normalised(&project));

    let run = mailctl(&project, &["render", "--diff"], Input::Null);
    assert!(
        run.stdout.contains("--- a/generated/docker-compose.yml"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("+++ b/generated/docker-compose.yml"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("@@ "), "{}", run.stdout);
    assert!(
        run.stdout.lines().any(|line| line == "-# edited by hand"),
        "{}",
        run.stdout
    );
    assert_eq!(
        std::fs::read_to_string(&compose).expect("compose file"),
        edited,
        "render --diff changed the file"
    );
    snapshot!("render_diff_after_hand_edit", run.normalised(&project));

    let run = mailctl(&project, &["render"], Input::Null);
    assert!(run.success(), "{}", run.stderr);
    assert!(
        run.stderr.contains("updated generated/docker-compose.yml"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&compose).expect("compose file"),
        original
    );
    let run = mailctl(&project, &["render", "--check"], Input::Null);
    assert!(run.success(), "{}", run.stderr);
}

#[test]
fn a_stale_generated_file_is_reported_and_removed() {
    let (_parent, project) = project_dir();
    init(&project, &["--yes"]);
    let stale = project.join("generated/config/smtp/left-over.cf");
    std::fs::create_dir_all(stale.parent().expect("parent")).expect("directory");
    std::fs::write(&stale, "old = yes\n").expect("stale file");

    let run = mailctl(&project, &["render", "--check"], Input::Null);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("stale    generated/config/smtp/left-over.cf"),
        "{}",
        run.stderr
    );
    assert!(stale.exists(), "render --check removed a file");

    let run = mailctl(&project, &["render"], Input::Null);
    assert!(run.success(), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("removed generated/config/smtp/left-over.cf"),
        "{}",
        run.stderr
    );
    assert!(!stale.exists(), "the stale file is still there");
    snapshot!("render_removes_stale_file", run.normalised(&project));
}

#[test]
fn compose_file_passes_docker_compose_and_yaml_1_1() {
    let (_parent, project) = project_dir();
    init(&project, &["--yes"]);
    let generated = project.join("generated");

    let output = Command::new("/usr/bin/docker-compose")
        .args(["config", "-q"])
        .current_dir(&generated)
        .output()
        .expect("docker-compose (Debian's 1.29) is installed at /usr/bin/docker-compose");
    assert!(
        output.status.success(),
        "docker-compose config -q failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // PyYAML reads YAML 1.1, where `25:25` would be a sexagesimal number.
    let script = "\
import sys, yaml
document = yaml.safe_load(open(sys.argv[1]))
bad = []
for name, service in (document.get('services') or {}).items():
    for entry in service.get('ports') or []:
        if not isinstance(entry, str):
            bad.append('%s: %r' % (name, entry))
print('\\n'.join(bad))
sys.exit(1 if bad else 0)
";
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(generated.join("docker-compose.yml"))
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "the compose file fails YAML 1.1 or has non-string ports:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let compose =
        std::fs::read_to_string(generated.join("docker-compose.yml")).expect("compose file");
    assert!(compose.contains("ports:"), "no service publishes a port");
}

#[test]
fn an_override_is_appended_to_the_generated_file() {
    let (_parent, project) = project_dir();
    init(&project, &["--yes"]);
    let generated = project.join("generated/config/smtp/main.cf");
    let template_exists = generated.is_file();
    let rendered_before = std::fs::read_to_string(&generated).unwrap_or_default();

    let snippet = "# site-specific\nsmtpd_banner = $myhostname ESMTP\n";
    let override_path = project.join("overrides/smtp/main.cf");
    std::fs::create_dir_all(override_path.parent().expect("parent")).expect("overrides/smtp");
    std::fs::write(&override_path, snippet).expect("override");

    let run = mailctl(&project, &["render", "--check"], Input::Null);
    assert_eq!(
        run.code,
        Some(1),
        "the override makes main.cf out of date: {}",
        run.stderr
    );
    let run = mailctl(&project, &["render"], Input::Null);
    assert!(run.success(), "{}", run.stderr);

    let rendered = std::fs::read_to_string(&generated).expect("generated main.cf");
    assert!(
        rendered.ends_with(snippet),
        "the override is not at the end:\n{rendered}"
    );
    if template_exists {
        assert!(
            rendered.starts_with(&rendered_before),
            "the rendered part changed"
        );
        assert!(
            rendered.contains("from overrides/smtp/main.cf"),
            "{rendered}"
        );
    }
    let run = mailctl(&project, &["render", "--check"], Input::Null);
    assert!(run.success(), "{}", run.stderr);
}
