//! Tests for `origin.rs`: the default policy in the direct and behind-nginx
//! setups, cross-origin refusal, and the explicit list.

use super::*;
use http::{HeaderValue, StatusCode};

fn req(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.append(*name, HeaderValue::from_str(value).expect("test header"));
    }
    h
}

fn refused(r: Result<(), Refusal>) -> bool {
    matches!(
        r,
        Err(Refusal {
            status: StatusCode::FORBIDDEN,
            www_authenticate: false,
            ..
        })
    )
}

#[test]
fn default_allows_requests_without_origin() {
    let p = OriginPolicy::default();
    assert_eq!(p.check(&req(&[("host", "h:6080")]), false, false), Ok(()));
    assert_eq!(p.check(&HeaderMap::new(), true, false), Ok(()));
}

#[test]
fn default_direct_same_origin_http_and_https() {
    let p = OriginPolicy::default();
    let h = req(&[
        ("host", "vnc.example.com:6080"),
        ("origin", "http://vnc.example.com:6080"),
    ]);
    assert_eq!(p.check(&h, false, false), Ok(()));
    let h = req(&[
        ("host", "vnc.example.com:6080"),
        ("origin", "https://vnc.example.com:6080"),
    ]);
    assert_eq!(p.check(&h, true, false), Ok(()));
    // Case and default ports as browsers and clients may write them.
    let h = req(&[
        ("host", "VNC.example.com:443"),
        ("origin", "https://vnc.EXAMPLE.com"),
    ]);
    assert_eq!(p.check(&h, true, false), Ok(()));
    let h = req(&[("host", "10.0.0.5"), ("origin", "http://10.0.0.5")]);
    assert_eq!(p.check(&h, false, false), Ok(()));
    let h = req(&[
        ("host", "[2001:db8::5]:6080"),
        ("origin", "https://[2001:db8::5]:6080"),
    ]);
    assert_eq!(p.check(&h, true, false), Ok(()));
}

#[test]
fn default_refuses_cross_origin() {
    let p = OriginPolicy::default();
    for (host, origin, tls) in [
        ("vnc.example.com:6080", "https://evil.example", true),
        ("vnc.example.com:6080", "https://vnc.example.com:6081", true),
        ("vnc.example.com:6080", "https://vnc.example.com", true),
        ("vnc.example.com:6080", "http://vnc.example.com:6080", true),
        (
            "vnc.example.com:6080",
            "https://vnc.example.com:6080",
            false,
        ),
        (
            "vnc.example.com",
            "https://vnc.example.com.evil.example",
            true,
        ),
        ("vnc.example.com:6080", "null", true),
        ("vnc.example.com:6080", "not an origin", true),
        (
            "vnc.example.com:6080",
            "https://vnc.example.com:6080/path",
            true,
        ),
    ] {
        let h = req(&[("host", host), ("origin", origin)]);
        assert!(
            refused(p.check(&h, tls, false)),
            "{host} {origin} tls={tls}"
        );
    }
    // No Host to compare with.
    assert!(refused(p.check(
        &req(&[("origin", "http://h")]),
        false,
        false
    )));
    // Two Origin headers.
    let h = req(&[
        ("host", "h"),
        ("origin", "http://h"),
        ("origin", "http://h"),
    ]);
    assert!(refused(p.check(&h, false, false)));
}

#[test]
fn default_behind_trusted_nginx_with_forwarded_headers() {
    let p = OriginPolicy::default();
    // nginx terminates TLS on 443, `proxy_set_header Host $http_host;` and
    // `X-Forwarded-Proto $scheme;`, talks plain HTTP to us.
    let h = req(&[
        ("host", "vnc.example.com"),
        ("x-forwarded-proto", "https"),
        ("origin", "https://vnc.example.com"),
    ]);
    assert_eq!(p.check(&h, false, true), Ok(()));
    // On a non-default port, $http_host keeps it.
    let h = req(&[
        ("host", "vnc.example.com:8443"),
        ("x-forwarded-proto", "https"),
        ("origin", "https://vnc.example.com:8443"),
    ]);
    assert_eq!(p.check(&h, false, true), Ok(()));
    // A proxy that rewrites Host but sends X-Forwarded-Host.
    let h = req(&[
        ("host", "127.0.0.1:6080"),
        ("x-forwarded-host", "vnc.example.com"),
        ("x-forwarded-proto", "https"),
        ("origin", "https://vnc.example.com"),
    ]);
    assert_eq!(p.check(&h, false, true), Ok(()));
    // RFC 7239 form.
    let h = req(&[
        ("host", "127.0.0.1:6080"),
        (
            "forwarded",
            "for=198.51.100.7;proto=https;host=vnc.example.com",
        ),
        ("origin", "https://vnc.example.com"),
    ]);
    assert_eq!(p.check(&h, false, true), Ok(()));
    // Cross-origin is still refused behind the proxy.
    let h = req(&[
        ("host", "vnc.example.com"),
        ("x-forwarded-proto", "https"),
        ("origin", "https://evil.example"),
    ]);
    assert!(refused(p.check(&h, false, true)));
}

#[test]
fn forwarded_headers_from_untrusted_peers_are_ignored() {
    let p = OriginPolicy::default();
    let h = req(&[
        ("host", "127.0.0.1:6080"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "https"),
        ("origin", "https://evil.example"),
    ]);
    assert!(refused(p.check(&h, false, false)));
    // ... and the untrusted view is what is compared.
    let h = req(&[
        ("host", "h:6080"),
        ("x-forwarded-proto", "https"),
        ("origin", "http://h:6080"),
    ]);
    assert_eq!(p.check(&h, false, false), Ok(()));
    // nginx config without X-Forwarded-Proto in front of TLS: https page, we see http.
    let h = req(&[
        ("host", "vnc.example.com"),
        ("origin", "https://vnc.example.com"),
    ]);
    assert!(refused(p.check(&h, false, true)));
}

#[test]
fn explicit_list_is_exact_after_normalising() {
    let p = OriginPolicy::from_list(&["https://Portal.example.com:443/", "http://10.0.0.5:6080"])
        .expect("valid");
    for ok in ["https://portal.example.com", "http://10.0.0.5:6080"] {
        assert_eq!(
            p.check(&req(&[("host", "x"), ("origin", ok)]), false, false),
            Ok(()),
            "{ok}"
        );
    }
    for bad in [
        "https://portal.example.com:8443",
        "http://portal.example.com",
        "http://x",
        "null",
    ] {
        assert!(
            refused(p.check(&req(&[("host", "x"), ("origin", bad)]), false, false)),
            "{bad}"
        );
    }
    // The list replaces same-origin, and still lets non-browser clients in.
    assert!(refused(p.check(
        &req(&[("host", "x"), ("origin", "http://x")]),
        false,
        false
    )));
    assert_eq!(p.check(&req(&[("host", "x")]), false, false), Ok(()));
    let with_null = OriginPolicy::from_list(&["null"]).expect("valid");
    assert_eq!(
        with_null.check(&req(&[("origin", "null")]), false, false),
        Ok(())
    );
}

#[test]
fn star_allows_everything() {
    let p = OriginPolicy::from_list(&["*"]).expect("valid");
    assert_eq!(p, OriginPolicy::any());
    let h = req(&[("host", "x"), ("origin", "https://evil.example")]);
    assert_eq!(p.check(&h, false, false), Ok(()));
}

#[test]
fn bad_lists_are_errors_naming_the_entry() {
    assert!(OriginPolicy::from_list::<&str>(&[]).is_err());
    assert!(OriginPolicy::from_list(&["*", "https://a"]).is_err());
    for bad in [
        "vnc.example.com",
        "https://",
        "https://a/b",
        "https://a:99999",
        "https://user@a",
        "ftp//a",
    ] {
        let err = OriginPolicy::from_list(&[bad]).unwrap_err().to_string();
        assert!(err.contains(bad), "{err}");
    }
}

#[test]
fn debug_lists_origins() {
    let p = OriginPolicy::from_list(&["https://a.example"]).expect("valid");
    assert_eq!(
        format!("{p:?}"),
        "OriginPolicy::List([https://a.example:443])"
    );
    assert_eq!(
        format!("{:?}", OriginPolicy::default()),
        "OriginPolicy::SameOrigin"
    );
}
