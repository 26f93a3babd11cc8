//! A fake OpenID provider on loopback, for the ID tokens a real provider
//! never sends: a nonce that is not the login's, another key's signature,
//! an expired token, another audience or issuer, no signature at all.
//!
//! It serves discovery, its one RSA key (JWKS), an authorization endpoint
//! that sends the browser straight back with a code and the state (no login
//! form: the user is alice, group `desk`), and a token endpoint that checks
//! the code, the client's secret (HTTP Basic) and PKCE as a real provider
//! would, then answers with the ID token the test chose, for the nonce the
//! proxy sent. The tokens are made here, by jsonwebtoken on the product's
//! ring provider; the product itself makes none. The keys are new ones from
//! `openssl genpkey`, so no other test's key can verify its tokens.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::TempDir;

/// The client the proxy is registered as.
pub const CLIENT_ID: &str = "websockify";

/// The key id of the provider's key, which the other key's tokens claim too.
const KID: &str = "fake-idp-key";

/// The ID token the token endpoint answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdToken {
    /// What a real provider sends: alice, for this login.
    Good,
    /// Signed, but for a nonce this login never sent.
    WrongNonce,
    /// Signed, with no nonce.
    NoNonce,
    /// Signed by another key under the provider's key id.
    OtherKey,
    /// Not signed (`alg: none`).
    Unsigned,
    /// HS256 with the client secret, which OpenID Connect allows but the
    /// proxy does not take (it verifies against the provider's keys only).
    ClientSecret,
    /// Signed, but its `exp` has passed.
    Expired,
    /// Signed, for another client.
    WrongAudience,
    /// Signed with the provider's key, naming another issuer.
    WrongIssuer,
}

/// A login under way at the provider, by its code.
struct Grant {
    nonce: String,
    challenge: String,
    redirect_uri: String,
}

/// The provider's state, shared by its connections.
struct Idp {
    issuer: String,
    secret: String,
    key: EncodingKey,
    other_key: EncodingKey,
    jwk: Value,
    next: Mutex<IdToken>,
    grants: Mutex<HashMap<String, Grant>>,
    codes: AtomicUsize,
    /// Every ID token handed out, in order.
    issued: Mutex<Vec<String>>,
}

/// The running provider; stops when dropped.
pub struct FakeIdp {
    /// `http://127.0.0.1:PORT`, as `oidc-issuer` names it.
    pub issuer: String,
    idp: Arc<Idp>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeIdp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeIdp {
    /// Starts the provider for the client secret `secret`, answering with
    /// `token` until told otherwise.
    pub async fn start(secret: &str, token: IdToken) -> FakeIdp {
        websockify::access::token::install_jwt_crypto();
        let dir = TempDir::new("fake-idp");
        let key = rsa_key(&dir, "key.pem");
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
        jwk.common.key_id = Some(KID.to_owned());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let idp = Arc::new(Idp {
            issuer: issuer.clone(),
            secret: secret.to_owned(),
            key,
            other_key: rsa_key(&dir, "other.pem"),
            jwk: serde_json::to_value(jwk).unwrap(),
            next: Mutex::new(token),
            grants: Mutex::default(),
            codes: AtomicUsize::new(0),
            issued: Mutex::default(),
        });
        let shared = idp.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let idp = shared.clone();
                let service = service_fn(move |req| {
                    let idp = idp.clone();
                    async move { Ok::<_, Infallible>(idp.answer(req).await) }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(tcp), service));
            }
        });
        FakeIdp { issuer, idp, task }
    }

    /// The ID token the next code is redeemed for.
    pub fn send(&self, token: IdToken) {
        *self.idp.next.lock().unwrap() = token;
    }

    /// The ID tokens handed out so far.
    pub fn issued(&self) -> Vec<String> {
        self.idp.issued.lock().unwrap().clone()
    }
}

/// A new 2048-bit RSA key, made by `openssl genpkey` in `dir`.
fn rsa_key(dir: &TempDir, name: &str) -> EncodingKey {
    let path = dir.path().join(name);
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .arg("-out")
        .arg(&path)
        .output()
        .expect("openssl (Debian's openssl) is needed for the fake provider's keys");
    assert!(out.status.success(), "openssl genpkey: {out:?}");
    EncodingKey::from_rsa_pem(&std::fs::read(&path).unwrap()).unwrap()
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    resp
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl Idp {
    async fn answer(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or("").to_owned();
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => Bytes::new(),
        };
        match path.as_str() {
            "/.well-known/openid-configuration" => reply(StatusCode::OK, self.discovery()),
            "/jwks" => reply(StatusCode::OK, json!({ "keys": [self.jwk] })),
            "/auth" => self.authorize(&form(query.as_bytes())),
            "/token" => self.token(&auth, &form(&body)),
            _ => reply(StatusCode::NOT_FOUND, json!({ "error": "not_found" })),
        }
    }

    fn discovery(&self) -> Value {
        let i = &self.issuer;
        json!({
            "issuer": i,
            "authorization_endpoint": format!("{i}/auth"),
            "token_endpoint": format!("{i}/token"),
            "jwks_uri": format!("{i}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        })
    }

    /// Straight back to the redirect URI with a code and the state.
    fn authorize(&self, q: &HashMap<String, String>) -> Response<Full<Bytes>> {
        let field = |name: &str| q.get(name).cloned().unwrap_or_default();
        if field("client_id") != CLIENT_ID || field("code_challenge_method") != "S256" {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({ "error": "invalid_request" }),
            );
        }
        let code = format!("code-{}", self.codes.fetch_add(1, Ordering::SeqCst));
        let redirect_uri = field("redirect_uri");
        let mut back = url::Url::parse(&redirect_uri).expect("a redirect_uri");
        back.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &field("state"));
        self.grants.lock().unwrap().insert(
            code,
            Grant {
                nonce: field("nonce"),
                challenge: field("code_challenge"),
                redirect_uri,
            },
        );
        let mut resp = reply(StatusCode::FOUND, json!({}));
        resp.headers_mut()
            .insert("location", back.as_str().parse().unwrap());
        resp
    }

    /// The chosen ID token for a known code, redeemed once by this client
    /// with its secret, its redirect URI and the PKCE verifier.
    fn token(&self, auth: &str, f: &HashMap<String, String>) -> Response<Full<Bytes>> {
        let basic = format!(
            "Basic {}",
            STANDARD.encode(format!("{CLIENT_ID}:{}", self.secret))
        );
        if auth != basic {
            return reply(
                StatusCode::UNAUTHORIZED,
                json!({ "error": "invalid_client" }),
            );
        }
        let field = |name: &str| f.get(name).map(String::as_str).unwrap_or_default();
        let grant = self.grants.lock().unwrap().remove(field("code"));
        let Some(grant) = grant else {
            return reply(StatusCode::BAD_REQUEST, json!({ "error": "invalid_grant" }));
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, field("code_verifier").as_bytes());
        if field("grant_type") != "authorization_code"
            || field("redirect_uri") != grant.redirect_uri
            || URL_SAFE_NO_PAD.encode(digest) != grant.challenge
        {
            return reply(StatusCode::BAD_REQUEST, json!({ "error": "invalid_grant" }));
        }
        let kind = *self.next.lock().unwrap();
        let id_token = self.id_token(kind, &grant.nonce);
        self.issued.lock().unwrap().push(id_token.clone());
        reply(
            StatusCode::OK,
            json!({
                "access_token": "fake-access-token",
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
            }),
        )
    }

    /// alice's ID token for `nonce`, made wrong as `kind` says.
    fn id_token(&self, kind: IdToken, nonce: &str) -> String {
        let t = now();
        let mut claims = json!({
            "iss": self.issuer, "sub": "alice-subject", "aud": CLIENT_ID,
            "iat": t, "exp": t + 300, "nonce": nonce,
            "preferred_username": "alice", "groups": ["desk"],
        });
        match kind {
            IdToken::WrongNonce => claims["nonce"] = json!("a-nonce-this-login-never-sent"),
            IdToken::NoNonce => drop(claims.as_object_mut().unwrap().remove("nonce")),
            IdToken::Expired => {
                claims["iat"] = json!(t - 900);
                claims["exp"] = json!(t - 600);
            }
            IdToken::WrongAudience => claims["aud"] = json!("another-client"),
            IdToken::WrongIssuer => claims["iss"] = json!("https://idp.example.org"),
            _ => {}
        }
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KID.to_owned());
        let secret;
        let key = match kind {
            IdToken::OtherKey => &self.other_key,
            IdToken::ClientSecret => {
                header.alg = Algorithm::HS256;
                secret = EncodingKey::from_secret(self.secret.as_bytes());
                &secret
            }
            IdToken::Unsigned => {
                let head = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
                return format!("{head}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string()));
            }
            _ => &self.key,
        };
        jsonwebtoken::encode(&header, &claims, key).unwrap()
    }
}

/// The fields of a query string or form body.
fn form(bytes: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}
