//! Primitive OCPP 1.6 types: bounded case-insensitive strings and UTC timestamps.
//!
//! Values that break a constraint of the schema fail to deserialize with a message starting with
//! [`PROPERTY_CONSTRAINT`], which the decoder turns into a `PropertyConstraintViolation`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// Prefix of deserialization errors for values of the right JSON type but outside the schema.
pub const PROPERTY_CONSTRAINT: &str = "property constraint: ";

/// A string of at most `N` characters (OCPP `CiStringN`).
///
/// Equality is exact (the value is forwarded as received); use [`CiString::matches`] for the
/// case-insensitive comparison OCPP requires for idTags.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct CiString<const N: usize>(String);

/// The value did not fit its `CiString` bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is longer than {max} characters")]
pub struct TooLong {
    pub value: String,
    pub max: usize,
}

impl<const N: usize> CiString<N> {
    /// The string, if it has at most `N` characters.
    pub fn new(value: impl Into<String>) -> Result<Self, TooLong> {
        let value = value.into();
        if value.chars().count() > N {
            return Err(TooLong { value, max: N });
        }
        Ok(CiString(value))
    }

    /// The string cut to at most `N` characters (for free text such as `info`).
    pub fn truncated(value: &str) -> Self {
        CiString(value.chars().take(N).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Case-insensitive equality (idTags are compared so).
    pub fn matches(&self, other: &str) -> bool {
        self.0.to_lowercase() == other.to_lowercase()
    }
}

impl<const N: usize> fmt::Display for CiString<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<const N: usize> Serialize for CiString<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de, const N: usize> Deserialize<'de> for CiString<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CiString::new(s).map_err(|e| de::Error::custom(format!("{PROPERTY_CONSTRAINT}{e}")))
    }
}

pub type CiString20 = CiString<20>;
pub type CiString25 = CiString<25>;
pub type CiString50 = CiString<50>;
pub type CiString255 = CiString<255>;
pub type CiString500 = CiString<500>;

/// A point in time, sent as RFC 3339 UTC with `Z` and millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// The wire text, e.g. `2026-01-02T03:04:05.000Z`.
    pub fn to_wire(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Timestamp(t)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_wire())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| Timestamp(t.with_timezone(&Utc)))
            .map_err(|e| {
                de::Error::custom(format!(
                    "{PROPERTY_CONSTRAINT}`{s}` is not an RFC 3339 date-time: {e}"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cistring_bounds_and_case() {
        assert!(CiString20::new("a".repeat(20)).is_ok());
        assert!(CiString20::new("a".repeat(21)).is_err());
        let tag = CiString20::new("AbC123").unwrap();
        assert!(tag.matches("abc123"));
        assert_eq!(tag.as_str(), "AbC123");
        assert_eq!(CiString::<3>::truncated("abcdef").as_str(), "abc");
        let err = serde_json::from_str::<CiString20>(&format!("\"{}\"", "x".repeat(21)));
        assert!(
            err.unwrap_err()
                .to_string()
                .starts_with(PROPERTY_CONSTRAINT)
        );
    }

    #[test]
    fn timestamps_are_utc_with_z() {
        let t: Timestamp = serde_json::from_str("\"2026-03-01T12:00:00.5+02:00\"").unwrap();
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2026-03-01T10:00:00.500Z\""
        );
        assert!(serde_json::from_str::<Timestamp>("\"2026-03-01 12:00\"").is_err());
        assert!(serde_json::from_str::<Timestamp>("\"2026-03-01T12:00:00\"").is_err());
    }
}
