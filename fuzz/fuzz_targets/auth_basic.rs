//! `Authorization: Basic` (`access::auth::AuthPlugin::check` with
//! `BasicHTTPAuth`, and `ExpectOrigin` on the same request). The first line
//! is the `--auth-source`, then the request's header lines. The source's
//! own credentials, sent the way browsers do, are always accepted.
#![no_main]

use base64::Engine as _;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use websockify::access::auth::AuthPlugin;
use websockify_fuzz::{header_lines, header_map, lines};

fuzz_target!(|data: &[u8]| {
    let mut lines = lines(data);
    let Ok(source) = std::str::from_utf8(lines.next().unwrap_or_default()) else {
        return;
    };
    let headers = header_map(&header_lines(lines));
    if let Ok(plugin) = AuthPlugin::new("ExpectOrigin", Some(source)) {
        let _ = plugin.check(&headers, None);
    }
    let Ok(plugin) = AuthPlugin::new("BasicHTTPAuth", Some(source)) else {
        return;
    };
    let _ = plugin.check(&headers, None);

    let encoded = base64::engine::general_purpose::STANDARD.encode(source);
    let mut own = HeaderMap::new();
    let value =
        HeaderValue::from_str(&format!("Basic {encoded}")).expect("base64 is a header value");
    own.insert(http::header::AUTHORIZATION, value);
    // The right credentials pass, and name the user before the colon.
    let user = source.split_once(':').map(|(u, _)| u.to_owned());
    assert_eq!(
        plugin.check(&own, None).map_err(|r| format!("{r:?}")),
        Ok(user),
        "{source:?}"
    );
});
