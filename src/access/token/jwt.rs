//! `JWTTokenApi`: the token is itself a signed JWT (JWS) whose claims `host`
//! and `port` are the target. A `vnc_password` claim is refused (see
//! [`NO_PASSWORD_CLAIM`]).
//!
//! The source is a key file, read once at start: a PEM public key (RSA:
//! RS*/PS*, EC: ES256/ES384, Ed25519: EdDSA), or else a symmetric key for
//! HS256/384/512 written the way Python's jwcrypto reads it, as the
//! base64url `k` of an `oct` JWK. `nbf` and `exp` are honoured with
//! [`CLOCK_SKEW`] of slack. A bad signature, an expired token or garbage is
//! an unknown token (the reason is logged at debug). Encrypted tokens (JWE)
//! are refused with an error: no well-kept Rust crate decrypts the RSA-OAEP
//! + A256CBC-HS512 tokens Python's users make without OpenSSL.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::{redact, target_from_pair, TokenError, TokenTarget};

/// Slack for clocks that disagree between the token issuer and this host.
pub(super) const CLOCK_SKEW: f64 = 30.0;

/// Why a token with a `vnc_password` claim is refused rather than used: a
/// JWS is signed, not encrypted, so its claims are readable by whoever holds
/// the token, the browser's user first. The password belongs in a source
/// only the proxy reads (a `JSONTokenApi` answer, a `TokenRedis` value).
const NO_PASSWORD_CLAIM: &str = "a \"vnc_password\" claim is refused: a signed JWT is \
     readable by whoever holds it (the browser's user), so the password would not be secret; \
     JSONTokenApi and TokenRedis can carry it instead";

/// Shortest HMAC key accepted: jwcrypto refuses HS256 with less, and a short
/// shared secret can be brute-forced from one token.
const MIN_SECRET: usize = 32;

/// base64url as jwcrypto (Python's base64) decodes a JWK `k`: padding
/// optional, and unused low bits of the last character ignored (Python's
/// own test key, 51 characters long, has some set).
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

#[derive(Clone)]
pub(super) struct JwtTokenApi {
    path: PathBuf,
    key: Arc<DecodingKey>,
    /// The algorithms the key can check; a token naming another is refused
    /// (so a public key is never used as an HMAC secret).
    algorithms: &'static [Algorithm],
}

impl JwtTokenApi {
    pub(super) fn new(source: &str) -> anyhow::Result<Self> {
        super::jwt_ring::install();
        let bytes =
            std::fs::read(source).with_context(|| anyhow::anyhow!("JWT key file {source}"))?;
        let (key, algorithms) =
            load_key(&bytes).with_context(|| anyhow::anyhow!("JWT key file {source}"))?;
        Ok(Self {
            path: source.into(),
            key: Arc::new(key),
            algorithms,
        })
    }

    pub(super) fn lookup(&self, token: &str) -> Result<Option<TokenTarget>, TokenError> {
        if is_jwe(token) {
            return Err(TokenError::Unsupported(
                "encrypted JWT (JWE) tokens are not supported; send a signed JWT (JWS)".into(),
            ));
        }
        let claims = match self.verify(token) {
            Ok(claims) => claims,
            Err(why) => {
                log::debug!("JWT token {} refused: {why}", redact(token));
                return Ok(None);
            }
        };
        let bad = |reason: anyhow::Error| TokenError::BadData {
            origin: self.path.display().to_string(),
            token: redact(token),
            reason: format!("signed JWT: {reason:#}"),
        };
        if claims.get("vnc_password").is_some() {
            return Err(bad(anyhow::anyhow!(NO_PASSWORD_CLAIM)));
        }
        target_from_pair(&claims["host"], &claims["port"])
            .map(Some)
            .map_err(bad)
    }

    /// The claims of a validly signed token inside its time window.
    fn verify(&self, token: &str) -> anyhow::Result<Value> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| anyhow::anyhow!("header: {e}"))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(anyhow::anyhow!(
                "algorithm {:?} does not fit the key",
                header.alg
            ));
        }
        let mut validation = Validation::new(header.alg);
        // Times are checked below, Python's way (numbers, optional).
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Value>(token, &self.key, &validation)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        check_times(&data.claims, unix_now())?;
        Ok(data.claims)
    }
}

impl fmt::Display for JwtTokenApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JWTTokenApi {}", self.path.display())
    }
}

/// A JWE in compact form: five parts, the first a JSON header naming an
/// `enc`ryption. (Five dots of garbage are just an unknown token.)
fn is_jwe(token: &str) -> bool {
    let mut parts = token.split('.');
    let header = parts.next().unwrap_or_default();
    if parts.count() != 4 {
        return false;
    }
    B64URL
        .decode(header)
        .ok()
        .and_then(|json| serde_json::from_slice::<Value>(&json).ok())
        .is_some_and(|h| h.get("enc").is_some())
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `nbf` and `exp`, when present, must be numbers (integer or not, as in
/// Python) and `now` inside them give or take [`CLOCK_SKEW`]. A claim of the
/// wrong type is a refusal, never a skipped check.
fn check_times(claims: &Value, now: f64) -> anyhow::Result<()> {
    let time = |name: &str| match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| anyhow::anyhow!("{name} is not a number")),
    };
    if let Some(nbf) = time("nbf")? {
        if now + CLOCK_SKEW < nbf {
            return Err(anyhow::anyhow!(
                "not valid for another {:.0} s (nbf)",
                nbf - now
            ));
        }
    }
    if let Some(exp) = time("exp")? {
        if now - CLOCK_SKEW > exp {
            return Err(anyhow::anyhow!("expired {:.0} s ago (exp)", now - exp));
        }
    }
    Ok(())
}

/// A PEM public key, or a base64url symmetric key; with the algorithms it checks.
fn load_key(bytes: &[u8]) -> anyhow::Result<(DecodingKey, &'static [Algorithm])> {
    use Algorithm::*;
    let text = std::str::from_utf8(bytes)
        .map_err(|_| anyhow!("neither a PEM key nor a base64url symmetric key (not text)"))?
        .trim();
    let Some(pem) = text.strip_prefix("-----BEGIN ") else {
        // jwcrypto also takes the standard alphabet's `+` and `/`.
        let k = text
            .trim_end_matches('=')
            .replace('+', "-")
            .replace('/', "_");
        let secret = B64URL.decode(k).map_err(|e| {
            anyhow!(
                "not a PEM public key, and not a symmetric key in base64url \
                 (the JWK \"k\" form Python's jwcrypto reads): {e}"
            )
        })?;
        if secret.len() < MIN_SECRET {
            bail!(
                "symmetric key is {} bytes; at least {MIN_SECRET} are needed",
                secret.len()
            );
        }
        return Ok((DecodingKey::from_secret(&secret), &[HS256, HS384, HS512]));
    };
    let label = pem.split("-----").next().unwrap_or_default();
    const RSA: &[Algorithm] = &[RS256, RS384, RS512, PS256, PS384, PS512];
    match label {
        "RSA PUBLIC KEY" => Ok((DecodingKey::from_rsa_pem(bytes)?, RSA)),
        "PUBLIC KEY" => {
            if let Ok(key) = DecodingKey::from_rsa_pem(bytes) {
                Ok((key, RSA))
            } else if let Ok(key) = DecodingKey::from_ec_pem(bytes) {
                Ok((key, &[ES256, ES384]))
            } else if let Ok(key) = DecodingKey::from_ed_pem(bytes) {
                Ok((key, &[EdDSA]))
            } else {
                bail!("PEM public key is not an RSA, EC or Ed25519 key")
            }
        }
        l if l.contains("PRIVATE KEY") => bail!(
            "holds a private key ({l}); give the public key instead \
             (openssl pkey -in KEY -pubout)"
        ),
        l => bail!("PEM {l:?} is not a public key"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times() {
        let now = 1000.0;
        assert!(check_times(&json!({}), now).is_ok());
        assert!(check_times(&json!({"nbf": 900, "exp": 1100}), now).is_ok());
        assert!(
            check_times(&json!({"nbf": 1020.5}), now).is_ok(),
            "within skew"
        );
        assert!(
            check_times(&json!({"exp": 980}), now).is_ok(),
            "within skew"
        );
        assert!(check_times(&json!({"nbf": 1031}), now).is_err());
        assert!(check_times(&json!({"exp": 969}), now).is_err());
        assert!(check_times(&json!({"exp": "2000"}), now).is_err());
        assert!(check_times(&json!({"nbf": null}), now).is_err());
    }

    #[test]
    fn symmetric_keys_are_base64url_like_jwcrypto() {
        // Python's own fixture, tests/fixtures/symmetric.key.
        let k = "secret_sauce_secret_sauce_secret_sauce_secret_sauce";
        assert!(load_key(k.as_bytes()).is_ok());
        assert!(load_key(format!("{k}\n").as_bytes()).is_ok());
        assert!(load_key(b"short").is_err());
        assert!(load_key(b"not base64 at all!").is_err());
        assert!(load_key(b"\xff\xfe").is_err());
        assert!(load_key(b"").is_err());
    }

    #[test]
    fn pem_labels() {
        let err = |pem: &str| load_key(pem.as_bytes()).err().unwrap().to_string();
        assert!(
            err("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .contains("private key")
        );
        assert!(
            err("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .contains("not a public key")
        );
        assert!(
            err("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
                .contains("not an RSA")
        );
    }
}
