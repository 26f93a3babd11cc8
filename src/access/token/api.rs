//! `BaseTokenAPI` and `JSONTokenApi`: ask an HTTP(S) service about each token.
//!
//! The source is a URL with `%s` where the token goes (Python's `%`
//! formatting: `%%` is a literal `%`). Unlike Python, the token is
//! percent-encoded, the request has a deadline, no redirect is followed (the
//! answer must come from the configured server), and the body is bounded.
//! A 2xx answer is the target (and, for `JSONTokenApi`, its VNC password
//! when the answer has `"vnc_password"`); 3xx and 4xx mean "unknown token"; a 5xx or a
//! failure to get an answer is an outage ([`TokenError::Unavailable`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use http::{header, Request, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

use super::{parse_target, redact, target_from_pair, vnc_password_field, Destination, TokenError};

/// Deadline for one lookup, connection and answer together: a browser is
/// waiting, and a stuck API must not pile up sessions.
const API_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest answer read; a target is a few dozen bytes.
const MAX_ANSWER: usize = 64 * 1024;

/// Everything but RFC 3986's unreserved characters is encoded, so a token can
/// add neither path segments, nor query parameters, nor a fragment.
const TOKEN_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What the API answers with.
#[derive(Clone, Copy)]
pub(super) enum Answer {
    /// `BaseTokenAPI`: `host:port` as text.
    Text,
    /// `JSONTokenApi`: `{"host": "...", "port": ...}`, optionally with
    /// `"vnc_password"`.
    Json,
}

#[derive(Clone)]
pub(super) struct TokenApi {
    answer: Answer,
    /// The URL before and after `%s`, `%%` already unescaped.
    prefix: Arc<str>,
    suffix: Arc<str>,
    /// `scheme://host:port` for messages: the URL's path or query may hold
    /// an API key, which logs must not show.
    origin: Arc<str>,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl TokenApi {
    /// Messages never repeat the source: it may hold credentials or an API key.
    pub(super) fn new(source: &str, answer: Answer) -> anyhow::Result<Self> {
        let (prefix, suffix) = split_template(source)?;
        let sample: Uri = format!("{prefix}token{suffix}")
            .parse()
            .context("the token API URL is not a valid URL")?;
        let https = match sample.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => bail!("the token API URL must start with http:// or https://"),
        };
        let authority = sample
            .authority()
            .context("the token API URL has no host")?;
        if !prefix[prefix.find("://").map_or(0, |i| i + 3)..].contains(['/', '?', '#']) {
            bail!("the token API URL has %s in the host: it must be in the path or query");
        }
        let host_port = match authority.port() {
            Some(port) => format!("{}:{port}", authority.host()),
            None => authority.host().to_owned(),
        };
        let origin = format!("{}://{host_port}", if https { "https" } else { "http" });
        Ok(Self {
            answer,
            prefix: prefix.into(),
            suffix: suffix.into(),
            origin: origin.into(),
            client: client(https, API_TIMEOUT)?,
        })
    }

    pub(super) async fn lookup(&self, token: &str) -> Result<Option<Destination>, TokenError> {
        let url = format!("{}{}{}", self.prefix, encode_token(token), self.suffix);
        let answer = tokio::time::timeout(API_TIMEOUT, self.get(&url))
            .await
            .map_err(|_| self.unavailable(format!("no answer within {API_TIMEOUT:?}")))??;
        let Some(body) = answer else { return Ok(None) };
        let bad = |reason: anyhow::Error| TokenError::BadData {
            origin: self.origin.to_string(),
            token: redact(token),
            reason: format!("{reason:#}"),
        };
        let found = match self.answer {
            Answer::Text => std::str::from_utf8(&body)
                .map_err(|_| anyhow::anyhow!("answer is not UTF-8 text"))
                .and_then(parse_target)
                .map(Destination::from),
            Answer::Json => serde_json::from_slice::<Value>(&body)
                .map_err(|e| anyhow::anyhow!("answer is not JSON: {e}"))
                .and_then(|v| json_answer(&v)),
        };
        found.map(Some).map_err(bad)
    }

    /// The body of a 2xx answer, `None` for "unknown token".
    async fn get(&self, url: &str) -> Result<Option<Bytes>, TokenError> {
        let uri: Uri = url
            .parse()
            .map_err(|e| self.unavailable(format!("bad URL: {e}")))?;
        let accept = match self.answer {
            Answer::Text => "text/plain, */*",
            Answer::Json => "application/json",
        };
        let request = Request::get(uri)
            .header(
                header::USER_AGENT,
                concat!("websockify-rs/", env!("CARGO_PKG_VERSION")),
            )
            .header(header::ACCEPT, accept)
            .body(Empty::new())
            .map_err(|e| self.unavailable(e.to_string()))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| self.unavailable(error_chain(&e)))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(self.unavailable(format!("answered {status}")));
        }
        if status.is_redirection() {
            log::warn!(
                "token API {} answered {status}: redirects are not followed",
                self.origin
            );
            return Ok(None);
        }
        if !status.is_success() {
            log::debug!("token API {} answered {status}", self.origin);
            return Ok(None);
        }
        let body = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| self.unavailable(format!("reading the answer: {e}")))?;
        Ok(Some(body.to_bytes()))
    }

    fn unavailable(&self, reason: String) -> TokenError {
        TokenError::Unavailable {
            origin: self.origin.to_string(),
            reason,
        }
    }
}

impl fmt::Display for TokenApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.answer {
            Answer::Text => "BaseTokenAPI",
            Answer::Json => "JSONTokenApi",
        };
        write!(f, "{name} {}", self.origin)
    }
}

/// A `JSONTokenApi` answer: `{"host": ..., "port": ...}`, and optionally
/// `"vnc_password"`, the target's VNC password.
fn json_answer(answer: &Value) -> anyhow::Result<Destination> {
    Ok(Destination {
        target: target_from_pair(&answer["host"], &answer["port"])?,
        vnc_password: vnc_password_field(answer)?,
    })
}

/// The token as a URL part. A token of only dots is encoded whole (`%2E%2E`):
/// left as `..`, a server or proxy that normalises paths would step up a level.
fn encode_token(token: &str) -> String {
    if !token.is_empty() && token.chars().all(|c| c == '.') {
        return "%2E".repeat(token.len());
    }
    utf8_percent_encode(token, TOKEN_ENCODE).to_string()
}

/// Splits a Python `%`-format URL at its one `%s`, turning `%%` into `%`.
/// A `%` before two hex digits is kept as a URL escape (Python would refuse
/// such a source; accepting it is harmless); any other `%` is an error, as
/// it is in Python.
fn split_template(source: &str) -> anyhow::Result<(String, String)> {
    let mut parts = vec![String::new()];
    let mut rest = source;
    while let Some(at) = rest.find('%') {
        let part = parts.last_mut().expect("parts is never empty");
        part.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        rest = if let Some(after) = after.strip_prefix('%') {
            part.push('%');
            after
        } else if let Some(after) = after.strip_prefix('s') {
            parts.push(String::new());
            after
        } else if after.len() >= 2 && after.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit) {
            part.push('%');
            after
        } else {
            bail!(
                "the token API URL has a % followed by neither s (the token) \
                 nor % (a literal %)"
            )
        };
    }
    parts
        .last_mut()
        .expect("parts is never empty")
        .push_str(rest);
    match <[String; 2]>::try_from(parts) {
        Ok([prefix, suffix]) => Ok((prefix, suffix)),
        Err(parts) => bail!(
            "the token API URL must contain %s exactly once (where the token goes), \
             found {}",
            parts.len() - 1
        ),
    }
}

/// An HTTP client that speaks HTTPS with rustls (ring) and the system's CA
/// certificates (`/etc/ssl/certs`, or `SSL_CERT_FILE`/`SSL_CERT_DIR`, which
/// is how a private CA is trusted). The roots are only loaded for an https
/// URL, so a plain-http setup does not depend on them. `auth-request` uses
/// it too. It follows no redirect (hyper's client never does).
pub(in crate::access) fn client(
    https: bool,
    connect_timeout: Duration,
) -> anyhow::Result<Client<HttpsConnector<HttpConnector>, Empty<Bytes>>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS for an HTTP client")?;
    let tls = if https {
        builder
            .with_native_roots()
            .context("loading the system CA certificates")?
    } else {
        builder.with_root_certificates(rustls::RootCertStore::empty())
    }
    .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .build(connector))
}

/// hyper's client errors say "client error (Connect)" and keep the useful
/// part ("Connection refused", a certificate problem) in their sources.
pub(in crate::access) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_format_templates() {
        let split = |s| split_template(s).unwrap();
        assert_eq!(
            split("http://a/t?token=%s"),
            ("http://a/t?token=".into(), "".into())
        );
        assert_eq!(split("http://a/%s/x"), ("http://a/".into(), "/x".into()));
        assert_eq!(
            split("http://a/100%%/%s"),
            ("http://a/100%/".into(), "".into())
        );
        assert_eq!(
            split("http://a/b%20c/%s"),
            ("http://a/b%20c/".into(), "".into())
        );
        for bad in [
            "http://a/",
            "http://a/%s/%s",
            "http://a/%d/%s",
            "http://a/%s%",
            "%",
        ] {
            assert!(split_template(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sources_checked_up_front() {
        assert!(TokenApi::new("http://127.0.0.1:1/t?token=%s", Answer::Text).is_ok());
        assert!(TokenApi::new("http://api.local/%s", Answer::Json).is_ok());
        for bad in [
            "ftp://a/%s",
            "a/%s",
            "http://%s/lookup",
            "http://%s.tokens.local/",
            "http://a/",
            "http:///%s",
        ] {
            assert!(TokenApi::new(bad, Answer::Text).is_err(), "{bad}");
        }
    }

    #[test]
    fn origin_hides_path_query_and_userinfo() {
        let api =
            TokenApi::new("http://user:pw@api.local:8080/k/SECRET?t=%s", Answer::Text).unwrap();
        assert_eq!(api.to_string(), "BaseTokenAPI http://api.local:8080");
    }

    #[test]
    fn tokens_are_encoded() {
        let enc = encode_token;
        assert_eq!(enc("abc-._~XYZ09"), "abc-._~XYZ09");
        assert_eq!(enc(".."), "%2E%2E");
        assert_eq!(enc("."), "%2E");
        assert_eq!(enc("a/b?c=d&e#f"), "a%2Fb%3Fc%3Dd%26e%23f");
        assert_eq!(enc("../x y%"), "..%2Fx%20y%25");
    }
}
