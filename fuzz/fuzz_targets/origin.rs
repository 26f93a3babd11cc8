//! Origin checks (`access::origin::OriginPolicy`). The first line is the
//! allowed-origins option (comma-separated; empty: the same-origin default),
//! the second flags (`t`: TLS, `p`: from a trusted proxy), then the
//! request's header lines. An origin the list names is always allowed.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use websockify::access::origin::OriginPolicy;
use websockify_fuzz::{header_lines, header_map, lines};

fuzz_target!(|data: &[u8]| {
    let mut lines = lines(data);
    let list = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let flags = lines.next().unwrap_or_default();
    let (tls, proxied) = (flags.contains(&b't'), flags.contains(&b'p'));
    let headers = header_map(&header_lines(lines));

    let entries: Vec<&str> = list.split(',').collect();
    let policy = if list.is_empty() {
        OriginPolicy::same_origin()
    } else {
        match OriginPolicy::from_list(&entries) {
            Ok(policy) => policy,
            Err(e) => {
                let _ = format!("{e:#}");
                return;
            }
        }
    };
    let _ = policy.check(&headers, tls, proxied);

    if list.is_empty() || list.trim() == "*" {
        return;
    }
    for entry in &entries {
        let entry = entry.trim();
        let entry = entry.strip_suffix('/').unwrap_or(entry);
        let Ok(value) = HeaderValue::from_str(entry) else {
            continue;
        };
        if value.to_str().is_err() {
            continue;
        }
        let mut one = HeaderMap::new();
        one.insert(http::header::ORIGIN, value);
        assert_eq!(
            policy
                .check(&one, tls, proxied)
                .map_err(|r| format!("{r:?}")),
            Ok(()),
            "{entry:?} is listed in {list:?}"
        );
    }
});
