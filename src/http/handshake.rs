//! WebSocket upgrade checks and subprotocol choice (RFC 6455 section 4.2),
//! kept apart from I/O so each rule is unit tested.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Version};
use thiserror::Error;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

pub use crate::session::Mode;

/// What the handshake agreed on.
#[derive(Debug, PartialEq, Eq)]
pub struct Accepted {
    /// Value of `Sec-WebSocket-Accept`.
    pub accept_key: String,
    /// The subprotocol to echo, if the client offered any we speak.
    pub protocol: Option<&'static str>,
    /// The payload encoding that follows from it.
    pub mode: Mode,
}

/// Why an upgrade request was refused with 400.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum HandshakeError {
    /// Upgrades are GET over HTTP/1.1.
    #[error("WebSocket upgrade must be an HTTP/1.1 GET")]
    NotGet,
    /// `Connection` lacks the `upgrade` token.
    #[error("missing 'Connection: Upgrade'")]
    NoConnectionUpgrade,
    /// No `Sec-WebSocket-Key`.
    #[error("missing Sec-WebSocket-Key")]
    MissingKey,
    /// A version other than 13 (7 and 8 frame the same way and are accepted too).
    #[error("unsupported Sec-WebSocket-Version {0:?} (supported: 13)")]
    BadVersion(String),
    /// Subprotocols were offered, none of which we speak.
    #[error("unsupported subprotocol {0:?} (supported: binary, base64)")]
    BadProtocol(String),
}

/// True when the request asks to become a WebSocket: such requests never
/// reach the static file server, whatever their path.
pub fn is_upgrade<B>(req: &Request<B>) -> bool {
    has_token(req.headers(), header::UPGRADE, "websocket")
}

/// Checks an upgrade request and picks the subprotocol.
pub fn accept<B>(req: &Request<B>) -> Result<Accepted, HandshakeError> {
    if req.method() != Method::GET || req.version() != Version::HTTP_11 {
        return Err(HandshakeError::NotGet);
    }
    let headers = req.headers();
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return Err(HandshakeError::NoConnectionUpgrade);
    }
    let version = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
        .unwrap_or_default();
    if !matches!(version.as_str(), "13" | "8" | "7") {
        return Err(HandshakeError::BadVersion(version));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .map(HeaderValue::as_bytes)
        .filter(|k| !k.is_empty())
        .ok_or(HandshakeError::MissingKey)?;
    let (protocol, mode) = choose_protocol(headers)?;
    Ok(Accepted {
        accept_key: derive_accept_key(key),
        protocol,
        mode,
    })
}

/// `binary` wins whenever offered; `base64` only when it is the only thing we
/// speak among the offers; no offer means plain binary frames, as current noVNC
/// expects. Unlike Python websockify, whitespace and order do not matter.
fn choose_protocol(headers: &HeaderMap) -> Result<(Option<&'static str>, Mode), HandshakeError> {
    let mut offers = Vec::new();
    for value in headers.get_all(header::SEC_WEBSOCKET_PROTOCOL) {
        let value = String::from_utf8_lossy(value.as_bytes());
        let names = value.split(',').map(str::trim).filter(|p| !p.is_empty());
        offers.extend(names.map(str::to_owned));
    }
    if offers.is_empty() {
        Ok((None, Mode::Binary))
    } else if offers.iter().any(|p| p.eq_ignore_ascii_case("binary")) {
        Ok((Some("binary"), Mode::Binary))
    } else if offers.iter().any(|p| p.eq_ignore_ascii_case("base64")) {
        Ok((Some("base64"), Mode::Base64))
    } else {
        Err(HandshakeError::BadProtocol(offers.join(", ")))
    }
}

/// Whether a comma-separated header contains `token`, ignoring case and spaces.
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upgrade(protocols: &[&str]) -> Request<()> {
        let mut req = Request::get("/websockify")
            .header("Upgrade", "websocket")
            .header("Connection", "keep-alive, Upgrade")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
        for p in protocols {
            req = req.header("Sec-WebSocket-Protocol", *p);
        }
        req.body(()).unwrap()
    }

    #[test]
    fn rfc_sample_key() {
        let a = accept(&upgrade(&[])).unwrap();
        assert_eq!(a.accept_key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!((a.protocol, a.mode), (None, Mode::Binary));
    }

    #[test]
    fn binary_preferred_in_any_order_and_spacing() {
        for offer in [
            &["binary, base64"][..],
            &["base64 ,binary"],
            &["base64", " binary "],
        ] {
            let a = accept(&upgrade(offer)).unwrap();
            assert_eq!(
                (a.protocol, a.mode),
                (Some("binary"), Mode::Binary),
                "{offer:?}"
            );
        }
    }

    #[test]
    fn base64_alone_is_spoken() {
        let a = accept(&upgrade(&["base64"])).unwrap();
        assert_eq!((a.protocol, a.mode), (Some("base64"), Mode::Base64));
    }

    #[test]
    fn unknown_protocol_refused() {
        assert!(matches!(
            accept(&upgrade(&["chat, superchat"])),
            Err(HandshakeError::BadProtocol(_))
        ));
    }

    #[test]
    fn missing_key_and_bad_version_refused() {
        let mut req = upgrade(&[]);
        req.headers_mut().remove("Sec-WebSocket-Key");
        assert_eq!(accept(&req), Err(HandshakeError::MissingKey));
        let mut req = upgrade(&[]);
        req.headers_mut()
            .insert("Sec-WebSocket-Version", HeaderValue::from_static("12"));
        assert!(matches!(accept(&req), Err(HandshakeError::BadVersion(_))));
        let mut req = upgrade(&[]);
        req.headers_mut().remove("Connection");
        assert_eq!(accept(&req), Err(HandshakeError::NoConnectionUpgrade));
    }
}
