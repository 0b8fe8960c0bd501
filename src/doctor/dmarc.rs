//! DMARC records (RFC 7489 §6.3, §6.4): parse the tag list of `_dmarc.<domain>`.
//! Pure.

/// The parsed tags that `doctor` reports on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub policy: String,
    pub subdomain_policy: Option<String>,
    pub percent: u8,
    pub aggregate_reports: Vec<String>,
}

/// Whether a TXT string is a DMARC record (it starts with `v=DMARC1`).
pub fn is_dmarc(text: &str) -> bool {
    text.trim_start()
        .get(..8)
        .is_some_and(|start| start.eq_ignore_ascii_case("v=DMARC1"))
}

/// Parses a DMARC record; the error says which tag is wrong.
pub fn parse(text: &str) -> Result<Record, String> {
    let mut tags = text.split(';').map(str::trim).filter(|tag| !tag.is_empty());
    match tags.next().and_then(|tag| tag.split_once('=')) {
        Some((name, value)) if name.trim() == "v" && value.trim() == "DMARC1" => {}
        _ => return Err("the first tag must be `v=DMARC1` (RFC 7489 §6.4)".to_owned()),
    }
    let mut policy = None;
    let mut record = Record {
        policy: String::new(),
        subdomain_policy: None,
        percent: 100,
        aggregate_reports: Vec::new(),
    };
    let policy_value = |value: &str, tag: &str| match value.to_ascii_lowercase().as_str() {
        value @ ("none" | "quarantine" | "reject") => Ok(value.to_owned()),
        other => Err(format!(
            "`{tag}={other}`: the policy must be none, quarantine or reject"
        )),
    };
    for tag in tags {
        let Some((name, value)) = tag.split_once('=') else {
            return Err(format!("`{tag}` is not `name=value`"));
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "p" => policy = Some(policy_value(value, "p")?),
            "sp" => record.subdomain_policy = Some(policy_value(value, "sp")?),
            "pct" => {
                record.percent = value
                    .parse()
                    .ok()
                    .filter(|percent| *percent <= 100)
                    .ok_or_else(|| format!("`pct={value}` must be 0 to 100"))?;
            }
            "adkim" | "aspf" if !matches!(value, "r" | "s") => {
                return Err(format!("`{name}={value}` must be r or s"));
            }
            "rua" | "ruf" => {
                let uris: Vec<String> = value.split(',').map(|uri| uri.trim().to_owned()).collect();
                if let Some(bad) = uris
                    .iter()
                    .find(|uri| !uri.to_ascii_lowercase().starts_with("mailto:"))
                {
                    return Err(format!("`{name}`: `{bad}` is not a mailto: URI"));
                }
                if name == "rua" {
                    record.aggregate_reports = uris;
                }
            }
            "fo" | "rf" | "ri" => {}
            "v" => return Err("`v=` appears twice".to_owned()),
            // Unknown tags are ignored (RFC 7489 §6.3).
            _ => {}
        }
    }
    record.policy = policy.ok_or("the `p=` tag is missing (RFC 7489 §6.3)")?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_record() {
        let record =
            parse("v=DMARC1; p=quarantine; sp=reject; pct=50; rua=mailto:d@example.org; adkim=s")
                .unwrap();
        assert_eq!(record.policy, "quarantine");
        assert_eq!(record.subdomain_policy.as_deref(), Some("reject"));
        assert_eq!(record.percent, 50);
        assert_eq!(record.aggregate_reports, vec!["mailto:d@example.org"]);
    }

    #[test]
    fn rejects_broken_records() {
        assert!(parse("p=none; v=DMARC1").is_err());
        assert!(parse("v=DMARC1").unwrap_err().contains("p="));
        assert!(parse("v=DMARC1; p=block").is_err());
        assert!(parse("v=DMARC1; p=none; pct=101").is_err());
        assert!(parse("v=DMARC1; p=none; rua=d@example.org").is_err());
        assert!(is_dmarc("v=DMARC1; p=none"));
        assert!(!is_dmarc("v=spf1 -all"));
    }
}
