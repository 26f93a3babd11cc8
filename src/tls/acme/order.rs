//! One certificate order (RFC 8555 §7.4): answer each authorization's
//! challenge (TLS-ALPN-01 on the TLS listener, or HTTP-01 on
//! `acme-http-listen`), wait for the CA to validate, send a CSR for a fresh
//! key, fetch the chain. Challenge answers are withdrawn whatever happens.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewOrder, Order, OrderStatus,
    RetryPolicy,
};
use rustls::crypto::CryptoProvider;

use super::alpn::challenge_cert;
use super::http01::Tokens;
use crate::tls::resolver::Certs;

/// How long the CA may take to validate and to issue.
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(120);

/// Where challenges are answered.
pub struct Answers<'a> {
    /// The TLS listener's resolver (TLS-ALPN-01).
    pub certs: &'a Certs,
    /// The HTTP-01 listener's tokens, when `acme-http-listen` is set.
    pub http: Option<&'a Tokens>,
    /// For the challenge certificates.
    pub provider: &'a CryptoProvider,
}

/// A new certificate for `domains`: (chain PEM, key PEM).
pub async fn obtain(
    account: &Account,
    domains: &[String],
    answers: &Answers<'_>,
) -> Result<(String, String)> {
    let ids: Vec<Identifier> = domains.iter().cloned().map(Identifier::Dns).collect();
    let mut order = account
        .new_order(&NewOrder::new(&ids))
        .await
        .context("new order")?;
    let mut pending = Vec::new();
    let result = validate(&mut order, answers, &mut pending).await;
    for (name, token) in pending {
        answers.certs.set_challenge(&name, None);
        if let (Some(tokens), Some(token)) = (answers.http, token) {
            tokens
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&token);
        }
    }
    result?;
    let key = order.finalize().await.context("finalize")?;
    let chain = order
        .poll_certificate(&retry())
        .await
        .context("certificate download")?;
    Ok((chain, key))
}

fn retry() -> RetryPolicy {
    RetryPolicy::new()
        .initial_delay(Duration::from_millis(250))
        .timeout(VALIDATION_TIMEOUT)
}

/// Answers every pending authorization, then waits for the order to be ready.
/// `pending` collects what to withdraw afterwards: (name, HTTP-01 token).
async fn validate(
    order: &mut Order,
    answers: &Answers<'_>,
    pending: &mut Vec<(String, Option<String>)>,
) -> Result<()> {
    let kind = match answers.http {
        Some(_) => ChallengeType::Http01,
        None => ChallengeType::TlsAlpn01,
    };
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz.context("authorization")?;
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => bail!("authorization for {} is {other:?}", authz.identifier()),
        }
        let name = authz.identifier().to_string();
        let mut challenge = authz
            .challenge(kind.clone())
            .with_context(|| format!("the CA offers no {kind:?} challenge for {name}"))?;
        let key_auth = challenge.key_authorization();
        match answers.http {
            Some(tokens) => {
                let token = challenge.token.clone();
                tokens
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(token.clone(), key_auth.as_str().to_owned());
                pending.push((name.clone(), Some(token)));
            }
            None => {
                let cert = challenge_cert(&name, key_auth.digest().as_ref(), answers.provider)?;
                answers.certs.set_challenge(&name, Some(cert));
                pending.push((name.clone(), None));
            }
        }
        challenge.set_ready().await.context("challenge ready")?;
    }
    match order.poll_ready(&retry()).await.context("validation")? {
        OrderStatus::Ready => Ok(()),
        status => bail!("order {status:?}: {}", why_invalid(order).await),
    }
}

/// The CA's reasons, from the failed challenges.
async fn why_invalid(order: &mut Order) -> String {
    let mut reasons = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(authz)) = authorizations.next().await {
        for challenge in &authz.challenges {
            if let Some(problem) = &challenge.error {
                reasons.push(format!("{}: {problem}", authz.identifier()));
            }
        }
    }
    match reasons.is_empty() {
        true => "no reason given".to_owned(),
        false => reasons.join("; "),
    }
}
