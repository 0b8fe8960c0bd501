//! `mailctl up`: render what changed, make sure a certificate exists, build
//! missing images, ensure the network and volumes, then apply the plan in
//! dependency order and wait until every service is healthy. `--dry-run`
//! prints what would happen and changes nothing.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::json;

use super::Global;
use crate::cli::UpArgs;
use crate::config::{Config, TlsMode};
use crate::docker::{self, ApplyOptions, Docker, ImageWork};
use crate::output;
use crate::plan::{self, Plan};
use crate::progress::Progress;
use crate::project::Project;
use crate::render::{self, Rendered};
use crate::service::PortName;
use crate::spec::StackSpec;
use crate::stack::report_failures;
use crate::tls;

pub fn run(global: &Global, args: &UpArgs) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    let config = project.load_config()?;
    let _lock = project.lock()?;
    let rendered = render::project_in_memory(&project, &config)?;
    if args.dry_run {
        return docker::block_on(dry_run(global, &project, &config, &rendered))?;
    }

    let report = render::write(&project.generated_dir(), &rendered.files)?;
    if report.changed() {
        let services = report.changed_services();
        output::status(format!(
            "rendered: {} file(s) created, {} updated, {} removed{}",
            report.created.len(),
            report.updated.len(),
            report.removed.len(),
            if services.is_empty() {
                String::new()
            } else {
                format!(" (configuration of {})", services.join(", "))
            }
        ));
    }
    let mut warnings = ensure_certificate(&project, &config)?;
    warnings.extend(configuration_warnings(&config));
    let options = ApplyOptions {
        health_timeout: Duration::from_secs(args.timeout),
    };
    docker::block_on(up(
        global,
        &project.generated_dir(),
        &config,
        &rendered.spec,
        options,
        warnings,
    ))?
}

async fn up(
    global: &Global,
    generated: &std::path::Path,
    config: &Config,
    spec: &StackSpec,
    options: ApplyOptions,
    warnings: Vec<String>,
) -> anyhow::Result<()> {
    let docker = Docker::connect().await?;
    let progress = Progress::new();

    let images = docker.missing_images(spec).await?;
    if !images.is_empty() {
        output::status(format!("{} image(s) to build or pull", images.len()));
    }
    docker.ensure_images(&images, &progress).await?;
    if docker.ensure_network(spec).await? {
        output::status(format!(
            "created network `{}` ({})",
            spec.network.name, spec.network.subnet
        ));
    }
    for volume in docker.ensure_volumes(spec).await? {
        output::status(format!("created volume `{volume}`"));
    }

    let mut observed = docker.observe(&spec.project).await?;
    observed.applied_files = crate::applied::read(generated);
    let plan = plan::plan(spec, &observed);
    if plan.is_empty() {
        output::status(format!(
            "nothing to do: all {} services are up to date (no container created, recreated or started)",
            spec.services.len()
        ));
    } else {
        for step in plan.changes() {
            output::status(format!("plan: {}", plan_line(step)));
        }
    }

    let failures = docker::apply(&docker, spec, &plan, options, &progress).await?;
    let applied: Vec<&str> = spec
        .services
        .iter()
        .map(|service| service.name.as_str())
        .filter(|name| !failures.iter().any(|failure| failure.service == *name))
        .collect();
    crate::applied::record(generated, spec, &applied)?;
    if !failures.is_empty() {
        return Err(report_failures(failures));
    }

    let endpoints = endpoints(config, spec);
    if global.json {
        output::json(&json!({
            "project": spec.project,
            "changed": !plan.is_empty(),
            "plan": plan,
            "endpoints": endpoints.iter().map(|endpoint| json!({
                "name": endpoint.name,
                "service": endpoint.service,
                "address": endpoint.address,
            })).collect::<Vec<_>>(),
            "warnings": warnings,
        }))?;
    } else {
        output::status(format!(
            "stack `{}` is up: {} services healthy",
            spec.project,
            spec.services.len()
        ));
        for endpoint in &endpoints {
            output::data(format!("{:<12} {}", endpoint.name, endpoint.address));
        }
    }
    for warning in &warnings {
        output::warning(warning);
    }
    Ok(())
}

/// Prints what `up` would do, on stdout (or as JSON), and changes nothing.
async fn dry_run(
    global: &Global,
    project: &Project,
    config: &Config,
    rendered: &Rendered,
) -> anyhow::Result<()> {
    let spec = &rendered.spec;
    let difference = render::compare(&project.generated_dir(), &rendered.files)?;
    let mut files: Vec<String> = difference
        .missing
        .iter()
        .chain(difference.changed.iter().map(|(path, _, _)| path))
        .map(|path| format!("generated/{}", path.display()))
        .collect();
    files.extend(
        difference
            .stale
            .iter()
            .map(|path| format!("generated/{} (remove)", path.display())),
    );
    let certificate = certificate_missing(project, config);

    let docker = Docker::connect().await?;
    let images = docker.missing_images(spec).await?;
    let network = !docker.network_exists(&spec.network.name).await?;
    let volumes = docker.missing_volumes(spec).await?;
    let mut observed = docker.observe(&spec.project).await?;
    observed.applied_files = crate::applied::read(&project.generated_dir());
    let plan = plan::plan(spec, &observed);

    if global.json {
        return output::json(&json!({
            "project": spec.project,
            "files": files,
            "certificate": certificate,
            "images": images.iter().map(|work| match work {
                ImageWork::Build { service, reference } => json!({"action": "build", "service": service, "image": reference}),
                ImageWork::Pull { service, reference } => json!({"action": "pull", "service": service, "image": reference}),
            }).collect::<Vec<_>>(),
            "network": network.then(|| spec.network.name.clone()),
            "volumes": volumes,
            "plan": plan,
        }));
    }
    let mut lines = Vec::new();
    for file in &files {
        lines.push(format!("render    {file}"));
    }
    if certificate {
        lines.push(format!(
            "create    certificate  self-signed, in {}",
            project.live_certs_dir().display()
        ));
    }
    for work in &images {
        lines.push(work.to_string());
    }
    if network {
        lines.push(format!(
            "create    network   {} ({})",
            spec.network.name, spec.network.subnet
        ));
    }
    for volume in &volumes {
        lines.push(format!("create    volume    {volume}"));
    }
    let nothing_else = lines.is_empty();
    if nothing_else && plan.is_empty() {
        output::data("nothing to do: every service is up to date");
        return Ok(());
    }
    for step in &plan.steps {
        lines.push(plan_line(step));
    }
    output::data(lines.join("\n"));
    output::status("dry run: nothing was changed");
    Ok(())
}

fn plan_line(step: &plan::Step) -> String {
    Plan {
        steps: vec![step.clone()],
    }
    .to_string()
    .trim_end()
    .to_owned()
}

/// True when `up` would create a certificate.
fn certificate_missing(project: &Project, _config: &Config) -> bool {
    let live = project.live_certs_dir();
    !(live.join(tls::CERTIFICATE_FILE).exists() && live.join(tls::KEY_FILE).exists())
}

/// Makes sure `certs/live` holds a certificate: a self-signed one in
/// self-signed mode, and a temporary one otherwise (the services need one to
/// start, and ACME's HTTP-01 needs `web` running). Returns warnings.
fn ensure_certificate(project: &Project, config: &Config) -> anyhow::Result<Vec<String>> {
    let names = tls::certificate_names(config);
    let created = tls::ensure_self_signed(&project.live_certs_dir(), &names)?;
    crate::cert::store::ensure_extra_placeholders(project, config)?;
    let mut warnings = Vec::new();
    match config.tls.mode {
        TlsMode::SelfSigned => {
            if created {
                output::status(format!("created a self-signed certificate for {}", names.join(", ")));
            }
            warnings.push(
                "TLS uses a self-signed certificate: mail clients will warn and other servers cannot verify it; set `tls.mode: letsencrypt` in mailctl.yaml for production".to_owned(),
            );
        }
        TlsMode::Letsencrypt if created => warnings.push(
            "no certificate yet: the services use a temporary self-signed one; run `mailctl cert issue` now that `web` answers ACME challenges".to_owned(),
        ),
        TlsMode::Custom if created => warnings.push(format!(
            "no certificate in `{}`: the services use a temporary self-signed one; put your chain in `{}` and key in `{}` there",
            project.live_certs_dir().display(),
            tls::CERTIFICATE_FILE,
            tls::KEY_FILE
        )),
        _ => {}
    }
    let live = crate::cert::store::live_info(project);
    if let Some(warning) = live
        .as_ref()
        .and_then(|info| crate::cert::expiry_warning(info, time::OffsetDateTime::now_utc()))
    {
        warnings.push(warning);
    }
    if config.tls.mode == TlsMode::Letsencrypt
        && !created
        && live.as_ref().is_some_and(|info| info.self_signed)
    {
        warnings.push(
            "no certificate from the ACME server yet: the services use a temporary self-signed one; run `mailctl cert issue` now that `web` answers ACME challenges".to_owned(),
        );
    }
    Ok(warnings)
}

fn configuration_warnings(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    if !config.network.bind.is_empty()
        && config
            .network
            .bind
            .iter()
            .all(|address| address.is_loopback())
    {
        warnings.push(format!(
            "ports are published on {} only: other hosts cannot reach this server",
            config
                .network
                .bind
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(port) = config.ports.smtp.number().filter(|port| *port != 25) {
        warnings.push(format!(
            "smtp is published on port {port}: other mail servers deliver only to port 25"
        ));
    }
    warnings
}

/// A published port as a user reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub name: PortName,
    pub service: String,
    pub address: String,
}

/// `host:port` for each published port name: the bind address, or the
/// server's hostname when it binds every address.
fn endpoints(config: &Config, spec: &StackSpec) -> Vec<Endpoint> {
    let mut endpoints = Vec::new();
    for service in &spec.services {
        for port in &service.ports {
            let host = match port.host_ip {
                address if address.is_unspecified() => config.hostname.clone(),
                IpAddr::V6(address) => format!("[{address}]"),
                IpAddr::V4(address) => address.to_string(),
            };
            endpoints.push(Endpoint {
                name: port.name,
                service: service.name.clone(),
                address: format!("{host}:{}", port.host_port),
            });
        }
    }
    endpoints
}
