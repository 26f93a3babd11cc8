//! ID tokens a real provider never sends, through the real binary: a fake
//! provider (common/fake_idp.rs) answers the code with the token each test
//! chooses. Its correct token logs alice in (the cookie, 302 to the page);
//! a token for another nonce, with no nonce, signed by another key, not
//! signed, expired, for another client or from another issuer is refused
//! with 403, no cookie, and a log line that says why and shows no token.
//! So is one signed with the client secret (HS256): OpenID Connect allows
//! it, the proxy takes only the provider's published keys (documented in
//! websockify.conf(5)).

use crate::common;
use crate::oidc::{instance, Answer, Browser, SECRET};

use common::fake_idp::{FakeIdp, IdToken};
use common::*;

/// From the page, through the fake provider's authorization endpoint, to
/// the proxy's callback: the callback's answer, and the nonce the proxy sent.
async fn to_callback(browser: &mut Browser, port: u16, idp: &FakeIdp) -> (Answer, String) {
    let page = format!("http://127.0.0.1:{port}/vnc.html");
    let a = browser.go(&page, None).await;
    assert_eq!(a.status, 302, "{}", a.body);
    let auth = a.header("location").unwrap().to_owned();
    assert!(auth.starts_with(&format!("{}/auth?", idp.issuer)), "{auth}");
    let query = auth.split_once('?').unwrap().1;
    let nonce = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "nonce")
        .expect("a nonce")
        .1
        .into_owned();
    let a = browser.go(&auth, None).await;
    assert_eq!(a.status, 302, "the fake provider: {}", a.body);
    let callback = a.header("location").unwrap().to_owned();
    let ours = format!("http://127.0.0.1:{port}/oidc/callback?");
    assert!(callback.starts_with(&ours), "{callback}");
    (browser.go(&callback, None).await, nonce)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fake_providers_correct_id_token_logs_alice_in() {
    let dir = TempDir::new("oidc-fake-good");
    let idp = FakeIdp::start(SECRET, IdToken::Good).await;
    let port = free_port();
    let extra = "oidc-allowed-groups = \"desk\"\n";
    let mut proxy = instance(&dir, port, &idp.issuer, extra).await;
    let mut alice = Browser::default();
    let (a, _) = to_callback(&mut alice, port, &idp).await;
    assert_eq!(a.status, 302, "{}", a.body);
    assert_eq!(a.header("location"), Some("/vnc.html"));
    assert!(alice.jar.contains_key("websockify_oidc"), "{:?}", alice.jar);
    proxy.wait_for_log("user \"alice\" logged in through OpenID");
    assert_eq!(idp.issued().len(), 1);
    let a = alice
        .go(&format!("http://127.0.0.1:{port}/vnc.html"), None)
        .await;
    assert_eq!((a.status, a.body.as_str()), (200, "the desktop page\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_and_expired_id_tokens_are_refused_with_403_and_the_reason_logged() {
    let dir = TempDir::new("oidc-fake-forged");
    let idp = FakeIdp::start(SECRET, IdToken::Good).await;
    let port = free_port();
    let mut proxy = instance(&dir, port, &idp.issuer, "").await;
    // Each token, and the words of the reason its log line gives.
    use IdToken::*;
    let cases = [
        (WrongNonce, "its nonce is not the one this login sent"),
        (NoNonce, "Token missing Nonce"),
        (OtherKey, "Invalid signature"),
        (Unsigned, "RS256 was expected [...] but None was provided"),
        (
            ClientSecret,
            "RS256 was expected [...] but HS256 was provided",
        ),
        (Expired, "Token expired at"),
        (WrongAudience, "Token missing Audience"),
        (WrongIssuer, "issuer mismatch: 'http://127.0.0.1:"),
    ];
    for (n, (token, why)) in cases.into_iter().enumerate() {
        idp.send(token);
        let mut browser = Browser::default();
        let (a, nonce) = to_callback(&mut browser, port, &idp).await;
        assert_eq!(a.status, 403, "{token:?}: {}", a.body);
        assert_eq!(a.body, "Login refused\n", "{token:?}");
        assert!(!browser.jar.contains_key("websockify_oidc"), "{token:?}");
        let line = proxy.wait_for_log("refused OpenID login");
        assert!(
            line.contains("the ID token is not valid: ")
                && why.split(" [...] ").all(|part| line.contains(part)),
            "{token:?}: {line}"
        );
        // The token was handed out; neither it (its claims or its
        // signature) nor the login's nonce is in the log.
        let issued = idp.issued();
        assert_eq!(issued.len(), n + 1, "{token:?}");
        let parts: Vec<&str> = issued[n].split('.').collect();
        for line in proxy.log() {
            for secret in [parts[1], parts[2], &nonce, "a-nonce-this-login-never-sent"] {
                assert!(
                    secret.is_empty() || !line.contains(secret),
                    "{token:?}: a secret in the log: {line}"
                );
            }
        }
    }
}
