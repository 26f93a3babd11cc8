//! Which host names an instance answers to (`server-names`): the defence
//! against DNS rebinding.
//!
//! A hostile page the user visits can point a name of its own at the
//! proxy's address; the browser then sends `Host: evil.example` with
//! `Origin: http://evil.example`, which the same-origin check accepts, since
//! both agree. Only the name tells such a request apart, so an instance
//! answers only to its own names. An IP address in `Host` is always
//! accepted: rebinding needs a name. Two `Host` headers are refused, as RFC
//! 9112 asks, under every policy.

use http::{header, HeaderMap, StatusCode};

use super::forwarded;
use super::Refusal;

/// The names an instance answers to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPolicy {
    /// Lowercase names (`*.example.com` matches one label or more below
    /// `example.com`); `None`: every name (`server-names = "*"`).
    names: Option<Vec<String>>,
}

impl HostPolicy {
    /// Every name, as before `server-names` existed.
    pub fn any() -> Self {
        Self { names: None }
    }

    /// These names; `*` alone means every name. An empty list or a name
    /// with a port, a scheme or a space is an error naming it.
    pub fn from_list<S: AsRef<str>>(entries: &[S]) -> anyhow::Result<Self> {
        let entries: Vec<&str> = entries.iter().map(|e| e.as_ref().trim()).collect();
        if entries.is_empty() {
            anyhow::bail!("server-names is empty (leave it out for the default, or use \"*\")");
        }
        if entries == ["*"] {
            return Ok(Self::any());
        }
        let mut names = Vec::new();
        for e in entries {
            let bare = e.strip_prefix("*.").unwrap_or(e);
            let ok = !bare.is_empty()
                && bare
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !ok {
                anyhow::bail!("server-names: {e:?} is not a host name like vnc.example.com");
            }
            names.push(e.to_ascii_lowercase());
        }
        Ok(Self { names: Some(names) })
    }

    /// The names, for `--check` and the start-up log (`None`: every name).
    pub fn names(&self) -> Option<&[String]> {
        self.names.as_deref()
    }

    /// Ok, 400 for two `Host` headers, or 421 for a name this instance does
    /// not answer to. Behind a trusted proxy, the name the browser used is
    /// its `X-Forwarded-Host` (or `Forwarded: host=`) when it sends one.
    pub fn check(&self, headers: &HeaderMap, from_trusted_proxy: bool) -> Result<(), Refusal> {
        let mut hosts = headers.get_all(header::HOST).iter();
        let first = hosts.next();
        if hosts.next().is_some() {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "more than one Host header",
            ));
        }
        let Some(names) = &self.names else {
            return Ok(());
        };
        let forwarded = from_trusted_proxy
            .then(|| forwarded::forwarded_host(headers))
            .flatten();
        let host = match (forwarded, first.and_then(|v| v.to_str().ok())) {
            (Some(f), _) => f,
            (None, Some(h)) => h.to_owned(),
            // No Host: not a browser (HTTP/1.0 tools); nothing to rebind.
            (None, None) => return Ok(()),
        };
        let name = without_port(&host).to_ascii_lowercase();
        if name.parse::<std::net::IpAddr>().is_ok() || names.iter().any(|n| matches(n, &name)) {
            return Ok(());
        }
        Err(Refusal::new(
            StatusCode::MISDIRECTED_REQUEST,
            "this server does not answer to that name (server-names)",
        ))
    }
}

/// `name` without its `:port`, and an IPv6 literal without its brackets.
fn without_port(host: &str) -> &str {
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Whether `name` is `pattern`, or below it for `*.example.com`.
fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => name
            .strip_suffix(parent)
            .is_some_and(|below| below.len() > 1 && below.ends_with('.')),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn host(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::HOST, HeaderValue::from_static(v));
        }
        h
    }

    fn status(p: &HostPolicy, h: &HeaderMap, trusted: bool) -> u16 {
        p.check(h, trusted).err().map_or(200, |r| r.status.as_u16())
    }

    #[test]
    fn own_names_and_addresses_pass_and_others_get_421() {
        let p = HostPolicy::from_list(&["vnc.example.com", "*.desk.example"]).expect("valid");
        for ok in [
            "vnc.example.com",
            "VNC.example.com:6080",
            "a.desk.example",
            "b.c.desk.example:443",
            "192.0.2.7:6080",
            "[2001:db8::1]:6080",
        ] {
            assert_eq!(status(&p, &host(&[ok]), false), 200, "{ok}");
        }
        for bad in [
            "evil.example",
            "desk.example",
            "vnc.example.com.evil",
            "xdesk.example",
        ] {
            assert_eq!(status(&p, &host(&[bad]), false), 421, "{bad}");
        }
        assert_eq!(status(&p, &HeaderMap::new(), false), 200);
    }

    #[test]
    fn two_host_headers_are_refused_under_every_policy() {
        let two = host(&["a.example", "b.example"]);
        assert_eq!(status(&HostPolicy::any(), &two, false), 400);
        let p = HostPolicy::from_list(&["a.example"]).expect("valid");
        assert_eq!(status(&p, &two, false), 400);
    }

    #[test]
    fn a_trusted_proxy_names_the_host_the_browser_used() {
        let p = HostPolicy::from_list(&["vnc.example.com"]).expect("valid");
        let mut h = host(&["127.0.0.1:6080"]);
        h.insert("x-forwarded-host", HeaderValue::from_static("evil.example"));
        assert_eq!(status(&p, &h, true), 421);
        assert_eq!(
            status(&p, &h, false),
            200,
            "untrusted: its header is ignored"
        );
        h.insert(
            "x-forwarded-host",
            HeaderValue::from_static("vnc.example.com"),
        );
        assert_eq!(status(&p, &h, true), 200);
    }

    #[test]
    fn bad_lists_are_errors() {
        assert!(HostPolicy::from_list::<&str>(&[]).is_err());
        assert!(HostPolicy::from_list(&["https://a.example"]).is_err());
        assert!(HostPolicy::from_list(&["a.example:443"]).is_err());
        assert_eq!(
            HostPolicy::from_list(&["*"]).expect("any"),
            HostPolicy::any()
        );
    }
}
