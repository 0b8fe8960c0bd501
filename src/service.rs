//! The stack's services and the ports they publish: their names, the order
//! they start in, what each needs healthy before it starts, and which
//! service listens on which published port, in one place.

use serde::{Deserialize, Serialize};

/// One service of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// Bans addresses that keep failing to log in, in the host's firewall.
    Guard,
    Resolver,
    Redis,
    Antispam,
    Imap,
    Smtp,
    Web,
}

impl Service {
    /// Every service, in start order.
    pub const ALL: [Service; 7] = [
        Service::Guard,
        Service::Resolver,
        Service::Redis,
        Service::Antispam,
        Service::Imap,
        Service::Smtp,
        Service::Web,
    ];

    /// The name in the compose file, container names and labels.
    pub fn name(self) -> &'static str {
        match self {
            Service::Guard => "guard",
            Service::Resolver => "resolver",
            Service::Redis => "redis",
            Service::Antispam => "antispam",
            Service::Imap => "imap",
            Service::Smtp => "smtp",
            Service::Web => "web",
        }
    }

    pub fn parse(name: &str) -> Option<Service> {
        Service::ALL
            .into_iter()
            .find(|service| service.name() == name)
    }

    /// The services that must be healthy before this one starts.
    pub fn depends_on(self) -> &'static [Service] {
        match self {
            Service::Guard | Service::Resolver | Service::Redis | Service::Web => &[],
            Service::Antispam => &[Service::Redis, Service::Resolver],
            Service::Imap => &[Service::Antispam],
            Service::Smtp => &[Service::Imap, Service::Antispam, Service::Resolver],
        }
    }

    /// Every service's name, in start order.
    pub fn names() -> impl Iterator<Item = &'static str> {
        Service::ALL.into_iter().map(Service::name)
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.pad(self.name())
    }
}

/// A port the stack publishes on the host, by the name that `ports:` in
/// mailctl.yaml, `--port NAME=NUMBER` and every message use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortName {
    /// SMTP with STARTTLS, where other servers deliver (RFC 5321).
    Smtp,
    /// Submission with implicit TLS (RFC 8314).
    Submissions,
    /// Submission with STARTTLS required (RFC 6409).
    Submission,
    /// IMAP with implicit TLS.
    Imaps,
    /// POP3 with implicit TLS.
    Pop3s,
    /// ManageSieve (RFC 5804).
    Sieve,
    /// HTTP: ACME HTTP-01 challenges and the redirect to HTTPS.
    Http,
    /// HTTPS: MTA-STS policies, autoconfiguration, webmail.
    Https,
}

impl PortName {
    /// Every published port, in the order they are listed and published.
    pub const ALL: [PortName; 8] = [
        PortName::Smtp,
        PortName::Submissions,
        PortName::Submission,
        PortName::Imaps,
        PortName::Pop3s,
        PortName::Sieve,
        PortName::Http,
        PortName::Https,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PortName::Smtp => "smtp",
            PortName::Submissions => "submissions",
            PortName::Submission => "submission",
            PortName::Imaps => "imaps",
            PortName::Pop3s => "pop3s",
            PortName::Sieve => "sieve",
            PortName::Http => "http",
            PortName::Https => "https",
        }
    }

    pub fn parse(name: &str) -> Option<PortName> {
        PortName::ALL.into_iter().find(|port| port.as_str() == name)
    }

    /// The service that listens on the port.
    pub fn service(self) -> Service {
        match self {
            PortName::Smtp | PortName::Submissions | PortName::Submission => Service::Smtp,
            PortName::Imaps | PortName::Pop3s | PortName::Sieve => Service::Imap,
            PortName::Http | PortName::Https => Service::Web,
        }
    }

    /// The port inside the service's container: the standard port of the
    /// protocol, whatever the host publishes it on.
    pub fn container_port(self) -> u16 {
        match self {
            PortName::Smtp => 25,
            PortName::Submissions => 465,
            PortName::Submission => 587,
            PortName::Imaps => 993,
            PortName::Pop3s => 995,
            PortName::Sieve => 4190,
            PortName::Http => 80,
            PortName::Https => 443,
        }
    }
}

impl std::fmt::Display for PortName {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_dependencies_start_first() {
        for service in Service::ALL {
            assert_eq!(Service::parse(service.name()), Some(service));
            let position = Service::ALL.iter().position(|other| *other == service);
            for dependency in service.depends_on() {
                let before = Service::ALL.iter().position(|other| other == dependency);
                assert!(before < position, "{dependency} starts before {service}");
            }
        }
        assert_eq!(Service::parse("postfix"), None);
    }

    #[test]
    fn port_names_parse_back_and_serialise_as_written() {
        for port in PortName::ALL {
            assert_eq!(PortName::parse(port.as_str()), Some(port));
            assert_eq!(
                serde_json::to_value(port).ok(),
                Some(serde_json::Value::String(port.as_str().to_owned()))
            );
        }
        assert_eq!(PortName::parse("imap"), None);
    }
}
