//! A conf file's TOML error as `(line, message)`, for `FILE:LINE: message`.
//!
//! A conf line may hold a password (`auth-source`, a Redis or API URL in
//! `token-source`), and the error goes to the terminal, the journal and
//! systemd's status line. So the offending line is quoted only when its key
//! is a known one that holds no secret; for a secret key, an unknown
//! (perhaps misspelt secret) key, or a line whose key cannot be told (no
//! `=`, the inside of a multi-line string or list, a table), the value is
//! not shown, and serde's messages, which quote the value (`invalid type:
//! string "..."`), lose the quote. toml's syntax messages name tokens, never
//! the text, so they stay.

use serde::de::IgnoredAny;

use super::options::{expected, is_secret, KEYS};

/// toml's error as (1-based line, or 0 when toml gives none; message).
pub(super) fn describe(e: &toml::de::Error, source: &str) -> (usize, String) {
    let message = e.message().trim();
    let syntax = toml::from_str::<IgnoredAny>(source).is_err();
    let start = e.span().and_then(|s| source.get(..s.start));
    let line = start.map_or(0, |s| s.matches('\n').count() + 1);
    if let Some(unknown) = unknown_key(message) {
        return (line, unknown);
    }
    let Some(start) = start else {
        return (0, without_value(message, syntax));
    };
    let line_start = start.rfind('\n').map_or(0, |i| i + 1);
    let text = source[line_start..].lines().next().unwrap_or("").trim();
    let key = statement_key(source, line_start);
    // A value of the wrong kind: the key, what it takes, and an example;
    // these words are ours, so they hold no value.
    let ours = match key.and_then(|k| Some((k, expected(k)?))) {
        Some((key, want)) if !syntax && is_type_error(message) => {
            Some(format!("{key}: {}", want.describe(key)))
        }
        _ => None,
    };
    let hidden = || {
        ours.clone()
            .unwrap_or_else(|| without_value(message, syntax))
    };
    let described = match key {
        Some(key) if KEYS.contains(&key) && !is_secret(key) => {
            format!("{} (in `{text}`)", ours.as_deref().unwrap_or(message))
        }
        Some(key) => format!("{} (in `{key} = ...`: the value is not shown)", hidden()),
        None => format!("{} (the line is not shown)", hidden()),
    };
    (line, described)
}

/// serde's messages for a value of the wrong type or range, which quote
/// the Rust type (`expected u64`, `untagged enum OneOrMany`).
fn is_type_error(message: &str) -> bool {
    [
        "invalid type: ",
        "invalid value: ",
        "data did not match any variant",
    ]
    .iter()
    .any(|p| message.starts_with(p))
}

/// serde's "unknown field `X`, expected one of `a`, `b`, ..." (or "expected
/// `a` or `b`" in a `[users.NAME]` table) as "unknown key `X`" with the
/// nearest key instead of the whole list. Only the key is named, never the
/// value: a misspelt secret key holds a secret.
fn unknown_key(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, expected) = rest.split_once('`')?;
    // Between backquotes: every other piece.
    let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    Some(match nearest(key, &known) {
        Some(near) => format!("unknown key `{key}`; did you mean `{near}`?"),
        None => format!("unknown key `{key}`; websockify.conf(5) lists the keys"),
    })
}

/// The known key `key` is most likely a misspelling of: the same but for
/// case and `_` for `-`, else the closest within two edits (a swap of two
/// letters is one), if that is less than half the key.
fn nearest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let plain = key.to_ascii_lowercase().replace('_', "-");
    if let Some(same) = known.iter().find(|k| **k == plain) {
        return Some(same);
    }
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(&plain, k), *k))
        .filter(|(d, _)| *d <= 2 && *d * 2 < plain.chars().count())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// `message` safe to show with a hidden value: syntax messages as they
/// are, serde's unknown-key message (it names the key only), and serde's
/// type and value messages without the value; any other message is
/// replaced, since it might quote the value.
fn without_value(message: &str, syntax: bool) -> String {
    if syntax || message.starts_with("unknown field `") {
        return message.to_owned();
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            // "string \"...\"", "integer `5` as i128", "floating point `1.5`".
            let kind: Vec<&str> = rest
                .split([' ', ','])
                .take_while(|w| !w.is_empty() && !w.starts_with(['`', '"']))
                .collect();
            // The expected type is ours ("a string", "u64"), never the value.
            let expected = rest.rfind(", expected ").map_or("", |i| &rest[i..]);
            return format!("{prefix}{}{expected}", kind.join(" "));
        }
    }
    "invalid value".to_owned()
}

/// The top-level key that the line starting at `line_start` sets, when it
/// can be told: the line must begin a statement (everything before it
/// parses on its own, so it is not inside a multi-line string or list, and
/// no table header came before) and start with a plain key, `key = ` or
/// `key.sub = ` or `[key]`.
fn statement_key(source: &str, line_start: usize) -> Option<&str> {
    let before = &source[..line_start];
    let in_table = before.lines().any(|l| l.trim_start().starts_with('['));
    if in_table || toml::from_str::<IgnoredAny>(before).is_err() {
        return None;
    }
    let line = source[line_start..].trim_start();
    let (line, ends) = match line.strip_prefix('[') {
        Some(header) => (header.trim_start_matches('[').trim_start(), "]."),
        None => (line, "=."),
    };
    let (key, rest) = first_key(line)?;
    rest.trim_start()
        .starts_with(|c| ends.contains(c))
        .then_some(key)
}

/// The first key of `line` (bare, or quoted without escapes) and the rest.
fn first_key(line: &str) -> Option<(&str, &str)> {
    if let Some(quote) = line.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let inner = &line[1..];
        let end = inner.find(quote)?;
        let key = &inner[..end];
        return (!key.contains('\\')).then(|| (key, &inner[end + 1..]));
    }
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or(line.len());
    (end > 0).then(|| line.split_at(end))
}

#[cfg(test)]
mod tests {
    use super::{statement_key, unknown_key, without_value};

    #[test]
    fn unknown_keys_get_the_nearest_known_one() {
        let all = "unknown field `X`, expected one of `listen`, `target`, `ssl-only`, `heartbeat`";
        let said = |key: &str| unknown_key(&all.replace('X', key)).unwrap();
        assert_eq!(
            said("ssl_only"),
            "unknown key `ssl_only`; did you mean `ssl-only`?"
        );
        assert_eq!(
            said("SSL-Only"),
            "unknown key `SSL-Only`; did you mean `ssl-only`?"
        );
        assert_eq!(
            said("targte"),
            "unknown key `targte`; did you mean `target`?"
        );
        assert_eq!(
            said("hearbeat"),
            "unknown key `hearbeat`; did you mean `heartbeat`?"
        );
        assert_eq!(
            said("lst"),
            "unknown key `lst`; websockify.conf(5) lists the keys"
        );
        assert_eq!(
            said("password"),
            "unknown key `password`; websockify.conf(5) lists the keys"
        );
        let user = "unknown field `vnc_password_file`, expected `target` or `vnc-password-file`";
        assert_eq!(
            unknown_key(user).unwrap(),
            "unknown key `vnc_password_file`; did you mean `vnc-password-file`?"
        );
        assert_eq!(unknown_key("invalid type: string"), None);
    }

    #[test]
    fn keys_of_lines() {
        let key = |text: &'static str| statement_key(text, 0);
        assert_eq!(key("target = \"h:1\""), Some("target"));
        assert_eq!(key("  \"auth-source\"= 1"), Some("auth-source"));
        assert_eq!(key("'heartbeat' . x = 1"), Some("heartbeat"));
        assert_eq!(key("[[auth-source]]"), Some("auth-source"));
        assert_eq!(key("\"target.x\" = 1"), Some("target.x"));
        assert_eq!(key("\"auth\\u002dsource\" = 1"), None);
        assert_eq!(key("admin:S3cret"), None);
        assert_eq!(key("= 1"), None);
        let after = |before: &str, line: &str| {
            let text = format!("{before}{line}");
            statement_key(&text, before.len()).map(str::to_owned)
        };
        assert_eq!(after("a = 1\n", "target = 2"), Some("target".into()));
        assert_eq!(after("a = \"\"\"\n", "target = 2"), None);
        assert_eq!(after("a = [\n", "target = 2"), None);
        assert_eq!(after("[t]\n", "target = 2"), None);
    }

    #[test]
    fn serde_messages_lose_the_value() {
        let cases = [
            (
                "invalid type: string \"S3cret, expected\", expected u64",
                "invalid type: string, expected u64",
            ),
            (
                "invalid type: integer `5318008` as i128, expected a string",
                "invalid type: integer, expected a string",
            ),
            (
                "invalid type: floating point `1.5`, expected a string",
                "invalid type: floating point, expected a string",
            ),
            (
                "invalid value: integer `-1`, expected u64",
                "invalid value: integer, expected u64",
            ),
            (
                "invalid type: sequence, expected a string",
                "invalid type: sequence, expected a string",
            ),
            ("custom S3cret", "invalid value"),
        ];
        for (message, shown) in cases {
            assert_eq!(without_value(message, false), shown);
        }
        assert_eq!(without_value("duplicate key", true), "duplicate key");
    }
}
