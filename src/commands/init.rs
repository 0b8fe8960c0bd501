//! `mailctl init`: resolve the answers (flags, then an answers file, then
//! questions on a terminal, then defaults), build and validate the config,
//! and only then write secrets, DKIM keys, certificates, config and the
//! rendered stack. Re-running keeps keys, secrets and mailboxes.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context;
use serde::Deserialize;

use super::Global;
use crate::cli::{InitArgs, TlsModeArg};
use crate::config::{
    self, Config, DkimAlgorithm, DkimSelector, Domain, Mailbox, Port, Ports, TlsMode,
};
use crate::error::{user_error, WithHint};
use crate::names::{Address, DomainName};
use crate::output;
use crate::project::Project;
use crate::prompt::{Prompter, ScriptedPrompter, TerminalPrompter};
use crate::service::PortName;
use crate::{dkim, passwords, secrets, tls};

/// The answers file: the long flags' names with `_` for `-`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Answers {
    hostname: Option<String>,
    #[serde(alias = "domain")]
    domains: Option<Vec<String>>,
    admin: Option<String>,
    tls: Option<String>,
    acme_email: Option<String>,
    acme_directory: Option<String>,
    certificate_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    bind: Option<Vec<IpAddr>>,
    public_addresses: Option<Vec<IpAddr>>,
    ports: Option<BTreeMap<PortName, Port>>,
    subnet: Option<String>,
    name: Option<String>,
    offline_dns: Option<bool>,
}

/// The resolved answers.
#[derive(Debug)]
struct Settings {
    hostname: String,
    domains: Vec<String>,
    admin: String,
    tls: TlsMode,
    acme_email: Option<String>,
    acme_directory: Option<String>,
    certificate_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    bind: Vec<IpAddr>,
    public_addresses: Vec<IpAddr>,
    ports: Vec<(PortName, Port)>,
    subnet: Option<String>,
    name: Option<String>,
    offline_dns: bool,
}

pub fn run(global: &Global, args: &InitArgs) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    let config_path = project.config_path();
    let previous = if config_path.exists() {
        if !args.force {
            return Err(user_error(
                format!("`{}` already holds a mailctl project", project.root().display()),
                "use `--force` to rewrite mailctl.yaml from these answers (DKIM keys, secrets and mailboxes are kept), or choose another directory with `--dir`",
            ));
        }
        match project.load_config() {
            Ok(config) => Some(config),
            Err(error) => {
                output::warning(format!(
                    "the existing configuration is not valid and is replaced: {error}"
                ));
                None
            }
        }
    } else {
        None
    };

    let answers = match &args.answers {
        Some(path) => read_answers(path)?,
        None => Answers::default(),
    };
    let interactive = !global.yes && output::stdin_is_terminal() && output::stderr_is_terminal();
    let settings = if interactive {
        resolve(args, answers, &mut TerminalPrompter, true)?
    } else {
        resolve(args, answers, &mut ScriptedPrompter::default(), false)?
    };

    let mut config = build_config(&settings, previous.as_ref())?;
    // Validate before anything is written: a bad answer leaves no trace.
    config = config::validate(config).map_err(|issues| config::ConfigError::Invalid {
        path: config_path.clone(),
        issues: issues.into_iter().map(|issue| (issue, None)).collect(),
    })?;

    let admin_is_new = config.mailbox(&settings.admin).is_none();
    let mut generated_password = None;
    if admin_is_new {
        let new_password = if interactive || args.admin_password_stdin {
            super::password_input::obtain(
                &settings.admin,
                args.admin_password_stdin,
                "--admin-password-stdin",
            )?
        } else {
            super::password_input::NewPassword {
                password: passwords::generate(20),
                generated: true,
            }
        };
        let password = new_password.password.clone();
        if new_password.generated {
            generated_password = Some(new_password);
        }
        config.mailboxes.insert(
            0,
            Mailbox {
                address: settings.admin.clone(),
                password_hash: passwords::hash_argon2id(&password)?,
                quota: None,
                name: None,
                enabled: true,
                send_as: Vec::new(),
                forward: None,
                autoreply: None,
                outbound_alert: None,
            },
        );
        add_role_aliases(&mut config, &settings.admin);
    } else if args.admin_password_stdin {
        output::warning(format!(
            "`{}` already exists; its password is unchanged (use `mailctl user passwd`)",
            settings.admin
        ));
    }
    let config = config::validate(config).map_err(|issues| config::ConfigError::Invalid {
        path: config_path.clone(),
        issues: issues.into_iter().map(|issue| (issue, None)).collect(),
    })?;

    if let TlsMode::Custom = config.tls.mode {
        check_custom_tls(&config)?;
    }

    // Everything is decided; now write, keys and secrets first, config last,
    // so an interrupted run leaves no config pointing at missing keys.
    let _lock = project.lock()?;
    if previous.is_none() && config_path.exists() && !args.force {
        return Err(user_error(
            format!(
                "`{}` was created by another command meanwhile",
                config_path.display()
            ),
            "run `mailctl init --force` to rewrite it",
        ));
    }
    secrets::Secrets::load_or_create(&project.secrets_dir())?;
    crate::files::create_private_dir(&project.dkim_dir(), 0o700)?;
    let mut created_keys = 0;
    for domain in &config.domains {
        for selector in &domain.dkim {
            if dkim::ensure_key(
                &project.dkim_key_path(&domain.name, &selector.selector),
                selector.algorithm,
            )? {
                created_keys += 1;
            }
        }
    }
    crate::files::create_private_dir(&project.certs_dir(), 0o700)?;
    if config.tls.mode == TlsMode::SelfSigned {
        tls::ensure_self_signed(&project.live_certs_dir(), &tls::certificate_names(&config))?;
    } else {
        crate::files::create_private_dir(&project.live_certs_dir(), 0o700)?;
    }
    config::save_file(&config_path, &config)?;
    let report = match crate::render::write_project(&project, &config) {
        Ok(report) => report,
        Err(error) => {
            // Leave no config that the rest of the project does not match.
            if previous.is_none() {
                let _ = fs_err::remove_file(&config_path);
            }
            return Err(error);
        }
    };

    output::status(format!(
        "created project `{}` in {}",
        config.name,
        project.root().display()
    ));
    output::status(format!(
        "  {} domain(s), {created_keys} new DKIM key(s), {} file(s) rendered",
        config.domains.len(),
        report.created.len() + report.updated.len()
    ));
    if let Some(password) = generated_password {
        super::password_input::show_generated(&settings.admin, &password);
    }
    output::status(
        "next: `mailctl dns` shows the DNS records to publish, then `mailctl up` starts the stack",
    );
    Ok(())
}

fn read_answers(path: &std::path::Path) -> anyhow::Result<Answers> {
    let text = fs_err::read_to_string(path)?;
    if text.len() as u64 > config::MAX_CONFIG_BYTES {
        anyhow::bail!("answers file `{}` is too large", path.display());
    }
    serde_saphyr::from_str(&text)
        .with_context(|| format!("cannot read answers file `{}`", path.display()))
        .hint("the answers file takes the long flags' names with `_` for `-`, e.g. `hostname: mail.example.com`")
}

fn check_custom_tls(config: &Config) -> anyhow::Result<()> {
    for (what, path) in [
        ("certificate", &config.tls.certificate_file),
        ("key", &config.tls.key_file),
    ] {
        if let Some(path) = path {
            if !std::path::Path::new(path).is_file() {
                return Err(user_error(
                    format!("the TLS {what} file `{path}` does not exist"),
                    "give the path of an existing PEM file",
                ));
            }
        }
    }
    Ok(())
}

/// Flags win, then the answers file, then a question (on a terminal), then
/// the default. Without a terminal nothing is asked.
fn resolve(
    args: &InitArgs,
    answers: Answers,
    prompter: &mut dyn Prompter,
    interactive: bool,
) -> anyhow::Result<Settings> {
    let mut domains: Vec<String> = if !args.domains.is_empty() {
        args.domains.clone()
    } else {
        answers.domains.clone().unwrap_or_default()
    };
    let mut hostname = args.hostname.clone().or(answers.hostname.clone());

    if interactive && domains.is_empty() {
        let answer = prompter.text(
            "domains",
            "Which domains should receive mail?",
            "comma-separated; the first is the primary domain, e.g. example.com, example.org",
            None,
        )?;
        domains = answer
            .split([',', ' '])
            .filter(|part| !part.is_empty())
            .map(str::to_owned)
            .collect();
    }
    if domains.is_empty() {
        if let Some(hostname) = &hostname {
            if let Some((_, parent)) = hostname.split_once('.') {
                if parent.contains('.') {
                    domains.push(parent.to_owned());
                }
            }
        }
    }
    if domains.is_empty() {
        return Err(user_error(
            "no domain given",
            "pass `--domain example.com` (repeat for more), or run `mailctl init` on a terminal to be asked",
        ));
    }
    let primary = DomainName::parse(&domains[0]).map_err(|error| {
        user_error(
            format!("domain `{}`: {}", domains[0], error.reason),
            error.hint.unwrap_or_else(|| "check the spelling".into()),
        )
    })?;

    let hostname_default = format!("mail.{primary}");
    if hostname.is_none() && interactive {
        hostname = Some(prompter.text(
            "hostname",
            "The server's hostname?",
            "the full name the MX records point at; its A record and PTR must name this server",
            Some(&hostname_default),
        )?);
    }
    let hostname = hostname.unwrap_or(hostname_default);

    let admin_default = format!("admin@{primary}");
    let mut admin = args.admin.clone().or(answers.admin.clone());
    if admin.is_none() && interactive {
        admin = Some(prompter.text(
            "admin",
            "The first mailbox?",
            "it also receives mail for postmaster@ and abuse@ of every domain",
            Some(&admin_default),
        )?);
    }
    let admin = admin.unwrap_or(admin_default);
    let admin = Address::parse(&admin)
        .map_err(|error| {
            user_error(
                format!("admin address: {}", error.reason),
                error
                    .hint
                    .unwrap_or_else(|| "write it as `name@example.com`".into()),
            )
        })?
        .to_string();

    let tls = match (args.tls, answers.tls.as_deref()) {
        (Some(mode), _) => mode,
        (None, Some(text)) => match text {
            "letsencrypt" => TlsModeArg::Letsencrypt,
            "self-signed" => TlsModeArg::SelfSigned,
            "custom" => TlsModeArg::Custom,
            other => {
                return Err(user_error(
                    format!("answers file: `tls: {other}` is not a TLS mode"),
                    "use `letsencrypt`, `self-signed` or `custom`",
                ))
            }
        },
        (None, None) if interactive => {
            match prompter
                .select(
                    "tls",
                    "Where should TLS certificates come from?",
                    "Let's Encrypt needs port 80 reachable and DNS pointing here; self-signed is for tests",
                    &["letsencrypt", "self-signed", "custom"],
                    0,
                )?
                .as_str()
            {
                "self-signed" => TlsModeArg::SelfSigned,
                "custom" => TlsModeArg::Custom,
                _ => TlsModeArg::Letsencrypt,
            }
        }
        (None, None) => TlsModeArg::Letsencrypt,
    };
    let tls = match tls {
        TlsModeArg::Letsencrypt => TlsMode::Letsencrypt,
        TlsModeArg::SelfSigned => TlsMode::SelfSigned,
        TlsModeArg::Custom => TlsMode::Custom,
    };
    let mut acme_email = args.acme_email.clone().or(answers.acme_email.clone());
    if tls == TlsMode::Letsencrypt && acme_email.is_none() && interactive {
        let answer = prompter.text(
            "acme_email",
            "Contact address for Let's Encrypt?",
            "optional; used only for account recovery and notices",
            Some(&admin),
        )?;
        acme_email = (!answer.is_empty()).then_some(answer);
    }

    let mut ports: Vec<(PortName, Port)> = answers.ports.unwrap_or_default().into_iter().collect();
    for spec in &args.ports {
        ports.push(parse_port_flag(spec)?);
    }

    Ok(Settings {
        hostname,
        domains,
        admin,
        tls,
        acme_email,
        acme_directory: args.acme_directory.clone().or(answers.acme_directory),
        certificate_file: args.certificate_file.clone().or(answers.certificate_file),
        key_file: args.key_file.clone().or(answers.key_file),
        bind: if args.bind.is_empty() {
            answers.bind.unwrap_or_default()
        } else {
            args.bind.clone()
        },
        public_addresses: if args.public_addresses.is_empty() {
            answers.public_addresses.unwrap_or_default()
        } else {
            args.public_addresses.clone()
        },
        ports,
        subnet: args.subnet.clone().or(answers.subnet),
        name: args.name.clone().or(answers.name),
        offline_dns: args.offline_dns || answers.offline_dns.unwrap_or(false),
    })
}

/// `NAME=NUMBER` or `NAME=off`.
pub fn parse_port_flag(spec: &str) -> anyhow::Result<(PortName, Port)> {
    let names: Vec<&str> = PortName::ALL.iter().map(|port| port.as_str()).collect();
    let Some((name, value)) = spec.split_once('=') else {
        return Err(user_error(
            format!("`--port {spec}` is not NAME=NUMBER"),
            format!(
                "e.g. `--port smtp=2525` or `--port pop3s=off`; names: {}",
                names.join(" ")
            ),
        ));
    };
    let Some(port_name) = PortName::parse(name) else {
        return Err(user_error(
            format!("`--port {spec}`: `{name}` is not a port name"),
            format!("names: {}", names.join(" ")),
        ));
    };
    let port = match value {
        "off" | "false" | "disabled" => Port(None),
        number => match number.parse::<u16>() {
            Ok(number) if number > 0 => Port(Some(number)),
            _ => {
                return Err(user_error(
                    format!("`--port {spec}`: `{number}` is not a port number"),
                    "use 1 to 65535, or `off`",
                ))
            }
        },
    };
    Ok((port_name, port))
}

fn build_config(settings: &Settings, previous: Option<&Config>) -> anyhow::Result<Config> {
    let mut ports = Ports::default();
    for (name, port) in &settings.ports {
        ports.set(*name, *port);
    }
    let mut network = config::Network::default();
    if !settings.bind.is_empty() {
        network.bind = settings.bind.clone();
    }
    network.public_addresses = settings.public_addresses.clone();
    network.offline_dns = settings.offline_dns;
    if let Some(subnet) = &settings.subnet {
        network.subnet = subnet.clone();
    }
    let mut tls = config::Tls {
        mode: settings.tls,
        acme_email: settings.acme_email.clone(),
        ..config::Tls::default()
    };
    if let Some(directory) = &settings.acme_directory {
        tls.acme_directory = directory.clone();
    }
    tls.certificate_file = settings
        .certificate_file
        .as_ref()
        .map(|path| path.display().to_string());
    tls.key_file = settings
        .key_file
        .as_ref()
        .map(|path| path.display().to_string());

    let month = time::OffsetDateTime::now_utc();
    let stamp = format!("{}{:02}", month.year(), u8::from(month.month()));
    let mut domains = Vec::new();
    for name in &settings.domains {
        let normalised = DomainName::parse(name)
            .map(|domain| domain.as_str().to_owned())
            .unwrap_or_else(|_| name.clone());
        let kept = previous
            .and_then(|config| config.domain(&normalised))
            .cloned();
        domains.push(kept.unwrap_or_else(|| Domain {
            name: normalised.clone(),
            dmarc: config::Dmarc::default(),
            mta_sts: config::MtaSts::default(),
            tls_rpt_address: None,
            dkim: vec![
                DkimSelector {
                    selector: format!("rsa{stamp}"),
                    algorithm: DkimAlgorithm::Rsa,
                },
                DkimSelector {
                    selector: format!("ed{stamp}"),
                    algorithm: DkimAlgorithm::Ed25519,
                },
            ],
        }));
    }
    let primary_domain = domains
        .first()
        .map(|domain| domain.name.clone())
        .unwrap_or_default();
    Ok(Config {
        version: config::CURRENT_VERSION,
        name: settings
            .name
            .clone()
            .or_else(|| previous.map(|config| config.name.clone()))
            .unwrap_or_else(|| config::DEFAULT_NAME.to_owned()),
        hostname: settings.hostname.clone(),
        primary_domain,
        network,
        ports,
        tls,
        limits: previous
            .map(|config| config.limits.clone())
            .unwrap_or_default(),
        components: previous
            .map(|config| config.components.clone())
            .unwrap_or_default(),
        images: previous
            .map(|config| config.images.clone())
            .unwrap_or_default(),
        domains,
        mailboxes: previous
            .map(|config| config.mailboxes.clone())
            .unwrap_or_default(),
        aliases: previous
            .map(|config| config.aliases.clone())
            .unwrap_or_default(),
        doctor: previous
            .map(|config| config.doctor.clone())
            .unwrap_or_default(),
        security: previous
            .map(|config| config.security.clone())
            .unwrap_or_default(),
    })
}

/// RFC 2142 role addresses (`postmaster@`, `abuse@`) of every domain go to
/// the first mailbox unless something already receives them.
fn add_role_aliases(config: &mut Config, admin: &str) {
    for domain in config.domains.clone() {
        let roles = config::role_aliases(&domain.name, admin, |address| config.receives(address));
        config.aliases.extend(roles);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_answers_fill_the_gaps() {
        let mut prompter = ScriptedPrompter::default();
        prompter
            .answers
            .push_back(("domains".into(), "example.com, example.org".into()));
        prompter
            .answers
            .push_back(("tls".into(), "self-signed".into()));
        let settings = resolve(
            &InitArgs::default(),
            Answers::default(),
            &mut prompter,
            true,
        )
        .unwrap();
        assert_eq!(settings.domains, ["example.com", "example.org"]);
        assert_eq!(settings.hostname, "mail.example.com");
        assert_eq!(settings.admin, "admin@example.com");
        assert_eq!(settings.tls, TlsMode::SelfSigned);
        assert_eq!(prompter.asked, ["domains", "hostname", "admin", "tls"]);
    }

    #[test]
    fn flags_win_and_nothing_is_asked_without_a_terminal() {
        let args = InitArgs {
            domains: vec!["example.net".into()],
            ports: vec!["smtp=2525".into(), "pop3s=off".into()],
            ..InitArgs::default()
        };
        let answers = Answers {
            hostname: Some("mx.example.net".into()),
            ..Answers::default()
        };
        let mut prompter = ScriptedPrompter::default();
        let settings = resolve(&args, answers, &mut prompter, false).unwrap();
        assert_eq!(settings.hostname, "mx.example.net");
        assert!(prompter.asked.is_empty());
        assert_eq!(settings.ports[0], (PortName::Smtp, Port(Some(2525))));
    }

    #[test]
    fn port_flags() {
        assert!(parse_port_flag("smtp").is_err());
        assert!(parse_port_flag("smtpx=25").is_err());
        assert!(parse_port_flag("smtp=0").is_err());
        assert_eq!(parse_port_flag("https=off").unwrap().1, Port(None));
    }
}
