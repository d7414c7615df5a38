//! Slack's v0 request signature: `v0=` + hex(HMAC-SHA256(signing secret, "v0:{ts}:{body}")),
//! checked in constant time, with the timestamp within five minutes of Janus's clock.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a request's timestamp may be from our clock, either way.
pub const MAX_SKEW_SECONDS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request has no Slack signature headers")]
    Missing,
    #[error("the request timestamp is more than five minutes from Janus's clock")]
    Stale,
    #[error("the request signature does not match")]
    Mismatch,
}

impl SignatureError {
    pub fn code(self) -> &'static str {
        match self {
            SignatureError::Missing => "missing_signature",
            SignatureError::Stale => "stale_timestamp",
            SignatureError::Mismatch => "bad_signature",
        }
    }
}

/// Checks the `X-Slack-Request-Timestamp` and `X-Slack-Signature` header values for `body`.
pub fn verify(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Missing);
    };
    let sent: i64 = timestamp.trim().parse().map_err(|_| SignatureError::Mismatch)?;
    if (now.timestamp() - sent).abs() > MAX_SKEW_SECONDS {
        return Err(SignatureError::Stale);
    }
    let Some(hex) = signature.strip_prefix("v0=") else {
        return Err(SignatureError::Mismatch);
    };
    let expected = decode_hex(hex).ok_or(SignatureError::Mismatch)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::Mismatch)?;
    mac.update(b"v0:");
    mac.update(timestamp.trim().as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sign(secret: &str, ts: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("v0:{ts}:{body}").as_bytes());
        let bytes = mac.finalize().into_bytes();
        format!(
            "v0={}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    }

    #[test]
    fn accepts_a_fresh_correct_signature_and_nothing_else() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let ts = now.timestamp();
        let body = "token=x&text=help";
        let good = sign("s3cret", ts, body);
        let check =
            |ts: Option<&str>, sig: Option<&str>, body: &str| verify("s3cret", ts, sig, body.as_bytes(), now);
        let ts_text = ts.to_string();
        assert_eq!(check(Some(&ts_text), Some(&good), body), Ok(()));
        assert_eq!(
            check(Some(&ts_text), Some(&good), "token=x&text=list"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(check(None, Some(&good), body), Err(SignatureError::Missing));
        assert_eq!(check(Some(&ts_text), None, body), Err(SignatureError::Missing));
        let other = sign("other", ts, body);
        assert_eq!(
            check(Some(&ts_text), Some(&other), body),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(Some(&ts_text), Some("v1=00"), body),
            Err(SignatureError::Mismatch)
        );
        // The same body re-sent with a new timestamp does not carry a valid signature.
        let replay = (ts + 10).to_string();
        assert_eq!(
            check(Some(&replay), Some(&good), body),
            Err(SignatureError::Mismatch)
        );
        // Five minutes either way is the window.
        for skew in [-300, 300] {
            let at = (ts + skew).to_string();
            assert_eq!(
                check(Some(&at), Some(&sign("s3cret", ts + skew, body)), body),
                Ok(())
            );
        }
        for skew in [-301, 301] {
            let at = (ts + skew).to_string();
            assert_eq!(
                check(Some(&at), Some(&sign("s3cret", ts + skew, body)), body),
                Err(SignatureError::Stale)
            );
        }
    }
}
