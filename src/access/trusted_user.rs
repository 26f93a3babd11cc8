//! `trusted-user-header`: the user as a front end that already logged the
//! client in names it (nginx `auth_request` setting `X-Remote-User`, say).
//! The header is believed only from a peer in `trusted-proxies` (or
//! `trusted-unix-peers`): any client can write it, so from anyone else it is
//! ignored, with a log line, and the request has no user. With this option
//! every request needs a user: none is 401, so a client that reaches the
//! proxy around the front end gets nothing.

use std::net::IpAddr;

use anyhow::Context;
use http::header::HeaderName;
use http::{HeaderMap, StatusCode};
use log::Level;

use super::{refusal_log, users, Refusal};
use crate::defaults::MAX_FRONT_USER_LEN;

/// The reason of the 401 for a request no trusted front end named a user for.
pub const NO_USER: &str = "login required";

/// The header a trusted front end names the user in.
#[derive(Debug, Clone)]
pub struct TrustedUser {
    header: HeaderName,
}

impl TrustedUser {
    /// `trusted-user-header = name`.
    pub fn new(name: &str) -> anyhow::Result<Self> {
        let header =
            HeaderName::try_from(name).with_context(|| format!("{name:?} is no header name"))?;
        Ok(Self { header })
    }

    /// The header's name.
    pub fn header(&self) -> &HeaderName {
        &self.header
    }

    /// The user the front end named, when `trusted` (the peer may speak for
    /// the client); otherwise, or without one, the refusal, logged.
    pub fn user(
        &self,
        headers: &HeaderMap,
        trusted: bool,
        client: &str,
        key: IpAddr,
    ) -> Result<Option<String>, Refusal> {
        let header = &self.header;
        let why = if !trusted {
            if !headers.contains_key(header) {
                format!("no user (no {header} from a trusted proxy)")
            } else {
                format!("{header} from a peer not in trusted-proxies is ignored")
            }
        } else {
            match header_user(headers, header) {
                Ok(Some(user)) => return Ok(Some(user)),
                Ok(None) => format!("the trusted proxy sent no {header}"),
                Err(e) => format!("the trusted proxy's {header} {e}"),
            }
        };
        refusal_log::log(
            key,
            Level::Warn,
            format_args!("{client}: refused: 401: {why}"),
        );
        Err(Refusal::new(StatusCode::UNAUTHORIZED, NO_USER))
    }
}

/// The user named in header `name`: `None` when it is absent or empty;
/// `Err` (words for the log, never the value) when it is there more than
/// once, not UTF-8, holds control characters or is too long.
pub fn header_user(headers: &HeaderMap, name: &HeaderName) -> Result<Option<String>, String> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("came more than once".into());
    }
    let user = std::str::from_utf8(value.as_bytes())
        .map_err(|_| "is not UTF-8".to_owned())?
        .trim();
    if user.chars().any(char::is_control) {
        return Err(format!("holds control characters ({})", users::shown(user)));
    }
    if user.len() > MAX_FRONT_USER_LEN {
        return Err(format!("is longer than {MAX_FRONT_USER_LEN} bytes"));
    }
    Ok((!user.is_empty()).then(|| user.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(values: &[&'static [u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            let v = HeaderValue::from_bytes(v).expect("header value");
            h.append("x-remote-user", v);
        }
        h
    }

    #[test]
    fn header_user_is_one_clean_value() {
        let name = HeaderName::from_static("x-remote-user");
        assert_eq!(
            header_user(&with(&[b"alice"]), &name),
            Ok(Some("alice".into()))
        );
        assert_eq!(header_user(&with(&[b" "]), &name), Ok(None));
        assert_eq!(header_user(&with(&[]), &name), Ok(None));
        assert!(header_user(&with(&[b"alice", b"bob"]), &name).is_err());
        assert!(header_user(&with(&[b"a\tb"]), &name).is_err());
        assert!(header_user(&with(&[b"\xff"]), &name).is_err());
        let long: &'static [u8] = Box::leak(vec![b'a'; MAX_FRONT_USER_LEN + 1].into_boxed_slice());
        assert!(header_user(&with(&[long]), &name).is_err());
    }

    #[test]
    fn believed_only_from_trusted_peers() {
        let t = TrustedUser::new("X-Remote-User").expect("valid");
        let key = IpAddr::from([192, 0, 2, 9]);
        let h = with(&[b"alice"]);
        assert_eq!(t.user(&h, true, "c", key), Ok(Some("alice".into())));
        let r = t.user(&h, false, "c", key).expect_err("not trusted");
        assert_eq!(
            (r.status, r.www_authenticate),
            (StatusCode::UNAUTHORIZED, false)
        );
        assert!(t.user(&HeaderMap::new(), true, "c", key).is_err());
        assert!(TrustedUser::new("not a header").is_err());
    }
}
