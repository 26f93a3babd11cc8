//! The WebSocket upgrade rules (`http::handshake::accept`) on a request head
//! read from the fuzz bytes: request line, then `name: value` lines.
//! Checks what an accepted upgrade promises the client.
#![no_main]

use libfuzzer_sys::fuzz_target;
use websockify::fuzzing::{accept, Mode};

fuzz_target!(|data: &[u8]| {
    let Some(req) = websockify_fuzz::request(data) else {
        return;
    };
    let Ok(accepted) = accept(&req) else {
        return;
    };
    // SHA-1 in base64: 28 characters.
    assert_eq!(accepted.accept_key.len(), 28, "{:?}", accepted.accept_key);
    let offered: Vec<String> = req
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(',')
                .map(|p| p.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect();
    match (accepted.protocol, accepted.mode) {
        (None, Mode::Binary) => assert!(offered.iter().all(String::is_empty), "{offered:?}"),
        (Some("binary"), Mode::Binary) => assert!(offered.iter().any(|p| p == "binary")),
        (Some("base64"), Mode::Base64) => {
            assert!(offered.iter().any(|p| p == "base64"));
            assert!(!offered.iter().any(|p| p == "binary"), "binary wins");
        }
        other => panic!("protocol and mode disagree: {other:?}"),
    }
});
