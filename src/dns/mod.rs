//! DNS: the records every configured mail domain needs (decided from the
//! configuration and the DKIM public keys, with no I/O), their output as a
//! zone file, a table or JSON, and reading those public keys from `dkim/`.

pub mod push;
pub mod records;
pub mod update;
pub mod zone;

pub use records::{
    character_strings, expected_records, mta_sts_id, mta_sts_policy, rdata, reverse_name,
    unicode_name, DnsRecord, ExpectedRecords, Note, PublicKeys, RecordType, RecordValue,
    DEFAULT_TTL,
};
pub use zone::{to_json, to_table, to_zone, with_soa_ns};

use crate::error::WithHint;

/// Reads the public half of every configured DKIM key; `tls_keys` are the
/// TLS keys' digests for TLSA (`cert::published_tls_keys`).
pub fn read_public_keys(
    project: &crate::project::Project,
    config: &crate::config::Config,
    tls_keys: &[String],
) -> anyhow::Result<PublicKeys> {
    let mut keys = PublicKeys::new();
    for domain in &config.domains {
        for selector in &domain.dkim {
            let path = project.dkim_key_path(&domain.name, &selector.selector);
            let pem = fs_err::read_to_string(&path).with_hint(|| {
                format!(
                    "the key for selector `{}` of `{}` is missing; `mailctl init --force` creates missing keys",
                    selector.selector, domain.name
                )
            })?;
            let value = crate::dkim::public_key_value(&pem, selector.algorithm)
                .map_err(|error| anyhow::anyhow!("`{}`: {error}", path.display()))?;
            keys.insert(&domain.name, &selector.selector, value);
        }
    }
    for sha256 in tls_keys {
        keys.add_tls_key(sha256);
    }
    Ok(keys)
}

/// A configured domain named on the command line, as an A-label.
pub fn configured_domain(config: &crate::config::Config, name: &str) -> anyhow::Result<String> {
    let domain = crate::names::DomainName::parse(name).map_err(|error| {
        crate::error::user_error(
            format!("`{name}`: {}", error.reason),
            "give a configured domain",
        )
    })?;
    if config.domain(domain.as_str()).is_none() {
        let known: Vec<&str> = config.domains.iter().map(|d| d.name.as_str()).collect();
        return Err(crate::error::user_error(
            format!("domain `{}` is not configured", domain.display_both()),
            format!("configured domains: {}", known.join(", ")),
        ));
    }
    Ok(domain.as_str().to_owned())
}
