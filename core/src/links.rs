//! Signed terminal links (DESIGN §6.3).
//!
//! A link looks like `/t/{id}?p=<principal>&exp=<unix>&kid=<key id>&sig=<signature>`, where the
//! signature is `base64url-nopad(HMAC-SHA256(key, "v1|{id}|{principal}|{exp}"))`. It binds a request to
//! the person it was issued to and to a deadline, so a link pasted into the wrong channel opens nothing.
//!
//! Decisions:
//! - **Keys rotate.** [`LinkSigner`] signs with one active key and verifies with every configured key,
//!   found by `kid`. To rotate, put the new key first (it becomes active) and keep the old one until the
//!   links it signed have expired; removing it turns them into [`LinkRejection::UnknownKid`].
//! - **Order of checks**: parse → known kid → signature → expiry → principal. The signature is checked
//!   (in constant time, with `hmac::Mac::verify_slice`) before the expiry, so a forged link learns
//!   nothing about timing or about who the link was for.
//! - **Expiry is exclusive**: a link is rejected at `now >= exp`, the same instant the request expires.
//! - **Principals** are signed exactly as given; callers pass canonical lower-case emails. The signed-in
//!   principal is compared case-insensitively, and [`VerifiedLink::principal`] is the canonical form.
//! - A request id containing `|` can never verify (it would make the signed text ambiguous), and
//!   duplicate query parameters are malformed, so a link cannot be reinterpreted.
//! - Not checked here: that the request is still Active, and, with `links.mode: link`, that the link
//!   was not redeemed before (single use). Both need the store, so the caller checks them after
//!   [`LinkSigner::verify`] succeeds.
//! - Signatures are not secrets, but CONVENTIONS.md keeps them out of logs, so the `Debug` output of
//!   [`SignedLink`] and [`LinkParams`] hides them; no rejection message contains a signature or a key.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use chrono::{DateTime, Utc};

use crate::config::LinksConfig;
use crate::domain::{AccessRequest, Policy};
use crate::secret::{REDACTED, Secret};

type HmacSha256 = Hmac<Sha256>;

/// The version tag at the start of the signed text; a new format gets a new tag.
const SIGNATURE_VERSION: &str = "v1";

/// Why a [`LinkSigner`] could not be built from its keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("No link signing keys are configured; add at least one entry under `links.keys`.")]
    NoKeys,
    #[error("A link signing key has an empty kid; give every key a short id such as k1.")]
    EmptyKid,
    #[error("Link key `{kid}` has an empty secret; set a long random secret for it.")]
    EmptySecret { kid: String },
    #[error("Link key id `{kid}` appears more than once; every kid must be unique.")]
    DuplicateKid { kid: String },
    #[error("The active link key `{kid}` is not configured; choose one of the configured kids.")]
    UnknownActiveKid { kid: String },
}

/// Why a link was refused. Each message is safe to show to the person holding the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkRejection {
    #[error("This terminal link is incomplete or damaged; copy the whole link from the chat message again.")]
    Malformed,
    #[error("This terminal link was signed with a key that is no longer configured; ask for a new link.")]
    UnknownKid,
    #[error("This terminal link is not valid; open the link exactly as Janus posted it.")]
    BadSignature,
    #[error("This terminal link has expired; request access again to get a new one.")]
    Expired,
    #[error("This terminal link was issued to someone else; sign in as the person who requested access.")]
    WrongPrincipal,
}

impl LinkRejection {
    /// A stable snake_case code for the audit log and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            LinkRejection::Malformed => "malformed",
            LinkRejection::UnknownKid => "unknown_kid",
            LinkRejection::BadSignature => "bad_signature",
            LinkRejection::Expired => "expired",
            LinkRejection::WrongPrincipal => "wrong_principal",
        }
    }
}

/// Signs links with the active key and verifies them with any configured key.
#[derive(Clone)]
pub struct LinkSigner {
    /// `(kid, HMAC keyed with the secret)`; the secret itself is not kept.
    keys: Vec<(String, HmacSha256)>,
    active: usize,
}

impl fmt::Debug for LinkSigner {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|(kid, _)| kid.as_str()).collect();
        formatter
            .debug_struct("LinkSigner")
            .field("kids", &kids)
            .field("active_kid", &self.active_kid())
            .finish_non_exhaustive()
    }
}

impl LinkSigner {
    /// Builds a signer from `(kid, secret)` pairs. `active_kid` names the signing key; an empty
    /// `active_kid` means the first key. Empty or duplicate kids and empty secrets are refused.
    pub fn new(keys: Vec<(String, Secret)>, active_kid: String) -> Result<LinkSigner, LinkError> {
        if keys.is_empty() {
            return Err(LinkError::NoKeys);
        }
        let mut macs: Vec<(String, HmacSha256)> = Vec::with_capacity(keys.len());
        for (kid, secret) in keys {
            if kid.is_empty() {
                return Err(LinkError::EmptyKid);
            }
            if secret.is_empty() {
                return Err(LinkError::EmptySecret { kid });
            }
            if macs.iter().any(|(known, _)| *known == kid) {
                return Err(LinkError::DuplicateKid { kid });
            }
            // HMAC accepts keys of any length, so this error cannot happen; it is mapped, not unwrapped.
            let mac = HmacSha256::new_from_slice(secret.expose().as_bytes())
                .map_err(|_| LinkError::EmptySecret { kid: kid.clone() })?;
            macs.push((kid, mac));
        }
        let active = if active_kid.is_empty() {
            0
        } else {
            macs.iter()
                .position(|(kid, _)| *kid == active_kid)
                .ok_or(LinkError::UnknownActiveKid { kid: active_kid })?
        };
        Ok(LinkSigner { keys: macs, active })
    }

    /// Builds a signer from `links.keys`, signing with the first key. In `sso` mode the configuration
    /// allows empty secrets (central generates its own key); replace them before calling this.
    pub fn from_config(config: &LinksConfig) -> Result<LinkSigner, LinkError> {
        let keys = config
            .keys
            .iter()
            .map(|key| (key.kid.clone(), key.secret.clone()))
            .collect();
        LinkSigner::new(keys, String::new())
    }

    /// The kid new links are signed with.
    pub fn active_kid(&self) -> &str {
        self.keys
            .get(self.active)
            .map(|(kid, _)| kid.as_str())
            .unwrap_or_default()
    }

    /// The terminal link of `request` for its requester, signed `now`: the one place every
    /// delivery path (chat thread, direct message, dashboard button, API, CLI) gets a link
    /// from. It stops working when [`Policy::link_expiry`] says (the grant's end or
    /// `links.ttlSeconds`, whichever is first). `None` unless the request is Active.
    pub fn terminal_link(
        &self,
        request: &AccessRequest,
        policy: &Policy,
        now: DateTime<Utc>,
        base_url: &str,
    ) -> Option<String> {
        let expires_at = policy.link_expiry(request, now)?;
        let link = self.sign(
            request.id.as_str(),
            request.requester.as_str(),
            expires_at.timestamp(),
        );
        Some(link.url(base_url))
    }

    /// Signs a link to `request_id` for `principal` (a canonical email) valid until `expires_at_unix`.
    /// Terminal links for people come from [`LinkSigner::terminal_link`]; this is its primitive.
    pub fn sign(&self, request_id: &str, principal: &str, expires_at_unix: i64) -> SignedLink {
        let (kid, sig) = match self.keys.get(self.active) {
            Some((kid, mac)) => {
                let digest = mac
                    .clone()
                    .chain_update(signed_text(request_id, principal, expires_at_unix))
                    .finalize()
                    .into_bytes();
                (kid.clone(), URL_SAFE_NO_PAD.encode(digest))
            }
            None => (String::new(), String::new()),
        };
        SignedLink {
            request_id: request_id.to_owned(),
            principal: principal.to_owned(),
            expires_at: expires_at_unix,
            kid,
            sig,
        }
    }

    /// Checks a link's parameters for `request_id` (from the path), in the order given in the module
    /// documentation. `signed_in_principal` is the session's principal, if someone is signed in; with
    /// `None` (link mode, before sign-in) the principal check is skipped. The request's state is the
    /// caller's to check.
    pub fn verify(
        &self,
        request_id: &str,
        params: &LinkParams,
        signed_in_principal: Option<&str>,
        now_unix: i64,
    ) -> Result<VerifiedLink, LinkRejection> {
        if request_id.is_empty() || request_id.contains('|') || params.p.is_empty() || params.kid.is_empty() {
            return Err(LinkRejection::Malformed);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(params.sig.as_bytes())
            .map_err(|_| LinkRejection::Malformed)?;
        let (_, mac) = self
            .keys
            .iter()
            .find(|(kid, _)| *kid == params.kid)
            .ok_or(LinkRejection::UnknownKid)?;
        mac.clone()
            .chain_update(signed_text(request_id, &params.p, params.exp))
            .verify_slice(&signature)
            .map_err(|_| LinkRejection::BadSignature)?;
        if now_unix >= params.exp {
            return Err(LinkRejection::Expired);
        }
        let principal = canonical_principal(&params.p);
        if signed_in_principal.is_some_and(|signed_in| canonical_principal(signed_in) != principal) {
            return Err(LinkRejection::WrongPrincipal);
        }
        Ok(VerifiedLink {
            request_id: request_id.to_owned(),
            principal,
            expires_at: params.exp,
        })
    }
}

/// A signature for another purpose than a terminal link (`discord-link`, …): the signed text
/// starts with the purpose instead of [`SIGNATURE_VERSION`], so a signature made for one purpose
/// never verifies as a terminal link or for another purpose.
#[derive(Clone, PartialEq, Eq)]
pub struct PurposeSignature {
    pub kid: String,
    /// base64url without padding.
    pub sig: String,
}

impl fmt::Debug for PurposeSignature {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("PurposeSignature")
            .field("kid", &self.kid)
            .field("sig", &REDACTED)
            .finish()
    }
}

impl LinkSigner {
    /// Signs `subject` (no `|`) for `purpose` (a lower-case word other than `v1`) until
    /// `expires_at_unix`.
    pub fn sign_for(&self, purpose: &str, subject: &str, expires_at_unix: i64) -> PurposeSignature {
        let Some((kid, mac)) = self.keys.get(self.active) else {
            return PurposeSignature {
                kid: String::new(),
                sig: String::new(),
            };
        };
        let digest = mac
            .clone()
            .chain_update(purpose_text(purpose, subject, expires_at_unix))
            .finalize()
            .into_bytes();
        PurposeSignature {
            kid: kid.clone(),
            sig: URL_SAFE_NO_PAD.encode(digest),
        }
    }

    /// Checks a [`LinkSigner::sign_for`] signature: parse → known kid → signature → expiry.
    pub fn verify_for(
        &self,
        purpose: &str,
        subject: &str,
        expires_at_unix: i64,
        signature: &PurposeSignature,
        now_unix: i64,
    ) -> Result<(), LinkRejection> {
        if purpose.is_empty()
            || purpose == SIGNATURE_VERSION
            || purpose.contains('|')
            || subject.contains('|')
        {
            return Err(LinkRejection::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(signature.sig.as_bytes())
            .map_err(|_| LinkRejection::Malformed)?;
        let (_, mac) = self
            .keys
            .iter()
            .find(|(kid, _)| *kid == signature.kid)
            .ok_or(LinkRejection::UnknownKid)?;
        mac.clone()
            .chain_update(purpose_text(purpose, subject, expires_at_unix))
            .verify_slice(&bytes)
            .map_err(|_| LinkRejection::BadSignature)?;
        if now_unix >= expires_at_unix {
            return Err(LinkRejection::Expired);
        }
        Ok(())
    }
}

fn purpose_text(purpose: &str, subject: &str, expires_at_unix: i64) -> String {
    format!("{purpose}|{subject}|{expires_at_unix}")
}

fn signed_text(request_id: &str, principal: &str, expires_at_unix: i64) -> String {
    format!("{SIGNATURE_VERSION}|{request_id}|{principal}|{expires_at_unix}")
}

fn canonical_principal(principal: &str) -> String {
    principal.trim().to_lowercase()
}

/// A freshly signed link.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedLink {
    pub request_id: String,
    pub principal: String,
    /// Unix seconds; the link is refused from this instant on.
    pub expires_at: i64,
    pub kid: String,
    /// base64url without padding.
    pub sig: String,
}

impl fmt::Debug for SignedLink {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SignedLink")
            .field("request_id", &self.request_id)
            .field("principal", &self.principal)
            .field("expires_at", &self.expires_at)
            .field("kid", &self.kid)
            .field("sig", &REDACTED)
            .finish()
    }
}

impl SignedLink {
    /// `p=…&exp=…&kid=…&sig=…`, every value percent-encoded.
    pub fn query_string(&self) -> String {
        format!(
            "p={}&exp={}&kid={}&sig={}",
            percent_encode(&self.principal),
            self.expires_at,
            percent_encode(&self.kid),
            percent_encode(&self.sig)
        )
    }

    /// `/t/{id}?p=…&exp=…&kid=…&sig=…`.
    pub fn path_and_query(&self) -> String {
        format!("/t/{}?{}", percent_encode(&self.request_id), self.query_string())
    }

    /// The absolute link under `base_url` (`webui.baseUrl`; a trailing `/` is ignored).
    pub fn url(&self, base_url: &str) -> String {
        format!("{}{}", base_url.trim_end_matches('/'), self.path_and_query())
    }

    /// The parameters a browser sends back when it opens this link.
    pub fn params(&self) -> LinkParams {
        LinkParams {
            p: self.principal.clone(),
            exp: self.expires_at,
            kid: self.kid.clone(),
            sig: self.sig.clone(),
        }
    }
}

/// The query parameters of a link as received. Also deserializable, for a framework's query extractor.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct LinkParams {
    pub p: String,
    pub exp: i64,
    pub kid: String,
    pub sig: String,
}

impl fmt::Debug for LinkParams {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("LinkParams")
            .field("p", &self.p)
            .field("exp", &self.exp)
            .field("kid", &self.kid)
            .field("sig", &REDACTED)
            .finish()
    }
}

impl LinkParams {
    /// Parses and percent-decodes a query string (with or without the leading `?`). Missing, empty
    /// or repeated `p`, `exp`, `kid`, `sig`, a non-numeric `exp` or a bad escape are `Malformed`;
    /// other parameters are ignored.
    pub fn from_query(query: &str) -> Result<LinkParams, LinkRejection> {
        let query = query.strip_prefix('?').unwrap_or(query);
        let (mut p, mut exp, mut kid, mut sig) = (None, None, None, None);
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match percent_decode(name).ok_or(LinkRejection::Malformed)?.as_str() {
                "p" => &mut p,
                "exp" => &mut exp,
                "kid" => &mut kid,
                "sig" => &mut sig,
                _ => continue,
            };
            let value = percent_decode(value).ok_or(LinkRejection::Malformed)?;
            if slot.is_some() || value.is_empty() {
                return Err(LinkRejection::Malformed);
            }
            *slot = Some(value);
        }
        let exp = exp.ok_or(LinkRejection::Malformed)?;
        if !exp.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(LinkRejection::Malformed);
        }
        Ok(LinkParams {
            p: p.ok_or(LinkRejection::Malformed)?,
            exp: exp.parse().map_err(|_| LinkRejection::Malformed)?,
            kid: kid.ok_or(LinkRejection::Malformed)?,
            sig: sig.ok_or(LinkRejection::Malformed)?,
        })
    }
}

/// A link that passed every check this module makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLink {
    pub request_id: String,
    /// The canonical (trimmed, lower-case) principal the link was issued to.
    pub principal: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Percent-encodes everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes and, as in HTML form encoding, `+` as a space. `None` for a bad escape or
/// bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(byte) = input.next() {
        match byte {
            b'%' => {
                let high = char::from(input.next()?).to_digit(16)?;
                let low = char::from(input.next()?).to_digit(16)?;
                bytes.push(u8::try_from(high * 16 + low).ok()?);
            }
            b'+' => bytes.push(b' '),
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;
    const KEY_1: &str = "0123456789abcdef0123456789abcdef";
    const KEY_2: &str = "fedcba9876543210fedcba9876543210";

    fn signer(keys: &[(&str, &str)], active: &str) -> LinkSigner {
        let keys = keys
            .iter()
            .map(|(kid, secret)| (kid.to_string(), Secret::new(*secret)))
            .collect();
        LinkSigner::new(keys, active.to_owned()).unwrap()
    }

    fn k1() -> LinkSigner {
        signer(&[("k1", KEY_1)], "")
    }

    /// Splits `/t/{id}?query` the way the web layer would.
    fn open(path_and_query: &str) -> (String, LinkParams) {
        let (path, query) = path_and_query.split_once('?').unwrap();
        let id = percent_decode(path.strip_prefix("/t/").unwrap()).unwrap();
        (id, LinkParams::from_query(query).unwrap())
    }

    #[test]
    fn a_purpose_signature_is_bound_to_its_purpose_subject_and_deadline() {
        let signer = k1();
        let signature = signer.sign_for("discord-link", "42:nonce", NOW + 600);
        assert_eq!(
            signer.verify_for("discord-link", "42:nonce", NOW + 600, &signature, NOW),
            Ok(())
        );
        let refused = |purpose: &str, subject: &str, exp: i64, now: i64| {
            signer
                .verify_for(purpose, subject, exp, &signature, now)
                .unwrap_err()
        };
        assert_eq!(
            refused("terminal", "42:nonce", NOW + 600, NOW),
            LinkRejection::BadSignature
        );
        assert_eq!(
            refused("discord-link", "43:nonce", NOW + 600, NOW),
            LinkRejection::BadSignature
        );
        assert_eq!(
            refused("discord-link", "42:nonce", NOW + 601, NOW),
            LinkRejection::BadSignature
        );
        assert_eq!(
            refused("discord-link", "42:nonce", NOW + 600, NOW + 600),
            LinkRejection::Expired
        );
        assert_eq!(
            refused("v1", "42:nonce", NOW + 600, NOW),
            LinkRejection::Malformed
        );
        // A terminal link's signature never verifies for a purpose, nor the other way round.
        let terminal = signer.sign("42:nonce", "discord-link", NOW + 600);
        let as_purpose = PurposeSignature {
            kid: terminal.kid.clone(),
            sig: terminal.sig.clone(),
        };
        assert_eq!(
            signer.verify_for("discord-link", "42:nonce", NOW + 600, &as_purpose, NOW),
            Err(LinkRejection::BadSignature)
        );
        assert!(!format!("{signature:?}").contains(&signature.sig));
    }

    #[test]
    fn a_signed_link_round_trips_through_its_url() {
        let link = k1().sign("jr-4k2m9x7q", "alice@example.com", NOW + 3600);
        assert_eq!(link.kid, "k1");
        let path = link.path_and_query();
        assert!(
            path.starts_with("/t/jr-4k2m9x7q?p=alice%40example.com&exp=1700003600&kid=k1&sig="),
            "{path}"
        );
        let (id, params) = open(&path);
        let verified = k1().verify(&id, &params, Some("alice@example.com"), NOW).unwrap();
        assert_eq!(
            verified,
            VerifiedLink {
                request_id: "jr-4k2m9x7q".into(),
                principal: "alice@example.com".into(),
                expires_at: NOW + 3600
            }
        );
        assert_eq!(
            link.url("https://janus.example.com/"),
            format!("https://janus.example.com{path}")
        );
        assert_eq!(
            k1().verify(&id, &link.params(), None, NOW).unwrap().principal,
            "alice@example.com"
        );
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_the_v1_text() {
        // Computed independently: base64url(HMAC-SHA256(KEY_1, "v1|jr-4k2m9x7q|alice@example.com|1700000000")).
        let link = k1().sign("jr-4k2m9x7q", "alice@example.com", NOW);
        assert_eq!(link.sig, "QW1_9qobq907mgXz-YoQMMZu5mvLA5yYTTva4j2vYK4");
    }

    #[test]
    fn any_tampering_breaks_the_signature() {
        let link = k1().sign("jr-4k2m9x7q", "alice@example.com", NOW + 3600);
        let verify = |id: &str, params: &LinkParams| k1().verify(id, params, None, NOW);
        let mut other_principal = link.params();
        other_principal.p = "mallory@example.com".into();
        let mut later = link.params();
        later.exp += 3600;
        let mut flipped = link.params();
        flipped.sig = format!(
            "{}{}",
            if flipped.sig.starts_with('A') { "B" } else { "A" },
            &flipped.sig[1..]
        );
        let mut truncated = link.params();
        truncated.sig.truncate(40); // still valid base64url, 30 bytes
        assert_eq!(
            verify("jr-00000000", &link.params()),
            Err(LinkRejection::BadSignature)
        );
        assert_eq!(
            verify("jr-4k2m9x7q", &other_principal),
            Err(LinkRejection::BadSignature)
        );
        assert_eq!(verify("jr-4k2m9x7q", &later), Err(LinkRejection::BadSignature));
        assert_eq!(verify("jr-4k2m9x7q", &flipped), Err(LinkRejection::BadSignature));
        assert_eq!(
            verify("jr-4k2m9x7q", &truncated),
            Err(LinkRejection::BadSignature)
        );
        let other_key = signer(&[("k1", KEY_2)], "");
        assert_eq!(
            other_key.verify("jr-4k2m9x7q", &link.params(), None, NOW),
            Err(LinkRejection::BadSignature)
        );
    }

    #[test]
    fn expiry_is_checked_after_the_signature_and_is_exclusive() {
        let link = k1().sign("jr-1", "alice@example.com", NOW);
        assert!(k1().verify("jr-1", &link.params(), None, NOW - 1).is_ok());
        assert_eq!(
            k1().verify("jr-1", &link.params(), None, NOW),
            Err(LinkRejection::Expired)
        );
        assert_eq!(
            k1().verify("jr-1", &link.params(), None, NOW + 1),
            Err(LinkRejection::Expired)
        );
        let mut forged = link.params();
        forged.p = "mallory@example.com".into();
        assert_eq!(
            k1().verify("jr-1", &forged, None, NOW + 1),
            Err(LinkRejection::BadSignature)
        );
    }

    #[test]
    fn the_signed_in_principal_must_be_the_links_principal() {
        let link = k1().sign("jr-1", "alice@example.com", NOW + 60);
        let verify = |who: Option<&str>| k1().verify("jr-1", &link.params(), who, NOW);
        assert_eq!(
            verify(Some("bob@example.com")),
            Err(LinkRejection::WrongPrincipal)
        );
        assert!(verify(Some(" Alice@Example.COM ")).is_ok());
        assert!(verify(None).is_ok());
    }

    #[test]
    fn principals_with_plus_and_capitals_survive_the_query_string() {
        let link = k1().sign("jr-1", "Alice+Ops@Example.com", NOW + 60);
        let path = link.path_and_query();
        assert!(path.contains("p=Alice%2BOps%40Example.com&"), "{path}");
        let (id, params) = open(&path);
        assert_eq!(params.p, "Alice+Ops@Example.com");
        let verified = k1()
            .verify(&id, &params, Some("alice+ops@example.com"), NOW)
            .unwrap();
        assert_eq!(verified.principal, "alice+ops@example.com");
        assert_eq!(
            LinkParams::from_query("p=a+b&exp=1&kid=k&sig=s").unwrap().p,
            "a b",
            "+ is a space"
        );
    }

    #[test]
    fn keys_rotate_by_kid() {
        let old_link = k1().sign("jr-1", "alice@example.com", NOW + 60);
        let rotated = signer(&[("k2", KEY_2), ("k1", KEY_1)], "");
        assert_eq!(rotated.active_kid(), "k2");
        assert!(rotated.verify("jr-1", &old_link.params(), None, NOW).is_ok());
        let new_link = rotated.sign("jr-1", "alice@example.com", NOW + 60);
        assert_eq!(new_link.kid, "k2");
        assert!(rotated.verify("jr-1", &new_link.params(), None, NOW).is_ok());
        let k1_active = signer(&[("k2", KEY_2), ("k1", KEY_1)], "k1");
        assert_eq!(k1_active.sign("jr-1", "a@b.c", NOW).kid, "k1");
        let retired = signer(&[("k2", KEY_2)], "k2");
        assert_eq!(
            retired.verify("jr-1", &old_link.params(), None, NOW),
            Err(LinkRejection::UnknownKid)
        );
    }

    #[test]
    fn malformed_queries_and_ids_are_refused() {
        let queries = [
            "",
            "?",
            "p=a%40b.c&exp=1&kid=k1",
            "exp=1&kid=k1&sig=abc",
            "p=a&kid=k1&sig=abc",
            "p=a&exp=1&sig=abc",
            "p=a&exp=soon&kid=k1&sig=abc",
            "p=a&exp=-1&kid=k1&sig=abc",
            "p=a&exp=99999999999999999999&kid=k1&sig=abc",
            "p=a&p=b&exp=1&kid=k1&sig=abc",
            "p=&exp=1&kid=k1&sig=abc",
            "p=a%zz&exp=1&kid=k1&sig=abc",
            "p=a%4&exp=1&kid=k1&sig=abc",
            "p=%ff&exp=1&kid=k1&sig=abc",
        ];
        for query in queries {
            assert_eq!(
                LinkParams::from_query(query),
                Err(LinkRejection::Malformed),
                "{query}"
            );
        }
        let with_extras = LinkParams::from_query("?utm=x&p=a&exp=5&kid=k1&sig=abc&flag").unwrap();
        assert_eq!((with_extras.p.as_str(), with_extras.exp), ("a", 5));

        let link = k1().sign("jr-1", "alice@example.com", NOW + 60);
        let mut bad_base64 = link.params();
        bad_base64.sig = "not base64!".into();
        assert_eq!(
            k1().verify("jr-1", &bad_base64, None, NOW),
            Err(LinkRejection::Malformed)
        );
        assert_eq!(
            k1().verify("jr-1|x", &link.params(), None, NOW),
            Err(LinkRejection::Malformed)
        );
        assert_eq!(
            k1().verify("", &link.params(), None, NOW),
            Err(LinkRejection::Malformed)
        );
        let mut no_kid = link.params();
        no_kid.kid.clear();
        assert_eq!(
            k1().verify("jr-1", &no_kid, None, NOW),
            Err(LinkRejection::Malformed)
        );
    }

    #[test]
    fn construction_refuses_unusable_keys() {
        let build = |keys: &[(&str, &str)], active: &str| {
            let keys = keys
                .iter()
                .map(|(kid, secret)| (kid.to_string(), Secret::new(*secret)))
                .collect();
            LinkSigner::new(keys, active.to_owned()).map(|signer| signer.active_kid().to_owned())
        };
        assert_eq!(build(&[], ""), Err(LinkError::NoKeys));
        assert_eq!(build(&[("", KEY_1)], ""), Err(LinkError::EmptyKid));
        assert_eq!(
            build(&[("k1", "")], ""),
            Err(LinkError::EmptySecret { kid: "k1".into() })
        );
        assert_eq!(
            build(&[("k1", KEY_1), ("k1", KEY_2)], ""),
            Err(LinkError::DuplicateKid { kid: "k1".into() })
        );
        assert_eq!(
            build(&[("k1", KEY_1)], "k9"),
            Err(LinkError::UnknownActiveKid { kid: "k9".into() })
        );
        assert_eq!(build(&[("k1", KEY_1), ("k2", KEY_2)], "").as_deref(), Ok("k1"));
        let mut config = LinksConfig::default();
        assert_eq!(
            LinkSigner::from_config(&config).unwrap_err(),
            LinkError::EmptySecret { kid: "k1".into() }
        );
        config.keys[0].secret = Secret::new(KEY_1);
        assert_eq!(LinkSigner::from_config(&config).unwrap().active_kid(), "k1");
    }

    #[test]
    fn nothing_secret_reaches_debug_or_messages() {
        let signer = signer(&[("k1", KEY_1), ("k2", KEY_2)], "k2");
        let debug = format!("{signer:?}");
        assert!(!debug.contains(KEY_1) && !debug.contains(KEY_2), "{debug}");
        assert!(
            debug.contains("\"k1\"") && debug.contains("active_kid: \"k2\""),
            "{debug}"
        );
        let link = signer.sign("jr-1", "alice@example.com", NOW + 60);
        for debug in [format!("{link:?}"), format!("{:?}", link.params())] {
            assert!(!debug.contains(&link.sig), "{debug}");
        }
        let rejections = [
            LinkRejection::Malformed,
            LinkRejection::UnknownKid,
            LinkRejection::BadSignature,
            LinkRejection::Expired,
            LinkRejection::WrongPrincipal,
        ];
        let codes: Vec<&str> = rejections.iter().map(LinkRejection::code).collect();
        assert_eq!(
            codes,
            [
                "malformed",
                "unknown_kid",
                "bad_signature",
                "expired",
                "wrong_principal"
            ]
        );
        for rejection in rejections {
            let message = rejection.to_string();
            assert!(message.ends_with('.') && !message.contains(&link.sig) && !message.contains(KEY_1));
        }
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(
            percent_decode("a%20b%26c%3Dd%2F%C3%A9").as_deref(),
            Some("a b&c=d/é")
        );
    }
}
