//! `mailctl dns push [DOMAIN] --server HOST[:PORT] --tsig-key FILE [--dry-run]`:
//! reads what the zone's primary server holds for each record mailctl
//! publishes, and sends one TSIG-signed RFC 2136 update per zone that adds
//! the missing records and deletes the stale ones mailctl owns (see
//! `dns::push`). Prints the update on stdout; `--dry-run` sends nothing.

use std::collections::BTreeMap;

use super::Global;
use crate::cli::DnsPushArgs;
use crate::dns::update::{TsigKey, UpdateClient};
use crate::dns::{self, DnsRecord};
use crate::error::{user_error, WithHint};
use crate::names::DomainName;
use crate::output;
use crate::project::Project;

pub fn run(global: &Global, args: &DnsPushArgs) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    let config = project.load_config()?;
    let keys = crate::dns::read_public_keys(
        &project,
        &config,
        &crate::cert::published_tls_keys(&project, &config)?,
    )?;
    let expected = dns::expected_records(&config, &keys)?;
    let domains: Vec<String> = match &args.domain {
        Some(name) => vec![crate::dns::configured_domain(&config, name)?],
        None => config
            .domains
            .iter()
            .map(|domain| domain.name.to_ascii_lowercase())
            .collect(),
    };
    // `HOST`, `HOST:PORT`, `IP`, `[IPv6]:PORT`; port 53 by default.
    let server =
        crate::docker::block_on(crate::net::host_and_port(&args.server, 53))?.ok_or_else(|| {
            user_error(
                format!("cannot resolve DNS server `{}`", args.server),
                "give the primary server as HOST[:PORT] or IP[:PORT]",
            )
        })?;
    let key = TsigKey::from_file(&args.tsig_key).with_hint(|| {
        format!(
            "`{}` must be a BIND key file, as `tsig-keygen NAME` writes",
            args.tsig_key.display()
        )
    })?;
    let client = UpdateClient::new(server, key);
    let dry_run = args.dry_run;
    let results = crate::docker::block_on(async {
        let mut results = Vec::new();
        for domain in &domains {
            let name = DomainName::parse(domain)
                .map_err(|error| anyhow::anyhow!("`{domain}`: {}", error.reason))?;
            let part = expected.for_domain(&name);
            let zone = client.find_zone(domain).await?;
            let (inside, outside): (Vec<&DnsRecord>, Vec<&DnsRecord>) =
                part.records.iter().partition(|record| {
                    record.name == zone || record.name.ends_with(&format!(".{zone}"))
                });
            for record in outside {
                output::warning(format!(
                    "`{}` {} is outside zone `{zone}` at {server}: publish it where that name's zone lives",
                    record.name,
                    record.record_type().as_str()
                ));
            }
            let mut existing = BTreeMap::new();
            for (owner, rtype) in dns::push::sets_to_read(&inside) {
                let data: Vec<String> = client
                    .query(&owner, rtype)
                    .await?
                    .into_iter()
                    .map(|(_, data)| data)
                    .collect();
                existing.insert((owner, rtype), data);
            }
            let changes = dns::push::diff(&inside, &existing);
            if !dry_run && !changes.is_empty() {
                client.apply(&zone, &changes).await?;
            }
            results.push((domain.clone(), zone, changes));
        }
        anyhow::Ok(results)
    })??;
    if global.json {
        let value: Vec<serde_json::Value> = results
            .iter()
            .map(|(domain, zone, changes)| {
                serde_json::json!({
                    "domain": domain,
                    "zone": zone,
                    "applied": !dry_run && !changes.is_empty(),
                    "changes": changes.iter().map(ToString::to_string).collect::<Vec<_>>(),
                })
            })
            .collect();
        output::json(&serde_json::Value::Array(value))?;
    } else {
        for (_, zone, changes) in &results {
            if changes.is_empty() {
                continue;
            }
            let mut text = format!("server {}\nzone {zone}.\n", server.ip());
            for change in changes {
                text.push_str(&format!("{change}\n"));
            }
            text.push_str("send");
            output::data(text);
        }
    }
    for (domain, zone, changes) in &results {
        let count = changes.len();
        let message = match (count, dry_run) {
            (0, _) => format!("`{domain}` (zone `{zone}`): up to date"),
            (_, true) => {
                format!("`{domain}` (zone `{zone}`): {count} change(s) not sent (--dry-run)")
            }
            (_, false) => format!("`{domain}` (zone `{zone}`): {count} change(s) applied"),
        };
        output::status(message);
    }
    if !dry_run {
        output::status(
            "run `mailctl doctor` to confirm the records from the resolvers' point of view",
        );
    }
    Ok(())
}
