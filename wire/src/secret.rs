//! A string that must never be shown: bot tokens, signing secrets, client secrets, link keys.
//!
//! [`Secret`] is a newtype whose `Debug` and `Display` print `***`, and whose `Serialize` writes the
//! literal `"***"`, so neither a log line nor `janus config print` can leak the value by accident.
//! It deserializes from a plain string, so configuration files hold secrets as ordinary text.
//! The only way to read the value is [`Secret::expose`], which makes every use easy to find.
//!
//! Equality is an ordinary string comparison; code that compares a secret against input from the
//! network (signatures, tokens) must use a constant-time comparison instead (`subtle`, or
//! `hmac::Mac::verify_slice`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What every redacted value is shown as.
pub const REDACTED: &str = "***";

/// A secret string; see the module documentation.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value as a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value itself. Every call site is a place where the secret leaves its wrapper.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no secret is set (the configuration default for every secret).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

/// In the configuration's JSON Schema a secret is text that may instead be read from a file named
/// by the sibling key `<key>File` (the `x-janus-from-file` mark); `writeOnly` tells tools it is never
/// shown back.
#[cfg(feature = "json-schema")]
impl schemars::JsonSchema for Secret {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Secret".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "writeOnly": true,
            "x-janus-from-file": true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let secret = Secret::new("xoxb-very-secret");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{:?}", Some(secret.clone())), "Some(***)");
        assert_eq!(secret.expose(), "xoxb-very-secret");
    }

    #[test]
    fn serializes_as_redacted_literal_and_deserializes_from_a_string() {
        let secret: Secret = serde_json::from_str("\"s3cr3t\"").unwrap();
        assert_eq!(secret.expose(), "s3cr3t");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"***\"");
        let yaml = serde_norway::to_string(&secret).unwrap();
        assert!(!yaml.contains("s3cr3t"));
        assert!(yaml.contains("***"));
    }

    #[test]
    fn refuses_non_string_input() {
        assert!(serde_json::from_str::<Secret>("12345").is_err());
    }

    #[test]
    fn default_is_empty_and_equality_compares_values() {
        assert!(Secret::default().is_empty());
        assert!(!Secret::from("x").is_empty());
        assert_eq!(Secret::from("a"), Secret::new(String::from("a")));
        assert_ne!(Secret::from("a"), Secret::from("b"));
    }
}
