//! The bodies every HTTP answer is made of: short texts and streamed files.
//! A leaf, so the HTTP service and the static site share one body type.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full};

/// Every response body: small texts or streamed files.
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// An empty body (101 Switching Protocols).
pub fn empty() -> Body {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A plain-text response.
pub fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    text_owned(status, body.to_owned())
}

/// A plain-text response with a computed body.
pub fn text_owned(status: StatusCode, body: String) -> Response<Body> {
    let mut resp = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
