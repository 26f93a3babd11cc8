//! `auth-request`: forward authentication with nginx `auth_request`
//! semantics, for sites that already run oauth2-proxy, Authelia or
//! Authentik. For each page request and each upgrade the proxy sends a GET
//! to the auth service with the browser's `Cookie` and `Authorization`
//! headers and where the request was going (`X-Original-URI`,
//! `X-Forwarded-Uri`, `-Host`, `-Proto`): a 2xx lets it in, as the user the
//! answer's `auth-request-user-header` names; 401 means "sign in first",
//! 403 "refused"; anything else, no answer in time or a redirect (never
//! followed) fails closed.
//!
//! With `auth-request-allowed-groups`, a 2xx lets in only a member of one
//! of those groups, as the answer's `auth-request-groups-header` lists them.
//!
//! Bounded: [`AUTH_REQUEST_TIMEOUT`] for an answer, [`AUTH_REQUESTS_AT_ONCE`]
//! sub-requests in flight, and answers shared for a few seconds
//! ([`forward_cache`](super::forward_cache)).

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use http::header::{HeaderName, AUTHORIZATION, COOKIE, USER_AGENT};
use http::{HeaderMap, HeaderValue, Request, StatusCode, Uri};
use http_body_util::Empty;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use tokio::sync::Semaphore;

use super::forward_cache::Cache;
use super::token::api::{client, error_chain};
use super::trusted_user::header_user;
use crate::defaults::{AUTH_REQUESTS_AT_ONCE, AUTH_REQUEST_TIMEOUT, MAX_FRONT_USER_LEN};

/// Most groups read from one answer: a cached answer stays small.
const MAX_GROUPS: usize = 256;

/// The reason of the 401 for a request the auth service wants signed in
/// first: a page request with `auth-request-signin` is sent there instead.
pub const NOT_SIGNED_IN: &str = "sign in first";

/// The response header that names the user unless `auth-request-user-header`
/// says otherwise: oauth2-proxy's (with `--set-xauthrequest`). Authelia and
/// Authentik send `Remote-User`; set the option to that for them. Only the
/// one configured header is read, so a second one cannot name another user.
pub const DEFAULT_USER_HEADER: &str = "X-Auth-Request-User";

/// What the auth service answered about one set of credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: let in, as this user (`None`: the answer named none).
    Allowed(Option<String>),
    /// 401: not signed in.
    SignIn,
    /// 403: signed in, but refused.
    Denied,
    /// 2xx, but the user is in none of `auth-request-allowed-groups`
    /// (the user, and the groups the answer named).
    NotInGroups(Option<String>, Vec<String>),
}

/// Where the request was going, as the sub-request tells the auth service.
#[derive(Debug)]
pub struct Asked<'a> {
    /// The browser's request headers (only `Cookie` and `Authorization` go on).
    pub headers: &'a HeaderMap,
    /// The request target (path and query).
    pub uri: &'a Uri,
    /// The host the browser asked for.
    pub host: Option<String>,
    /// `http` or `https`, as the browser used.
    pub proto: String,
    /// The client's address (after trusted proxies).
    pub client_ip: IpAddr,
}

/// The response header that lists the user's groups unless
/// `auth-request-groups-header` says otherwise: oauth2-proxy's. Authelia
/// and Authentik send `Remote-Groups`. Groups are separated by commas.
pub const DEFAULT_GROUPS_HEADER: &str = "X-Auth-Request-Groups";

/// One `auth-request` setup, its client, bound and cache; `Debug` shows
/// only the service's scheme, host and port.
pub struct ForwardAuth {
    url: Uri,
    origin: String,
    signin: Option<String>,
    user_header: HeaderName,
    groups_header: HeaderName,
    /// `auth-request-allowed-groups`: a 2xx lets in only members of these.
    allowed_groups: Option<BTreeSet<String>>,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    at_once: Semaphore,
    cache: Cache<Verdict>,
    timeout: Duration,
}

impl fmt::Debug for ForwardAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardAuth")
            .field("origin", &self.origin)
            .field("user_header", &self.user_header)
            .finish_non_exhaustive()
    }
}

impl ForwardAuth {
    /// `auth-request = url`, `auth-request-signin = signin`,
    /// `auth-request-user-header = user_header`. Errors never repeat the
    /// URLs' paths or queries (they may hold a key).
    pub fn new(url: &str, signin: Option<&str>, user_header: Option<&str>) -> anyhow::Result<Self> {
        let (url, origin, https) = parse_url(url).context("auth-request")?;
        if let Some(signin) = signin {
            let relative = signin.starts_with('/') && !signin.starts_with("//");
            if !relative {
                parse_url(signin).context("auth-request-signin")?;
            }
        }
        let name = user_header.unwrap_or(DEFAULT_USER_HEADER);
        let user_header = HeaderName::try_from(name)
            .with_context(|| format!("auth-request-user-header: {name:?} is no header name"))?;
        Ok(Self {
            url,
            origin,
            signin: signin.map(str::to_owned),
            user_header,
            groups_header: HeaderName::from_static("x-auth-request-groups"),
            allowed_groups: None,
            client: client(https, AUTH_REQUEST_TIMEOUT)?,
            at_once: Semaphore::new(AUTH_REQUESTS_AT_ONCE),
            cache: Cache::default(),
            timeout: AUTH_REQUEST_TIMEOUT,
        })
    }

    /// `auth-request-timeout`: how long an answer (and a free slot for the
    /// sub-request) may take before the request gets 503.
    pub fn with_timeout(mut self, timeout: Duration) -> anyhow::Result<Self> {
        let https = self.url.scheme_str() == Some("https");
        self.client = client(https, timeout)?;
        self.timeout = timeout;
        Ok(self)
    }

    /// `auth-request-groups-header = header` and
    /// `auth-request-allowed-groups = allowed`: only members of one of
    /// these groups (as the answer's header lists them) are let in.
    pub fn with_groups(
        mut self,
        header: Option<&str>,
        allowed: Option<Vec<String>>,
    ) -> anyhow::Result<Self> {
        if let Some(name) = header {
            self.groups_header = HeaderName::try_from(name).with_context(|| {
                format!("auth-request-groups-header: {name:?} is no header name")
            })?;
        }
        self.allowed_groups = allowed.map(|list| list.into_iter().collect());
        Ok(self)
    }

    /// The auth service as logs show it: `scheme://host:port`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The verdict on these credentials, remembered or asked; `Err` (why,
    /// for the log) when the service gave no usable answer in time.
    pub async fn check(&self, asked: &Asked<'_>) -> Result<Verdict, String> {
        let parts = asked
            .headers
            .get_all(COOKIE)
            .iter()
            .map(HeaderValue::as_bytes);
        let auth = asked.headers.get_all(AUTHORIZATION).iter();
        // A separator no header value holds keeps the two lists apart.
        let key = self.cache.key(
            parts
                .chain([b"\n".as_slice()])
                .chain(auth.map(HeaderValue::as_bytes)),
        );
        let asking = self.cache.get_or_ask(key, || self.ask(asked));
        match tokio::time::timeout(self.timeout, asking).await {
            Ok(verdict) => verdict,
            Err(_) => Err(format!("no answer within {} s", self.timeout.as_secs())),
        }
    }

    /// One sub-request, once one of the [`AUTH_REQUESTS_AT_ONCE`] is free.
    async fn ask(&self, asked: &Asked<'_>) -> Result<Verdict, String> {
        let _permit = self.at_once.acquire().await.map_err(|e| e.to_string())?;
        let request = self.request(asked).map_err(|e| e.to_string())?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| error_chain(&e))?;
        match response.status() {
            s if s.is_success() => self
                .allowed(response.headers())
                .map_err(|e| format!("answered {s} with a {e}")),
            StatusCode::UNAUTHORIZED => Ok(Verdict::SignIn),
            StatusCode::FORBIDDEN => Ok(Verdict::Denied),
            s if s.is_redirection() => Err(format!("answered {s}: redirects are not followed")),
            s => Err(format!("answered {s}")),
        }
    }

    /// The verdict on a 2xx answer with these headers: its user, if in
    /// one of the allowed groups; `Err` for a malformed user header.
    fn allowed(&self, headers: &HeaderMap) -> Result<Verdict, String> {
        let user = header_user(headers, &self.user_header)
            .map_err(|e| format!("{} that {e}", self.user_header))?;
        let Some(allowed) = &self.allowed_groups else {
            return Ok(Verdict::Allowed(user));
        };
        let groups = groups(headers, &self.groups_header);
        if groups.iter().any(|g| allowed.contains(g)) {
            Ok(Verdict::Allowed(user))
        } else {
            Ok(Verdict::NotInGroups(user, groups))
        }
    }

    /// The sub-request: the browser's credentials and where it was going.
    fn request(&self, asked: &Asked<'_>) -> Result<Request<Empty<Bytes>>, http::Error> {
        let target = asked.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = Request::get(self.url.clone())
            .header(
                USER_AGENT,
                concat!("websockify-rs/", env!("CARGO_PKG_VERSION")),
            )
            .header("X-Original-URI", target)
            .header("X-Forwarded-Uri", target)
            .header("X-Forwarded-Proto", asked.proto.as_str())
            .header("X-Forwarded-Method", "GET")
            .header("X-Forwarded-For", asked.client_ip.to_string());
        if let Some(host) = &asked.host {
            request = request.header("X-Forwarded-Host", host.as_str()).header(
                "X-Original-URL",
                format!("{}://{host}{target}", asked.proto),
            );
        }
        for name in [COOKIE, AUTHORIZATION] {
            for value in asked.headers.get_all(&name) {
                request = request.header(&name, value);
            }
        }
        request.body(Empty::new())
    }

    /// `auth-request-signin` with `original` (the page's own URL) as `rd=`;
    /// `None` without the option.
    pub fn sign_in_url(&self, original: Option<&str>) -> Option<String> {
        let signin = self.signin.as_deref()?;
        let Some(original) = original else {
            return Some(signin.to_owned());
        };
        let sep = if signin.contains('?') { '&' } else { '?' };
        let rd = utf8_percent_encode(original, NON_ALPHANUMERIC);
        Some(format!("{signin}{sep}rd={rd}"))
    }
}

/// The groups header `name` lists: every value, split at commas, trimmed;
/// at most [`MAX_GROUPS`] of them, each cut to [`MAX_FRONT_USER_LEN`].
fn groups(headers: &HeaderMap, name: &HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|g| !g.is_empty() && g.len() <= MAX_FRONT_USER_LEN)
        .take(MAX_GROUPS)
        .map(str::to_owned)
        .collect()
}

/// An `http://` or `https://` URL with a host and no user info: the URL, its
/// `scheme://host:port` for logs, and whether it is https.
fn parse_url(url: &str) -> anyhow::Result<(Uri, String, bool)> {
    let uri: Uri = url.parse().context("not a valid URL")?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => bail!("the URL must start with http:// or https://"),
    };
    let authority = uri.authority().context("the URL has no host")?;
    if authority.as_str().contains('@') {
        bail!("the URL must not hold a user name or password");
    }
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let origin = format!(
        "{}://{}:{port}",
        if https { "https" } else { "http" },
        authority.host()
    );
    Ok((uri, origin, https))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;

    #[test]
    fn urls_are_checked_and_logged_without_path() {
        let fa = ForwardAuth::new("http://127.0.0.1:4180/oauth2/auth?k=SECRET", None, None)
            .expect("valid");
        assert_eq!(fa.origin(), "http://127.0.0.1:4180");
        assert!(!format!("{fa:?}").contains("SECRET"));
        for bad in ["ftp://a/", "/oauth2/auth", "http://u:pw@a/", "http:///x"] {
            let err = ForwardAuth::new(bad, None, None).expect_err(bad);
            assert!(!format!("{err:#}").contains("pw"), "{err:#}");
        }
        assert!(ForwardAuth::new("http://a/", Some("//evil/"), None).is_err());
        assert!(ForwardAuth::new("http://a/", None, Some("Bad Header")).is_err());
    }

    /// At most `at_once` sub-requests reach the service; the others wait
    /// and fail closed at the timeout with them.
    #[tokio::test]
    async fn sub_requests_in_flight_are_capped() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/auth", silent.local_addr().expect("addr"));
        let mut fa = ForwardAuth::new(&url, None, None).expect("valid");
        fa.at_once = Semaphore::new(2);
        fa.timeout = Duration::from_millis(300);
        // The most requests in flight at once: a request counts from its
        // arrival until the client gives its connection up (hyper may finish
        // a connection in the background after its request was given up: no
        // request). A check that gets a permit freed by another's timeout may
        // still ask, before its own deadline: that is within the cap.
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (counter, peak) = (now.clone(), most.clone());
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = silent.accept().await {
                let (counter, peak) = (counter.clone(), peak.clone());
                tokio::spawn(async move {
                    let mut buf = [0; 1024];
                    if matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {
                        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(n, Ordering::SeqCst);
                        while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
                        counter.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        let uri: Uri = "/vnc.html".parse().expect("uri");
        let checks = (0..6).map(|i| {
            let mut headers = HeaderMap::new();
            let value = HeaderValue::from_str(&format!("s={i}")).expect("value");
            headers.insert(COOKIE, value);
            let fa = &fa;
            let uri = &uri;
            async move {
                let asked = Asked {
                    headers: &headers,
                    uri,
                    host: None,
                    proto: "http".into(),
                    client_ip: IpAddr::from([127, 0, 0, 1]),
                };
                fa.check(&asked).await
            }
        });
        let verdicts = futures_util::future::join_all(checks).await;
        assert!(verdicts
            .iter()
            .all(|v| v.as_ref().is_err_and(|e| e.contains("no answer"))));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(most.load(Ordering::SeqCst), 2, "the most in flight at once");
    }

    #[test]
    fn allowed_groups_are_checked_in_the_answer() {
        let fa = ForwardAuth::new("http://a/auth", None, None)
            .and_then(|fa| fa.with_groups(Some("Remote-Groups"), Some(vec!["vnc".into()])))
            .expect("valid");
        let mut h = HeaderMap::new();
        h.insert("x-auth-request-user", HeaderValue::from_static("alice"));
        h.insert("remote-groups", HeaderValue::from_static("staff, vnc"));
        assert_eq!(fa.allowed(&h), Ok(Verdict::Allowed(Some("alice".into()))));
        h.insert(
            "remote-groups",
            HeaderValue::from_static("staff,vnc-admins"),
        );
        assert_eq!(
            fa.allowed(&h),
            Ok(Verdict::NotInGroups(
                Some("alice".into()),
                vec!["staff".into(), "vnc-admins".into()]
            ))
        );
        h.remove("remote-groups");
        assert!(matches!(fa.allowed(&h), Ok(Verdict::NotInGroups(..))));
        let open = ForwardAuth::new("http://a/auth", None, None).expect("valid");
        assert_eq!(open.allowed(&h), Ok(Verdict::Allowed(Some("alice".into()))));
    }

    #[test]
    fn sign_in_carries_the_original_url() {
        let fa = ForwardAuth::new("http://a/auth", Some("/oauth2/start"), None).expect("valid");
        assert_eq!(
            fa.sign_in_url(Some("https://vnc.example/vnc.html?a=1"))
                .as_deref(),
            Some("/oauth2/start?rd=https%3A%2F%2Fvnc%2Eexample%2Fvnc%2Ehtml%3Fa%3D1")
        );
        let fa =
            ForwardAuth::new("http://a/auth", Some("https://sso/start?x=1"), None).expect("valid");
        assert_eq!(
            fa.sign_in_url(None).as_deref(),
            Some("https://sso/start?x=1")
        );
        assert!(fa
            .sign_in_url(Some("/"))
            .is_some_and(|u| u.contains("?x=1&rd=")));
        let none = ForwardAuth::new("http://a/auth", None, None).expect("valid");
        assert_eq!(none.sign_in_url(Some("/")), None);
    }
}
