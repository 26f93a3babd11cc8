//! Conf files: TOML text -> options (`config::options::ConfFile::parse`) ->
//! settings (`config::Settings::from_merged`), as the daemon reads them at
//! start and on SIGHUP. Validation may look at the file system (web root,
//! certificates, token files) but never creates anything.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use websockify::config::options::{ConfFile, Merged, Options};
use websockify::config::Settings;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let conf = match ConfFile::parse(Path::new("fuzz.conf"), text.to_owned()) {
        Ok(conf) => conf,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let merged = Merged::new(Some(conf), Options::default());
    match Settings::from_merged(&merged) {
        Ok(settings) => {
            let _ = format!("{settings:?}");
        }
        Err(e) => {
            let _ = format!("{e:#}");
        }
    }
});
