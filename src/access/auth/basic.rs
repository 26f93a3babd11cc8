//! HTTP Basic credentials: parsing `Authorization` the way Python's
//! `BasicHTTPAuth` answers it, and the constant-time check of one `user:password`.

use std::fmt;

use anyhow::bail;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::{alphabet, Engine as _};
use http::{header, HeaderMap};
use ring::digest;
use subtle::ConstantTimeEq;

use super::Refusal;

/// Standard alphabet; padding optional, since some clients drop it and the
/// decoded bytes are the same either way.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A decoded `user:password` from the request. Bytes, not text: browsers send
/// UTF-8 today and some old ones Latin-1, and both sides of every comparison
/// here are bytes, so either works as long as the configured side matches.
pub(crate) struct Presented {
    bytes: Vec<u8>,
    colon: usize,
}

impl Presented {
    pub(crate) fn user(&self) -> &[u8] {
        &self.bytes[..self.colon]
    }

    pub(crate) fn password(&self) -> &[u8] {
        &self.bytes[self.colon + 1..]
    }
}

/// Reads `Authorization: Basic ...` as Python does: none → 401 with a
/// challenge; another scheme, bad base64 or no `:` → 403. The scheme name is
/// matched case-insensitively (RFC 7617), where Python wants `Basic ` exactly.
pub(crate) fn presented(headers: &HeaderMap) -> Result<Presented, Refusal> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(Refusal::demand_auth("authentication required"));
    };
    let malformed = || Refusal::forbidden("malformed Authorization header");
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, encoded) = value.trim().split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed());
    }
    let bytes = LENIENT_BASE64
        .decode(encoded.trim())
        .map_err(|_| malformed())?;
    let colon = bytes
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(malformed)?;
    Ok(Presented { bytes, colon })
}

/// One `user:password` (Python's `--auth-source` for `BasicHTTPAuth`).
/// Only its SHA-256 is kept, so neither a core dump nor `Debug` shows it, and
/// comparing two fixed-length digests in constant time hides the length too
/// (Python compares the strings with `==`).
#[derive(Clone)]
pub struct BasicCredentials {
    user: String,
    digest: [u8; 32],
}

impl BasicCredentials {
    /// Whether `user` is the one user these credentials name.
    pub fn names(&self, user: &str) -> bool {
        self.user == user
    }

    /// From `user:password`; the first `:` separates them, as in RFC 7617.
    pub fn new(source: &str) -> anyhow::Result<Self> {
        let Some((user, _)) = source.split_once(':') else {
            bail!("--auth-source for BasicHTTPAuth must be user:password");
        };
        Ok(BasicCredentials {
            user: user.to_owned(),
            digest: sha256(source.as_bytes()),
        })
    }

    /// The user name, or 401 when missing or wrong, 403 when malformed
    /// (see [`presented`]).
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<String, Refusal> {
        let presented = presented(headers)?;
        if bool::from(sha256(&presented.bytes).ct_eq(&self.digest)) {
            Ok(String::from_utf8_lossy(presented.user()).into_owned())
        } else {
            Err(Refusal::demand_auth(super::WRONG_CREDENTIALS))
        }
    }
}

impl fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BasicCredentials(<masked>)")
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderValue, StatusCode};

    fn auth(value: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(value).expect("header"),
        );
        h
    }

    fn basic(userpass: &str) -> HeaderMap {
        auth(
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(userpass)
            )
            .as_bytes(),
        )
    }

    fn creds() -> BasicCredentials {
        BasicCredentials::new("alice:pa:ss wörd").expect("valid")
    }

    #[test]
    fn right_credentials_pass() {
        assert_eq!(
            creds().check(&basic("alice:pa:ss wörd")),
            Ok("alice".into())
        );
        // Scheme case and missing padding do not matter.
        let enc = base64::engine::general_purpose::STANDARD_NO_PAD.encode("alice:pa:ss wörd");
        assert_eq!(
            creds().check(&auth(format!("basic  {enc}").as_bytes())),
            Ok("alice".into())
        );
    }

    #[test]
    fn missing_credentials_get_401_with_challenge() {
        let r = creds().check(&HeaderMap::new()).unwrap_err();
        assert_eq!(
            (r.status, r.www_authenticate),
            (StatusCode::UNAUTHORIZED, true)
        );
    }

    #[test]
    fn wrong_credentials_get_401_with_challenge() {
        for wrong in [
            "alice:pa:ss wörd ",
            "alice:",
            ":pa:ss wörd",
            "bob:pa:ss wörd",
            "alice:pa",
        ] {
            let r = creds().check(&basic(wrong)).unwrap_err();
            assert_eq!(
                (r.status, r.www_authenticate),
                (StatusCode::UNAUTHORIZED, true),
                "{wrong}"
            );
        }
    }

    #[test]
    fn malformed_credentials_get_403() {
        let cases: [&[u8]; 7] = [
            b"Bearer abc",
            b"Basic",
            b"Basic !!!notbase64",
            b"Basic YWxpY2U=", // "alice": no colon
            b"Basic ",
            b"Digest username=\"alice\"",
            b"Basic \xff\xfe",
        ];
        for value in cases {
            let r = creds().check(&auth(value)).unwrap_err();
            assert_eq!(
                (r.status, r.www_authenticate),
                (StatusCode::FORBIDDEN, false),
                "{value:?}"
            );
        }
    }

    #[test]
    fn source_needs_a_colon() {
        assert!(BasicCredentials::new("alice").is_err());
        assert!(BasicCredentials::new("alice:").is_ok());
    }

    #[test]
    fn debug_is_masked() {
        assert_eq!(format!("{:?}", creds()), "BasicCredentials(<masked>)");
    }

    #[test]
    fn the_whole_value_is_compared() {
        // What a test can show of the comparison (its timing it cannot): a
        // difference anywhere in `user:password`, first byte, last byte, or
        // length, refuses, and only the exact value passes. The comparison
        // itself is `subtle::ConstantTimeEq` over two SHA-256 digests, so
        // its length and no early exit do not depend on what was sent.
        let right = "alice:pa:ss wörd";
        let c = creds();
        assert!(c.check(&basic(right)).is_ok());
        let last = right.len() - 1; // 'd'
        for wrong in [
            format!("Alice{}", &right[5..]),
            format!("{}D", &right[..last]),
            right[..last].to_owned(),
            format!("{right}d"),
            format!("{right}\0"),
        ] {
            let r = c.check(&basic(&wrong)).unwrap_err();
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{wrong:?}");
        }
        let p = presented(&basic("x:y")).expect("well formed");
        assert_eq!((p.user(), p.password()), (&b"x"[..], &b"y"[..]));
    }
}
