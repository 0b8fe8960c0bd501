//! Name lookups for the checks before an order (hickory-resolver): the
//! system's resolver, or one given with `--resolver IP[:PORT]` — the one
//! the ACME server itself uses, where that differs (test CAs).

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::TokioResolver;

pub struct Resolver {
    inner: TokioResolver,
    described: String,
}

impl Resolver {
    /// The system's resolver, or `server` when given.
    pub fn new(server: Option<SocketAddr>) -> anyhow::Result<Resolver> {
        // Every check asks again: a record just fixed must count.
        let settings = crate::net::ResolverSettings {
            timeout: std::time::Duration::from_secs(5),
            attempts: 2,
            cache: false,
        };
        let (inner, _) = crate::net::resolver(server, settings)?;
        let described = match server {
            Some(server) => format!("the resolver at {server}"),
            None => "the system's resolver".to_owned(),
        };
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
