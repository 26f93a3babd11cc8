//! Token files (`token: host:port` lines, `access::token::file`) and the
//! target spelling every token plugin shares (`access::token::parse_target`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use websockify::addr::Target;
use websockify::fuzzing::{token_file, token_target};

fn check_target(target: &Target, from: &str) {
    match target {
        Target::Tcp(addr) => assert!(
            !addr.host.is_empty()
                && !addr
                    .host
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control()),
            "{from:?} gave host {:?}",
            addr.host
        ),
        Target::Unix(path) => assert!(!path.as_os_str().is_empty(), "{from:?}"),
    }
    // For logs; must not panic.
    let _ = target.to_string();
}

fuzz_target!(|data: &[u8]| {
    for (token, target) in token_file(data) {
        assert!(
            !token.is_empty() && token.trim() == token,
            "token {token:?}"
        );
        check_target(&target, &token);
    }
    for line in data.split(|&b| b == b'\n') {
        if let Ok(line) = std::str::from_utf8(line) {
            if let Ok(target) = token_target(line) {
                check_target(&target, line);
            }
        }
    }
});
