//! `TokenRedis`: tokens are Redis keys, so several proxy hosts can share one
//! token table that changes while they run.
//!
//! The source is Python's `host[:port[:db[:password[:namespace]]]]`; empty
//! fields take the defaults, and a field holding `:` is wrapped in double
//! quotes. The key is `namespace:token` (or just the token); the value is
//! `{"host": "h:p"}` (optionally with `"vnc_password"`, the target's VNC
//! password) or plain `h:p`. Unlike Python, which opens a new
//! connection per lookup, one multiplexed connection serves every lookup of
//! a plugin and is re-established after a failure.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, IntoConnectionInfo, RedisError, RedisResult};
use serde_json::Value;
use tokio::sync::OnceCell;

use super::{parse_target, redact, vnc_password_field, Destination, TokenError};

/// Redis's default port.
const DEFAULT_PORT: u16 = 6379;

/// Deadline for one lookup, reconnecting included: a browser is waiting.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Deadline for connecting, and for each answer once connected.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The parsed `--token-source` (no `Debug`: it holds the password).
pub(super) struct RedisSource {
    host: String,
    port: u16,
    db: i64,
    password: Option<String>,
    /// Key prefix, with its trailing `:`; empty for none.
    namespace: String,
}

impl RedisSource {
    /// Python's `TokenRedis.__init__`. Messages never repeat the source: it
    /// may hold the password.
    pub(super) fn parse(source: &str) -> anyhow::Result<Self> {
        const FORMAT: &str = "expected host[:port[:db[:password[:namespace]]]]";
        let fields = split_source(source);
        if fields.len() > 5 {
            bail!("TokenRedis source has {} fields; {FORMAT}", fields.len());
        }
        let field = |i: usize| fields.get(i).map(String::as_str).unwrap_or_default();
        let host = field(0).to_owned();
        if host.is_empty() {
            bail!("TokenRedis source has no host; {FORMAT}");
        }
        let port = number(field(1), DEFAULT_PORT, |&p| p != 0).with_context(|| {
            format!(
                "TokenRedis port {:?} is not a port number; {FORMAT}",
                field(1)
            )
        })?;
        let db = number(field(2), 0, |&d| d >= 0).with_context(|| {
            anyhow::anyhow!("TokenRedis db {:?} is not a number; {FORMAT}", field(2))
        })?;
        let password = Some(field(3).to_owned()).filter(|p| !p.is_empty());
        let namespace = match field(4) {
            "" => String::new(),
            ns => format!("{ns}:"),
        };
        Ok(Self {
            host,
            port,
            db,
            password,
            namespace,
        })
    }
}

/// A numeric field: `default` when empty, `None` when not a number or not `valid`.
fn number<T: std::str::FromStr>(field: &str, default: T, valid: impl Fn(&T) -> bool) -> Option<T> {
    match field.trim() {
        "" => Some(default),
        text => text.parse().ok().filter(valid),
    }
}

/// Python's `parse_source_args`: `src.split(":")`, except that a field
/// wrapped in double quotes (`"a:b"`, non-empty, followed by `:` or the end)
/// may hold colons. Anything else, stray quotes included, is kept as is.
fn split_source(src: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut rest = src;
    loop {
        let quoted = rest.strip_prefix('"').and_then(|inner| {
            let end = inner.find('"')?;
            let after = &inner[end + 1..];
            (end > 0 && (after.is_empty() || after.starts_with(':')))
                .then(|| (&inner[..end], after))
        });
        let (field, after) =
            quoted.unwrap_or_else(|| rest.split_at(rest.find(':').unwrap_or(rest.len())));
        fields.push(field.to_owned());
        match after.strip_prefix(':') {
            Some(next) => rest = next,
            None => return fields,
        }
    }
}

#[derive(Clone)]
pub(super) struct TokenRedis {
    source: Arc<RedisSource>,
    client: redis::Client,
    /// Made at the first lookup (it needs the Tokio runtime) and shared by
    /// clones; the manager reconnects by itself after a failure.
    manager: Arc<OnceCell<ConnectionManager>>,
}

impl TokenRedis {
    pub(super) fn new(source: &str) -> anyhow::Result<Self> {
        let source = RedisSource::parse(source)?;
        let mut settings = redis::RedisConnectionInfo::default().set_db(source.db);
        if let Some(password) = &source.password {
            settings = settings.set_password(password);
        }
        let info = redis::ConnectionAddr::Tcp(source.host.clone(), source.port)
            .into_connection_info()
            .context("TokenRedis address")?
            .set_redis_settings(settings);
        let client = redis::Client::open(info).context("TokenRedis")?;
        Ok(Self {
            source: Arc::new(source),
            client,
            manager: Arc::new(OnceCell::new()),
        })
    }

    pub(super) async fn lookup(&self, token: &str) -> Result<Option<Destination>, TokenError> {
        let key = format!("{}{token}", self.source.namespace);
        let value = tokio::time::timeout(LOOKUP_TIMEOUT, self.get(&key))
            .await
            .map_err(|_| self.unavailable(format!("no answer within {LOOKUP_TIMEOUT:?}")))?
            .map_err(|e| {
                if e.code() == Some("WRONGTYPE") {
                    self.bad(token, anyhow::anyhow!("the key is not a string"))
                } else {
                    self.unavailable(e.to_string())
                }
            })?;
        match value {
            None => Ok(None),
            Some(bytes) => parse_value(&bytes)
                .map(Some)
                .map_err(|reason| self.bad(token, reason)),
        }
    }

    /// GET, retried once on a connection error: after Redis restarts, the
    /// first command on the old connection fails and triggers the reconnect.
    async fn get(&self, key: &str) -> RedisResult<Option<Vec<u8>>> {
        let mut manager = self
            .manager
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(CONNECT_TIMEOUT))
                    .set_number_of_retries(1);
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .await?
            .clone();
        match manager.get(key).await {
            Err(e) if is_connection_error(&e) => {
                log::debug!("{self}: {e}; retrying once");
                manager.get(key).await
            }
            result => result,
        }
    }

    fn unavailable(&self, reason: String) -> TokenError {
        TokenError::Unavailable {
            origin: self.origin(),
            reason,
        }
    }

    fn bad(&self, token: &str, reason: anyhow::Error) -> TokenError {
        TokenError::BadData {
            origin: self.origin(),
            token: redact(token),
            reason: format!("{reason:#}"),
        }
    }

    fn origin(&self) -> String {
        format!("redis {}:{}", self.source.host, self.source.port)
    }
}

fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout()
}

impl fmt::Display for TokenRedis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.source;
        write!(f, "TokenRedis {}:{} db {}", s.host, s.port, s.db)?;
        if !s.namespace.is_empty() {
            write!(f, " namespace {:?}", s.namespace)?;
        }
        if s.password.is_some() {
            write!(f, " (with password)")?;
        }
        Ok(())
    }
}

/// A Redis value: `{"host": "h:p"}` (optionally with `"vnc_password"`, the
/// target's VNC password) or `h:p`, surrounding whitespace ignored.
fn parse_value(bytes: &[u8]) -> anyhow::Result<Destination> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("value is not UTF-8 text"))?
        .trim();
    if text.starts_with('{') {
        let json: Value = serde_json::from_str(text)
            .map_err(|e| anyhow::anyhow!("value is not valid JSON: {e}"))?;
        let host = json
            .get("host")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow::anyhow!("JSON value has no \"host\" string"))?;
        return Ok(Destination {
            target: parse_target(host)?,
            vnc_password: vnc_password_field(&json)?,
        });
    }
    parse_target(text).map(Destination::from)
}

#[cfg(test)]
#[path = "redis_tests.rs"]
mod tests;
