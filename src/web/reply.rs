//! The response for a file opened beneath the web root, as tower-http's
//! ServeDir gave it before: the content type from the name (noVNC's module
//! scripts need a JavaScript type), Last-Modified with If-Modified-Since (304),
//! one byte range (206, or 416 past the end), HEAD without a body, and the body
//! streamed from the open file, never read whole into memory.

use std::io::{Seek as _, SeekFrom};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::TryStreamExt as _;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::Frame;
use tokio::io::AsyncReadExt as _;
use tokio_util::io::ReaderStream;

use super::open::Opened;
use crate::response::{empty, text, Body};

/// Bytes read from the file per body chunk.
const CHUNK: usize = 64 * 1024;

/// Which bytes of the file to send.
#[derive(Debug, PartialEq, Eq)]
enum Part {
    Whole,
    /// First and last byte, inclusive.
    Bytes(u64, u64),
    Unsatisfiable,
}

/// The answer to a GET (or HEAD, with `head_only`) for `opened`.
pub fn file(opened: Opened, headers: &HeaderMap, head_only: bool) -> Response<Body> {
    let len = opened.meta.len();
    let modified = opened.meta.modified().ok();
    let stamp = modified.map(httpdate::fmt_http_date);
    if let (Some(modified), Some(stamp)) = (modified, &stamp) {
        if not_modified(headers, modified) {
            let mut resp = Response::new(empty());
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
            set(resp.headers_mut(), header::LAST_MODIFIED, stamp);
            return resp;
        }
    }
    let (status, start, count) = match wanted(headers, stamp.as_deref(), len) {
        Part::Whole => (StatusCode::OK, 0, len),
        Part::Bytes(first, last) => (StatusCode::PARTIAL_CONTENT, first, last - first + 1),
        Part::Unsatisfiable => return unsatisfiable(len),
    };
    let body = match head_only {
        true => empty(),
        false => match stream(opened.file, start, count) {
            Ok(body) => body,
            Err(e) => {
                log::warn!("{}: {e}", opened.name.display());
                return text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n");
            }
        },
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    let mime = mime_guess::from_path(&opened.name).first_raw();
    set(
        h,
        header::CONTENT_TYPE,
        mime.unwrap_or("application/octet-stream"),
    );
    set(h, header::CONTENT_LENGTH, &count.to_string());
    set(h, header::ACCEPT_RANGES, "bytes");
    if let Some(stamp) = &stamp {
        set(h, header::LAST_MODIFIED, stamp);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        let range = format!("bytes {start}-{}/{len}", start + count - 1);
        set(h, header::CONTENT_RANGE, &range);
    }
    resp
}

/// The part asked for: the Range, unless an If-Range names another version.
fn wanted(headers: &HeaderMap, stamp: Option<&str>, len: u64) -> Part {
    let same_version = match headers.get(header::IF_RANGE) {
        Some(v) => stamp.is_some_and(|m| v.as_bytes() == m.as_bytes()),
        None => true,
    };
    match same_version {
        true => range(headers.get(header::RANGE), len),
        false => Part::Whole,
    }
}

fn set(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// Whether If-Modified-Since (at one-second precision) covers `modified`.
fn not_modified(headers: &HeaderMap, modified: SystemTime) -> bool {
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs())
    };
    let since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    matches!((secs(modified), since.and_then(secs)), (Some(m), Some(s)) if m <= s)
}

/// 416 with the length, for a range that starts past the end.
fn unsatisfiable(len: u64) -> Response<Body> {
    let mut resp = text(StatusCode::RANGE_NOT_SATISFIABLE, "Range Not Satisfiable\n");
    set(
        resp.headers_mut(),
        header::CONTENT_RANGE,
        &format!("bytes */{len}"),
    );
    resp
}

/// One `bytes=` range of a file of `len` bytes. Several ranges, or one that
/// does not parse, get the whole file, as RFC 9110 allows.
fn range(header: Option<&HeaderValue>, len: u64) -> Part {
    let spec = header
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().strip_prefix("bytes="));
    let Some((a, b)) = spec
        .filter(|s| !s.contains(','))
        .and_then(|s| s.split_once('-'))
    else {
        return Part::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(first), _) if first >= len => Part::Unsatisfiable,
        (Ok(first), Ok(last)) if last >= first => Part::Bytes(first, last.min(len - 1)),
        (Ok(first), Err(_)) if b.is_empty() => Part::Bytes(first, len - 1),
        (Err(_), Ok(n)) if a.is_empty() && (n == 0 || len == 0) => Part::Unsatisfiable,
        (Err(_), Ok(n)) if a.is_empty() => Part::Bytes(len - n.min(len), len - 1),
        _ => Part::Whole,
    }
}

/// `count` bytes of `file` from `start`, read in chunks as the client takes them.
fn stream(mut file: std::fs::File, start: u64, count: u64) -> std::io::Result<Body> {
    if start > 0 {
        // lseek on a regular file does no I/O.
        file.seek(SeekFrom::Start(start))?;
    }
    let reader = tokio::fs::File::from_std(file).take(count);
    let chunks = ReaderStream::with_capacity(reader, CHUNK).map_ok(Frame::<Bytes>::data);
    Ok(StreamBody::new(chunks).boxed_unsync())
}

#[cfg(test)]
mod tests {
    use super::{range, Part};
    use http::HeaderValue;

    #[test]
    fn byte_ranges() {
        let r = |s: &'static str, len| range(Some(&HeaderValue::from_static(s)), len);
        assert_eq!(range(None, 10), Part::Whole);
        assert_eq!(r("bytes=0-3", 10), Part::Bytes(0, 3));
        assert_eq!(r("bytes=5-", 10), Part::Bytes(5, 9));
        assert_eq!(r("bytes=5-100", 10), Part::Bytes(5, 9));
        assert_eq!(r("bytes=-3", 10), Part::Bytes(7, 9));
        assert_eq!(r("bytes=-30", 10), Part::Bytes(0, 9));
        assert_eq!(r("bytes=10-", 10), Part::Unsatisfiable);
        assert_eq!(r("bytes=-0", 10), Part::Unsatisfiable);
        assert_eq!(r("bytes=-5", 0), Part::Unsatisfiable);
        assert_eq!(r("bytes=3-1", 10), Part::Whole);
        assert_eq!(r("bytes=0-1,4-5", 10), Part::Whole);
        assert_eq!(r("items=0-1", 10), Part::Whole);
        assert_eq!(r("bytes=x-y", 10), Part::Whole);
    }
}
