//! The checks `doctor` runs, by name: `area.what`, stable in the JSON
//! output and in scripts that read it.

use serde::{Serialize, Serializer};

macro_rules! checks {
    ($($variant:ident => $name:literal,)*) => {
        /// One check of `doctor`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Check {
            $($variant,)*
        }

        impl Check {
            /// Every check, in report order.
            pub const ALL: &'static [Check] = &[$(Check::$variant,)*];

            /// The stable name, `area.what`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Check::$variant => $name,)*
                }
            }
        }
    };
}

checks! {
    StackDocker => "stack.docker",
    StackServices => "stack.services",
    StackService => "stack.service",
    StackHeadroom => "stack.headroom",
    StackDisk => "stack.disk",
    StackMemory => "stack.memory",
    StackClientAddress => "stack.client-address",
    NetworkOutbound25 => "network.outbound-25",
    NetworkPorts => "network.ports",
    NetworkPort => "network.port",
    DnsAddress => "dns.address",
    DnsPtr => "dns.ptr",
    DnsTlsa => "dns.tlsa",
    DnsMx => "dns.mx",
    DnsSpf => "dns.spf",
    DnsDkim => "dns.dkim",
    DnsDmarc => "dns.dmarc",
    DnsMtaSts => "dns.mta-sts",
    DnsMtaStsPolicy => "dns.mta-sts-policy",
    DnsTlsRpt => "dns.tls-rpt",
    DnsCaa => "dns.caa",
    DnsDnssec => "dns.dnssec",
    ReputationAddress => "reputation.address",
    ReputationDomain => "reputation.domain",
    TlsCertificate => "tls.certificate",
    SecurityRelay => "security.relay",
    SecurityAuthBeforeTls => "security.auth-before-tls",
    SecurityBans => "security.bans",
}

impl Check {
    /// The area the check belongs to, for grouping the report.
    pub fn area(self) -> &'static str {
        self.name().split('.').next().unwrap_or("")
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.pad(self.name())
    }
}

impl Serialize for Check {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_have_an_area() {
        let names: std::collections::BTreeSet<&str> =
            Check::ALL.iter().map(|check| check.name()).collect();
        assert_eq!(names.len(), Check::ALL.len());
        for check in Check::ALL {
            assert!(
                ["stack", "network", "dns", "reputation", "tls", "security"]
                    .contains(&check.area()),
                "{check}"
            );
        }
        assert_eq!(format!("{:<8}|", Check::DnsMx), "dns.mx  |");
    }
}
