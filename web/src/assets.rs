//! The dashboard's static files, embedded in the binary (no CDN: many clusters are air-gapped).
//!
//! `web/assets/dist/` holds Janus's own CSS and JS and, under `vendor/`, the npm packages pinned by
//! `web/assets/package-lock.json` (htmx, its SSE extension, modern-normalize, xterm.js and its fit
//! addon, asciinema-player), copied there by
//! `web/assets/vendor.sh` and checked in. Each file is served at `/assets/<hash>/<path>`, where
//! `<hash>` is the start of its SHA-256, with `Cache-Control: immutable` for a year: a new build
//! changes the URL, never the bytes behind one. A request with an old hash still gets the current
//! file, uncached, so a page rendered before an upgrade keeps working.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

use crate::AppState;

#[derive(RustEmbed)]
#[folder = "assets/dist/"]
struct Files;

/// The URLs pages link to, one per file (`/assets/<hash>/<path>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetUrls {
    pub normalize_css: String,
    pub app_css: String,
    pub htmx_js: String,
    pub sse_js: String,
    pub app_js: String,
    /// The terminal page (`/t/{id}`): xterm.js, its fit addon and stylesheet, and Janus's own
    /// terminal script and styles.
    pub xterm_js: String,
    pub xterm_fit_js: String,
    pub xterm_css: String,
    pub terminal_js: String,
    pub terminal_css: String,
    /// Recording replay on the request page: asciinema-player and Janus's script that starts it.
    pub player_js: String,
    pub player_css: String,
    pub replay_js: String,
}

/// Path → its hash prefix, computed once.
fn hashes() -> &'static BTreeMap<String, String> {
    static HASHES: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    HASHES.get_or_init(|| {
        Files::iter()
            .filter_map(|path| {
                let file = Files::get(&path)?;
                let hash = janus_core::digest::hex(&file.metadata.sha256_hash());
                Some((path.into_owned(), hash[..16].to_owned()))
            })
            .collect()
    })
}

/// The URL of an embedded file (a missing file gets a URL that answers 404).
pub fn url(path: &str) -> String {
    let hash = hashes().get(path).map_or("missing", String::as_str);
    format!("/assets/{hash}/{path}")
}

/// The URLs of the files every page uses.
pub fn urls() -> &'static AssetUrls {
    static URLS: OnceLock<AssetUrls> = OnceLock::new();
    URLS.get_or_init(|| AssetUrls {
        normalize_css: url("vendor/modern-normalize.css"),
        app_css: url("janus.css"),
        htmx_js: url("vendor/htmx.min.js"),
        sse_js: url("vendor/htmx-ext-sse.min.js"),
        app_js: url("janus.js"),
        xterm_js: url("vendor/xterm.js"),
        xterm_fit_js: url("vendor/xterm-addon-fit.js"),
        xterm_css: url("vendor/xterm.css"),
        terminal_js: url("terminal.js"),
        terminal_css: url("terminal.css"),
        player_js: url("vendor/asciinema-player.min.js"),
        player_css: url("vendor/asciinema-player.css"),
        replay_js: url("replay.js"),
    })
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/assets/{hash}/{*path}", get(serve))
}

async fn serve(Path((hash, path)): Path<(String, String)>) -> Response {
    let Some(file) = Files::get(&path) else {
        return (StatusCode::NOT_FOUND, "No such file.").into_response();
    };
    let current = hashes().get(&path).is_some_and(|expected| *expected == hash);
    let cache = if current {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = file.data.into_owned().into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(&path)));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, extension)| extension) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "text/plain; charset=utf-8",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_page_asset_is_embedded_under_its_hash() {
        let urls = super::urls();
        for url in [
            &urls.normalize_css,
            &urls.app_css,
            &urls.htmx_js,
            &urls.sse_js,
            &urls.app_js,
            &urls.xterm_js,
            &urls.xterm_fit_js,
            &urls.xterm_css,
            &urls.terminal_js,
            &urls.terminal_css,
            &urls.player_js,
            &urls.player_css,
            &urls.replay_js,
        ] {
            assert!(!url.contains("/missing/"), "{url} is not embedded");
            let hash = url.split('/').nth(2).unwrap();
            assert_eq!(hash.len(), 16, "{url}");
        }
    }
}
