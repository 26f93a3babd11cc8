//! Access-control building blocks through the public API: PROXY protocol on
//! real TCP connections, and the checks a request from behind a trusted
//! reverse proxy goes through (client address, origin, credentials, caps).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use websockify::access::auth::{AuthPlugin, BASIC_REALM_HEADER};
use websockify::access::caps::{Caps, Maximums};
use websockify::access::forwarded::{client_addr, is_trusted, parse_trusted};
use websockify::access::origin::OriginPolicy;
use websockify::conn::proxy_header::{read_header, read_header_within, ProxyProtoError};

/// A connected pair on loopback: (what the proxy writes to, what we read).
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (client.expect("connect"), accepted.expect("accept").0)
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.append(*name, HeaderValue::from_str(value).expect("test header"));
    }
    h
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_v1_over_tcp_leaves_the_request_in_the_stream() {
    let (mut proxy, mut server) = tcp_pair().await;
    let request = b"GET /websockify HTTP/1.1\r\nHost: localhost\r\n\r\n";
    // Header and request in one segment, as HAProxy sends them.
    let mut out = b"PROXY TCP4 198.51.100.7 127.0.0.1 51234 6080\r\n".to_vec();
    out.extend_from_slice(request);
    proxy.write_all(&out).await.expect("write");
    let got = read_header(&mut server).await.expect("valid header");
    assert_eq!(got, Some("198.51.100.7:51234".parse().expect("addr")));
    let mut rest = vec![0u8; request.len()];
    server.read_exact(&mut rest).await.expect("request follows");
    assert_eq!(rest, request);
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_v2_split_across_segments() {
    let (mut proxy, mut server) = tcp_pair().await;
    let mut frame = b"\r\n\r\n\0\r\nQUIT\n\x21\x21\x00\x24".to_vec();
    frame.extend_from_slice(
        &"2001:db8::7"
            .parse::<std::net::Ipv6Addr>()
            .expect("v6")
            .octets(),
    );
    frame.extend_from_slice(&"::1".parse::<std::net::Ipv6Addr>().expect("v6").octets());
    frame.extend_from_slice(&[0xc8, 0x22, 0x17, 0xc0]);
    frame.extend_from_slice(b"\x16\x03\x01"); // a TLS ClientHello starts
    let writer = tokio::spawn(async move {
        for chunk in frame.chunks(5) {
            proxy.write_all(chunk).await.expect("write");
            proxy.flush().await.expect("flush");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        proxy
    });
    let got = read_header(&mut server).await.expect("valid header");
    assert_eq!(got, Some("[2001:db8::7]:51234".parse().expect("addr")));
    let mut rest = [0u8; 3];
    server.read_exact(&mut rest).await.expect("tls follows");
    assert_eq!(&rest, b"\x16\x03\x01");
    drop(writer.await.expect("writer"));
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_header_errors_on_real_sockets() {
    // A peer that closes mid-header.
    let (mut proxy, mut server) = tcp_pair().await;
    proxy.write_all(b"PROXY TCP4 198.51").await.expect("write");
    drop(proxy);
    assert!(matches!(
        read_header(&mut server).await,
        Err(ProxyProtoError::Truncated)
    ));

    // A trusted peer that speaks plain HTTP instead.
    let (mut proxy, mut server) = tcp_pair().await;
    proxy.write_all(b"GET / HTTP/1.1\r\n").await.expect("write");
    assert!(matches!(
        read_header(&mut server).await,
        Err(ProxyProtoError::Missing)
    ));

    // A peer that sends nothing.
    let (_proxy, mut server) = tcp_pair().await;
    let got = read_header_within(&mut server, Duration::from_millis(100)).await;
    assert!(matches!(got, Err(ProxyProtoError::Timeout(_))), "{got:?}");
}

/// The behind-nginx setup from reference/nginx-in-front.md: nginx on the same
/// host terminates TLS and forwards with `Host $http_host`,
/// `X-Forwarded-For $proxy_add_x_forwarded_for` and `X-Forwarded-Proto $scheme`.
#[test]
fn request_from_trusted_nginx() {
    let trusted = parse_trusted(&["127.0.0.1", "::1"]).expect("list");
    let peer: IpAddr = "127.0.0.1".parse().expect("ip");
    let h = headers(&[
        ("host", "vnc.example.com"),
        ("origin", "https://vnc.example.com"),
        ("x-forwarded-for", "6.6.6.6, 198.51.100.7"),
        ("x-forwarded-proto", "https"),
    ]);
    let from_proxy = is_trusted(peer, &trusted);
    assert!(from_proxy);
    assert_eq!(
        client_addr(peer, &h, &trusted),
        "198.51.100.7".parse::<IpAddr>().expect("ip")
    );
    assert_eq!(OriginPolicy::default().check(&h, false, from_proxy), Ok(()));

    // The same headers straight from the internet prove nothing.
    let outsider: IpAddr = "203.0.113.9".parse().expect("ip");
    assert_eq!(client_addr(outsider, &h, &trusted), outsider);
    let r = OriginPolicy::default().check(&h, false, is_trusted(outsider, &trusted));
    assert_eq!(r.map_err(|r| r.status), Err(StatusCode::FORBIDDEN));
}

#[test]
fn htpasswd_file_through_the_plugin() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/auth/valid.htpasswd");
    let plugin = AuthPlugin::htpasswd(&path).expect("loads");
    assert!(plugin.verifies_hashes());
    let basic = |up: &str| {
        let enc = base64::engine::general_purpose::STANDARD.encode(up);
        headers(&[("authorization", &format!("Basic {enc}"))])
    };
    assert_eq!(
        plugin.check(&basic("bcrypt:tpyrcb"), None),
        Ok(Some("bcrypt".into()))
    );
    assert_eq!(
        plugin.check(&basic("apr1:1rpa"), None),
        Ok(Some("apr1".into()))
    );
    let wrong = plugin
        .check(&basic("bcrypt:nope"), None)
        .expect_err("wrong");
    assert_eq!(
        (wrong.status, wrong.www_authenticate),
        (StatusCode::UNAUTHORIZED, true)
    );
    let unknown = plugin
        .check(&basic("mallory:tpyrcb"), None)
        .expect_err("unknown");
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let missing = plugin.check(&HeaderMap::new(), None).expect_err("missing");
    assert_eq!(
        (missing.status, missing.www_authenticate),
        (StatusCode::UNAUTHORIZED, true)
    );
    let bad = plugin
        .check(&headers(&[("authorization", "Basic ???")]), None)
        .expect_err("bad");
    assert_eq!(
        (bad.status, bad.www_authenticate),
        (StatusCode::FORBIDDEN, false)
    );
    assert_eq!(BASIC_REALM_HEADER, "Basic realm=\"Websockify\"");
    let debug = format!("{plugin:?}");
    assert!(
        !debug.contains("bcrypt") && !debug.contains("$2y$"),
        "{debug}"
    );
}

#[test]
fn htpasswd_errors_name_file_and_line() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/auth/invalid/no-colon.htpasswd");
    let err = format!("{:#}", AuthPlugin::htpasswd(&path).expect_err("invalid"));
    assert!(err.contains("no-colon.htpasswd:2:"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn caps_follow_real_connections() {
    let limits = Caps::new(Maximums {
        global: Some(10),
        per_client: Some(2),
        per_target: Some(1),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..3 {
        let (_c, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (stream, peer) = accepted.expect("accept");
        match limits.try_client(peer.ip()) {
            Some(permit) => held.push((stream, permit)),
            None => refused += 1,
        }
    }
    assert_eq!((held.len(), refused), (2, 1));
    assert_eq!(limits.connections(), 2);
    let session = limits.try_target("localhost:5901").expect("first session");
    assert!(limits.try_target("localhost:5901").is_none());
    held.clear();
    drop(session);
    assert_eq!(
        (
            limits.connections(),
            limits.target_sessions("localhost:5901")
        ),
        (0, 0)
    );
}
