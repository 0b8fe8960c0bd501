//! Domain names and mail addresses: parsing, IDN conversion (UTS #46 to the
//! A-label that DNS and Postfix use) and the checks RFC 5321 / RFC 5322 ask for.

use std::fmt;

/// Why a name or address was refused, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct NameError {
    pub reason: String,
    pub hint: Option<String>,
}

impl NameError {
    fn new(reason: impl Into<String>, hint: Option<&str>) -> Self {
        NameError {
            reason: reason.into(),
            hint: hint.map(str::to_owned),
        }
    }
}

/// A validated domain name, stored as its lower-case A-label (`xn--…` for
/// internationalised names).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomainName(String);

impl DomainName {
    /// Parses a domain given in either form (`bücher.example` or
    /// `xn--bcher-kva.example`). A trailing dot is accepted and dropped.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let trimmed = input.trim();
        let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if trimmed.is_empty() {
            return Err(NameError::new(
                "the name is empty",
                Some("give a full domain name, e.g. `example.com`"),
            ));
        }
        if trimmed.contains('@') {
            return Err(NameError::new(
                format!("`{trimmed}` is an address, not a domain name"),
                Some("give only the part after `@`"),
            ));
        }
        let ascii = idna::domain_to_ascii_strict(trimmed).map_err(|_| {
            NameError::new(
                format!("`{trimmed}` is not a valid domain name"),
                Some("use letters, digits and hyphens in dot-separated labels, e.g. `example.com`"),
            )
        })?;
        if ascii.len() > 253 {
            return Err(NameError::new(
                format!("`{trimmed}` is longer than 253 characters"),
                Some("a domain name has at most 253 characters (RFC 1035 §2.3.4)"),
            ));
        }
        let labels: Vec<&str> = ascii.split('.').collect();
        for label in &labels {
            if label.is_empty() || label.len() > 63 {
                return Err(NameError::new(
                    format!("`{trimmed}` has an empty label or one longer than 63 characters"),
                    Some("remove doubled dots; each dot-separated label has 1 to 63 characters"),
                ));
            }
            let valid = label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !valid {
                return Err(NameError::new(
                    format!("`{trimmed}` has an invalid label `{label}`"),
                    Some("labels hold letters, digits and inner hyphens only"),
                ));
            }
        }
        if labels.len() < 2 {
            return Err(NameError::new(
                format!("`{trimmed}` is not a fully qualified domain name"),
                Some("give the whole name including its top-level domain, e.g. `example.com`"),
            ));
        }
        if labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(NameError::new(
                format!("`{trimmed}` looks like an IP address, not a domain name"),
                Some("give the name that points at the address, e.g. `mail.example.com`"),
            ));
        }
        Ok(DomainName(ascii))
    }

    /// The A-label form, as used in DNS, Postfix and file names.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Unicode form for display (equal to the A-label for ASCII names).
    pub fn unicode(&self) -> String {
        let (unicode, result) = idna::domain_to_unicode(&self.0);
        match result {
            Ok(()) => unicode,
            Err(_) => self.0.clone(),
        }
    }

    /// Whether the name has an internationalised (`xn--`) label.
    pub fn is_internationalised(&self) -> bool {
        self.0.split('.').any(|label| label.starts_with("xn--"))
    }

    /// `bücher.example (xn--bcher-kva.example)` for IDNs, the name otherwise.
    pub fn display_both(&self) -> String {
        if self.is_internationalised() {
            format!("{} ({})", self.unicode(), self.0)
        } else {
            self.0.clone()
        }
    }

    /// Whether `self` equals `other` or lies below it.
    pub fn is_within(&self, other: &DomainName) -> bool {
        self.0 == other.0 || self.0.ends_with(&format!(".{}", other.0))
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A mail address `local@domain` with a dot-atom local part (RFC 5322 §3.4.1)
/// and a validated domain. Local parts are folded to lower case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    pub local: String,
    pub domain: DomainName,
}

impl Address {
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let input = input.trim();
        let Some((local, domain)) = input.rsplit_once('@') else {
            return Err(NameError::new(
                format!("`{input}` is not a mail address"),
                Some("write it as `name@example.com`"),
            ));
        };
        let local = parse_local_part(local, input)?;
        let domain = DomainName::parse(domain).map_err(|error| {
            NameError::new(
                format!("`{input}` has an invalid domain: {}", error.reason),
                error.hint.as_deref(),
            )
        })?;
        Ok(Address { local, domain })
    }

    pub fn to_unicode_string(&self) -> String {
        format!("{}@{}", self.local, self.domain.unicode())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

fn parse_local_part(local: &str, whole: &str) -> Result<String, NameError> {
    if local.is_empty() {
        return Err(NameError::new(
            format!("`{whole}` has nothing before `@`"),
            Some("write it as `name@example.com`; a catch-all is written `@example.com` only as an alias source"),
        ));
    }
    if local.len() > 64 {
        return Err(NameError::new(
            format!("`{whole}` has a local part longer than 64 characters (RFC 5321 §4.5.3.1.1)"),
            Some("use a shorter name before `@`"),
        ));
    }
    if !local.is_ascii() {
        return Err(NameError::new(
            format!("`{whole}` has non-ASCII characters before `@`"),
            Some("internationalised local parts (SMTPUTF8) are not supported; use an ASCII name"),
        ));
    }
    const SPECIALS: &[u8] = b"!#$%&'*+/=?^_`{|}~-";
    let valid = local.split('.').all(|atom| {
        !atom.is_empty()
            && atom
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || SPECIALS.contains(&b))
    });
    if !valid {
        return Err(NameError::new(
            format!("`{whole}` has an invalid local part `{local}`"),
            Some(
                "use letters, digits, dots (not first, last or doubled) and `!#$%&'*+/=?^_`{|}~-`",
            ),
        ));
    }
    Ok(local.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idn_is_stored_as_a_label() {
        let name = DomainName::parse("Bücher.Example").unwrap();
        assert_eq!(name.as_str(), "xn--bcher-kva.example");
        assert_eq!(name.unicode(), "bücher.example");
        assert_eq!(
            name.display_both(),
            "bücher.example (xn--bcher-kva.example)"
        );
        assert_eq!(DomainName::parse("xn--bcher-kva.example.").unwrap(), name);
    }

    #[test]
    fn rejects_bad_domains() {
        for bad in [
            "",
            "localhost",
            "exa mple.com",
            "-a.com",
            "a..com",
            "1.2.3.4",
            "a@b.com",
        ] {
            assert!(DomainName::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn addresses() {
        let address = Address::parse("Admin.X@Bücher.example").unwrap();
        assert_eq!(address.to_string(), "admin.x@xn--bcher-kva.example");
        for bad in [
            "nobody",
            "@example.com",
            "a..b@example.com",
            ".a@example.com",
            "ü@example.com",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
