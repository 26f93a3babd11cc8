//! Static files for noVNC from the `--web` directory: `/` shows noVNC, never
//! a listing, never a redirect, and no file outside the root is ever opened.
//!
//! `open` confines every open (index files included) beneath a directory fd
//! of the root with `openat2`; `reply` serves the opened file. Both the open
//! and the stat run on the blocking pool, off the event loop.

mod open;
mod reply;
mod walk;

use std::io;
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use percent_encoding::percent_decode_str;

use crate::response::{text, Body};
use open::Root;

/// The static file server for one canonical root directory.
#[derive(Debug, Clone)]
pub struct Web {
    root: Arc<Root>,
}

impl Web {
    /// Opens `root` (canonical, see `Config`) once; every file is opened beneath it.
    pub fn open(root: &Path) -> io::Result<Self> {
        Ok(Self {
            root: Arc::new(Root::open(root)?),
        })
    }

    /// Answers a GET or HEAD for a file under the root, for the client `key`
    /// (whose refusal lines are rate-limited, see `refusal_log`).
    pub async fn serve<B>(&self, req: Request<B>, key: IpAddr) -> Response<Body> {
        let Some(relative) = decode(req.uri().path()) else {
            return not_found();
        };
        let root = self.root.clone();
        match tokio::task::spawn_blocking(move || root.resolve(&relative, key)).await {
            Ok(Some(opened)) => reply::file(opened, req.headers(), req.method() == Method::HEAD),
            Ok(None) => not_found(),
            Err(e) => {
                log::error!("opening {}: {e}", req.uri().path());
                text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n")
            }
        }
    }
}

fn not_found() -> Response<Body> {
    text(StatusCode::NOT_FOUND, "Not Found\n")
}

/// The request path as a relative path of plain names; `None` for anything
/// that could leave the root or be read as another host (`..`, `//host`, `\`).
pub(crate) fn decode(path: &str) -> Option<PathBuf> {
    if path.starts_with("//") {
        return None;
    }
    let decoded = percent_decode_str(path).decode_utf8().ok()?;
    if decoded.contains('\\') || decoded.contains('\0') {
        return None;
    }
    let mut out = PathBuf::new();
    for part in Path::new(decoded.trim_start_matches('/')).components() {
        match part {
            Component::Normal(name) => out.push(name),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn paths_that_leave_the_root_are_refused() {
        for bad in [
            "/../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/a/..%2f..%2fetc",
            "//evil.example/",
            "/a%5c..%5cb",
            "/%00",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
        assert_eq!(decode("/").unwrap().as_os_str(), "");
        assert_eq!(decode("/app/ui.js").unwrap().to_str(), Some("app/ui.js"));
        assert_eq!(decode("/a%20b.html").unwrap().to_str(), Some("a b.html"));
    }
}
