//! End-to-end lifecycle against the real Docker daemon with the real
//! `mailctl` binary: init → up --dry-run → up (port taken) → up → status →
//! up (no-op) → one changed service → down/up keeps volumes → down --volumes.
//! Each of the two lifecycles (real images, stub images) is a scenario with
//! its own stack, whose steps run in order; a guard removes everything the
//! project made, even when a step fails.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Command, Stdio};

use crate::harness::Scenarios;
use crate::support::{
    assert_second_up_changes_nothing, assert_success, containers, docker, ensure_base_image,
    mailctl, mailctl_with_env, networks, new_project, stderr, stdout, text, volumes, Cleanup, INIT,
};

pub fn suite(scenarios: &mut Scenarios) {
    scenarios.scenario(
        "docker unreachable is reported with a hint",
        docker_unreachable_is_reported_with_a_hint,
    );
    scenarios.scenario("the real stack", lifecycle);
    scenarios.scenario(
        "the same steps with stub images",
        lifecycle_mechanics_with_stub_images,
    );
}

fn docker_unreachable_is_reported_with_a_hint() {
    let temporary = tempfile::tempdir().unwrap();
    let dir = temporary.path().join("project");
    let output = mailctl(
        &dir,
        &[&INIT[..], &["--name", "unreachable", "--yes"]].concat(),
    );
    assert_success(&output, "mailctl init");
    for command in [
        vec!["up", "--dry-run"],
        vec!["up"],
        vec!["status"],
        vec!["down"],
    ] {
        let output = mailctl_with_env(&dir, &command, &[("DOCKER_HOST", "unix:///nonexistent")]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{command:?}\n{}",
            text(&output)
        );
        let err = stderr(&output);
        assert!(
            err.contains("cannot reach the Docker daemon at `unix:///nonexistent`"),
            "{command:?}\n{err}"
        );
        assert!(
            err.contains("is the Docker daemon installed and running"),
            "{command:?}\n{err}"
        );
        assert!(stdout(&output).is_empty(), "{command:?}\n{}", text(&output));
    }
}

/// The real stack: mailctl's images built from `compose/images/`, their
/// own health checks, the rendered configuration.
fn lifecycle() {
    ensure_base_image();
    let (project, ports) = new_project("lc");
    lifecycle_steps(&project, &ports);
}

/// The same steps with every service overridden (`images:`) by a tiny image
/// whose health check always passes: tests mailctl's Docker side (plan,
/// apply, health waits, idempotence, down) independently of the mail software.
fn lifecycle_mechanics_with_stub_images() {
    ensure_base_image();
    let image = ensure_stub_image();
    let (project, ports) = new_project("ls");
    let config = project.dir.join("mailctl.yaml");
    let mut yaml = std::fs::read_to_string(&config).unwrap();
    yaml.push_str("images:\n");
    for service in ["resolver", "redis", "antispam", "imap", "smtp", "web"] {
        yaml.push_str(&format!("  {service}: {image}\n"));
    }
    std::fs::write(&config, yaml).unwrap();
    lifecycle_steps(&project, &ports);
}

/// A local image that runs until SIGTERM and whose health command (under
/// either name the spec has used) always passes.
fn ensure_stub_image() -> &'static str {
    const IMAGE: &str = "mailctl-test-stub:2";
    let present = Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("cannot run docker");
    if !present.success() {
        let dockerfile = "FROM debian:bookworm-slim\n\
RUN printf '#!/bin/sh\\nexit 0\\n' > /usr/local/bin/mailctl-health \\\n\
    && chmod 0755 /usr/local/bin/mailctl-health \\\n\
    && ln -s mailctl-health /usr/local/bin/mailctl-healthcheck\n\
CMD [\"sh\", \"-c\", \"trap 'exit 0' TERM; echo stub up; while :; do sleep 1; done\"]\n";
        crate::support::docker_build(&["-t", IMAGE], dockerfile.as_bytes());
    }
    IMAGE
}

/// The whole lifecycle on one project; panics at the first step that fails.
fn lifecycle_steps(project: &Cleanup, ports: &BTreeMap<&'static str, u16>) {
    let dir = project.dir.clone();
    let name = project.project.clone();

    // 1. `up --dry-run` prints the plan and creates nothing.
    let output = mailctl(&dir, &["up", "--dry-run"]);
    assert_success(&output, "up --dry-run");
    let plan = stdout(&output);
    for service in ["resolver", "redis", "antispam", "imap", "smtp", "web"] {
        assert!(
            plan.contains(&format!("create    {service:<9} {name}-{service}-1")),
            "{plan}"
        );
    }
    assert!(
        plan.contains(&format!("create    network   {name}_mail")),
        "{plan}"
    );
    assert!(
        plan.contains(&format!("create    volume    {name}_mail")),
        "{plan}"
    );
    let output = mailctl(&dir, &["up", "--dry-run", "--json"]);
    assert_success(&output, "up --dry-run --json");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let steps = json["plan"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 7, "{json:#}");
    assert!(
        steps.iter().all(|step| step["action"] == "create"),
        "{json:#}"
    );
    assert!(containers(&name).is_empty());
    assert!(networks(&name).is_empty());
    assert!(volumes(&name).is_empty());

    // 2. A taken port fails `web`'s start with the port and its holder named;
    //    the network and volumes exist by then.
    let http = ports["http"];
    let blocker = TcpListener::bind(("127.0.0.1", http)).unwrap();
    let output = mailctl(&dir, &["up", "--timeout", "240"]);
    assert!(
        !output.status.success(),
        "up with a taken port succeeded\n{}",
        text(&output)
    );
    let err = stderr(&output);
    assert!(
        err.contains(&format!("port {http} on 127.0.0.1 is in use")),
        "{}",
        text(&output)
    );
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "{}",
        text(&output)
    );
    drop(blocker);
    assert_eq!(networks(&name), vec![format!("{name}_mail")]);
    let network_labels = docker(&[
        "network",
        "inspect",
        "-f",
        "{{json .Labels}} {{range .IPAM.Config}}{{.Subnet}}{{end}}",
        &format!("{name}_mail"),
    ]);
    assert!(
        network_labels.contains(&format!("\"com.docker.compose.project\":\"{name}\"")),
        "{network_labels}"
    );
    assert!(
        network_labels.contains("\"com.docker.compose.network\":\"mail\""),
        "{network_labels}"
    );
    let mut expected_volumes: Vec<String> = ["acme", "guard", "mail", "queue", "redis", "rspamd"]
        .iter()
        .map(|key| format!("{name}_{key}"))
        .collect();
    expected_volumes.sort();
    assert_eq!(volumes(&name), expected_volumes);

    // 3. `up` brings every service to healthy (web: start the created container).
    let output = mailctl(&dir, &["up", "--timeout", "240"]);
    assert_success(&output, "up");
    let out = stdout(&output);
    assert!(
        out.contains(&format!("smtp         127.0.0.1:{}", ports["smtp"])),
        "{}",
        text(&output)
    );
    assert!(
        out.contains(&format!("https        127.0.0.1:{}", ports["https"])),
        "{}",
        text(&output)
    );

    // 4. `status --json`: seven running, healthy services.
    let output = mailctl(&dir, &["status", "--json"]);
    assert_success(&output, "status --json");
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let services = status.as_array().unwrap();
    assert_eq!(services.len(), 7, "{status:#}");
    for service in services {
        assert_eq!(service["state"], "running", "{status:#}");
        assert_eq!(service["health"], "healthy", "{status:#}");
    }
    let smtp = services
        .iter()
        .find(|service| service["service"] == "smtp")
        .unwrap();
    assert!(
        smtp["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|port| port["name"] == "smtp" && port["host_port"] == ports["smtp"]),
        "{status:#}"
    );

    // 5. A second `up` changes nothing.
    assert_second_up_changes_nothing(&dir, &name);
    let before = containers(&name);
    let output = mailctl(&dir, &["up", "--dry-run"]);
    assert_success(&output, "up --dry-run on a running stack");
    assert!(
        stdout(&output).contains("nothing to do"),
        "{}",
        text(&output)
    );

    // 6. One service's configuration changes: only it is recreated.
    let overrides = dir.join("overrides/redis");
    std::fs::create_dir_all(&overrides).unwrap();
    std::fs::write(
        overrides.join("mailctl-test.conf"),
        "# changes redis's configuration hash only\n",
    )
    .unwrap();
    let output = mailctl(&dir, &["up", "--dry-run"]);
    assert_success(&output, "up --dry-run after an override");
    assert!(
        stdout(&output).contains("recreate  redis"),
        "{}",
        text(&output)
    );
    assert!(
        stdout(&output).contains("(configuration changed)"),
        "{}",
        text(&output)
    );
    let output = mailctl(&dir, &["up", "--timeout", "240"]);
    assert_success(&output, "up after an override");
    let after = containers(&name);
    for (container, id) in &before {
        if container.ends_with("-redis-1") {
            assert_ne!(after.get(container), Some(id), "redis was not recreated");
        } else {
            assert_eq!(
                after.get(container),
                Some(id),
                "{container} was recreated too"
            );
        }
    }

    // 7. `down` keeps the volumes and the mail in them; `up` brings them back.
    let redis = format!("{name}-redis-1");
    docker(&[
        "exec",
        "-u",
        "0",
        &redis,
        "sh",
        "-c",
        "echo kept > /data/mailctl-test-marker",
    ]);
    // The guard removed by force (SIGKILL) cannot take its rules away;
    // `down` then does it.
    let chain = mailctl::bans::chain_name(&name);
    docker(&["rm", "-f", &format!("{name}-guard-1")]);
    let firewall = std::process::Command::new("iptables-save")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&firewall.stdout).contains(&format!("-j {chain}")),
        "a killed guard leaves its jump behind (what `down` must clean)"
    );
    let output = mailctl(&dir, &["down"]);
    assert_success(&output, "down");
    assert!(containers(&name).is_empty(), "down left containers");
    assert!(networks(&name).is_empty(), "down left the network");
    assert_eq!(volumes(&name), expected_volumes, "down removed volumes");
    let firewall = std::process::Command::new("iptables-save")
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&firewall.stdout).contains(&chain),
        "down left {chain} in the host's firewall"
    );
    let output = mailctl(&dir, &["up", "--timeout", "240"]);
    assert_success(&output, "up after down");
    let firewall = std::process::Command::new("iptables-save")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&firewall.stdout).contains(&format!("-j {chain}")),
        "up put the guard's jump into DOCKER-USER"
    );
    assert_eq!(
        docker(&["exec", &redis, "cat", "/data/mailctl-test-marker"]).trim(),
        "kept"
    );

    // 8. `down --volumes` needs `--yes` without a terminal.
    let output = mailctl(&dir, &["down", "--volumes"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(stderr(&output).contains("--yes"), "{}", text(&output));
    assert_eq!(
        containers(&name).len(),
        7,
        "a refused down --volumes removed containers"
    );

    // 9. `down --volumes --yes` leaves nothing with the project's label.
    let output = mailctl(&dir, &["down", "--volumes", "--yes"]);
    assert_success(&output, "down --volumes --yes");
    assert!(containers(&name).is_empty());
    assert!(networks(&name).is_empty());
    assert!(volumes(&name).is_empty());
}
