//! Byte sizes written the way people write them: `500M`, `2G`, `1.5G`.
//! Units are binary (K = 1024), matching Dovecot's quota syntax.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(u64);

const UNITS: [(char, u64); 4] = [
    ('T', 1 << 40),
    ('G', 1 << 30),
    ('M', 1 << 20),
    ('K', 1 << 10),
];

impl Size {
    pub const fn from_bytes(bytes: u64) -> Self {
        Size(bytes)
    }

    pub fn bytes(self) -> u64 {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a size; write a number with a unit, e.g. `500M`, `2G` or `1.5G` (K, M, G, T are powers of 1024)")]
pub struct SizeError(String);

impl FromStr for Size {
    type Err = SizeError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let error = || SizeError(input.to_owned());
        let text = input.trim();
        let upper = text.to_ascii_uppercase();
        let without_b = upper
            .strip_suffix("IB")
            .or_else(|| upper.strip_suffix('B'))
            .unwrap_or(&upper);
        let (number, multiplier) = match without_b.chars().last() {
            Some(unit) if unit.is_ascii_alphabetic() => {
                let multiplier = UNITS
                    .iter()
                    .find(|(name, _)| *name == unit)
                    .map(|(_, multiplier)| *multiplier)
                    .ok_or_else(error)?;
                (&without_b[..without_b.len() - 1], multiplier)
            }
            _ => (without_b, 1),
        };
        let number = number.trim();
        if number.is_empty() || number.starts_with('-') {
            return Err(error());
        }
        let value: f64 = number.parse().map_err(|_| error())?;
        let bytes = value * multiplier as f64;
        if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 / 2.0 {
            return Err(error());
        }
        Ok(Size(bytes.round() as u64))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, multiplier) in UNITS {
            if self.0 >= multiplier && self.0.is_multiple_of(multiplier) {
                return write!(f, "{}{unit}", self.0 / multiplier);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl Serialize for Size {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as `500M` or `2G`")
            }
            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Size, E> {
                if value == 0 {
                    return Err(E::custom("a size must be more than 0"));
                }
                Ok(Size(value))
            }
            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Size, E> {
                u64::try_from(value)
                    .map_err(|_| E::custom("a size cannot be negative"))
                    .and_then(|value| self.visit_u64(value))
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Size, E> {
                value.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!("2G".parse::<Size>().unwrap().bytes(), 2 << 30);
        assert_eq!("500M".parse::<Size>().unwrap().to_string(), "500M");
        assert_eq!("1.5G".parse::<Size>().unwrap().to_string(), "1536M");
        assert_eq!("10mb".parse::<Size>().unwrap().to_string(), "10M");
        assert_eq!("1000".parse::<Size>().unwrap().to_string(), "1000");
        for bad in ["", "G", "-1G", "2X", "0", "lots"] {
            assert!(bad.parse::<Size>().is_err(), "{bad} accepted");
        }
    }
}
