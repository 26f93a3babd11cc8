//! The text of `websockifyctl list`: one aligned line per instance, from
//! what `status` computes (its JSON), so that both say the same. A value
//! that cannot be known is `-`: the sessions of an instance whose control
//! socket does not answer (stopped, or not ours to read), the certificate
//! of a plain instance.

use serde_json::Value;

use super::table::{render as table, Align::*};

/// The table of `values` (`status`'s JSON objects).
pub fn render(values: &[Value]) -> String {
    let header = [
        ("NAME", Left),
        ("STATE", Left),
        ("LISTEN", Left),
        ("USERS", Left),
        ("SESSIONS", Right),
        ("CERTIFICATE", Left),
    ];
    let rows: Vec<Vec<String>> = values.iter().map(row).collect();
    table(&header, &rows)
}

fn row(v: &Value) -> Vec<String> {
    let listen: Vec<&str> = strings(&v["listen"]);
    vec![
        v["name"].as_str().unwrap_or("?").to_owned(),
        state(v),
        if listen.is_empty() {
            "-".into()
        } else {
            listen.join(",")
        },
        users(v),
        v["sessions"]
            .as_u64()
            .map_or_else(|| "-".into(), |n| n.to_string()),
        certificate(&v["certificate"]),
    ]
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// The service's state; a socket-activated instance whose service is not
/// running says that its socket listens; `,conf-error` when its conf does not
/// parse (`status` tells why). No spaces: one word per column.
fn state(v: &Value) -> String {
    let service = v["service"]["active"].as_str().unwrap_or("unknown");
    let socket = v["socket"]["active"].as_str().unwrap_or("unknown");
    let state = if service != "active" && socket == "active" {
        "listening(socket)".to_owned()
    } else {
        service.to_owned()
    };
    if v["conf_error"].is_null() {
        state
    } else {
        format!("{state},conf-error")
    }
}

/// Who may come in: the named users, every user of the login
/// (`(all-users)`), or anyone at all when there is no login (`(anyone)`);
/// one word each, so that `awk` finds the columns.
fn users(v: &Value) -> String {
    let named = strings(&v["allowed_users"]);
    if !named.is_empty() {
        named.join(",")
    } else if v["auth"] == Value::Bool(true) {
        "(all-users)".into()
    } else {
        "(anyone)".into()
    }
}

/// The expiry date and days left, or why there is none.
fn certificate(c: &Value) -> String {
    if c.is_null() {
        return "-".into();
    }
    if c["waiting"] == Value::Bool(true) {
        return "waiting for the first certificate".into();
    }
    match (c["expires"].as_str(), c["days_left"].as_i64()) {
        (Some(expires), Some(days)) => {
            let date = expires.get(..10).unwrap_or(expires);
            if days < 0 {
                format!("{date} (expired)")
            } else {
                format!("{date} ({days} days)")
            }
        }
        _ => "unreadable (see status)".into(),
    }
}
