//! Request identifiers: `jr-` followed by 8 lower-case base32 characters.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const LENGTH: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestId(String);

impl RequestId {
    /// A fresh random id (40 bits; collisions are caught by the primary key and retried).
    pub fn generate(rng: &mut impl Rng) -> Self {
        let suffix: String = (0..LENGTH)
            .map(|_| ALPHABET[rng.gen_range(0..32)] as char)
            .collect();
        RequestId(format!("jr-{suffix}"))
    }

    pub fn parse(raw: &str) -> Option<Self> {
        let suffix = raw.strip_prefix("jr-")?;
        let valid = suffix.len() == LENGTH && suffix.bytes().all(|b| ALPHABET.contains(&b));
        valid.then(|| RequestId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RequestId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        RequestId::parse(&value)
            .ok_or_else(|| format!("`{value}` is not a request id (jr- and 8 characters)"))
    }
}

impl From<RequestId> for String {
    fn from(value: RequestId) -> Self {
        value.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        let mut rng = rand::thread_rng();
        for _ in 0..100 {
            let id = RequestId::generate(&mut rng);
            assert_eq!(RequestId::parse(id.as_str()), Some(id.clone()));
            assert_eq!(id.as_str().len(), 11);
        }
    }

    #[test]
    fn malformed_ids_are_refused() {
        for raw in [
            "",
            "jr-",
            "jr-abcdefg",
            "jr-abcdefghi",
            "jr-ABCDEFGH",
            "jr-abcdefg1",
            "xx-abcdefgh",
        ] {
            assert_eq!(RequestId::parse(raw), None, "{raw:?}");
        }
    }
}
