//! jsonwebtoken's signatures on ring, the crypto stack rustls (TLS) and the
//! htpasswd and Basic checks already use: no second stack (RustCrypto's `rsa`,
//! `p256`, `ed25519-dalek`, ...) for JWT alone. jsonwebtoken is built without
//! a backend feature and this provider is installed once per process.
//!
//! A port of jsonwebtoken's own `aws_lc` provider (aws-lc-rs copies ring's
//! API): the same algorithms and key forms. RSA keys must have 2048 to 8192
//! bits, as there.

use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind, Result};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{self as sig, KeyPair};
use ring::{digest, hmac};

/// Installs the ring provider for this process, once; a provider installed
/// before (by a caller of the library) is kept.
pub fn install() {
    let _ = PROVIDER.install_default();
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    jwk_utils: JwkUtils {
        extract_rsa_public_key_components,
        extract_ec_public_key_coordinates,
        compute_digest,
    },
};

/// A failed signature (ring tells no more than that).
fn sig_err<E>(_: E) -> signature::Error {
    signature::Error::new()
}

fn wrong_key() -> Error {
    ErrorKind::InvalidKeyFormat.into()
}

/// What signs or verifies one algorithm.
enum Kind {
    Hmac(hmac::Algorithm),
    Rsa(&'static dyn sig::RsaEncoding, &'static sig::RsaParameters),
    Ec(
        &'static sig::EcdsaSigningAlgorithm,
        &'static sig::EcdsaVerificationAlgorithm,
    ),
    Ed,
}

fn kind(alg: Algorithm) -> Kind {
    use Algorithm::*;
    match alg {
        HS256 => Kind::Hmac(hmac::HMAC_SHA256),
        HS384 => Kind::Hmac(hmac::HMAC_SHA384),
        HS512 => Kind::Hmac(hmac::HMAC_SHA512),
        RS256 => Kind::Rsa(&sig::RSA_PKCS1_SHA256, &sig::RSA_PKCS1_2048_8192_SHA256),
        RS384 => Kind::Rsa(&sig::RSA_PKCS1_SHA384, &sig::RSA_PKCS1_2048_8192_SHA384),
        RS512 => Kind::Rsa(&sig::RSA_PKCS1_SHA512, &sig::RSA_PKCS1_2048_8192_SHA512),
        PS256 => Kind::Rsa(&sig::RSA_PSS_SHA256, &sig::RSA_PSS_2048_8192_SHA256),
        PS384 => Kind::Rsa(&sig::RSA_PSS_SHA384, &sig::RSA_PSS_2048_8192_SHA384),
        PS512 => Kind::Rsa(&sig::RSA_PSS_SHA512, &sig::RSA_PSS_2048_8192_SHA512),
        ES256 => Kind::Ec(
            &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            &sig::ECDSA_P256_SHA256_FIXED,
        ),
        ES384 => Kind::Ec(
            &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            &sig::ECDSA_P384_SHA384_FIXED,
        ),
        EdDSA => Kind::Ed,
    }
}

fn family(kind: &Kind) -> AlgorithmFamily {
    match kind {
        Kind::Hmac(_) => AlgorithmFamily::Hmac,
        Kind::Rsa(..) => AlgorithmFamily::Rsa,
        Kind::Ec(..) => AlgorithmFamily::Ec,
        Kind::Ed => AlgorithmFamily::Ed,
    }
}

enum SigningKey {
    Hmac(hmac::Key),
    Rsa(sig::RsaKeyPair, &'static dyn sig::RsaEncoding),
    Ec(sig::EcdsaKeyPair),
    Ed(sig::Ed25519KeyPair),
}

struct RingSigner(Algorithm, SigningKey);

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    let kind = kind(*alg);
    if key.family() != family(&kind) {
        return Err(wrong_key());
    }
    let der = key.inner();
    let signing = match kind {
        Kind::Hmac(h) => SigningKey::Hmac(hmac::Key::new(h, key.try_get_hmac_secret()?)),
        Kind::Rsa(encoding, _) => {
            let pair = sig::RsaKeyPair::from_der(der)
                .or_else(|_| sig::RsaKeyPair::from_pkcs8(der))
                .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?;
            SigningKey::Rsa(pair, encoding)
        }
        Kind::Ec(signing, _) => SigningKey::Ec(
            sig::EcdsaKeyPair::from_pkcs8(signing, der, &SystemRandom::new())
                .map_err(|_| ErrorKind::InvalidEcdsaKey)?,
        ),
        Kind::Ed => SigningKey::Ed(
            sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                .map_err(|_| ErrorKind::InvalidEddsaKey)?,
        ),
    };
    Ok(Box::new(RingSigner(*alg, signing)))
}

impl Signer<Vec<u8>> for RingSigner {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        let rng = SystemRandom::new();
        Ok(match &self.1 {
            SigningKey::Hmac(key) => hmac::sign(key, msg).as_ref().to_vec(),
            SigningKey::Rsa(pair, encoding) => {
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(*encoding, &rng, msg, &mut out).map_err(sig_err)?;
                out
            }
            SigningKey::Ec(pair) => pair.sign(&rng, msg).map_err(sig_err)?.as_ref().to_vec(),
            SigningKey::Ed(pair) => pair.sign(msg).as_ref().to_vec(),
        })
    }
}

impl JwtSigner for RingSigner {
    fn algorithm(&self) -> Algorithm {
        self.0
    }
}

struct RingVerifier(Algorithm, DecodingKey);

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    let kind = kind(*alg);
    if key.family() != family(&kind) {
        return Err(wrong_key());
    }
    if let Kind::Hmac(_) = kind {
        key.try_get_hmac_secret()?;
    }
    Ok(Box::new(RingVerifier(*alg, key.clone())))
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        let key = &self.1;
        match (kind(self.0), key.kind()) {
            (Kind::Hmac(h), _) => {
                let secret = key.try_get_hmac_secret().map_err(sig_err)?;
                hmac::verify(&hmac::Key::new(h, secret), msg, signature).map_err(sig_err)
            }
            (Kind::Rsa(_, params), DecodingKeyKind::RsaModulusExponent { n, e }) => {
                sig::RsaPublicKeyComponents { n, e }
                    .verify(params, msg, signature)
                    .map_err(sig_err)
            }
            (Kind::Rsa(_, params), DecodingKeyKind::SecretOrDer(der)) => {
                sig::UnparsedPublicKey::new(params, der)
                    .verify(msg, signature)
                    .map_err(sig_err)
            }
            (Kind::Ec(_, verification), _) => {
                sig::UnparsedPublicKey::new(verification, key.as_bytes())
                    .verify(msg, signature)
                    .map_err(sig_err)
            }
            (Kind::Ed, _) => sig::UnparsedPublicKey::new(&sig::ED25519, key.as_bytes())
                .verify(msg, signature)
                .map_err(sig_err),
        }
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.0
    }
}

fn extract_rsa_public_key_components(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let pair = sig::RsaKeyPair::from_der(der)
        .or_else(|_| sig::RsaKeyPair::from_pkcs8(der))
        .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?;
    let public = sig::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
    Ok((public.n, public.e))
}

fn extract_ec_public_key_coordinates(
    der: &[u8],
    alg: Algorithm,
) -> Result<(EllipticCurve, Vec<u8>, Vec<u8>)> {
    let (signing, curve, len) = match alg {
        Algorithm::ES256 => (
            &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            EllipticCurve::P256,
            32,
        ),
        Algorithm::ES384 => (
            &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            EllipticCurve::P384,
            48,
        ),
        _ => return Err(ErrorKind::InvalidEcdsaKey.into()),
    };
    let pair = sig::EcdsaKeyPair::from_pkcs8(signing, der, &SystemRandom::new())
        .map_err(|_| ErrorKind::InvalidEcdsaKey)?;
    let point = pair.public_key().as_ref();
    if point.first() != Some(&4) || point.len() != 1 + 2 * len {
        return Err(ErrorKind::InvalidEcdsaKey.into());
    }
    let (x, y) = point[1..].split_at(len);
    Ok((curve, x.to_vec(), y.to_vec()))
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Vec<u8> {
    let algorithm = match hash {
        ThumbprintHash::SHA256 => &digest::SHA256,
        ThumbprintHash::SHA384 => &digest::SHA384,
        ThumbprintHash::SHA512 => &digest::SHA512,
    };
    digest::digest(algorithm, data).as_ref().to_vec()
}
