//! `X-Forwarded-For` and `Forwarded` (`access::forwarded`). The first line
//! is the TCP peer's address, the second the trusted proxies (addresses or
//! CIDRs, comma-separated), then the request's header lines.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use websockify::access::forwarded::{
    client_addr, forwarded_host, forwarded_proto, is_trusted, parse_trusted,
};
use websockify_fuzz::{header_lines, header_map, lines};

fuzz_target!(|data: &[u8]| {
    let mut lines = lines(data);
    let peer = std::str::from_utf8(lines.next().unwrap_or_default())
        .ok()
        .and_then(|s| s.trim().parse::<IpAddr>().ok())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let trusted_line = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let entries: Vec<&str> = trusted_line.split(',').collect();
    // The list as a whole (an error names the bad entry), then the good ones.
    let _ = parse_trusted(&entries).map_err(|e| format!("{e:#}"));
    let trusted: Vec<_> = entries
        .iter()
        .filter_map(|e| parse_trusted(&[e]).ok())
        .flatten()
        .collect();
    let headers = header_map(&header_lines(lines));

    let client = client_addr(peer, &headers, &trusted);
    assert_eq!(client, client.to_canonical(), "not canonical");
    if !is_trusted(peer, &trusted)
        || !(headers.contains_key("x-forwarded-for") || headers.contains_key("forwarded"))
    {
        assert_eq!(
            client,
            peer.to_canonical(),
            "headers of an untrusted peer, or none, used"
        );
    }
    let _ = forwarded_proto(&headers);
    let _ = forwarded_host(&headers);
});
