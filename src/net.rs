//! Network addresses as users write them (`IP`, `IP:PORT`, `[IPv6]:PORT`,
//! `HOST[:PORT]`), and the one way a DNS resolver is built
//! (hickory-resolver): the system's, or one server given on the command
//! line.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;

/// `IP`, `IP:PORT`, `[IPv6]` or `[IPv6]:PORT`, with `default_port` when
/// none is given; `None` for anything else (a host name).
pub fn ip_and_port(text: &str, default_port: u16) -> Option<SocketAddr> {
    let text = text.trim();
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Some(address);
    }
    text.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, default_port))
}

/// An address (as a one-address network) or a network in CIDR notation,
/// host bits cleared; `None` for anything else.
pub fn parse_network(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    if let Ok(address) = text.parse::<IpAddr>() {
        return Some(ipnet::IpNet::from(address));
    }
    text.parse::<ipnet::IpNet>()
        .ok()
        .map(|network| network.trunc())
}

/// `HOST[:PORT]` or any form [`ip_and_port`] takes, a name resolved with
/// the system's resolver; `None` when it does not resolve.
pub async fn host_and_port(text: &str, default_port: u16) -> Option<SocketAddr> {
    if let Some(address) = ip_and_port(text, default_port) {
        return Some(address);
    }
    let with_port = match text.rsplit_once(':') {
        Some((_, port)) if port.parse::<u16>().is_ok() => text.to_owned(),
        _ => format!("{text}:{default_port}"),
    };
    tokio::net::lookup_host(with_port)
        .await
        .ok()
        .and_then(|mut addresses| addresses.next())
}

/// How a resolver behaves.
#[derive(Debug, Clone, Copy)]
pub struct ResolverSettings {
    /// How long one query may take before it is retried or fails.
    pub timeout: Duration,
    pub attempts: usize,
    /// Keep answers (false: every lookup asks again, for checks that
    /// follow a change).
    pub cache: bool,
}

/// A resolver that asks `server`, or the system's resolvers; what other
/// servers see is DNS, never this machine's /etc/hosts. Also returns the
/// server asked (the system's first, where known).
pub fn resolver(
    server: Option<SocketAddr>,
    settings: ResolverSettings,
) -> anyhow::Result<(TokioResolver, Option<SocketAddr>)> {
    let provider = TokioRuntimeProvider::default();
    let (config, asked) = match server {
        Some(address) => {
            let mut name_server = NameServerConfig::udp_and_tcp(address.ip());
            for connection in &mut name_server.connections {
                connection.port = address.port();
            }
            (
                ResolverConfig::from_name_servers(vec![name_server]),
                Some(address),
            )
        }
        None => {
            let (config, _) =
                hickory_resolver::system_conf::read_system_conf().map_err(|error| {
                    anyhow::anyhow!("cannot read the system's resolver configuration: {error}")
                })?;
            let first = config
                .name_servers()
                .first()
                .map(|server| SocketAddr::new(server.ip, 53));
            (config, first)
        }
    };
    let mut builder = TokioResolver::builder_with_config(config, provider);
    let options = builder.options_mut();
    options.timeout = settings.timeout;
    options.attempts = settings.attempts;
    options.ndots = 0;
    options.use_hosts_file = ResolveHosts::Never;
    if !settings.cache {
        options.cache_size = 0;
    }
    let resolver = builder
        .build()
        .map_err(|error| anyhow::anyhow!("cannot set up a DNS resolver: {error}"))?;
    Ok((resolver, asked))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn addresses_with_and_without_ports() {
        let parsed = |text| ip_and_port(text, 53);
        assert_eq!(parsed("127.0.0.1"), Some("127.0.0.1:53".parse().unwrap()));
        assert_eq!(
            parsed(" 127.0.0.1:5353 "),
            Some("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(parsed("[::1]:5300"), Some("[::1]:5300".parse().unwrap()));
        assert_eq!(parsed("[::1]"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(parsed("::1"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(parsed("resolver.example"), None);
        assert_eq!(parsed("ns1.example:53"), None);
    }

    #[test]
    fn host_names_resolve_through_the_system() {
        crate::docker::block_on(async {
            assert_eq!(
                host_and_port("localhost:5353", 53).await.map(|a| a.port()),
                Some(5353)
            );
            assert_eq!(
                host_and_port("127.0.0.1", 53).await,
                Some("127.0.0.1:53".parse().unwrap())
            );
            assert_eq!(host_and_port("name.invalid", 53).await, None);
        })
        .unwrap();
    }
}
