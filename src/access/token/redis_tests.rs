//! Unit tests of the TokenRedis source and value parsers, with Python's cases.

use super::*;
use crate::access::token::TokenTarget;
use crate::access::vnc_password::VncPassword;
use crate::addr::TargetAddr;

/// Python's `ParseSourceArgumentsTestCase` list, verbatim.
#[test]
fn python_parse_source_args_cases() {
    let cases: &[(&str, &[&str])] = &[
        ("", &[""]),
        (":", &["", ""]),
        ("::", &["", "", ""]),
        ("\"", &["\""]),
        ("\"\"", &["\"\""]),
        ("\"\"\"", &["\"\"\""]),
        ("\"localhost\"", &["localhost"]),
        ("\"localhost\":", &["localhost", ""]),
        ("\"localhost\"::", &["localhost", "", ""]),
        ("\"local:host\"", &["local:host"]),
        ("\"local:host:\"pass\"", &["\"local", "host", "pass"]),
        ("\"local\":\"host\"", &["local", "host"]),
        ("\"local\":host\"", &["local", "host\""]),
        (
            "localhost:6379:1:pass\"word:\"my-app-namespace:dev\"",
            &[
                "localhost",
                "6379",
                "1",
                "pass\"word",
                "my-app-namespace:dev",
            ],
        ),
    ];
    for (src, want) in cases {
        assert_eq!(split_source(src), *want, "{src}");
    }
}

/// Python's `TokenRedisTestCase.test_src_*` cases:
/// (source, host, port, db, password, namespace).
#[test]
fn python_source_cases() {
    let cases: &[(&str, u16, i64, Option<&str>, &str)] = &[
        ("127.0.0.1", 6379, 0, None, ""),
        ("127.0.0.1:1234", 1234, 0, None, ""),
        ("127.0.0.1:1234:2", 1234, 2, None, ""),
        (
            "127.0.0.1:1234:2:verysecret",
            1234,
            2,
            Some("verysecret"),
            "",
        ),
        (
            "127.0.0.1:1234:2:verysecret:namespace",
            1234,
            2,
            Some("verysecret"),
            "namespace:",
        ),
        ("127.0.0.1:::verysecret", 6379, 0, Some("verysecret"), ""),
        ("127.0.0.1::::", 6379, 0, None, ""),
        ("127.0.0.1:::", 6379, 0, None, ""),
        ("127.0.0.1::", 6379, 0, None, ""),
        ("127.0.0.1:", 6379, 0, None, ""),
        ("127.0.0.1::::namespace", 6379, 0, None, "namespace:"),
        ("127.0.0.1::::\"ns1:ns2\"", 6379, 0, None, "ns1:ns2:"),
        ("127.0.0.1::2", 6379, 2, None, ""),
        (
            "127.0.0.1:1234::verysecret",
            1234,
            0,
            Some("verysecret"),
            "",
        ),
        ("127.0.0.1::2:verysecret", 6379, 2, Some("verysecret"), ""),
        ("127.0.0.1::2:", 6379, 2, None, ""),
        (
            "127.0.0.1:1234:0:\"pass:word\"",
            1234,
            0,
            Some("pass:word"),
            "",
        ),
    ];
    for &(src, port, db, password, namespace) in cases {
        let s = RedisSource::parse(src).unwrap();
        assert_eq!(s.host, "127.0.0.1", "{src}");
        assert_eq!(
            (s.port, s.db, s.password.as_deref(), s.namespace.as_str()),
            (port, db, password, namespace),
            "{src}"
        );
    }
    let s = RedisSource::parse("\"::1\":6380").unwrap();
    assert_eq!((s.host.as_str(), s.port), ("::1", 6380));
}

#[test]
fn bad_sources_are_errors_that_hide_the_password() {
    for src in [
        "",
        ":6379",
        "h:port",
        "h:0",
        "h:70000",
        "h::-1",
        "h::x",
        "h:1:2:p:n:extra",
    ] {
        let err = RedisSource::parse(src).err().map(|e| e.to_string());
        assert!(err.is_some(), "{src}");
    }
    let err = RedisSource::parse("h:x:0:hunter2")
        .err()
        .unwrap()
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn values() {
    let parse_value = |b: &[u8]| super::parse_value(b).map_err(|e| e.to_string());
    let tcp = |h: &str, p| {
        Ok(Destination::from(TokenTarget::Tcp(TargetAddr {
            host: h.into(),
            port: p,
        })))
    };
    // Python's test values, with real port numbers.
    assert_eq!(
        parse_value(br#"{"host": "remote_host:5901"}"#),
        tcp("remote_host", 5901)
    );
    assert_eq!(
        parse_value(br#" {"host": "remote_host:5901"} "#),
        tcp("remote_host", 5901)
    );
    assert_eq!(parse_value(b"remote_host:5901"), tcp("remote_host", 5901));
    assert_eq!(
        parse_value(b" remote_host:5901 \n"),
        tcp("remote_host", 5901)
    );
    assert_eq!(parse_value(br#"{"host": "[::1]:5901"}"#), tcp("::1", 5901));
    assert_eq!(
        parse_value(b"unix_socket:/run/a.sock"),
        Ok(Destination::from(TokenTarget::Unix("/run/a.sock".into())))
    );
    for bad in [
        &br#"{"host": "remote_host:remote_port"   "#[..],
        br#"{"port": 1}"#,
        br#"{"host": 5901}"#,
        br#"{"host": "nohost"}"#,
        b"remote_host:remote_port",
        b"just text",
        b"",
        b"\xff:1",
        b"{",
        br#"{"host": "h:1", "vnc_password": ""}"#,
        br#"{"host": "h:1", "vnc_password": 12345678}"#,
        br#"{"host": "h:1", "vnc_password": ["pw"]}"#,
    ] {
        assert!(
            parse_value(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn values_with_a_vnc_password() {
    let found = parse_value(br#"{"host": "h:5901", "vnc_password": "Qz7pW2xk"}"#).unwrap();
    assert_eq!(found.target, TokenTarget::tcp("h", 5901));
    let pw = VncPassword::from_text(b"Qz7pW2xk").unwrap();
    assert_eq!(found.vnc_password, Some(pw));
    // null is no password, as an API's serialiser writes a missing one.
    let found = parse_value(br#"{"host": "h:5901", "vnc_password": null}"#).unwrap();
    assert_eq!(found.vnc_password, None);
    // Neither Debug nor an error shows the password.
    let debug = format!(
        "{:?}",
        parse_value(br#"{"host": "h:1", "vnc_password": "Qz7pW2xk"}"#)
    );
    assert!(
        !debug.contains("Qz7p") && debug.contains("VncPassword(..)"),
        "{debug}"
    );
    let err = parse_value(br#"{"host": "h:1", "vnc_password": 31415926}"#).unwrap_err();
    assert_eq!(err.to_string(), "\"vnc_password\" is not a string");
}
