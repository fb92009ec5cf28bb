//! What every request passes before a view runs, and what every response
//! carries: the Host allow-list (DNS rebinding), requests that other sites'
//! pages make in the background (Origin, `Sec-Fetch-Site`), the access
//! tokens, and the security headers.

use crate::Shared;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// No script or style from elsewhere or inline, no framing, no plugins.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The host part of a `Host` value or of an origin's authority.
fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    authority.rsplit_once(':').map_or(authority, |(h, port)| if port.parse::<u16>().is_ok() { h } else { authority })
}

/// A Host the console answers to: an IP literal (no page of another site
/// can make a browser send one for a name it resolved), `localhost`, or a
/// configured name.
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let h = host_of(host);
    h.parse::<std::net::IpAddr>().is_ok()
        || h.eq_ignore_ascii_case("localhost")
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(h))
}

/// A request another site's page makes in the background (a script, an
/// image, a form): its Origin differs from the Host, or the browser says
/// it is cross-site without being a navigation the user followed.
fn cross_site(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let (Some(origin), Some(host)) = (text("origin"), text("host")) {
        let authority = origin.split_once("://").map_or(origin, |(_, a)| a);
        if origin != "null" && !authority.eq_ignore_ascii_case(host) {
            return true;
        }
    }
    text("sec-fetch-site") == Some("cross-site") && text("sec-fetch-mode") != Some("navigate")
}

/// The token of an `Authorization` value: `Bearer TOKEN`, or HTTP Basic with
/// the token as password. Schemes are case-insensitive (RFC 9110).
fn presented_token(value: &str) -> Option<String> {
    use base64::Engine;
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(rest.to_owned())
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        Some(text.split_once(':')?.1.to_owned())
    } else {
        None
    }
}

fn refuse(code: StatusCode, text: &'static str) -> Response {
    (code, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

/// The checks, in order: Host, cross-site, token; then the view; then the
/// headers on whatever it answered.
pub async fn guard(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut response = if !host_allowed(host, &state.hosts) {
        refuse(StatusCode::MISDIRECTED_REQUEST, "this console does not answer to that host name\n")
    } else if cross_site(headers) {
        refuse(StatusCode::FORBIDDEN, "requests from other sites' pages are refused\n")
    } else if !state.tokens_sha256.is_empty()
        && !headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(presented_token)
            .is_some_and(|t| state.tokens_sha256.contains(&hash_token(&t)))
    {
        let mut r = refuse(StatusCode::UNAUTHORIZED, "a token is needed (HTTP Basic password or Bearer)\n");
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"pastmon\", charset=\"UTF-8\""));
        r
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_from_either_scheme_in_any_case() {
        assert_eq!(presented_token("Basic dTpzZWNyZXQ=").as_deref(), Some("secret"));
        assert_eq!(presented_token("basic dTpzZWNyZXQ=").as_deref(), Some("secret"));
        assert_eq!(presented_token("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(presented_token("BEARER  abc ").as_deref(), Some("abc"));
        assert_eq!(presented_token("Basic @@@@"), None);
        assert_eq!(presented_token("Digest x"), None);
    }

    #[test]
    fn hosts() {
        let allowed = vec!["pastmon.example.org".to_owned()];
        for ok in ["127.0.0.1:8080", "[::1]:8080", "localhost", "LOCALHOST:1", "10.0.0.5", "pastmon.example.org:443"] {
            assert!(host_allowed(ok, &allowed), "{ok}");
        }
        for bad in ["evil.example", "evil.example:8080", "", "127.0.0.1.evil.example"] {
            assert!(!host_allowed(bad, &allowed), "{bad}");
        }
    }

    #[test]
    fn background_requests_of_other_sites() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_static(v));
            }
            m
        };
        assert!(!cross_site(&h(&[("host", "127.0.0.1:8080")])));
        assert!(!cross_site(&h(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")])));
        assert!(cross_site(&h(&[("host", "127.0.0.1:8080"), ("origin", "http://evil.example")])));
        assert!(cross_site(&h(&[("sec-fetch-site", "cross-site"), ("sec-fetch-mode", "no-cors")])));
        assert!(!cross_site(&h(&[("sec-fetch-site", "cross-site"), ("sec-fetch-mode", "navigate")])));
    }
}
