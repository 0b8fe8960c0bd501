//! `mailctl doctor [--domain D] [--resolver IP[:PORT]] [--json]`: runs every
//! check at once and prints one screen: ok / info / warning / error with
//! what was found, what was expected and the fix. Exit 1 on any warning
//! or error.

use super::Global;
use crate::cli::DoctorArgs;
use crate::config::TlsMode;
use crate::doctor::{self, run};
use crate::error::{user_error, Silent};
use crate::output;
use crate::project::Project;

pub fn run(global: &Global, args: &DoctorArgs) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    let config = project.load_config()?;
    let keys = crate::dns::read_public_keys(
        &project,
        &config,
        &crate::cert::published_tls_keys(&project, &config)?,
    )?;
    let expected = crate::dns::expected_records(&config, &keys)?;
    let domains = match &args.domain {
        Some(name) => vec![crate::dns::configured_domain(&config, name)?],
        None => Vec::new(),
    };
    let resolver = match &args.resolver {
        Some(text) => Some(crate::net::ip_and_port(text, 53).ok_or_else(|| {
            user_error(
                format!("`{text}` is not a resolver address"),
                "give an IP address with an optional port: `--resolver 127.0.0.1:5353`",
            )
        })?),
        None => None,
    };
    let mut extra_trust = Vec::new();
    if config.tls.mode == TlsMode::SelfSigned {
        extra_trust.push(project.live_certs_dir().join(crate::tls::CERTIFICATE_FILE));
    }
    if let Some(file) = &config.doctor.ca_file {
        extra_trust.push(project.root().join(file));
    }
    let options = run::Options {
        domains,
        resolver,
        root: project.root().to_path_buf(),
        extra_trust,
    };
    let started = std::time::Instant::now();
    let findings = crate::docker::block_on(run::run(config, expected, options))??;
    let elapsed = started.elapsed();
    let passed = doctor::passes(&findings);
    if global.json {
        output::json(&serde_json::json!({
            "passed": passed,
            "millis": u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            "findings": findings,
        }))?;
    } else {
        output::data(doctor::to_text(&findings));
        output::detail(format!("finished in {:.1} s", elapsed.as_secs_f64()));
    }
    if passed {
        Ok(())
    } else {
        Err(Silent(1).into())
    }
}
