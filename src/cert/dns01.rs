//! DNS-01 answers (RFC 8555 §8.4): a TXT record at
//! `_acme-challenge.<name>`, added and removed with RFC 2136 updates signed
//! with a TSIG key (`crate::dns::update`), for servers whose port 80 is
//! closed.

use std::net::SocketAddr;
use std::path::Path;

use crate::dns::records::RecordType;
use crate::dns::update::{Change, TsigKey, UpdateClient};
use crate::error::{user_error, WithHint};

/// The TTL of challenge records: short, they live for a minute.
const TTL: u32 = 60;

/// The owner name of the challenge record for `name`.
pub fn record_name(name: &str) -> String {
    format!("_acme-challenge.{}", name.trim_end_matches('.'))
}

/// The TXT data for `value`, in master-file syntax.
pub fn txt_data(value: &str) -> String {
    format!("\"{value}\"")
}

/// Records added so far, for removal afterwards.
pub struct Dns01 {
    client: UpdateClient,
    server: SocketAddr,
    added: Vec<(String, String, String)>,
}

impl Dns01 {
    pub async fn new(server: &str, key_file: &Path) -> anyhow::Result<Dns01> {
        let address = crate::net::host_and_port(server, 53)
            .await
            .ok_or_else(|| {
                user_error(
                    format!("cannot resolve the DNS update server `{server}`"),
                    "set `tls.dns_update_server` to an address or name with an optional port, e.g. `ns1.example.com:53`",
                )
            })?;
        let key = TsigKey::from_file(key_file).with_hint(|| {
            format!(
                "`tls.dns_update_key_file` must be a BIND key file as `tsig-keygen NAME > {}` writes it",
                key_file.display()
            )
        })?;
        Ok(Dns01 {
            client: UpdateClient::new(address, key),
            server: address,
            added: Vec::new(),
        })
    }

    pub fn describe(&self) -> String {
        format!("RFC 2136 updates to {}", self.server)
    }

    /// Adds the challenge record for `name` and checks the server has it.
    pub async fn put(&mut self, name: &str, value: &str) -> anyhow::Result<()> {
        let owner = record_name(name);
        let zone = self.client.find_zone(&owner).await?;
        let data = txt_data(value);
        self.client
            .apply(
                &zone,
                &[Change::Add {
                    name: owner.clone(),
                    ttl: TTL,
                    rtype: RecordType::Txt,
                    data: data.clone(),
                }],
            )
            .await
            .map_err(|error| {
                error.context(format!(
                    "cannot add the TXT record `{owner}` in zone `{zone}` at {}",
                    self.server
                ))
            })?;
        self.added.push((zone, owner.clone(), data.clone()));
        let records = self.client.query(&owner, RecordType::Txt).await?;
        if !records.iter().any(|(_, found)| *found == data) {
            return Err(user_error(
                format!(
                    "{} accepted the TXT record `{owner}` but does not serve it",
                    self.server
                ),
                "is this the zone's primary server, and does it serve the zone it updates?",
            ));
        }
        Ok(())
    }

    /// Removes every record added.
    pub async fn cleanup(&mut self) -> anyhow::Result<()> {
        let mut first_error = None;
        for (zone, owner, data) in std::mem::take(&mut self.added) {
            let change = Change::DeleteRecord {
                name: owner.clone(),
                rtype: RecordType::Txt,
                data,
            };
            if let Err(error) = self.client.apply(&zone, &[change]).await {
                first_error.get_or_insert(error.context(format!(
                    "cannot remove the TXT record `{owner}` at {}",
                    self.server
                )));
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn record_names_and_data() {
        assert_eq!(
            record_name("mail.example.com."),
            "_acme-challenge.mail.example.com"
        );
        assert_eq!(txt_data("abc-_"), "\"abc-_\"");
    }
}
