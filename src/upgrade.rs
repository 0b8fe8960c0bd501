//! What `mailctl upgrade` changes, decided from values: for each service of
//! the new stack, whether its container must be recreated and why (a new
//! image id behind its reference, e.g. fresh Debian packages; another image
//! reference, e.g. a new mailctl release or an `images:` override; another
//! container definition or configuration files; no container yet). Pure.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::plan::dependency_order;
use crate::spec::{labels, StackSpec};

/// One running service as the upgrade finds it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Current {
    pub container: String,
    pub reference: String,
    pub image_id: Option<String>,
    pub config_hash: Option<String>,
    pub files_hash: Option<String>,
    pub running: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reason {
    /// No container for the service.
    Missing,
    /// The same reference now names another image (a rebuild).
    Rebuilt { from: String, to: String },
    /// Another image reference.
    Image { from: String, to: String },
    /// The container's definition changed (ports, mounts, health, …).
    Definition,
    /// Its configuration files changed.
    Files,
    /// The container is not running.
    Stopped,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Missing => f.write_str("no container yet"),
            Reason::Rebuilt { from, to } => {
                write!(f, "rebuilt image {} -> {}", short(from), short(to))
            }
            Reason::Image { from, to } => write!(f, "image {from} -> {to}"),
            Reason::Definition => f.write_str("container definition changed"),
            Reason::Files => f.write_str("configuration files changed"),
            Reason::Stopped => f.write_str("not running"),
        }
    }
}

fn short(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.get(..12).unwrap_or(id)
}

/// A service to recreate, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub service: String,
    pub reasons: Vec<Reason>,
}

/// The services to recreate, in dependency order. `new_ids` maps each
/// service to the id of the image its new reference names.
pub fn changes(
    spec: &StackSpec,
    current: &BTreeMap<String, Current>,
    new_ids: &BTreeMap<String, String>,
) -> Vec<Change> {
    let mut out = Vec::new();
    for service in dependency_order(&spec.services) {
        let mut reasons = Vec::new();
        match current.get(&service.name) {
            None => reasons.push(Reason::Missing),
            Some(now) => {
                let new_id = new_ids.get(&service.name);
                if now.reference != service.image.reference {
                    reasons.push(Reason::Image {
                        from: now.reference.clone(),
                        to: service.image.reference.clone(),
                    });
                } else if let (Some(old), Some(new)) = (&now.image_id, new_id) {
                    if old != new {
                        reasons.push(Reason::Rebuilt {
                            from: old.clone(),
                            to: new.clone(),
                        });
                    }
                }
                if reasons.is_empty()
                    && now.config_hash.as_ref() != service.labels.get(labels::CONFIG_HASH)
                {
                    reasons.push(Reason::Definition);
                }
                if reasons.is_empty()
                    && now.files_hash.as_ref() != service.labels.get(labels::FILES_HASH)
                {
                    reasons.push(Reason::Files);
                }
                if reasons.is_empty() && !now.running {
                    reasons.push(Reason::Stopped);
                }
            }
        }
        if !reasons.is_empty() {
            out.push(Change {
                service: service.name.clone(),
                reasons,
            });
        }
    }
    out
}

/// The name an old container keeps while its replacement proves healthy.
pub fn previous_name(container: &str) -> String {
    format!("{container}-previous")
}

/// The name a new container has until the old one is out of the way.
pub fn next_name(container: &str) -> String {
    format!("{container}-next")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{HealthSpec, ImageSpec, NetworkSpec, ServiceSpec};

    fn service(name: &str, depends_on: &[&str]) -> ServiceSpec {
        ServiceSpec {
            name: name.to_owned(),
            container_name: format!("p-{name}-1"),
            hostname: name.to_owned(),
            image: ImageSpec {
                reference: format!("mailctl/{name}:new"),
                build: Some(format!("images/{name}")),
            },
            ipv4_address: None,
            dns: vec![],
            ports: vec![],
            mounts: vec![],
            environment: BTreeMap::new(),
            depends_on: depends_on.iter().map(|name| (*name).to_owned()).collect(),
            healthcheck: HealthSpec {
                test: vec![],
                interval_seconds: 10,
                timeout_seconds: 5,
                retries: 3,
                start_period_seconds: 60,
            },
            stop_grace_seconds: 10,
            labels: BTreeMap::from([
                (labels::CONFIG_HASH.to_owned(), format!("c-{name}")),
                (labels::FILES_HASH.to_owned(), format!("f-{name}")),
            ]),
            confinement: Default::default(),
        }
    }

    fn spec() -> StackSpec {
        StackSpec {
            project: "p".to_owned(),
            network: NetworkSpec {
                key: "mail".to_owned(),
                name: "p_mail".to_owned(),
                subnet: "172.30.53.0/24".parse().unwrap(),
                gateway: "172.30.53.1".parse().unwrap(),
                ipv6_subnet: None,
            },
            volumes: vec![],
            services: vec![service("smtp", &["imap"]), service("imap", &[])],
        }
    }

    fn current(name: &str) -> Current {
        Current {
            container: format!("p-{name}-1"),
            reference: format!("mailctl/{name}:new"),
            image_id: Some(format!("sha256:{name}-1")),
            config_hash: Some(format!("c-{name}")),
            files_hash: Some(format!("f-{name}")),
            running: true,
        }
    }

    fn ids(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn nothing_changed_means_no_change() {
        let now = BTreeMap::from([
            ("smtp".to_owned(), current("smtp")),
            ("imap".to_owned(), current("imap")),
        ]);
        let new = ids(&[("smtp", "sha256:smtp-1"), ("imap", "sha256:imap-1")]);
        assert!(changes(&spec(), &now, &new).is_empty());
    }

    #[test]
    fn a_rebuilt_image_recreates_in_dependency_order() {
        let mut smtp = current("smtp");
        smtp.files_hash = Some("old".to_owned());
        let now = BTreeMap::from([
            ("smtp".to_owned(), smtp),
            ("imap".to_owned(), current("imap")),
        ]);
        let new = ids(&[("smtp", "sha256:smtp-2"), ("imap", "sha256:imap-2")]);
        let found = changes(&spec(), &now, &new);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].service, "imap");
        assert_eq!(found[1].service, "smtp");
        assert_eq!(
            found[1].reasons[0].to_string(),
            "rebuilt image smtp-1 -> smtp-2"
        );
    }

    #[test]
    fn other_reasons_are_named() {
        let mut smtp = current("smtp");
        smtp.reference = "mailctl/smtp:old".to_owned();
        let mut imap = current("imap");
        imap.config_hash = Some("other".to_owned());
        let now = BTreeMap::from([("smtp".to_owned(), smtp), ("imap".to_owned(), imap)]);
        let new = ids(&[("smtp", "sha256:smtp-1"), ("imap", "sha256:imap-1")]);
        let found = changes(&spec(), &now, &new);
        assert_eq!(found[0].reasons, vec![Reason::Definition]);
        assert_eq!(
            found[1].reasons[0].to_string(),
            "image mailctl/smtp:old -> mailctl/smtp:new"
        );
        let found = changes(&spec(), &BTreeMap::new(), &new);
        assert_eq!(found[0].reasons, vec![Reason::Missing]);
        let mut stopped = current("imap");
        stopped.running = false;
        let now = BTreeMap::from([
            ("smtp".to_owned(), current("smtp")),
            ("imap".to_owned(), stopped),
        ]);
        assert_eq!(
            changes(&spec(), &now, &new)[0].reasons,
            vec![Reason::Stopped]
        );
        assert_eq!(previous_name("p-smtp-1"), "p-smtp-1-previous");
        assert_eq!(next_name("p-smtp-1"), "p-smtp-1-next");
    }
}
