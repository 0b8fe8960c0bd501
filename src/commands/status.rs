//! `mailctl status`: each service's container state, health, image, uptime
//! and published ports, as a table on stdout or with `--json` as a list.

use serde_json::json;

use super::Global;
use crate::cli::StatusArgs;
use crate::docker::{self, Docker};
use crate::output;
use crate::plan::{Observed, ObservedContainer};
use crate::project::Project;
use crate::spec::StackSpec;
use crate::stack::{container_for, desired_stack};

/// One row of the status table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    service: String,
    container: Option<String>,
    state: String,
    health: String,
    image: String,
    started_at: Option<String>,
    uptime_seconds: Option<i64>,
    ports: Vec<(String, String, u16, u16)>,
}

pub fn run(global: &Global, _args: &StatusArgs) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    let config = project.load_config()?;
    let spec = match desired_stack(&project, &config) {
        Ok(spec) => Some(spec),
        Err(error) => {
            output::warning(format!(
                "cannot build the stack from mailctl.yaml ({error:#}); showing the containers Docker knows"
            ));
            None
        }
    };
    let observed = docker::block_on(async {
        let docker = Docker::connect().await?;
        let mut observed = docker.observe(&config.name).await?;
        crate::stack::confirm_starting(&docker, &mut observed).await;
        anyhow::Ok(observed)
    })??;
    let now = time::OffsetDateTime::now_utc();
    let rows = rows(spec.as_ref(), &observed, now);
    if global.json {
        return output::json(&json!(rows
            .iter()
            .map(|row| json!({
                "service": row.service,
                "container": row.container,
                "state": row.state,
                "health": row.health,
                "image": row.image,
                "started_at": row.started_at,
                "uptime_seconds": row.uptime_seconds,
                "ports": row.ports.iter().map(|(name, host_ip, host_port, container_port)| json!({
                    "name": name,
                    "host_ip": host_ip,
                    "host_port": host_port,
                    "container_port": container_port,
                })).collect::<Vec<_>>(),
            }))
            .collect::<Vec<_>>()));
    }
    let mut table = vec![[
        "SERVICE".to_owned(),
        "STATE".to_owned(),
        "HEALTH".to_owned(),
        "UPTIME".to_owned(),
        "IMAGE".to_owned(),
        "PORTS".to_owned(),
    ]];
    for row in &rows {
        let ports: Vec<String> = row
            .ports
            .iter()
            .map(|(name, host_ip, host_port, _)| format!("{name} {}:{host_port}", bracket(host_ip)))
            .collect();
        table.push([
            row.service.clone(),
            row.state.clone(),
            row.health.clone(),
            row.uptime_seconds
                .map(duration)
                .unwrap_or_else(|| "-".to_owned()),
            row.image.clone(),
            if ports.is_empty() {
                "-".to_owned()
            } else {
                ports.join(", ")
            },
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|column| {
            table
                .iter()
                .map(|line| line[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for line in &table {
        let cells: Vec<String> = line
            .iter()
            .enumerate()
            .map(|(column, cell)| {
                if column == 5 {
                    cell.clone()
                } else {
                    format!("{cell:<width$}", width = widths[column])
                }
            })
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    output::data(text);
    if observed.containers.is_empty() {
        output::status("the stack is not running; start it with `mailctl up`");
    }
    Ok(())
}

fn rows(spec: Option<&StackSpec>, observed: &Observed, now: time::OffsetDateTime) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut shown: Vec<&str> = Vec::new();
    let port_name = |service: &str, container_port: u16| -> String {
        spec.and_then(|spec| spec.service(service))
            .and_then(|service| {
                service
                    .ports
                    .iter()
                    .find(|port| port.container_port == container_port)
            })
            .map(|port| port.name.to_string())
            .unwrap_or_else(|| container_port.to_string())
    };
    let row = |service: &str, container: Option<&ObservedContainer>| match container {
        None => Row {
            service: service.to_owned(),
            container: None,
            state: "missing".to_owned(),
            health: "-".to_owned(),
            image: spec
                .and_then(|spec| spec.service(service))
                .map(|service| service.image.reference.clone())
                .unwrap_or_default(),
            started_at: None,
            uptime_seconds: None,
            ports: vec![],
        },
        Some(container) => Row {
            service: service.to_owned(),
            container: Some(container.name.clone()),
            state: container.state.as_str().to_owned(),
            health: container.health.as_str().to_owned(),
            image: container.image.clone(),
            started_at: container.started_at.clone(),
            uptime_seconds: container
                .state
                .is_up()
                .then(|| uptime(container.started_at.as_deref(), now))
                .flatten(),
            ports: container
                .ports
                .iter()
                .map(|port| {
                    (
                        port_name(service, port.container_port),
                        port.host_ip.clone(),
                        port.host_port,
                        port.container_port,
                    )
                })
                .collect(),
        },
    };
    if let Some(spec) = spec {
        for service in &spec.services {
            let container = container_for(observed, service);
            if let Some(container) = container {
                shown.push(container.id.as_str());
            }
            rows.push(row(&service.name, container));
        }
    }
    for container in &observed.containers {
        if !shown.contains(&container.id.as_str()) {
            rows.push(row(
                container.service.as_deref().unwrap_or("?"),
                Some(container),
            ));
        }
    }
    rows
}

fn uptime(started_at: Option<&str>, now: time::OffsetDateTime) -> Option<i64> {
    let started =
        time::OffsetDateTime::parse(started_at?, &time::format_description::well_known::Rfc3339)
            .ok()?;
    Some((now - started).whole_seconds().max(0))
}

/// `3d 4h`, `2h 5m`, `4m 10s`, `12s`.
fn duration(seconds: i64) -> String {
    let (days, hours, minutes, seconds) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m {seconds}s")
    } else {
        format!("{seconds}s")
    }
}

fn bracket(host_ip: &str) -> String {
    if host_ip.contains(':') {
        format!("[{host_ip}]")
    } else {
        host_ip.to_owned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(12), "12s");
        assert_eq!(duration(250), "4m 10s");
        assert_eq!(duration(7500), "2h 5m");
        assert_eq!(duration(3 * 86_400 + 4 * 3600), "3d 4h");
    }

    #[test]
    fn uptime_parses_dockers_timestamps() {
        let now = time::OffsetDateTime::parse(
            "2026-11-27T18:00:10Z",
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert_eq!(uptime(Some("2026-11-27T18:00:00.123456789Z"), now), Some(9));
        assert_eq!(uptime(None, now), None);
        assert_eq!(uptime(Some("garbage"), now), None);
    }
}
