//! The real client behind trusted reverse proxies: `X-Forwarded-For`,
//! `Forwarded` (RFC 7239) and the proxy's view of scheme and host.
//!
//! These headers are plain request headers: any client can send them. They
//! are read only when the TCP peer is one of the configured trusted proxies,
//! and the client is the rightmost address in the chain that is not itself a
//! trusted proxy, because each proxy appends the address it saw and only the
//! entries our own proxies wrote are true.
//!
//! When both headers are present, `X-Forwarded-For` wins: nginx, HAProxy,
//! Caddy, Traefik and cloud load balancers write it, and they pass a
//! client-sent `Forwarded` through untouched. A proxy that writes only
//! `Forwarded` must therefore also drop a client's `X-Forwarded-For`.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use anyhow::Context;
use http::{HeaderMap, HeaderName};
use ipnet::IpNet;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Parses a trusted-proxy list: CIDRs (`10.0.0.0/8`, `fd00::/8`) or single
/// addresses (`127.0.0.1`, `::1`). The error names the bad entry.
pub fn parse_trusted<S: AsRef<str>>(entries: &[S]) -> anyhow::Result<Vec<IpNet>> {
    entries
        .iter()
        .map(|e| {
            let e = e.as_ref().trim();
            e.parse::<IpNet>()
                .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                .with_context(|| {
                    format!("invalid trusted proxy {e:?} (expected an address or CIDR)")
                })
        })
        .collect()
}

/// True if `ip` is in one of the `trusted` networks. IPv4-mapped IPv6
/// addresses (`::ffff:127.0.0.1`, what a dual-stack listener reports) count
/// as their IPv4 address.
pub fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = ip.to_canonical();
    trusted.iter().any(|net| net.contains(&ip))
}

/// Real client address: X-Forwarded-For / Forwarded honoured ONLY when the TCP
/// peer is in `trusted`; the client is the rightmost hop not in `trusted`.
/// If all hops are trusted, the leftmost is the client. An entry that is not
/// an address (`unknown`, an obfuscated `_name`, garbage) ends the walk at the
/// last trusted hop: nothing to its left can be believed. The result is
/// canonical: an IPv4-mapped IPv6 address comes back as IPv4.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let Some(hops) = hops(headers) else {
        return peer;
    };
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = hop else {
            return client;
        };
        client = ip.to_canonical();
        if !is_trusted(client, trusted) {
            return client;
        }
    }
    client
}

/// The scheme the browser used, as the first proxy reported it
/// (`X-Forwarded-Proto`, else `Forwarded: proto=`), lowercased. Only for
/// requests from a trusted proxy.
pub fn forwarded_proto(headers: &HeaderMap) -> Option<String> {
    first_list_value(headers, &X_FORWARDED_PROTO)
        .or_else(|| first_forwarded_param(headers, "proto"))
        .map(|p| p.to_ascii_lowercase())
}

/// The `Host` the browser sent, as the first proxy reported it
/// (`X-Forwarded-Host`, else `Forwarded: host=`). Only for requests from a
/// trusted proxy.
pub fn forwarded_host(headers: &HeaderMap) -> Option<String> {
    first_list_value(headers, &X_FORWARDED_HOST).or_else(|| first_forwarded_param(headers, "host"))
}

/// The chain of addresses, leftmost (furthest) first; `None` entries could not
/// be read. `None` overall when there is no such header or it is unreadable.
fn hops(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    if headers.contains_key(&X_FORWARDED_FOR) {
        let mut hops = Vec::new();
        for value in headers.get_all(&X_FORWARDED_FOR) {
            let value = value.to_str().ok()?;
            hops.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(parse_node),
            );
        }
        return Some(hops);
    }
    let elements = forwarded_elements(headers)?;
    Some(
        elements
            .iter()
            .map(|pairs| {
                pairs
                    .iter()
                    .find(|(k, _)| k == "for")
                    .and_then(|(_, v)| parse_node(v))
            })
            .collect(),
    )
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `::1`,
/// `[::1]`, `[::1]:80`.
fn parse_node(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            let inner = s.strip_prefix('[')?.strip_suffix(']')?;
            inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
        })
}

fn first_list_value(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?;
    let first = value.split(',').next()?.trim();
    (!first.is_empty()).then(|| first.to_owned())
}

fn first_forwarded_param(headers: &HeaderMap, key: &str) -> Option<String> {
    let elements = forwarded_elements(headers)?;
    let first = elements.first()?;
    first.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// `Forwarded` as elements (one per hop) of `(lowercase key, value)` pairs,
/// all header lines together, quoted strings unescaped. `None` if absent or
/// malformed: a header we cannot read is one we cannot trust.
fn forwarded_elements(headers: &HeaderMap) -> Option<Vec<Vec<(String, String)>>> {
    let mut elements = Vec::new();
    for value in headers.get_all(http::header::FORWARDED) {
        parse_forwarded(value.to_str().ok()?, &mut elements)?;
    }
    (!elements.is_empty()).then_some(elements)
}

/// RFC 7239 section 4: `1#forwarded-element`, each `*( forwarded-pair ";" )`,
/// pair `token "=" ( token / quoted-string )`. Empty list members are skipped
/// as RFC 7230's `#` rule allows.
fn parse_forwarded(s: &str, out: &mut Vec<Vec<(String, String)>>) -> Option<()> {
    let mut chars = s.chars().peekable();
    let mut element = Vec::new();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        match chars.peek() {
            None => break,
            Some(',') => {
                chars.next();
                if !element.is_empty() {
                    out.push(std::mem::take(&mut element));
                }
                continue;
            }
            Some(';') => {
                chars.next();
                continue;
            }
            Some(_) => {}
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| is_tchar(*c))).collect();
        if key.is_empty() || chars.next() != Some('=') {
            return None;
        }
        let value = if chars.next_if_eq(&'"').is_some() {
            let mut v = String::new();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => v.push(chars.next()?),
                    c => v.push(c),
                }
            }
            v
        } else {
            std::iter::from_fn(|| chars.next_if(|c| is_tchar(*c))).collect()
        };
        element.push((key.to_ascii_lowercase(), value));
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        if !matches!(chars.peek(), None | Some(',') | Some(';')) {
            return None;
        }
    }
    if !element.is_empty() {
        out.push(element);
    }
    Some(())
}

/// RFC 7230 `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        parse_trusted(list).expect("valid test list")
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).expect("test header"));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn spoofed_headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        assert_eq!(
            client_addr(ip("203.0.113.9"), &h, &nets(&["127.0.0.1"])),
            ip("203.0.113.9")
        );
        assert_eq!(client_addr(ip("203.0.113.9"), &h, &[]), ip("203.0.113.9"));
    }

    #[test]
    fn trusted_peer_single_hop() {
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(
            client_addr(ip("127.0.0.1"), &h, &nets(&["127.0.0.0/8"])),
            ip("198.51.100.7")
        );
        // No header: the peer itself.
        assert_eq!(
            client_addr(ip("127.0.0.1"), &HeaderMap::new(), &nets(&["127.0.0.1"])),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn rightmost_untrusted_hop_wins_over_client_supplied_entries() {
        // The client sent "X-Forwarded-For: 6.6.6.6"; nginx appended the real
        // address, and a second trusted proxy appended nginx's.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.2")]);
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        assert_eq!(
            client_addr(ip("127.0.0.1"), &h, &trusted),
            ip("198.51.100.7")
        );
        // Split over several header lines: the same list.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.7 ,10.0.0.2"),
        ]);
        assert_eq!(
            client_addr(ip("127.0.0.1"), &h, &trusted),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn all_hops_trusted_gives_the_leftmost() {
        let h = headers(&[("x-forwarded-for", "10.1.1.1, 10.0.0.2")]);
        assert_eq!(
            client_addr(ip("10.0.0.3"), &h, &nets(&["10.0.0.0/8"])),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn unreadable_entries_stop_at_the_last_trusted_hop() {
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "198.51.100.7, unknown, 10.0.0.2")]);
        assert_eq!(client_addr(ip("127.0.0.1"), &h, &trusted), ip("10.0.0.2"));
        let h = headers(&[("x-forwarded-for", "garbage")]);
        assert_eq!(client_addr(ip("127.0.0.1"), &h, &trusted), ip("127.0.0.1"));
    }

    #[test]
    fn ports_and_ipv6_forms_in_x_forwarded_for() {
        let trusted = nets(&["::1"]);
        for (value, want) in [
            ("198.51.100.7:51234", "198.51.100.7"),
            ("2001:db8::7", "2001:db8::7"),
            ("[2001:db8::7]", "2001:db8::7"),
            ("[2001:db8::7]:443", "2001:db8::7"),
            ("::ffff:198.51.100.7", "198.51.100.7"),
        ] {
            let h = headers(&[("x-forwarded-for", value)]);
            assert_eq!(client_addr(ip("::1"), &h, &trusted), ip(want), "{value}");
        }
    }

    #[test]
    fn ipv4_mapped_peer_matches_ipv4_trust() {
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        let got = client_addr(ip("::ffff:127.0.0.1"), &h, &nets(&["127.0.0.1"]));
        assert_eq!(got, ip("198.51.100.7"));
    }

    #[test]
    fn forwarded_header_with_quoting_and_ipv6() {
        let trusted = nets(&["127.0.0.1", "203.0.113.43"]);
        let h = headers(&[(
            "forwarded",
            r#"for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711""#,
        )]);
        assert_eq!(
            client_addr(ip("127.0.0.1"), &h, &trusted),
            ip("2001:db8:cafe::17")
        );
        let h = headers(&[
            ("forwarded", "for=192.0.2.60"),
            ("forwarded", r#"for="203.0.113.43:80""#),
        ]);
        assert_eq!(client_addr(ip("127.0.0.1"), &h, &trusted), ip("192.0.2.60"));
        // Quoted commas and semicolons stay inside the value.
        let h = headers(&[("forwarded", r#"for=192.0.2.60;host="a,b;c", for=_hidden"#)]);
        assert_eq!(client_addr(ip("127.0.0.1"), &h, &trusted), ip("127.0.0.1"));
        let h = headers(&[("forwarded", "for=unknown, for=192.0.2.9")]);
        assert_eq!(client_addr(ip("127.0.0.1"), &h, &trusted), ip("192.0.2.9"));
    }

    #[test]
    fn malformed_forwarded_is_not_believed() {
        let trusted = nets(&["127.0.0.1"]);
        for bad in [
            r#"for="192.0.2.60"#,
            "for",
            "for=1.2.3.4 junk",
            "=1.2.3.4",
            r#"for="a\"#,
        ] {
            let h = headers(&[("forwarded", bad)]);
            assert_eq!(
                client_addr(ip("127.0.0.1"), &h, &trusted),
                ip("127.0.0.1"),
                "{bad}"
            );
        }
    }

    #[test]
    fn x_forwarded_for_wins_over_forwarded() {
        let h = headers(&[
            ("forwarded", "for=6.6.6.6"),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        assert_eq!(
            client_addr(ip("127.0.0.1"), &h, &nets(&["127.0.0.1"])),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn proto_and_host_of_the_first_hop() {
        let h = headers(&[
            ("x-forwarded-proto", "HTTPS, http"),
            ("x-forwarded-host", "vnc.example:8443"),
        ]);
        assert_eq!(forwarded_proto(&h).as_deref(), Some("https"));
        assert_eq!(forwarded_host(&h).as_deref(), Some("vnc.example:8443"));
        let h = headers(&[(
            "forwarded",
            r#"proto=https;host="vnc.example:8443", proto=http"#,
        )]);
        assert_eq!(forwarded_proto(&h).as_deref(), Some("https"));
        assert_eq!(forwarded_host(&h).as_deref(), Some("vnc.example:8443"));
        assert_eq!(forwarded_proto(&HeaderMap::new()), None);
    }

    #[test]
    fn trusted_list_parsing() {
        let list = nets(&["127.0.0.1", "::1", "10.0.0.0/8", " fd00::/8 "]);
        assert!(is_trusted(ip("10.200.0.1"), &list) && is_trusted(ip("fd12::1"), &list));
        assert!(!is_trusted(ip("11.0.0.1"), &list));
        let err = parse_trusted(&["10.0.0.0/33"]).unwrap_err().to_string();
        assert!(err.contains("10.0.0.0/33"), "{err}");
        assert!(parse_trusted(&["nginx.local"]).is_err());
    }
}
