//! One HTTP/1.1 request of the player's server (`Connection: close`): GET or
//! HEAD under the URL's token for the page, its script, the recording, or a
//! file of noVNC's `core/` and `vendor/`; 404 for anything else under the
//! token, so nothing outside those is ever read, and 403 without the token
//! (it is the viewer's authorisation).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use super::Served;

/// The player page.
const PAGE: &str = include_str!("player.html");
/// The player, an ES module on noVNC's `core/rfb.js`.
const SCRIPT: &str = include_str!("player.js");

/// A request head longer than this is refused.
const MAX_HEAD: usize = 8192;

/// A client that sends nothing (or reads nothing) this long is dropped.
const IDLE: Duration = Duration::from_secs(30);

/// Serves one request on `stream`; errors just close it.
pub fn connection(stream: TcpStream, served: &Served) {
    let _ = stream.set_read_timeout(Some(IDLE));
    let _ = stream.set_write_timeout(Some(IDLE));
    let Ok(reading) = stream.try_clone() else {
        return;
    };
    let Some((method, target)) = request(reading) else {
        return;
    };
    let head_only = method == "HEAD";
    let mut out = stream;
    if method != "GET" && !head_only {
        let _ = respond(
            &mut out,
            "405 Method Not Allowed",
            "text/plain",
            b"",
            head_only,
        );
        return;
    }
    let path = target.split('?').next().unwrap_or_default();
    let _ = match path.strip_prefix(served.prefix.as_str()) {
        Some("") | Some("index.html") => respond(
            &mut out,
            "200 OK",
            "text/html; charset=utf-8",
            PAGE.as_bytes(),
            head_only,
        ),
        Some("player.js") => respond(&mut out, "200 OK", JS, SCRIPT.as_bytes(), head_only),
        Some("recording") => file(
            &mut out,
            &served.recording,
            "application/octet-stream",
            head_only,
        ),
        Some(rest) => match novnc_file(&served.novnc, rest) {
            Some((p, kind)) => file(&mut out, &p, kind, head_only),
            None => not_found(&mut out),
        },
        None => respond(
            &mut out,
            "403 Forbidden",
            "text/plain",
            b"forbidden\n",
            false,
        ),
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// The request line's method and target, once the whole head is read.
fn request(stream: TcpStream) -> Option<(String, String)> {
    let mut reader = BufReader::new(stream.take(MAX_HEAD as u64));
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
    let mut parts = first.split_whitespace();
    let (method, target) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None; // the head did not end within MAX_HEAD
        }
        if line == "\r\n" || line == "\n" {
            return Some((method, target));
        }
    }
}

/// A file under `novnc/core/` or `novnc/vendor/`, plain names only (no
/// `..`, no hidden files), and its content type.
fn novnc_file(root: &Path, rest: &str) -> Option<(PathBuf, &'static str)> {
    let rel = Path::new(rest.strip_prefix("novnc/")?);
    let plain = rel.components().all(|c| match c {
        Component::Normal(n) => !n.to_string_lossy().starts_with('.'),
        _ => false,
    });
    let first = rel.components().next()?.as_os_str();
    if !plain || (first != "core" && first != "vendor") || rest.contains('%') {
        return None;
    }
    let kind = match rel.extension().and_then(|e| e.to_str()) {
        Some("js" | "mjs") => JS,
        _ => "application/octet-stream",
    };
    Some((root.join(rel), kind))
}

/// The file at `path` as the body, or 404 when it cannot be read.
fn file(out: &mut TcpStream, path: &Path, kind: &str, head_only: bool) -> std::io::Result<()> {
    let Ok(mut f) = std::fs::File::open(path) else {
        return not_found(out);
    };
    let meta = f.metadata()?;
    if !meta.is_file() {
        return not_found(out);
    }
    out.write_all(head("200 OK", kind, meta.len()).as_bytes())?;
    if !head_only {
        std::io::copy(&mut f, out)?;
    }
    out.flush()
}

fn not_found(out: &mut TcpStream) -> std::io::Result<()> {
    respond(out, "404 Not Found", "text/plain", b"not found\n", false)
}

fn respond(
    out: &mut TcpStream,
    status: &str,
    kind: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    out.write_all(head(status, kind, body.len() as u64).as_bytes())?;
    if !head_only {
        out.write_all(body)?;
    }
    out.flush()
}

/// The response head: no caching and no referrer (the URL holds the token).
fn head(status: &str, kind: &str, len: u64) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n\
         X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::novnc_file;
    use std::path::Path;

    #[test]
    fn only_plain_paths_under_core_and_vendor() {
        let root = Path::new("/usr/share/novnc");
        assert!(novnc_file(root, "novnc/core/rfb.js").is_some());
        assert!(novnc_file(root, "novnc/vendor/pako/lib/zlib/inflate.js").is_some());
        assert!(novnc_file(root, "novnc/../etc/passwd").is_none());
        assert!(novnc_file(root, "novnc/core/../../etc/passwd").is_none());
        assert!(novnc_file(root, "novnc/app/ui.js").is_none());
        assert!(novnc_file(root, "novnc/core/.hidden").is_none());
        assert!(novnc_file(root, "novnc//etc/passwd").is_none());
    }
}
