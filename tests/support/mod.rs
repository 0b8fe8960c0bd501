//! What the test binaries share (`tests/fast`, `tests/e2e`): runs the real
//! `mailctl` binary and `docker`, creates
//! `debian:bookworm-slim` when it is missing, picks a unique project name,
//! free host ports and a free private subnet, and removes everything a
//! project made when the test ends, however it ends (the [`Cleanup`] guard).
//! Each test binary uses a part of it, hence the `dead_code` allowance.
//! Suites run side by side in one process, so ports and subnets are handed
//! out once each.
#![allow(dead_code)]

pub mod bind;
pub mod clients;
pub mod internet;
pub mod run;
pub mod swaks;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

#[allow(unused_imports)]
pub use run::{Input, Mailctl, BINARY};

pub const PORT_NAMES: [&str; 8] = [
    "smtp",
    "submissions",
    "submission",
    "imaps",
    "pop3s",
    "sieve",
    "http",
    "https",
];

/// `mailctl init` as the README calls it: two domains, the admin mailbox,
/// a self-signed certificate (no ACME in tests unless a test asks).
pub const INIT: [&str; 11] = [
    "init",
    "--hostname",
    "mail.example.test",
    "--domain",
    "example.test",
    "--domain",
    "example.org",
    "--admin",
    "admin@example.test",
    "--tls",
    "self-signed",
];

/// A second `up` on a running stack says it has nothing to do and leaves
/// every container as it was.
#[track_caller]
pub fn assert_second_up_changes_nothing(dir: &Path, project: &str) {
    let before = containers(project);
    assert_eq!(before.len(), 7, "{before:?}");
    let output = mailctl(dir, &["up"]);
    assert_success(&output, "second up");
    assert!(
        stderr(&output).contains("nothing to do"),
        "{}",
        text(&output)
    );
    assert_eq!(
        containers(project),
        before,
        "the second up replaced containers"
    );
}

/// Runs `mailctl -C <dir> <args>` with stdin closed (no terminal).
pub fn mailctl(dir: &Path, args: &[&str]) -> Output {
    Mailctl::in_dir(dir, args).output()
}

pub fn mailctl_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    env.iter()
        .fold(Mailctl::in_dir(dir, args), |run, (key, value)| {
            run.env(key, value)
        })
        .output()
}

/// Runs `mailctl -C <dir> <args>` with `input` on stdin (still no terminal).
pub fn mailctl_with_input(dir: &Path, args: &[&str], input: &str) -> Output {
    Mailctl::in_dir(dir, args).stdin(input).output()
}

pub fn text(output: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
pub fn assert_success(output: &Output, what: &str) {
    assert!(output.status.success(), "{what} failed\n{}", text(output));
}

/// `docker <args>` and its stdout; panics when docker fails.
pub fn docker(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .output()
        .expect("cannot run docker");
    assert!(
        output.status.success(),
        "docker {args:?} failed\n{}",
        text(&output)
    );
    stdout(&output)
}

pub fn lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// Container name → id for the project's containers.
pub fn containers(project: &str) -> BTreeMap<String, String> {
    docker(&[
        "ps",
        "-a",
        "--no-trunc",
        "--filter",
        &format!("label=mailctl.project={project}"),
        "--format",
        "{{.Names}} {{.ID}}",
    ])
    .lines()
    .filter_map(|line| line.split_once(' '))
    .map(|(name, id)| (name.to_owned(), id.to_owned()))
    .collect()
}

pub fn networks(project: &str) -> Vec<String> {
    lines(&docker(&[
        "network",
        "ls",
        "--filter",
        &format!("label=mailctl.project={project}"),
        "--format",
        "{{.Name}}",
    ]))
}

pub fn volumes(project: &str) -> Vec<String> {
    lines(&docker(&[
        "volume",
        "ls",
        "--filter",
        &format!("label=mailctl.project={project}"),
        "--format",
        "{{.Name}}",
    ]))
}

/// Creates `debian:bookworm-slim` with the repository's bootstrap script
/// when the daemon lacks it (no registry is reachable here).
pub fn ensure_base_image() {
    let present = Command::new("docker")
        .args(["image", "inspect", "debian:bookworm-slim"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("cannot run docker");
    if present.success() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/bootstrap-base-image.sh");
    let output = Command::new("bash")
        .arg(&script)
        .output()
        .expect("cannot run the bootstrap script");
    assert!(
        output.status.success(),
        "bootstrap-base-image.sh failed\n{}",
        text(&output)
    );
}

/// The image mailctl builds for `service` from this source tree, built
/// from the embedded context exactly as `mailctl up` builds it when the
/// daemon lacks it; its reference.
pub fn ensure_image(service: &str) -> String {
    let reference = mailctl::images::reference(service).expect("image reference");
    let present = Command::new("docker")
        .args(["image", "inspect", &reference])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("cannot run docker");
    if present.success() {
        return reference;
    }
    ensure_base_image();
    let context = mailctl::images::context_tar(service).expect("build context");
    let dockerfile = mailctl::images::dockerfile(service);
    docker_build(&["-q", "-t", &reference, "-f", &dockerfile], &context);
    reference
}

/// Ports and subnets this process has handed out: suites run side by side,
/// and a port found free is free only until somebody binds it.
static HANDED_OUT: Mutex<(BTreeSet<u16>, BTreeSet<String>)> =
    Mutex::new((BTreeSet::new(), BTreeSet::new()));

fn handed_out() -> std::sync::MutexGuard<'static, (BTreeSet<u16>, BTreeSet<String>)> {
    HANDED_OUT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `docker build ARGS -` with `input` (a Dockerfile or a tar context) on
/// stdin; panics with the build's output when it fails.
pub fn docker_build(args: &[&str], input: &[u8]) {
    let mut child = Command::new("docker")
        .arg("build")
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run docker build");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input)
        .expect("cannot send the build input");
    let output = child.wait_with_output().expect("cannot run docker build");
    assert!(
        output.status.success(),
        "docker build {args:?} failed\n{}",
        text(&output)
    );
}

/// Eight distinct free TCP ports on 127.0.0.1, chosen by the kernel and
/// never handed out twice in this process.
pub fn free_ports() -> Vec<u16> {
    let mut handed_out = handed_out();
    let mut ports = Vec::new();
    let mut listeners = Vec::new();
    while ports.len() < PORT_NAMES.len() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind a free port");
        let port = listener.local_addr().unwrap().port();
        if handed_out.0.insert(port) {
            ports.push(port);
        }
        listeners.push(listener);
    }
    ports
}

/// A /24 that no Docker network uses yet.
pub fn free_subnet() -> String {
    let ids = docker(&["network", "ls", "-q"]);
    let ids: Vec<&str> = ids.split_whitespace().collect();
    let used = if ids.is_empty() {
        String::new()
    } else {
        let mut args = vec![
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
        ];
        args.extend(ids);
        docker(&args)
    };
    let start = std::process::id() % 200;
    let mut handed_out = handed_out();
    let subnet = (0..200)
        .map(|offset| format!("10.213.{}.0/24", (start + offset) % 200 + 20))
        .find(|subnet| !used.contains(subnet.as_str()) && !handed_out.1.contains(subnet))
        .expect("no free test subnet");
    handed_out.1.insert(subnet.clone());
    subnet
}

/// Removes everything the project made when the test ends, however it ends.
pub struct Cleanup {
    pub dir: PathBuf,
    pub project: String,
    temporary: Option<tempfile::TempDir>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if std::env::var_os("MAILCTL_TEST_KEEP").is_some() {
            eprintln!(
                "MAILCTL_TEST_KEEP set: leaving project `{}` in {}",
                self.project,
                self.dir.display()
            );
            if let Some(temporary) = self.temporary.take() {
                let _ = temporary.keep();
            }
            return;
        }
        if self.dir.join("mailctl.yaml").exists() {
            let output = mailctl(&self.dir, &["down", "--volumes", "--yes"]);
            if !output.status.success() {
                eprintln!(
                    "cleanup: `mailctl down --volumes --yes` failed\n{}",
                    text(&output)
                );
            }
        }
        // Belt and braces: whatever still carries the label goes too.
        let quiet = |args: &[&str]| {
            let _ = Command::new("docker")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        // Stopped first, not killed: the guard takes its firewall rules
        // away only when it is stopped.
        for (_, id) in containers(&self.project) {
            quiet(&["stop", "-t", "10", &id]);
            quiet(&["rm", "-f", "-v", &id]);
        }
        for network in networks(&self.project) {
            quiet(&["network", "rm", &network]);
        }
        for volume in volumes(&self.project) {
            quiet(&["volume", "rm", "-f", &volume]);
        }
    }
}

/// A fresh project (`mailctl init`) with unique name, ports and subnet.
pub fn new_project(prefix: &str) -> (Cleanup, BTreeMap<&'static str, u16>) {
    new_project_with(prefix, &[], None)
}

/// [`new_project`] with further `init` flags and, when given, `stdin` piped
/// to `init` (for `--admin-password-stdin`).
pub fn new_project_with(
    prefix: &str,
    extra_args: &[&str],
    stdin: Option<&str>,
) -> (Cleanup, BTreeMap<&'static str, u16>) {
    let ports: BTreeMap<&'static str, u16> = PORT_NAMES.iter().copied().zip(free_ports()).collect();
    let mut args: Vec<String> = INIT[1..]
        .iter()
        .chain(&["--bind", "127.0.0.1"])
        .map(|arg| (*arg).to_owned())
        .collect();
    for (name, port) in &ports {
        args.push("--port".to_owned());
        args.push(format!("{name}={port}"));
    }
    args.extend(extra_args.iter().map(|arg| (*arg).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (init_project(prefix, &args, stdin), ports)
}

/// `mailctl init ARGS` in a new temporary project with a unique name and a
/// free subnet (`--subnet`, `--name` and `--yes` are added), `stdin` piped
/// to it when given. The guard exists before `init` runs, so nothing
/// outlives a failure.
pub fn init_project(prefix: &str, args: &[&str], stdin: Option<&str>) -> Cleanup {
    let temporary = tempfile::tempdir().unwrap();
    let dir = temporary.path().join("project");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let project = format!("{prefix}{}x{}", std::process::id(), nanos % 100_000);
    let subnet = free_subnet();
    let mut all = vec!["init", "--subnet", &subnet, "--name", &project, "--yes"];
    all.extend_from_slice(args);
    let cleanup = Cleanup {
        dir: dir.clone(),
        project: project.clone(),
        temporary: Some(temporary),
    };
    let output = match stdin {
        Some(input) => mailctl_with_input(&dir, &all, input),
        None => mailctl(&dir, &all),
    };
    assert_success(&output, "mailctl init");
    cleanup
}
