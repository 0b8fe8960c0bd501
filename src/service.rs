//! The stack's services: their names, the order they start in and what each
//! needs healthy before it starts, in one place.

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
}
