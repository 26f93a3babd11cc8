//! Helpers the fuzz targets share: fuzz bytes read as the text of an HTTP
//! request head, so that seed corpora are real requests a person can read
//! and libFuzzer mutates header names and values directly.

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Version};

/// A request head as loosely read from fuzz bytes: the first line is
/// `METHOD TARGET VERSION`, each later line `name: value`.
pub struct Head<'a> {
    /// The request line's words (any may be missing).
    pub request_line: [&'a [u8]; 3],
    /// The header lines, name and value; the value without the blanks after
    /// the colon. Lines without a colon are left out.
    pub headers: Vec<(&'a [u8], &'a [u8])>,
}

/// Splits `data` into lines at `\n`, dropping one `\r` before it.
pub fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// Reads `data` as a request head (never fails: anything is some head).
pub fn head(data: &[u8]) -> Head<'_> {
    let mut lines = lines(data);
    let first = lines.next().unwrap_or_default();
    let mut words = first.splitn(3, |&b| b == b' ');
    let request_line = [(); 3].map(|()| words.next().unwrap_or_default());
    Head {
        request_line,
        headers: header_lines(lines),
    }
}

/// `name: value` lines; a line without a colon is left out.
pub fn header_lines<'a>(lines: impl Iterator<Item = &'a [u8]>) -> Vec<(&'a [u8], &'a [u8])> {
    lines
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let value = &line[colon + 1..];
            let blanks = value
                .iter()
                .take_while(|&&b| b == b' ' || b == b'\t')
                .count();
            Some((&line[..colon], &value[blanks..]))
        })
        .collect()
}

/// The header lines that make a valid `HeaderMap` entry, in order (repeated
/// names are appended, as hyper does).
pub fn header_map(headers: &[(&[u8], &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            map.append(name, value);
        }
    }
    map
}

/// The request the head describes; `None` when the method or target is not
/// one hyper would hand on. An unknown version is HTTP/1.0 (never upgraded).
pub fn request(data: &[u8]) -> Option<Request<()>> {
    let head = head(data);
    let [method, target, version] = head.request_line;
    let method = Method::from_bytes(method).ok()?;
    let version = match version {
        b"HTTP/1.1" => Version::HTTP_11,
        b"HTTP/0.9" => Version::HTTP_09,
        b"HTTP/2" | b"HTTP/2.0" => Version::HTTP_2,
        _ => Version::HTTP_10,
    };
    let mut req = Request::builder()
        .method(method)
        .uri(target)
        .version(version)
        .body(())
        .ok()?;
    *req.headers_mut() = header_map(&head.headers);
    Some(req)
}
