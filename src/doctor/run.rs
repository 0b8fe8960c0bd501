//! The schedule: every check of `doctor` as its own future, all run at
//! once, each under the per-check timeout, then the findings in a fixed
//! order (stack, network, DNS, reputation, TLS, security).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::blocklist::{self, Listing};
use super::lookup::Dns;
use super::probe::{self, TlsStart, Trust};
use super::verdict::{self, Answer};
use super::{certificate, host, smtp, Check, Finding, Status};
use crate::config::{Config, TlsMode};
use crate::dns::{ExpectedRecords, RecordValue};
use crate::service::PortName;

/// What one run looks at.
pub struct Options {
    /// Only these domains (A-labels); empty: every configured domain.
    pub domains: Vec<String>,
    /// The DNS server to ask; `None`: the system's resolvers.
    pub resolver: Option<SocketAddr>,
    /// The project directory (for disk headroom and the certificates).
    pub root: PathBuf,
    /// The trust anchors added to the system's roots (PEM files).
    pub extra_trust: Vec<PathBuf>,
}

struct Context {
    config: Config,
    hostname: String,
    public: Vec<IpAddr>,
    /// Where the published ports are reached from this machine.
    connect_ip: IpAddr,
    expected: ExpectedRecords,
    dns: Dns,
    trust: Trust,
    root: PathBuf,
}

type Running = Pin<Box<dyn Future<Output = Vec<Finding>> + Send>>;

/// Runs every check and returns the findings in report order.
pub async fn run(
    config: Config,
    expected: ExpectedRecords,
    options: Options,
) -> anyhow::Result<Vec<Finding>> {
    let dns = Dns::new(options.resolver)?;
    let extra: Vec<&std::path::Path> = options.extra_trust.iter().map(PathBuf::as_path).collect();
    let trust = Trust::new(&extra);
    let connect_ip = config
        .network
        .bind
        .first()
        .copied()
        .map(|address| match address {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            other => other,
        })
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let timeout = Duration::from_secs(config.doctor.timeout_seconds.max(1));
    let context = Arc::new(Context {
        hostname: config.hostname.trim_end_matches('.').to_ascii_lowercase(),
        public: config.public_addresses(),
        connect_ip,
        expected,
        dns,
        trust,
        root: options.root,
        config,
    });
    let domains: Vec<String> = context
        .config
        .domains
        .iter()
        .map(|domain| domain.name.to_ascii_lowercase())
        .filter(|name| options.domains.is_empty() || options.domains.contains(name))
        .collect();

    let mut checks: Vec<(Check, String, Running)> = Vec::new();
    let mut add =
        |check: Check, subject: String, running: Running| checks.push((check, subject, running));
    add(
        Check::StackServices,
        String::new(),
        Box::pin(stack_services(context.clone())),
    );
    add(
        Check::StackHeadroom,
        String::new(),
        Box::pin(headroom(context.clone())),
    );
    add(
        Check::SecurityBans,
        String::new(),
        Box::pin(bans(context.clone())),
    );
    add(
        Check::StackClientAddress,
        String::new(),
        Box::pin(client_address(context.clone())),
    );
    add(
        Check::NetworkOutbound25,
        String::new(),
        Box::pin(outbound(context.clone())),
    );
    add(
        Check::NetworkPorts,
        String::new(),
        Box::pin(listening(context.clone())),
    );
    add(
        Check::DnsAddress,
        String::new(),
        Box::pin(host_addresses(context.clone())),
    );
    for address in context.public.clone() {
        add(
            Check::DnsPtr,
            address.to_string(),
            Box::pin(ptr(context.clone(), address)),
        );
    }
    add(
        Check::DnsTlsa,
        String::new(),
        Box::pin(tlsa(context.clone())),
    );
    for domain in &domains {
        add(
            Check::DnsMx,
            domain.to_string(),
            Box::pin(mx(context.clone(), domain.clone())),
        );
        add(
            Check::DnsSpf,
            domain.to_string(),
            Box::pin(spf(context.clone(), domain.clone())),
        );
        add(
            Check::DnsDkim,
            domain.to_string(),
            Box::pin(dkim(context.clone(), domain.clone())),
        );
        add(
            Check::DnsDmarc,
            domain.to_string(),
            Box::pin(dmarc(context.clone(), domain.clone())),
        );
        add(
            Check::DnsMtaSts,
            domain.to_string(),
            Box::pin(mta_sts(context.clone(), domain.clone())),
        );
        add(
            Check::DnsTlsRpt,
            domain.to_string(),
            Box::pin(tls_rpt(context.clone(), domain.clone())),
        );
        add(
            Check::DnsCaa,
            domain.to_string(),
            Box::pin(caa(context.clone(), domain.clone())),
        );
        add(
            Check::DnsDnssec,
            domain.to_string(),
            Box::pin(dnssec(context.clone(), domain.clone())),
        );
    }
    for address in context.public.clone() {
        for list in context.config.doctor.blocklists.clone() {
            if address.is_ipv6() && !list.ipv6 {
                continue;
            }
            add(
                Check::ReputationAddress,
                format!("{address} {}", list.zone),
                Box::pin(address_listed(context.clone(), address, list.zone)),
            );
        }
    }
    for domain in &domains {
        for zone in context.config.doctor.domain_blocklists.clone() {
            add(
                Check::ReputationDomain,
                format!("{domain} {zone}"),
                Box::pin(domain_listed(context.clone(), domain.clone(), zone)),
            );
        }
    }
    for (name, start) in [
        (PortName::Smtp, TlsStart::SmtpStartTls),
        (PortName::Submission, TlsStart::SmtpStartTls),
        (PortName::Submissions, TlsStart::Implicit),
        (PortName::Imaps, TlsStart::Implicit),
        (PortName::Pop3s, TlsStart::Implicit),
        (PortName::Https, TlsStart::Implicit),
    ] {
        if let Some(port) = context.config.ports.get(name).number() {
            add(
                Check::TlsCertificate,
                name.to_string(),
                Box::pin(certificate_check(context.clone(), name, port, start)),
            );
        }
    }
    add(
        Check::SecurityRelay,
        String::new(),
        Box::pin(relay(context.clone())),
    );
    add(
        Check::SecurityAuthBeforeTls,
        String::new(),
        Box::pin(auth_before_tls(context.clone())),
    );

    let runs = checks.into_iter().map(|(check, subject, running)| async move {
        let started = Instant::now();
        let mut findings = match tokio::time::timeout(timeout, running).await {
            Ok(findings) => findings,
            Err(_) => {
                vec![Finding::new(check, subject, Status::Error, format!("the check did not finish within {} s", timeout.as_secs()))
                    .fix("raise `doctor.timeout_seconds` in mailctl.yaml if the network is slow; otherwise the service or resolver does not answer")]
            }
        };
        let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        for finding in &mut findings {
            finding.millis = millis;
        }
        findings
    });
    let results = futures_util::future::join_all(runs).await;
    Ok(results.into_iter().flatten().collect())
}

/// The values `dns::expected_records` decided for the owner `name`: the
/// one source of what the DNS checks compare with.
fn expected_values<'a>(
    expected: &'a ExpectedRecords,
    name: &'a str,
) -> impl Iterator<Item = &'a RecordValue> {
    expected
        .records
        .iter()
        .filter(move |record| record.name == name)
        .map(|record| &record.value)
}

/// The expected TXT record at `name` that starts with `prefix`.
fn expected_txt(expected: &ExpectedRecords, name: &str, prefix: &str) -> Option<String> {
    expected_values(expected, name).find_map(|value| match value {
        RecordValue::Txt(text) if text.starts_with(prefix) => Some(text.clone()),
        _ => None,
    })
}

/// The expected MX of `domain`: preference and exchange.
fn expected_mx(expected: &ExpectedRecords, domain: &str) -> Option<(u16, String)> {
    expected_values(expected, domain).find_map(|value| match value {
        RecordValue::Mx {
            preference,
            exchange,
        } => Some((*preference, exchange.to_string())),
        _ => None,
    })
}

/// The expected A and AAAA addresses of `hostname`.
fn expected_addresses(expected: &ExpectedRecords, hostname: &str) -> Vec<IpAddr> {
    expected_values(expected, hostname)
        .filter_map(|value| match value {
            RecordValue::A(address) => Some(IpAddr::V4(*address)),
            RecordValue::Aaaa(address) => Some(IpAddr::V6(*address)),
            _ => None,
        })
        .collect()
}

/// The CA the expected CAA `issue` record of `domain` allows.
fn expected_ca(expected: &ExpectedRecords, domain: &str) -> Option<String> {
    expected_values(expected, domain).find_map(|value| match value {
        RecordValue::Caa { tag, value, .. } if tag == "issue" => Some(value.clone()),
        _ => None,
    })
}

fn port_address(context: &Context, port: u16) -> SocketAddr {
    SocketAddr::new(context.connect_ip, port)
}

async fn stack_services(context: Arc<Context>) -> Vec<Finding> {
    let docker = match crate::docker::Docker::connect().await {
        Ok(docker) => docker,
        Err(error) => {
            return vec![Finding::new(Check::StackDocker, "daemon", Status::Error, format!("Docker is not reachable: {error:#}"))
                .fix("start Docker (`systemctl start docker`) and make sure this user may use it (group `docker`)")]
        }
    };
    let mut findings = vec![Finding::ok(
        Check::StackDocker,
        docker.endpoint(),
        format!("reachable, API {}", docker.api_version()),
    )];
    let mut observed = match docker.observe(&context.config.name).await {
        Ok(observed) => observed,
        Err(error) => {
            findings.push(Finding::new(
                Check::StackService,
                &context.config.name,
                Status::Error,
                format!("cannot list the containers: {error:#}"),
            ));
            return findings;
        }
    };
    crate::stack::confirm_starting(&docker, &mut observed).await;
    for service in crate::service::Service::names() {
        let container = observed
            .containers
            .iter()
            .find(|container| container.service.as_deref() == Some(service));
        let finding = match container {
            None => Finding::new(
                Check::StackService,
                service,
                Status::Error,
                "no container: the service is not running",
            )
            .fix("run `mailctl up`"),
            Some(container) => {
                let state = container.state.as_str();
                let health = container.health.as_str();
                let running = matches!(container.state, crate::plan::ContainerState::Running);
                let healthy = matches!(
                    container.health,
                    crate::plan::Health::Healthy | crate::plan::Health::None
                );
                if running && healthy {
                    Finding::ok(
                        Check::StackService,
                        service,
                        format!("{state}, health {health}"),
                    )
                } else {
                    Finding::new(
                        Check::StackService,
                        service,
                        Status::Error,
                        format!("{state}, health {health}"),
                    )
                    .found(format!(
                        "container `{}`, restarted {} times",
                        container.name, container.restart_count
                    ))
                    .expected("running, healthy")
                    .fix(format!(
                        "see `mailctl logs {service}`, then `mailctl restart {service}`"
                    ))
                }
            }
        };
        findings.push(finding);
    }
    findings
}

async fn headroom(context: Arc<Context>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut paths = vec![context.root.clone()];
    let docker_root = PathBuf::from("/var/lib/docker");
    if docker_root.exists() {
        paths.push(docker_root);
    }
    for path in paths {
        let df_path = path.clone();
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new("df")
                .args(["-P", "-B1"])
                .arg(&df_path)
                .output()
        })
        .await;
        let parsed = output.ok().and_then(Result::ok).and_then(|output| {
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            let line = text.lines().nth(1)?.to_owned();
            let fields: Vec<&str> = line.split_whitespace().collect();
            Some((
                fields.get(1)?.parse::<u64>().ok()?,
                fields.get(3)?.parse::<u64>().ok()?,
            ))
        });
        match parsed {
            Some((total, available)) => {
                findings.push(host::disk(&path.display().to_string(), available, total))
            }
            None => findings.push(Finding::new(
                Check::StackDisk,
                path.display().to_string(),
                Status::Warning,
                "cannot read the free space (`df`)",
            )),
        }
    }
    match tokio::fs::read_to_string("/proc/meminfo")
        .await
        .ok()
        .as_deref()
        .and_then(host::mem_available)
    {
        Some((available, total)) => findings.push(host::memory(available, total)),
        None => findings.push(Finding::new(
            Check::StackMemory,
            "host",
            Status::Warning,
            "cannot read /proc/meminfo",
        )),
    }
    findings
}

/// Whether the guard enforces bans in the host's firewall.
async fn bans(context: Arc<Context>) -> Vec<Finding> {
    let subject = "guard";
    if !context.config.runs(crate::service::Service::Guard) {
        return vec![Finding::new(
            Check::SecurityBans,
            subject,
            Status::Warning,
            "bans are off: an address may guess passwords for as long as it likes",
        )
        .fix("set `security.bans.enabled: true` in mailctl.yaml and run `mailctl up`")];
    }
    let container = format!("{}-guard-1", context.config.name);
    let status = match crate::docker::Docker::connect().await {
        Ok(docker) => crate::docker::guard::status(&docker, &container).await,
        Err(error) => Err(error),
    };
    let finding = match status {
        Err(error) => Finding::new(
            Check::SecurityBans,
            subject,
            Status::Error,
            format!("the guard does not answer: {error:#}"),
        )
        .fix("see `mailctl logs guard`, then `mailctl restart guard`"),
        Ok(status) => match (&status.firewall.ipv4, status.installed) {
            (Some(tool), true) => Finding::ok(
                Check::SecurityBans,
                subject,
                format!(
                    "enforced in the host's firewall ({tool}, chain {} from DOCKER-USER){}; {} address(es) banned now",
                    status.firewall.chain,
                    if status.firewall.ipv6.is_some() { ", IPv6 too" } else { "; IPv6 bans are refused at login only (no usable ip6tables DOCKER-USER chain)" },
                    status.bans
                ),
            ),
            (Some(tool), false) => Finding::new(
                Check::SecurityBans,
                subject,
                Status::Warning,
                format!("the jump from DOCKER-USER to chain {} is missing ({tool})", status.firewall.chain),
            )
            .fix("it is restored within 10 s; if not, `mailctl restart guard`"),
            (None, _) => Finding::new(
                Check::SecurityBans,
                subject,
                Status::Warning,
                "the host's firewall has no DOCKER-USER chain: banned addresses are refused at login only, not on every port",
            )
            .expected("Docker manages iptables (the default)")
            .fix("remove `\"iptables\": false` from /etc/docker/daemon.json and restart Docker"),
        },
    };
    vec![finding]
}

async fn client_address(context: Arc<Context>) -> Vec<Finding> {
    let Some(port) = context.config.ports.smtp.number() else {
        return vec![Finding::new(
            Check::StackClientAddress,
            PortName::Smtp.as_str(),
            Status::Info,
            "port 25 is not published",
        )];
    };
    let mut listeners = Vec::new();
    if let Ok(mut entries) = tokio::fs::read_dir("/proc").await {
        while let Ok(Some(entry)) = entries.next_entry().await {
            if !entry
                .file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
            {
                continue;
            }
            if let Ok(cmdline) = tokio::fs::read(entry.path().join("cmdline")).await {
                if let Some(listener) = host::docker_proxy_listener(&cmdline) {
                    listeners.push(listener);
                }
            }
        }
    }
    let ip6tables = tokio::fs::read_to_string("/etc/docker/daemon.json")
        .await
        .is_ok_and(|text| host::daemon_has_ip6tables(&text));
    let gateway = context
        .config
        .network
        .subnet
        .parse::<ipnet::Ipv4Net>()
        .map(|subnet| std::net::Ipv4Addr::from(u32::from(subnet.network()) + 1))
        .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
    vec![host::client_addresses(port, &listeners, gateway, ip6tables)]
}

async fn outbound(context: Arc<Context>) -> Vec<Finding> {
    let target = context.config.doctor.outbound_smtp.clone();
    let result = match tokio::net::lookup_host(target.as_str()).await {
        Ok(mut addresses) => match addresses.next() {
            Some(address) => probe::greeting(address)
                .await
                .map_err(smtp::OutboundProblem::Unreachable),
            None => Err(smtp::OutboundProblem::Unresolved(format!(
                "`{target}` has no address"
            ))),
        },
        Err(error) => Err(smtp::OutboundProblem::Unresolved(format!(
            "cannot resolve `{target}`: {error}"
        ))),
    };
    vec![smtp::outbound(&target, &result)]
}

async fn listening(context: Arc<Context>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (port_name, number) in context.config.ports.enabled() {
        for bind in &context.config.network.bind {
            let ip = match bind {
                IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                other => *other,
            };
            let subject = format!("{bind}:{number} ({port_name})");
            findings.push(match probe::connect(SocketAddr::new(ip, number)).await {
                Ok(_) => Finding::ok(Check::NetworkPort, subject, "listening"),
                Err(error) => Finding::new(
                    Check::NetworkPort,
                    subject,
                    Status::Error,
                    format!("not listening: {error}"),
                )
                .fix(format!(
                    "run `mailctl status`; if `{}` is running, another program may hold the port",
                    port_name.service()
                )),
            });
        }
    }
    findings
}

async fn host_addresses(context: Arc<Context>) -> Vec<Finding> {
    let expected = expected_addresses(&context.expected, &context.hostname);
    let found = context.dns.addresses(&context.hostname).await;
    vec![verdict::addresses(&context.hostname, &expected, &found)]
}

async fn ptr(context: Arc<Context>, address: IpAddr) -> Vec<Finding> {
    let (ptr, forward) = tokio::join!(
        context.dns.ptr(address),
        context.dns.addresses(&context.hostname)
    );
    vec![verdict::ptr(address, &context.hostname, &ptr, &forward)]
}

async fn tlsa(context: Arc<Context>) -> Vec<Finding> {
    let name = format!("_25._tcp.{}", context.hostname);
    let found = context.dns.tlsa(&name).await;
    let matches = match (&found, context.config.ports.smtp.number()) {
        (Answer::Records(records), Some(port)) => {
            match probe::handshake(
                &context.trust,
                port_address(&context, port),
                &context.hostname,
                TlsStart::SmtpStartTls,
            )
            .await
            {
                Ok(served) => records
                    .iter()
                    .map(|record| tlsa_matches(record, &served.chain))
                    .collect(),
                Err(_) => Vec::new(),
            }
        }
        _ => Vec::new(),
    };
    vec![verdict::tlsa(&name, &found, &matches)]
}

/// Whether a TLSA record (usage, selector, matching, data) matches the chain.
fn tlsa_matches(record: &(u8, u8, u8, Vec<u8>), chain: &[Vec<u8>]) -> bool {
    use sha2::Digest;
    let (usage, selector, matching, data) = record;
    let candidates: Vec<&Vec<u8>> = match usage {
        1 | 3 => chain.first().into_iter().collect(),
        _ => chain.iter().skip(1).collect(),
    };
    candidates.iter().any(|der| {
        let content = match selector {
            0 => der.to_vec(),
            _ => match x509_parser::parse_x509_certificate(der) {
                Ok((_, certificate)) => certificate.tbs_certificate.subject_pki.raw.to_vec(),
                Err(_) => return false,
            },
        };
        let digest = match matching {
            0 => content,
            1 => sha2::Sha256::digest(&content).to_vec(),
            2 => sha2::Sha512::digest(&content).to_vec(),
            _ => return false,
        };
        &digest == data
    })
}

async fn mx(context: Arc<Context>, domain: String) -> Vec<Finding> {
    let Some((preference, exchange)) = expected_mx(&context.expected, &domain) else {
        return Vec::new();
    };
    let found = context.dns.mx(&domain).await;
    vec![verdict::mx(&domain, preference, &exchange, &found)]
}

async fn spf(context: Arc<Context>, domain: String) -> Vec<Finding> {
    let Some(expected) = expected_txt(&context.expected, &domain, "v=spf1") else {
        return Vec::new();
    };
    let txt = context.dns.txt(&domain).await;
    let evaluations = context.dns.spf(&domain, &context.public).await;
    let mut finding = verdict::spf(&domain, &txt, &evaluations, &expected);
    if context.public.is_empty() && finding.status == Status::Ok {
        finding.status = Status::Warning;
        finding.summary = "valid, but the server's public address is not known, so it could not be checked against it".to_owned();
        finding.fix = Some("set `network.public_addresses` in mailctl.yaml".to_owned());
    }
    vec![finding]
}

async fn dkim(context: Arc<Context>, domain: String) -> Vec<Finding> {
    let Some(configured) = context.config.domain(&domain) else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    for selector in &configured.dkim {
        let name = format!("{}._domainkey.{domain}", selector.selector);
        let Some(expected) = expected_txt(&context.expected, &name, "v=DKIM1") else {
            findings.push(
                Finding::new(
                    Check::DnsDkim,
                    name,
                    Status::Error,
                    "the key is missing on disk",
                )
                .fix("run `mailctl init --force` to create missing keys"),
            );
            continue;
        };
        let found = context.dns.txt(&name).await;
        findings.push(verdict::dkim(
            &domain,
            &selector.selector,
            &expected,
            &found,
        ));
    }
    findings
}

async fn dmarc(context: Arc<Context>, domain: String) -> Vec<Finding> {
    let name = format!("_dmarc.{domain}");
    let Some(expected) = expected_txt(&context.expected, &name, "v=DMARC1") else {
        return Vec::new();
    };
    let found = context.dns.txt(&name).await;
    vec![verdict::dmarc(&domain, &expected, &found)]
}

async fn mta_sts(context: Arc<Context>, domain: String) -> Vec<Finding> {
    let name = format!("_mta-sts.{domain}");
    let mut findings = Vec::new();
    if let Some(expected) = expected_txt(&context.expected, &name, "v=STSv1") {
        let found = context.dns.txt(&name).await;
        findings.push(verdict::exact_txt(
            Check::DnsMtaSts,
            &name,
            "v=STSv1",
            &expected,
            &found,
            "senders do not look for the MTA-STS policy",
        ));
    }
    let Some(configured) = context.config.domain(&domain) else {
        return findings;
    };
    let policy = crate::dns::mta_sts_policy(&context.config, configured);
    let host = format!("mta-sts.{domain}");
    let served = match context.config.ports.https.number() {
        None => Err("`https` is turned off".to_owned()),
        Some(port) => match context.dns.addresses(&host).await {
            Answer::Records(addresses) => {
                // The policy host must be this server: connect to its
                // configured port on the address from DNS when it is one
                // of ours, else where the ports are published.
                let ip = addresses
                    .iter()
                    .copied()
                    .find(|address| context.public.contains(address))
                    .unwrap_or(context.connect_ip);
                let target = if context.public.contains(&ip)
                    && ip != context.connect_ip
                    && !context
                        .config
                        .network
                        .bind
                        .iter()
                        .any(|b| b.is_unspecified() || *b == ip)
                {
                    SocketAddr::new(context.connect_ip, port)
                } else {
                    SocketAddr::new(ip, port)
                };
                match probe::https_get(&context.trust, target, &host, "/.well-known/mta-sts.txt")
                    .await
                {
                    // Senders fetch the policy only over a valid certificate
                    // for the policy host (RFC 8461 §3.3).
                    Ok((_, served)) if served.chain_error.is_some() => Err(format!(
                        "the certificate of `{host}` does not verify: {}",
                        served.chain_error.unwrap_or_default()
                    )),
                    Ok((body, _)) => Ok(body),
                    Err(error) => Err(error),
                }
            }
            Answer::Empty => Err(format!("`{host}` does not resolve")),
            Answer::Failed(error) => Err(format!("lookup of `{host}` failed: {error}")),
        },
    };
    findings.push(verdict::mta_sts_policy(
        &domain,
        &context.hostname,
        &policy,
        &served,
    ));
    findings
}

async fn tls_rpt(context: Arc<Context>, domain: String) -> Vec<Finding> {
    let name = format!("_smtp._tls.{domain}");
    let found = context.dns.txt(&name).await;
    match expected_txt(&context.expected, &name, "v=TLSRPTv1") {
        Some(expected) => vec![verdict::exact_txt(
            Check::DnsTlsRpt,
            &name,
            "v=TLSRPTv1",
            &expected,
            &found,
            "senders cannot report TLS failures",
        )],
        None => {
            let published = found
                .records()
                .iter()
                .any(|text| text.starts_with("v=TLSRPTv1"));
            vec![if published {
                Finding::ok(Check::DnsTlsRpt, name, "a TLS-RPT record is published")
            } else {
                Finding::new(Check::DnsTlsRpt, name, Status::Info, "no TLS-RPT record: senders cannot report TLS failures to you")
                    .fix(format!("set `tls_rpt_address` for `{domain}` in mailctl.yaml, then publish the record `mailctl dns {domain}` shows"))
            }]
        }
    }
}

async fn caa(context: Arc<Context>, domain: String) -> Vec<Finding> {
    let ca = expected_ca(&context.expected, &domain);
    if ca.is_none() && context.config.tls.mode == TlsMode::Letsencrypt {
        // The records name no CA for an ACME server whose CAA issuer
        // domain they do not know (`mailctl dns` says so in a note).
        let directory = &context.config.tls.acme_directory;
        return vec![Finding::new(
            Check::DnsCaa,
            domain,
            Status::Info,
            format!("the CAA issuer domain of the ACME server at `{directory}` is not known, so CAA is not checked"),
        )
        .fix("if you publish CAA records, name that CA's issuer domain from its documentation (RFC 8659 §4)")];
    }
    let found = context.dns.caa(&domain).await;
    vec![verdict::caa(&domain, ca.as_deref(), &found)]
}

async fn dnssec(context: Arc<Context>, domain: String) -> Vec<Finding> {
    let authenticated = context.dns.authenticated(&domain).await;
    vec![verdict::dnssec(&domain, &authenticated)]
}

async fn address_listed(context: Arc<Context>, address: IpAddr, zone: String) -> Vec<Finding> {
    let name = blocklist::address_query(address, &zone);
    let subject = format!("{address} in {zone}");
    listing_finding(
        Check::ReputationAddress,
        subject,
        &zone,
        context.dns.ipv4(&name).await,
    )
}

async fn domain_listed(context: Arc<Context>, domain: String, zone: String) -> Vec<Finding> {
    let name = format!("{domain}.{zone}");
    let subject = format!("{domain} in {zone}");
    listing_finding(
        Check::ReputationDomain,
        subject,
        &zone,
        context.dns.ipv4(&name).await,
    )
}

fn listing_finding(
    check: Check,
    subject: String,
    zone: &str,
    answer: Answer<Ipv4Addr>,
) -> Vec<Finding> {
    let finding = match answer {
        Answer::Failed(error) => Finding::new(
            check,
            subject,
            Status::Warning,
            format!("the list could not be asked: {error}"),
        )
        .fix("blocklists refuse public resolvers: use your own resolver (`--resolver`)"),
        answer => match blocklist::decode(zone, answer.records()) {
            Listing::NotListed => Finding::ok(check, subject, "not listed"),
            Listing::Listed(reasons) => Finding::new(
                check,
                subject,
                Status::Error,
                "LISTED: receivers that use this list reject the mail",
            )
            .found(reasons.join("; "))
            .expected("not listed")
            .fix(blocklist::delisting_hint(zone)),
            Listing::Unusable(reason) => Finding::new(
                check,
                subject,
                Status::Warning,
                format!("could not check: {reason}"),
            ),
        },
    };
    vec![finding]
}

async fn certificate_check(
    context: Arc<Context>,
    name: PortName,
    port: u16,
    start: TlsStart,
) -> Vec<Finding> {
    let subject = format!("{name} ({port})");
    let fix = match context.config.tls.mode {
        TlsMode::Letsencrypt => "run `mailctl cert renew`, then check that the services reloaded",
        TlsMode::SelfSigned => {
            "delete certs/live and run `mailctl up` for a new self-signed certificate"
        }
        TlsMode::Custom => {
            "install a valid certificate at `tls.certificate_file` and reload the services"
        }
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    match probe::handshake(
        &context.trust,
        port_address(&context, port),
        &context.hostname,
        start,
    )
    .await
    {
        Ok(served) => vec![certificate::verdict(
            &subject,
            &context.hostname,
            &served,
            now,
            context.config.tls.mode == TlsMode::SelfSigned,
            fix,
        )],
        Err(error) => vec![Finding::new(
            Check::TlsCertificate,
            subject,
            Status::Error,
            format!("no TLS session: {error}"),
        )
        .fix(format!("see `mailctl logs {}`", name.service()))],
    }
}

async fn relay(context: Arc<Context>) -> Vec<Finding> {
    let Some(port) = context.config.ports.smtp.number() else {
        return Vec::new();
    };
    let subject = format!("smtp ({port})");
    let recipient = "mailctl-relay-test@example.com";
    match probe::relay(port_address(&context, port), recipient).await {
        Ok((mail, rcpt)) => vec![smtp::relay(&subject, &mail, rcpt.as_ref(), recipient)],
        Err(error) => vec![Finding::new(
            Check::SecurityRelay,
            subject,
            Status::Error,
            format!("the relay test could not run: {error}"),
        )],
    }
}

async fn auth_before_tls(context: Arc<Context>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for name in [PortName::Smtp, PortName::Submission] {
        let Some(port) = context.config.ports.get(name).number() else {
            continue;
        };
        let subject = format!("{name} ({port})");
        findings.push(match probe::ehlo(port_address(&context, port)).await {
            Ok((mut conversation, reply)) => {
                let _ = conversation.command("QUIT").await;
                smtp::auth_before_tls(&subject, &reply)
            }
            Err(error) => Finding::new(
                Check::SecurityAuthBeforeTls,
                subject,
                Status::Error,
                format!("cannot talk SMTP: {error}"),
            ),
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    /// What the DNS checks compare with is what `mailctl dns` publishes.
    #[test]
    fn expectations_come_from_the_expected_records() {
        let source = "\
version: 1
hostname: mail.example.com
primary_domain: example.com
network:
  public_addresses: [192.0.2.10, 2001:db8::10]
domains:
  - name: example.com
    dmarc: { policy: reject }
";
        let mut config = crate::config::parse_str(source, std::path::Path::new("test.yaml"))
            .unwrap_or_else(|error| panic!("{error}"));
        let expected =
            crate::dns::expected_records(&config, &crate::dns::PublicKeys::new()).unwrap();
        assert_eq!(
            expected_mx(&expected, "example.com"),
            Some((10, "mail.example.com".to_owned()))
        );
        assert_eq!(
            expected_txt(&expected, "example.com", "v=spf1").as_deref(),
            Some("v=spf1 mx -all")
        );
        assert_eq!(
            expected_txt(&expected, "_dmarc.example.com", "v=DMARC1").as_deref(),
            Some("v=DMARC1; p=reject")
        );
        let mut addresses = expected_addresses(&expected, "mail.example.com");
        addresses.sort();
        assert_eq!(
            addresses,
            [
                "192.0.2.10".parse::<IpAddr>().unwrap(),
                "2001:db8::10".parse().unwrap()
            ]
        );
        assert_eq!(
            expected_ca(&expected, "example.com").as_deref(),
            Some("letsencrypt.org")
        );
        // Another ACME server: no CA is expected, as `mailctl dns` shows none.
        config.tls.acme_directory = "https://acme.example.net/directory".to_owned();
        let expected =
            crate::dns::expected_records(&config, &crate::dns::PublicKeys::new()).unwrap();
        assert_eq!(expected_ca(&expected, "example.com"), None);
    }

    #[test]
    fn tlsa_records_match_the_leaf() {
        let (pem, _) = crate::tls::self_signed(&["mail.example.org".to_owned()]).unwrap();
        let der = {
            use base64::Engine as _;
            let body: String = pem
                .lines()
                .filter(|line| !line.starts_with("-----"))
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap()
        };
        let (_, certificate) = x509_parser::parse_x509_certificate(&der).unwrap();
        let spki = sha2::Sha256::digest(certificate.tbs_certificate.subject_pki.raw).to_vec();
        assert!(tlsa_matches(&(3, 1, 1, spki), std::slice::from_ref(&der)));
        assert!(!tlsa_matches(
            &(3, 1, 1, vec![0; 32]),
            std::slice::from_ref(&der)
        ));
        let full = sha2::Sha256::digest(&der).to_vec();
        assert!(tlsa_matches(&(3, 0, 1, full), &[der]));
    }
}
