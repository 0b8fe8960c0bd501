//! `mailctl cert issue|renew|status|install-timer`: certificates from an
//! ACME server. `issue` orders now; `renew` orders only what is due. A new
//! certificate is kept under `certs/acme/`, the first one (with the
//! hostname) is installed in `certs/live`, and the running smtp, imap and
//! web containers reload it in place (`mailctl-reload`: no restart, open
//! connections finish). On any failure the certificate in service stays.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;

use super::Global;
use crate::cert::acme::{AcmeAccount, OrderFailure, PendingOrder};
use crate::cert::dns01::Dns01;
use crate::cert::http01::{self, Responder};
use crate::cert::resolve::Resolver;
use crate::cert::{self, keys, store, Attempt, CertificatePlan, Renewal, State, Validation};
use crate::cli::{CertAcmeArgs, CertCommand, CertRolloverArgs, CertTimerArgs};
use crate::config::{self, Challenge, Config, TlsMode};
use crate::docker::{self, Docker};
use crate::error::{user_error, WithHint};
use crate::output;
use crate::project::Project;

/// How long the ACME server may take to check the challenges.
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(120);

/// The services that serve the certificate, in reload order: Dovecot
/// before Postfix (Postfix's SASL connections follow Dovecot's reload).
const RELOAD_ORDER: [&str; 3] = ["imap", "smtp", "web"];

pub fn run(global: &Global, command: &CertCommand) -> anyhow::Result<()> {
    match command {
        CertCommand::Issue(args) => obtain(global, &args.acme, None, false),
        CertCommand::Renew(args) => obtain(global, &args.acme, Some(args.renew_before_days), false),
        CertCommand::Rollover(args) => rollover(global, args),
        CertCommand::Status => status(global),
        CertCommand::InstallTimer(args) => install_timer(global, args),
    }
}

/// The ACME settings of one run: flags over `mailctl.yaml`.
struct Settings {
    directory: String,
    ca_root: Option<PathBuf>,
    resolver: Option<SocketAddr>,
    reuse_key: bool,
    /// The hostname's certificate takes the next key (`cert rollover`).
    rollover: bool,
    check: bool,
    challenge: Challenge,
}

impl Settings {
    fn resolve(config: &Config, args: &CertAcmeArgs) -> anyhow::Result<Settings> {
        let directory = if args.staging {
            config::LETSENCRYPT_STAGING_DIRECTORY.to_owned()
        } else {
            args.acme_directory
                .clone()
                .unwrap_or_else(|| config.tls.acme_directory.clone())
        };
        let resolver = match &args.resolver {
            None => None,
            Some(text) => Some(crate::net::ip_and_port(text, 53).ok_or_else(|| {
                user_error(
                    format!("`--resolver {text}` is not an address"),
                    "write it as IP or IP:PORT, e.g. `127.0.0.1:5353`",
                )
            })?),
        };
        if let Some(root) = &args.acme_ca_root {
            if !root.is_file() {
                return Err(user_error(
                    format!("`--acme-ca-root {}` is not a file", root.display()),
                    "give the PEM file of the CA that signed the ACME server's HTTPS certificate",
                ));
            }
        }
        Ok(Settings {
            directory,
            ca_root: args.acme_ca_root.clone(),
            resolver,
            reuse_key: args.reuse_key || config.tls.reuse_key,
            rollover: false,
            check: !args.no_check,
            challenge: config.tls.challenge,
        })
    }
}

/// What happened to one certificate.
struct Outcome {
    plan: CertificatePlan,
    result: &'static str,
    message: String,
}

/// `cert rollover`: the hostname's certificate is ordered now with the
/// next key, once DNS serves that key's TLSA record (or with `--force`).
fn rollover(global: &Global, args: &CertRolloverArgs) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    let config = project.load_config()?;
    if !config.tls.reuse_key {
        return Err(user_error(
            "`tls.reuse_key` is off: every renewal takes a new key, so there is no next key to roll over to",
            "set `tls.reuse_key: true` in mailctl.yaml to keep the key across renewals and publish TLSA `3 1 1` records",
        ));
    }
    let Some(next) = store::read_next_key(&project)? else {
        return Err(user_error(
            "there is no next key yet",
            "run `mailctl cert issue` once with `tls.reuse_key: true`: it makes the next key, and `mailctl dns` then lists its TLSA record",
        ));
    };
    let digest = keys::spki_sha256(&keys::load_key(&next)?);
    let owner = format!("_25._tcp.{}", config.hostname);
    if !args.force {
        let server = match &args.acme.resolver {
            None => None,
            Some(text) => crate::net::ip_and_port(text, 53),
        };
        let dns = crate::doctor::lookup::Dns::new(server)?;
        let served = docker::block_on(async { dns.tlsa(&owner).await })?;
        let published = served
            .records()
            .iter()
            .any(|(usage, selector, matching, data)| {
                (*usage, *selector, *matching) == (3, 1, 1) && hex::encode(data) == digest
            });
        if !published {
            return Err(user_error(
                format!(
                    "DNS does not serve the next key's record `{owner}. TLSA 3 1 1 {digest}`: senders that use DANE would refuse the new certificate"
                ),
                "publish it (`mailctl dns` lists it; `mailctl dns push` sends it), wait until its TTL (1 h) has passed, then run this again; `--force` skips this check",
            ));
        }
    }
    obtain(global, &args.acme, None, true)
}

/// `issue` (`threshold` is `None`), `renew` (`Some(flag)`) or, with
/// `rollover`, the hostname's certificate with the next key.
fn obtain(
    global: &Global,
    args: &CertAcmeArgs,
    threshold: Option<Option<u32>>,
    rollover: bool,
) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    let config = project.load_config()?;
    let _lock = project.lock()?;
    if config.tls.mode != TlsMode::Letsencrypt && threshold.is_some() {
        // A daily timer must not fail on a project that does not use ACME.
        output::status(format!(
            "`tls.mode` is `{}`: no ACME certificate to renew",
            config.tls.mode.as_str()
        ));
        return Ok(());
    }
    if config.tls.mode != TlsMode::Letsencrypt {
        return Err(user_error(
            format!(
                "`tls.mode` is `{}`, so mailctl does not obtain certificates",
                config.tls.mode.as_str()
            ),
            "set `tls.mode: letsencrypt` in mailctl.yaml to obtain certificates over ACME",
        ));
    }
    let mut settings = Settings::resolve(&config, args)?;
    settings.rollover = rollover;
    let renew_days = threshold.map(|flag| flag.unwrap_or(config.tls.renew_before_days));
    let mut plans = cert::certificate_plans(&config);
    if rollover {
        // Only the hostname's certificate serves mail, and has a TLSA record.
        plans.truncate(1);
    }
    let mut state = store::read_state(&project)?;
    let result = docker::block_on(obtain_async(
        &project, &config, &settings, &plans, renew_days, &mut state,
    ))?;
    store::write_state(&project, &state)?;
    let outcomes = result?;
    if global.json {
        output::json(&json!({
            "certificates": outcomes.iter().map(|outcome| {
                let info = store::certificate_info(&project, &outcome.plan.id);
                json!({
                    "id": outcome.plan.id,
                    "names": outcome.plan.names,
                    "result": outcome.result,
                    "message": outcome.message,
                    "not_after": info.map(|info| cert::rfc3339(info.not_after)),
                })
            }).collect::<Vec<_>>(),
        }))?;
    }
    Ok(())
}

fn now_text() -> String {
    cert::rfc3339(OffsetDateTime::now_utc())
}

async fn obtain_async(
    project: &Project,
    config: &Config,
    settings: &Settings,
    plans: &[CertificatePlan],
    renew_days: Option<u32>,
    state: &mut State,
) -> anyhow::Result<Vec<Outcome>> {
    let account_path = store::account_path(project, &settings.directory);
    let mut account: Option<AcmeAccount> = None;
    let mut outcomes = Vec::new();
    let mut due: Vec<(&CertificatePlan, String)> = Vec::new();
    for plan in plans {
        let Some(days) = renew_days else {
            due.push((plan, "requested with `cert issue`".to_owned()));
            continue;
        };
        let now = OffsetDateTime::now_utc();
        let info = store::certificate_info(project, &plan.id);
        let mut decision = cert::renewal_due(info.as_ref(), &plan.names, now, days, None);
        if matches!(decision, Renewal::NotDue { .. }) && account_path.exists() {
            // The server's renewal window (RFC 9773), where it has one.
            let chain = std::fs::read(
                store::certificate_dir(project, &plan.id).join(crate::tls::CERTIFICATE_FILE),
            )
            .unwrap_or_default();
            if let Some((key_identifier, serial)) = cert::ari_identifier(&chain) {
                if account.is_none() {
                    match AcmeAccount::load_or_create(
                        &settings.directory,
                        settings.ca_root.as_deref(),
                        &account_path,
                        config.tls.acme_email.as_deref(),
                    )
                    .await
                    {
                        Ok((loaded, _)) => account = Some(loaded),
                        Err(error) => output::detail(format!(
                            "renewal information unavailable ({error:#}); deciding by the expiry date alone"
                        )),
                    }
                }
                if let Some(account) = &account {
                    let window = account.renewal_window_start(&key_identifier, &serial).await;
                    decision = cert::renewal_due(info.as_ref(), &plan.names, now, days, window);
                }
            }
        }
        match decision {
            Renewal::NotDue { days_left } => {
                let message = format!(
                    "not due: valid for {days_left} more day(s), renewal {days} day(s) before expiry"
                );
                output::status(format!("{}: {message}", plan.id));
                state.record(
                    plan,
                    Attempt {
                        at: now_text(),
                        result: "not-due".to_owned(),
                        message: message.clone(),
                        validation: None,
                    },
                );
                outcomes.push(Outcome {
                    plan: plan.clone(),
                    result: "not-due",
                    message,
                });
            }
            Renewal::Due(reason) => due.push((plan, reason.describe())),
        }
    }
    if due.is_empty() {
        return Ok(outcomes);
    }

    let fail_all =
        |state: &mut State, due: &[(&CertificatePlan, String)], error: &anyhow::Error| {
            for (plan, _) in due {
                state.record(
                    plan,
                    Attempt {
                        at: now_text(),
                        result: "failed".to_owned(),
                        message: format!("{error:#}"),
                        validation: None,
                    },
                );
            }
        };

    let account = match account {
        Some(account) => account,
        None => {
            let loaded = AcmeAccount::load_or_create(
                &settings.directory,
                settings.ca_root.as_deref(),
                &account_path,
                config.tls.acme_email.as_deref(),
            )
            .await;
            match loaded {
                Ok((account, created)) => {
                    if created {
                        output::status(format!(
                            "created an ACME account at `{}` (key in `{}`, mode 0600)",
                            settings.directory,
                            account_path.display()
                        ));
                    }
                    account
                }
                Err(error) => {
                    let error = explain(error, settings.challenge);
                    fail_all(state, &due, &error);
                    return Err(error);
                }
            }
        }
    };

    let mut placer = match Placer::start(config, settings, &due).await {
        Ok(placer) => placer,
        Err(error) => {
            fail_all(state, &due, &error);
            return Err(error);
        }
    };

    let mut installed = false;
    for (plan, reason) in &due {
        output::status(format!(
            "ordering a certificate for {} ({reason}) from `{}`, {} through {}",
            plan.names.join(", "),
            account.directory(),
            settings.challenge.as_str(),
            placer.describe()
        ));
        let mut validation = None;
        let result = order_one(
            project,
            config,
            settings,
            &account,
            &mut placer,
            plan,
            &mut validation,
        )
        .await;
        match result {
            Ok((chain, key)) => {
                store::save_certificate(project, &plan.id, &chain, &key)?;
                let info = cert::parse_certificate(chain.as_bytes())?;
                let message = format!(
                    "issued by {}, valid until {}",
                    info.issuer,
                    cert::rfc3339(info.not_after)
                );
                output::status(format!("{}: {message}", plan.id));
                state.record(
                    plan,
                    Attempt {
                        at: now_text(),
                        result: "issued".to_owned(),
                        message: message.clone(),
                        validation,
                    },
                );
                if plans.first().map(|first| &first.id) == Some(&plan.id) {
                    store::install_live(project, &chain, &key)?;
                    if settings.reuse_key {
                        prepare_next_key(project, config, settings.rollover)?;
                    }
                } else {
                    store::install_extra(project, &plan.id, &chain, &key)?;
                }
                installed = true;
                outcomes.push(Outcome {
                    plan: (*plan).clone(),
                    result: "issued",
                    message,
                });
            }
            Err(error) => {
                let error = explain(error, settings.challenge);
                state.record(
                    plan,
                    Attempt {
                        at: now_text(),
                        result: "failed".to_owned(),
                        message: format!("{error:#}"),
                        validation,
                    },
                );
                placer.finish().await;
                if installed {
                    reload_services(config).await?;
                }
                return Err(error);
            }
        }
    }
    placer.finish().await;
    if installed {
        reload_services(config).await?;
    }
    Ok(outcomes)
}

/// Places challenge answers: files for HTTP-01, TXT records for DNS-01.
enum Placer {
    Http {
        responder: Responder,
        tokens: Vec<String>,
    },
    Dns(Dns01),
}

impl Placer {
    async fn start(
        config: &Config,
        settings: &Settings,
        due: &[(&CertificatePlan, String)],
    ) -> anyhow::Result<Placer> {
        match settings.challenge {
            Challenge::Http01 => {
                let responder = Responder::start(config).await?;
                if settings.check {
                    let names: Vec<String> = due
                        .iter()
                        .flat_map(|(plan, _)| plan.names.iter().cloned())
                        .collect();
                    let resolver = Resolver::new(settings.resolver)?;
                    let port = config.ports.http.number().unwrap_or(80);
                    output::status(format!(
                        "checking that {} name(s) resolve and reach {}",
                        names.len(),
                        responder.describe()
                    ));
                    http01::probe(&responder, &resolver, &names, port)
                        .await
                        .map_err(|error| {
                            error.context("the checks before ordering failed, so nothing was ordered and the certificate in service stays (`--no-check` skips these checks, e.g. where this machine cannot reach its own public address)")
                        })?;
                }
                Ok(Placer::Http {
                    responder,
                    tokens: Vec::new(),
                })
            }
            Challenge::Dns01 => {
                let server = config.tls.dns_update_server.clone().unwrap_or_default();
                let key_file =
                    PathBuf::from(config.tls.dns_update_key_file.clone().unwrap_or_default());
                Dns01::new(&server, &key_file).await.map(Placer::Dns)
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Placer::Http { responder, .. } => responder.describe(),
            Placer::Dns(dns) => dns.describe(),
        }
    }

    async fn place(&mut self, pending: &PendingOrder) -> anyhow::Result<()> {
        for task in &pending.tasks {
            match self {
                Placer::Http { responder, tokens } => {
                    responder.put(&task.token, &task.key_authorization).await?;
                    tokens.push(task.token.clone());
                }
                Placer::Dns(dns) => dns.put(&task.name, &task.dns_value).await?,
            }
        }
        Ok(())
    }

    /// Removes what was placed; a failure here is only reported.
    async fn finish(&mut self) {
        let result = match self {
            Placer::Http { responder, tokens } => {
                let removed = responder.remove(tokens).await;
                tokens.clear();
                removed
            }
            Placer::Dns(dns) => dns.cleanup().await,
        };
        if let Err(error) = result {
            output::warning(format!("cleaning up the challenges: {error:#}"));
        }
    }
}

/// Orders one certificate: challenges, key, CSR, chain. `validation`
/// records which names had a challenge to answer, also when a later step
/// fails.
async fn order_one(
    project: &Project,
    config: &Config,
    settings: &Settings,
    account: &AcmeAccount,
    placer: &mut Placer,
    plan: &CertificatePlan,
    validation: &mut Option<Validation>,
) -> anyhow::Result<(String, String)> {
    let pending = account.new_order(&plan.names, settings.challenge).await?;
    let answered: Vec<String> = pending.tasks.iter().map(|task| task.name.clone()).collect();
    if !pending.already_valid.is_empty() {
        output::status(format!(
            "the ACME server reused valid authorizations of this account for {}: no challenge to answer for them",
            pending.already_valid.join(", ")
        ));
    }
    output::detail(format!(
        "answering {} {} challenge(s): {}",
        answered.len(),
        settings.challenge.as_str(),
        answered.join(", ")
    ));
    *validation = Some(Validation {
        answered,
        already_valid: pending.already_valid.clone(),
    });
    placer.place(&pending).await?;
    let primary = cert::certificate_plans(config)
        .first()
        .is_some_and(|first| first.id == plan.id);
    let next = match settings.rollover && primary {
        true => store::read_next_key(project)?,
        false => None,
    };
    let key = match (
        next,
        settings.reuse_key,
        store::read_certificate(project, &plan.id)?,
    ) {
        (Some(next), _, _) => {
            output::status("using the next key, whose TLSA record is published");
            keys::load_key(&next)?
        }
        (None, true, Some((_, key))) => {
            output::detail("keeping the current private key (`--reuse-key`)");
            keys::load_key(&key)?
        }
        _ => keys::new_key(config.tls.key_type)?,
    };
    let csr = keys::csr_der(&plan.names, &key)?;
    let chain = pending.finish(&csr, VALIDATION_TIMEOUT).await?;
    placer.finish().await;
    Ok((chain, key.serialize_pem()))
}

/// After the hostname's certificate is installed with a kept key: makes the
/// next key when there is none, or a fresh one after a rollover used it.
/// `mailctl dns` publishes its TLSA record beside the current one, so the
/// next rollover can happen once DNS serves it.
fn prepare_next_key(project: &Project, config: &Config, rolled_over: bool) -> anyhow::Result<()> {
    if !rolled_over && store::read_next_key(project)?.is_some() {
        return Ok(());
    }
    let key = keys::new_key(config.tls.key_type)?;
    store::write_next_key(project, &key.serialize_pem())?;
    output::status(format!(
        "made the next key (`{}`); publish its TLSA record (`mailctl dns` lists it, `mailctl dns push` sends it) well before `mailctl cert rollover`",
        store::next_key_path(project).display()
    ));
    Ok(())
}

/// Rewrites an ACME failure as what failed, per name, and a hint.
fn explain(error: anyhow::Error, challenge: Challenge) -> anyhow::Error {
    let Some(failure) = error.downcast_ref::<OrderFailure>() else {
        return error;
    };
    let mut message = format!("{}; the certificate in service stays", failure.detail);
    for item in &failure.challenges {
        message.push_str(&format!(
            "\n  `{}`: {} checked {}; the ACME server answered: {}{}",
            item.name,
            item.challenge,
            item.checked,
            item.detail.as_deref().unwrap_or("(no detail)"),
            item.problem
                .as_deref()
                .map(|problem| format!(" ({problem})"))
                .unwrap_or_default()
        ));
    }
    let hint = if cert::is_rate_limited(failure.problem.as_deref())
        || failure
            .challenges
            .iter()
            .any(|item| cert::is_rate_limited(item.problem.as_deref()))
    {
        cert::rate_limit_hint(Some(&failure.detail))
    } else if let Some(first) = failure.challenges.first() {
        cert::challenge_hint(first, challenge)
    } else {
        "check `mailctl cert status`, then try again; test against `--staging` first".to_owned()
    };
    user_error(message, hint)
}

/// Reloads the certificate in every running service that serves it.
async fn reload_services(config: &Config) -> anyhow::Result<()> {
    let Ok(docker) = Docker::connect().await else {
        output::status("Docker is not reachable: the services load the new certificate at the next `mailctl up`");
        return Ok(());
    };
    let observed = docker.observe(&config.name).await?;
    let mut reloaded = Vec::new();
    for service in RELOAD_ORDER {
        if let Some(container) = observed.containers.iter().find(|container| {
            container.service.as_deref() == Some(service) && container.state.is_up()
        }) {
            docker::reload(&docker, &container.name, service)
                .await
                .hint("the new certificate is in `certs/live`; run `mailctl restart` to load it")?;
            reloaded.push(service);
        }
    }
    if reloaded.is_empty() {
        output::status("the stack is not running: the services use the new certificate at the next `mailctl up`");
    } else {
        output::status(format!(
            "reloaded the certificate in {} (no restart)",
            reloaded.join(", ")
        ));
    }
    Ok(())
}

/// `mailctl cert status`.
fn status(global: &Global) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    let config = project.load_config()?;
    let state = store::read_state(&project)?;
    let plans = cert::certificate_plans(&config);
    let now = OffsetDateTime::now_utc();
    let live = store::live_info(&project);
    let mut rows = Vec::new();
    for (index, plan) in plans.iter().enumerate() {
        let info = store::certificate_info(&project, &plan.id);
        let serving = if index == 0 {
            live.clone()
        } else {
            store::extra_live_info(&project, &plan.id)
        };
        let recorded = state.certificates.get(&plan.id);
        rows.push(json!({
            "id": plan.id,
            "names": info.as_ref().map(|info| info.names.clone()).unwrap_or_else(|| plan.names.clone()),
            "issuer": info.as_ref().map(|info| info.issuer.clone()),
            "not_after": info.as_ref().map(|info| cert::rfc3339(info.not_after)),
            "days_left": info.as_ref().map(|info| (info.not_after - now).whole_days()),
            "in_service": info.as_ref().zip(serving.as_ref()).is_some_and(|(info, serving)| info == serving),
            "last_attempt": recorded.and_then(|entry| entry.last_attempt.clone()),
            "last_success": recorded.and_then(|entry| entry.last_success.clone()),
        }));
    }
    let live_json = live.as_ref().map(|info| {
        json!({
            "names": info.names,
            "issuer": info.issuer,
            "not_after": cert::rfc3339(info.not_after),
            "days_left": (info.not_after - now).whole_days(),
        })
    });
    if global.json {
        return output::json(&json!({
            "mode": config.tls.mode.as_str(),
            "directory": config.tls.acme_directory,
            "challenge": config.tls.challenge.as_str(),
            "renew_before_days": config.tls.renew_before_days,
            "live": live_json,
            "certificates": rows,
        }));
    }
    output::data(format!(
        "mode: {}  challenge: {}  renewal: {} day(s) before expiry",
        config.tls.mode.as_str(),
        config.tls.challenge.as_str(),
        config.tls.renew_before_days
    ));
    match &live {
        Some(info) => output::data(format!(
            "in service: {} — issuer {}, expires {} ({} day(s))",
            info.names.join(", "),
            info.issuer,
            cert::rfc3339(info.not_after),
            (info.not_after - now).whole_days()
        )),
        None => output::data("in service: none (run `mailctl up` or `mailctl cert issue`)"),
    }
    for row in &rows {
        let text = |key: &str| row[key].as_str().unwrap_or("-").to_owned();
        output::data(format!("certificate {}", text("id")));
        output::data(format!(
            "  names:   {}",
            row["names"]
                .as_array()
                .map(|names| names
                    .iter()
                    .filter_map(|name| name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        ));
        output::data(format!("  issuer:  {}", text("issuer")));
        output::data(format!(
            "  expires: {}{}",
            text("not_after"),
            row["days_left"]
                .as_i64()
                .map(|days| format!(" ({days} day(s))"))
                .unwrap_or_default()
        ));
        match row["last_attempt"].as_object() {
            Some(attempt) => output::data(format!(
                "  last attempt: {} {}: {}",
                attempt["at"].as_str().unwrap_or("-"),
                attempt["result"].as_str().unwrap_or("-"),
                attempt["message"].as_str().unwrap_or("-")
            )),
            None => output::data("  last attempt: none"),
        }
    }
    Ok(())
}

/// `mailctl cert install-timer`.
fn install_timer(global: &Global, args: &CertTimerArgs) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    let config = project.load_config()?;
    let root = fs_err::canonicalize(project.root())?;
    let binary = std::env::current_exe()
        .map_err(|error| anyhow::anyhow!("cannot find the mailctl binary's path: {error}"))?;
    let binary = binary.display().to_string();
    let root = root.display().to_string();
    let (service, timer) = cert::systemd_units(&binary, &root);
    let unit = format!("mailctl-cert-renew-{}", config.name);
    let has_systemd = std::path::Path::new("/run/systemd/system").is_dir();
    if !has_systemd {
        let seed = config.name.bytes().fold(7u32, |sum, byte| {
            sum.wrapping_mul(31).wrapping_add(u32::from(byte))
        });
        let minute = u8::try_from(seed % 60).unwrap_or(0);
        let hour = u8::try_from((seed / 60) % 24).unwrap_or(3);
        output::status("no systemd here: add this line to root's crontab (`crontab -e`)");
        output::data(cert::cron_line(&binary, &root, minute, hour));
        return Ok(());
    }
    if args.print {
        output::data(format!(
            "# {unit}.service\n{service}\n# {unit}.timer\n{timer}"
        ));
        return Ok(());
    }
    let service_path = args.unit_dir.join(format!("{unit}.service"));
    let timer_path = args.unit_dir.join(format!("{unit}.timer"));
    crate::files::write_batch_atomic(&[
        (service_path.as_path(), service.as_bytes(), 0o644),
        (timer_path.as_path(), timer.as_bytes(), 0o644),
    ])
    .hint("writing systemd units needs root; or print them with `--print`")?;
    output::status(format!(
        "wrote `{}` and `{}`",
        service_path.display(),
        timer_path.display()
    ));
    let enable = std::process::Command::new("systemctl")
        .args(["daemon-reload"])
        .status()
        .and_then(|_| {
            std::process::Command::new("systemctl")
                .args(["enable", "--now", &format!("{unit}.timer")])
                .status()
        });
    match enable {
        Ok(status) if status.success() => {
            output::status(format!(
                "enabled `{unit}.timer`: `cert renew` runs daily; see `systemctl list-timers {unit}.timer`"
            ));
            Ok(())
        }
        _ => Err(user_error(
            format!("cannot enable `{unit}.timer`"),
            format!("run `systemctl daemon-reload && systemctl enable --now {unit}.timer` as root"),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::cert::ChallengeFailure;

    fn chain(error: &anyhow::Error) -> String {
        error
            .chain()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_failed_challenge_is_explained_per_name() {
        let error = anyhow::Error::new(OrderFailure {
            problem: None,
            detail: "the ACME server could not validate `mail.example.com`".to_owned(),
            challenges: vec![ChallengeFailure {
                name: "mail.example.com".to_owned(),
                challenge: "http-01".to_owned(),
                checked: "http://mail.example.com/.well-known/acme-challenge/abc".to_owned(),
                problem: Some("urn:ietf:params:acme:error:connection".to_owned()),
                detail: Some("Timeout during connect (likely firewall problem)".to_owned()),
            }],
        });
        let text = chain(&explain(error, Challenge::Http01));
        assert!(text.contains("the certificate in service stays"), "{text}");
        assert!(
            text.contains("`mail.example.com`: http-01 checked http://mail.example.com/.well-known/acme-challenge/abc; the ACME server answered: Timeout during connect"),
            "{text}"
        );
        assert!(text.contains("port 80"), "{text}");
    }

    #[test]
    fn a_rate_limit_says_when_to_retry() {
        let error = anyhow::Error::new(OrderFailure {
            problem: Some("urn:ietf:params:acme:error:rateLimited".to_owned()),
            detail: "the ACME server refused an order: too many certificates, retry after 2026-11-28 10:00:00 UTC: see https://letsencrypt.org/docs/rate-limits/".to_owned(),
            challenges: Vec::new(),
        });
        let text = chain(&explain(error, Challenge::Http01));
        assert!(
            text.contains("retry after 2026-11-28 10:00:00 UTC"),
            "{text}"
        );
        assert!(text.contains("stays in service"), "{text}");
    }

    #[test]
    fn other_errors_pass_through() {
        let text = chain(&explain(anyhow::anyhow!("network down"), Challenge::Dns01));
        assert_eq!(text, "network down");
    }
}
