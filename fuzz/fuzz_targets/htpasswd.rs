//! htpasswd files (`access::auth::Htpasswd`): bytes read as `load` reads
//! them (UTF-8 or an error), then every line parsed.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use websockify::access::auth::Htpasswd;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Htpasswd::parse(text, Path::new("fuzz.htpasswd")) {
        // A file without users is valid (the last user deleted: nobody in).
        Ok(file) => assert!(file.len() <= text.lines().count()),
        Err(e) => {
            // Errors name the file (and the line); formatting them must not panic.
            let message = format!("{e:#}");
            assert!(message.starts_with("fuzz.htpasswd"), "{message}");
        }
    }
});
