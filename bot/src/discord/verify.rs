//! Discord's request signature: Ed25519 over `X-Signature-Timestamp ‖ body` with the
//! application's public key (serenity's `Verifier`), and a five-minute window on Janus's
//! clock, which serenity does not check.

use chrono::{DateTime, Utc};
use serenity::interactions_endpoint::Verifier;

/// How far the timestamp may be from Janus's clock, either way.
pub const MAX_SKEW_SECONDS: i64 = 300;

/// Why a request was refused. Messages name the problem, never a key or a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("The request has no X-Signature-Ed25519 or X-Signature-Timestamp header.")]
    Missing,
    #[error("X-Signature-Timestamp is not a Unix time in seconds.")]
    BadTimestamp,
    #[error("X-Signature-Timestamp is more than five minutes from Janus's clock.")]
    Stale,
    #[error("The Ed25519 signature does not match the body.")]
    BadSignature,
}

impl SignatureError {
    pub fn code(self) -> &'static str {
        match self {
            SignatureError::Missing => "missing_signature",
            SignatureError::BadTimestamp => "bad_timestamp",
            SignatureError::Stale => "stale_timestamp",
            SignatureError::BadSignature => "bad_signature",
        }
    }
}

/// Checks the headers against `body`. The timestamp is checked first (cheap, and a replay of
/// an old signed request is refused whatever its signature); then the signature.
pub fn verify(
    verifier: &Verifier,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
        return Err(SignatureError::Missing);
    };
    if timestamp.is_empty() || timestamp.len() > 12 || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::BadTimestamp);
    }
    let seconds: i64 = timestamp.parse().map_err(|_| SignatureError::BadTimestamp)?;
    if (now.timestamp() - seconds).abs() > MAX_SKEW_SECONDS {
        return Err(SignatureError::Stale);
    }
    // serenity panics on nothing here: a signature that is not 128 hex characters is an Err.
    verifier
        .verify(signature, timestamp, body)
        .map_err(|()| SignatureError::BadSignature)
}

/// The verifier for `discord.publicKey` (64 hex characters), if it is one.
pub fn verifier(public_key: &str) -> Option<Verifier> {
    let key = public_key.trim();
    if key.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(key.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Verifier::try_new(bytes).ok()
}
