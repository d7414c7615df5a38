//! The two cookies Janus sets, read and written by hand (no cookie jar crate needed).
//!
//! - the **session** cookie: the session's secret; HttpOnly, SameSite=Lax, Path=/, `Secure` when
//!   `webui.baseUrl` is https — and then named with the `__Host-` prefix, so no subdomain or
//!   plain-HTTP page can plant or overwrite it;
//! - the **login** cookie: a sign-in in progress (OIDC/GitHub flow, or the local login form's
//!   anti-forgery value), ten minutes, same attributes.

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use janus_core::config::Config;

const SESSION: &str = "janus_session";
const LOGIN: &str = "janus_login";

/// Whether cookies get `Secure` (and the `__Host-` prefix).
pub fn secure(config: &Config) -> bool {
    config
        .webui
        .base_url
        .trim()
        .to_ascii_lowercase()
        .starts_with("https://")
}

fn name(config: &Config, base: &str) -> String {
    if secure(config) {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

pub fn session_name(config: &Config) -> String {
    name(config, SESSION)
}

pub fn login_name(config: &Config) -> String {
    name(config, LOGIN)
}

/// The value of cookie `name` in the request, if sent once; a cookie sent twice (a planted
/// duplicate) is treated as absent.
pub fn read<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = None;
    for header in headers.get_all(COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for pair in text.split(';') {
            let Some((key, value)) = pair.trim().split_once('=') else {
                continue;
            };
            if key == name {
                if found.is_some() {
                    return None;
                }
                found = Some(value.trim_matches('"'));
            }
        }
    }
    found.filter(|value| !value.is_empty())
}

/// A `Set-Cookie` value. `max_age` in seconds; zero deletes the cookie.
pub fn set(config: &Config, name: &str, value: &str, max_age: u64) -> String {
    let secure = if secure(config) { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

/// A `Set-Cookie` value that deletes cookie `name`.
pub fn clear(config: &Config, name: &str) -> String {
    set(config, name, "", 0)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn reads_one_cookie_and_refuses_duplicates() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("a=1; janus_session=abc; b=2"));
        assert_eq!(read(&headers, "janus_session"), Some("abc"));
        assert_eq!(read(&headers, "missing"), None);
        headers.append(COOKIE, HeaderValue::from_static("janus_session=planted"));
        assert_eq!(read(&headers, "janus_session"), None);
    }

    #[test]
    fn https_base_urls_get_secure_host_cookies() {
        let mut config = Config::default();
        assert_eq!(session_name(&config), "janus_session");
        assert!(!set(&config, "x", "y", 5).contains("Secure"));
        config.webui.base_url = "https://janus.example.com".into();
        assert_eq!(session_name(&config), "__Host-janus_session");
        let cookie = set(&config, "x", "y", 5);
        for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=5"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
    }
}
