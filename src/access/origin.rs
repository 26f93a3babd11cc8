//! Which web pages may open a WebSocket to the proxy: the `Origin` check
//! against cross-site WebSocket hijacking (RFC 6455 section 10.2, CWE-1385).
//!
//! A browser sends `Origin` on every WebSocket handshake and a page's script
//! cannot change it or add headers to the handshake. Without a check, any web
//! page a user visits can open `ws://host:6080/` from the user's browser: with
//! the user's cookies, Basic credentials and network position. Python
//! websockify checks nothing unless `ExpectOrigin` is configured.

use std::fmt;

use anyhow::{bail, Context};
use http::{header, HeaderMap};

use super::forwarded;
use super::Refusal;

/// The allowed-origins option.
///
/// The default is **same origin**: the page that opens the WebSocket must
/// come from this very server as the browser addressed it, that is `Origin`
/// equals `scheme://Host`, where
/// - the scheme is `https` on a TLS connection and `http` otherwise, and the
///   host is the `Host` header: the direct setup, where the browser opens
///   `http(s)://host:6080/` and noVNC's page is served by `--web`;
/// - behind a trusted reverse proxy (the caller says whether the TCP peer is
///   one), `X-Forwarded-Proto` / `X-Forwarded-Host` (or `Forwarded: proto=`,
///   `host=`) take their place, so nginx terminating TLS with
///   `proxy_set_header Host $http_host;` and
///   `proxy_set_header X-Forwarded-Proto $scheme;` works, and so does a proxy
///   that rewrites `Host` but sends `X-Forwarded-Host`.
///
/// Scheme and host compare case-insensitively and a default port equals an
/// omitted one (`https://h:443` is `https://h`), as browsers normalise them.
///
/// A request **without** `Origin` is allowed under every policy: only browsers
/// send it, and a non-browser client (websockify's own tests, noVNC's native
/// apps, `websocat`) could send any value anyway, so refusing it would break
/// those clients without stopping anyone. What the check stops is a browser
/// being used against the user, and browsers always send the header.
///
/// This default differs from Python (no check) on purpose. It keeps the two
/// documented setups working and refuses what nothing legitimate does: a page
/// from another site. A portal that embeds noVNC from another origin lists
/// that origin explicitly; `*` restores Python's behaviour.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    kind: Kind,
}

#[derive(Clone, Default, PartialEq, Eq)]
enum Kind {
    #[default]
    SameOrigin,
    Any,
    List(Vec<Origin>),
}

impl OriginPolicy {
    /// The default: same origin as the request (see the type's documentation).
    pub fn same_origin() -> Self {
        OriginPolicy {
            kind: Kind::SameOrigin,
        }
    }

    /// `*`: every origin, as Python websockify without `ExpectOrigin`.
    pub fn any() -> Self {
        OriginPolicy { kind: Kind::Any }
    }

    /// The allowed-origins option: exact origins (`https://vnc.example.com`,
    /// `http://10.0.0.5:6080`; a trailing `/` is dropped), or `*` alone. The
    /// literal `null` (sandboxed frames, `file://` pages) matches only if
    /// listed. An empty list or a malformed entry is an error naming it.
    pub fn from_list<S: AsRef<str>>(entries: &[S]) -> anyhow::Result<Self> {
        let entries: Vec<&str> = entries.iter().map(|e| e.as_ref().trim()).collect();
        if entries.is_empty() {
            bail!(
                "allowed-origins is empty (leave it out for the same-origin default, or use \"*\")"
            );
        }
        if entries.contains(&"*") {
            if entries.len() > 1 {
                bail!("allowed-origins: \"*\" must be the only entry");
            }
            return Ok(Self::any());
        }
        let list = entries
            .iter()
            .map(|e| {
                let e_trimmed = e.strip_suffix('/').unwrap_or(e);
                Origin::parse(e_trimmed).with_context(|| {
                    format!("allowed-origins: {e:?} is not an origin like https://host[:port]")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(OriginPolicy {
            kind: Kind::List(list),
        })
    }

    /// Ok(()) or 403. `tls`: the connection to us is TLS. `from_trusted_proxy`:
    /// the TCP peer is a configured trusted proxy, so its `X-Forwarded-*`
    /// headers describe what the browser used.
    pub fn check(
        &self,
        headers: &HeaderMap,
        tls: bool,
        from_trusted_proxy: bool,
    ) -> Result<(), Refusal> {
        let mut values = headers.get_all(header::ORIGIN).iter();
        let Some(value) = values.next() else {
            return Ok(());
        };
        if matches!(self.kind, Kind::Any) {
            return Ok(());
        }
        let bad = || Refusal::forbidden("Origin not allowed");
        if values.next().is_some() {
            return Err(Refusal::forbidden("more than one Origin header"));
        }
        let origin = value
            .to_str()
            .ok()
            .and_then(Origin::parse)
            .ok_or_else(bad)?;
        match &self.kind {
            Kind::Any => Ok(()),
            Kind::List(list) if list.contains(&origin) => Ok(()),
            Kind::List(_) => Err(bad()),
            Kind::SameOrigin => match request_origin(headers, tls, from_trusted_proxy) {
                Some(own) if own == origin => Ok(()),
                Some(_) => Err(Refusal::forbidden(
                    "Origin is not this server (behind a reverse proxy: send Host $http_host and \
                     X-Forwarded-Proto, and list the proxy as trusted)",
                )),
                None => Err(Refusal::forbidden(
                    "no usable Host header to compare the Origin with",
                )),
            },
        }
    }
}

impl fmt::Debug for OriginPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::SameOrigin => f.write_str("OriginPolicy::SameOrigin"),
            Kind::Any => f.write_str("OriginPolicy::Any"),
            Kind::List(list) => f.debug_tuple("OriginPolicy::List").field(list).finish(),
        }
    }
}

/// This server's origin as the browser addressed it.
fn request_origin(headers: &HeaderMap, tls: bool, from_trusted_proxy: bool) -> Option<Origin> {
    let proxied = |v: Option<String>| v.filter(|_| from_trusted_proxy);
    let scheme = proxied(forwarded::forwarded_proto(headers))
        .unwrap_or_else(|| if tls { "https" } else { "http" }.to_owned());
    let host = proxied(forwarded::forwarded_host(headers))
        .or_else(|| headers.get(header::HOST)?.to_str().ok().map(str::to_owned))?;
    Origin::parse(&format!("{scheme}://{}", host.trim()))
}

/// A serialised origin, normalised: lowercase scheme and host, explicit
/// port (the scheme's default when omitted). `null` is kept as opaque.
#[derive(Clone, PartialEq, Eq)]
enum Origin {
    Tuple {
        scheme: String,
        host: String,
        port: Option<u16>,
    },
    Null,
}

impl Origin {
    fn parse(s: &str) -> Option<Origin> {
        if s == "null" {
            return Some(Origin::Null);
        }
        let (scheme, authority) = s.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !scheme_ok || authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ', '\\'])
        {
            return None;
        }
        let (host, port) = match authority.rfind(':') {
            Some(i) if !authority[i..].contains(']') => {
                (&authority[..i], Some(&authority[i + 1..]))
            }
            _ => (authority, None),
        };
        if host.is_empty() || (host.starts_with('[') != host.ends_with(']')) {
            return None;
        }
        let default = match scheme.as_str() {
            "http" | "ws" => Some(80),
            "https" | "wss" => Some(443),
            _ => None,
        };
        let port = match port {
            Some(p) if !p.is_empty() => Some(p.parse::<u16>().ok()?),
            _ => default,
        };
        Some(Origin::Tuple {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Null => f.write_str("null"),
            Origin::Tuple {
                scheme,
                host,
                port: Some(p),
            } => write!(f, "{scheme}://{host}:{p}"),
            Origin::Tuple {
                scheme,
                host,
                port: None,
            } => write!(f, "{scheme}://{host}"),
        }
    }
}

#[cfg(test)]
#[path = "origin_tests.rs"]
mod tests;
