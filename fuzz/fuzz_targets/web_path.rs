//! Request paths for `--web` (`web::decode`): whatever the bytes, the result
//! is a relative path of plain names, so it can never leave the web root.
#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use websockify::fuzzing::web_path;

fn check(path: &str) {
    let Some(decoded) = web_path(path) else {
        return;
    };
    for part in decoded.components() {
        let Component::Normal(name) = part else {
            panic!("{path:?} decodes to {decoded:?}: {part:?} is not a plain name");
        };
        let name = name.as_encoded_bytes();
        assert!(
            !name.is_empty()
                && !name.contains(&b'/')
                && !name.contains(&b'\\')
                && !name.contains(&0),
            "{path:?} decodes to {decoded:?}"
        );
        assert!(name != b"..", "{path:?} decodes to {decoded:?}");
    }
    assert!(decoded.is_relative(), "{path:?} decodes to {decoded:?}");
    // A decoded path with nothing left to decode decodes to itself.
    if let Some(text) = decoded.to_str().filter(|t| !t.contains('%')) {
        let again = web_path(&format!("/{text}"));
        assert_eq!(again.as_deref(), Some(Path::new(text)), "{path:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    // What hyper hands on: the path of a request target it accepted.
    if let Ok(uri) = http::Uri::try_from(data) {
        check(uri.path());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
});
