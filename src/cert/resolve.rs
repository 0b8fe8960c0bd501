//! Name lookups for the checks before an order (hickory-resolver): the
//! system's resolver, or one given with `--resolver IP[:PORT]` — the one
//! the ACME server itself uses, where that differs (test CAs).

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;

pub struct Resolver {
    inner: TokioResolver,
    described: String,
}

impl Resolver {
    /// The system's resolver, or `server` when given.
    pub fn new(server: Option<SocketAddr>) -> anyhow::Result<Resolver> {
        let provider = TokioRuntimeProvider::default();
        let (builder, described) = match server {
            Some(server) => {
                let mut name_server = NameServerConfig::udp_and_tcp(server.ip());
                for connection in &mut name_server.connections {
                    connection.port = server.port();
                }
                (
                    TokioResolver::builder_with_config(
                        ResolverConfig::from_name_servers(vec![name_server]),
                        provider,
                    ),
                    format!("the resolver at {server}"),
                )
            }
            None => (
                TokioResolver::builder(provider).map_err(|error| {
                    anyhow::anyhow!("cannot read the system's resolver configuration: {error}")
                })?,
                "the system's resolver".to_owned(),
            ),
        };
        let mut builder = builder;
        builder.options_mut().cache_size = 0;
        let inner = builder
            .build()
            .map_err(|error| anyhow::anyhow!("cannot set up a DNS resolver: {error}"))?;
        Ok(Resolver { inner, described })
    }

    /// Which resolver answers, for messages.
    pub fn describe(&self) -> &str {
        &self.described
    }

    /// The A and AAAA addresses of `name` (empty when it has none).
    pub async fn addresses(&self, name: &str) -> anyhow::Result<Vec<IpAddr>> {
        match self.inner.lookup_ip(format!("{name}.")).await {
            Ok(lookup) => Ok(lookup.iter().collect()),
            Err(error) if error.is_no_records_found() || error.is_nx_domain() => Ok(Vec::new()),
            Err(error) => Err(anyhow::anyhow!(
                "cannot look `{name}` up with {}: {error}",
                self.described
            )),
        }
    }
}
