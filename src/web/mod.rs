//! Static files for noVNC from the `--web` directory, with tower-http's ServeDir.
//!
//! ServeDir already refuses `..` and serves correct content types; this module
//! adds what a public noVNC host needs on top: `/` shows noVNC, no file outside
//! the root is reachable through a symlink, and nothing ever redirects.

use std::path::{Component, Path, PathBuf};

use http::{Request, Response, StatusCode, Uri};
use http_body_util::BodyExt as _;
use percent_encoding::percent_decode_str;
use tower::ServiceExt as _;
use tower_http::services::ServeDir;

use crate::response::{text, Body};

/// The static file server for one canonical root directory.
#[derive(Debug, Clone)]
pub struct Web {
    root: PathBuf,
    files: ServeDir,
}

impl Web {
    /// `root` must already be canonical (see `Config`).
    pub fn new(root: PathBuf) -> Self {
        let files = ServeDir::new(&root)
            .append_index_html_on_directories(true)
            .redirect_to_trailing_slash(false);
        Self { root, files }
    }

    /// Answers a GET or HEAD for a file under the root.
    pub async fn serve<B>(&self, mut req: Request<B>) -> Response<Body>
    where
        B: Send + 'static,
    {
        let Some(relative) = decode(req.uri().path()) else {
            return text(StatusCode::NOT_FOUND, "Not Found\n");
        };
        if relative.as_os_str().is_empty() && !self.root.join("index.html").exists() {
            // noVNC ships vnc.html and no index.html: the bare URL should show it.
            *req.uri_mut() = Uri::from_static("/vnc.html");
        } else if !self.inside_root(&relative).await {
            return text(StatusCode::NOT_FOUND, "Not Found\n");
        }
        match self.files.clone().oneshot(req).await {
            Ok(resp) => resp.map(|b| b.map_err(std::io::Error::other).boxed_unsync()),
            Err(never) => match never {},
        }
    }

    /// Whether the file (after following symlinks) is inside the root.
    /// A missing file is "inside": ServeDir then answers 404 itself.
    async fn inside_root(&self, relative: &Path) -> bool {
        match tokio::fs::canonicalize(self.root.join(relative)).await {
            Ok(real) if real.starts_with(&self.root) => true,
            Ok(real) => {
                log::warn!(
                    "refused {}: it resolves to {}, outside the web root",
                    relative.display(),
                    real.display()
                );
                false
            }
            Err(_) => true,
        }
    }
}

/// The request path as a relative path of plain names; `None` for anything
/// that could leave the root or be read as another host (`..`, `//host`, `\`).
fn decode(path: &str) -> Option<PathBuf> {
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
