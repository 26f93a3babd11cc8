//! PROXY protocol v1 (text) and v2 (binary) headers from HAProxy, AWS/GCP
//! load balancers and nginx `proxy_protocol on;` (stream module), so the
//! client address survives a TCP-level proxy.
//!
//! The header is framed here, byte-exact, and parsed by the `proxy-header`
//! crate. Framing reads only what the header announces (byte by byte for the
//! text form, whose end is a CRLF), so the TLS or HTTP bytes after it stay in
//! the stream for the next reader, with no buffer to hand over.
//!
//! Call this only for peers in the trusted-proxy list: anyone else could
//! claim any address, and a client that does not speak the protocol would
//! have its first bytes taken as a (broken) header.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use proxy_header::{ParseConfig, Protocol, ProxyHeader};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Time allowed for the whole header. A proxy writes it at once with the
/// connection, so a second is plenty; 5 s covers a loaded proxy and still
/// frees the socket of a peer that is not speaking the protocol at all.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// v1 maximum from the specification: "PROXY" ... CRLF in at most 107 bytes.
const V1_MAX: usize = 107;

/// v2 starts with these 12 bytes.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// v2 address block plus TLVs we accept. Addresses take at most 216 bytes
/// (AF_UNIX); load balancers add TLVs of tens of bytes (AWS VPC endpoint id,
/// GCP PSC id, SSL CN). 4 KiB covers all of that and bounds memory per
/// connection far below the 64 KiB the length field allows.
const V2_MAX_PAYLOAD: usize = 4096;

/// Why a header could not be read; the connection should then be closed.
#[derive(Debug, Error)]
pub enum ProxyProtoError {
    /// Nothing complete within [`HEADER_TIMEOUT`].
    #[error("no complete PROXY protocol header within {0:?}")]
    Timeout(Duration),
    /// The peer closed the connection inside the header.
    #[error("connection closed inside the PROXY protocol header")]
    Truncated,
    /// The first bytes are neither `PROXY ` nor the v2 signature: the trusted
    /// peer does not send the protocol (or is not the proxy it should be).
    #[error("no PROXY protocol header: the connection starts with other bytes")]
    Missing,
    /// Longer than the limit: v1 without CRLF in 107 bytes, v2 over 4 KiB.
    #[error("PROXY protocol header too long")]
    TooLong,
    /// The header is framed but not valid (bad address, version, family...).
    #[error("malformed PROXY protocol header: {0}")]
    Invalid(String),
    /// Reading the socket failed.
    #[error("reading the PROXY protocol header: {0}")]
    Io(#[from] io::Error),
}

/// Reads a PROXY protocol v1 or v2 header from the start of a stream (only
/// called for trusted peers), bounded in size and [`HEADER_TIMEOUT`]; returns
/// the real source address, or `None` when the proxy says to use the
/// connection's own (v1 `UNKNOWN`, v2 `LOCAL` health checks, and v2 `UNSPEC`
/// or `AF_UNIX` sources). Consumes exactly the header bytes.
pub async fn read_header<S: AsyncRead + Unpin>(
    s: &mut S,
) -> Result<Option<SocketAddr>, ProxyProtoError> {
    read_header_within(s, HEADER_TIMEOUT).await
}

/// [`read_header`] with another time limit.
pub async fn read_header_within<S: AsyncRead + Unpin>(
    s: &mut S,
    limit: Duration,
) -> Result<Option<SocketAddr>, ProxyProtoError> {
    match tokio::time::timeout(limit, read_frame(s)).await {
        Ok(frame) => parse(&frame?),
        Err(_) => Err(ProxyProtoError::Timeout(limit)),
    }
}

/// The raw header bytes, exactly as long as the header.
async fn read_frame<S: AsyncRead + Unpin>(s: &mut S) -> Result<Vec<u8>, ProxyProtoError> {
    let mut buf = Vec::with_capacity(V1_MAX);
    // Decide the version from the first bytes, failing at the first byte that
    // fits neither signature rather than waiting for more.
    loop {
        let b = read_byte(s).await?;
        buf.push(b);
        if buf == V2_SIGNATURE {
            return read_v2_rest(s, buf).await;
        }
        if buf == b"PROXY " {
            return read_v1_rest(s, buf).await;
        }
        if !V2_SIGNATURE.starts_with(&buf) && !b"PROXY ".starts_with(&buf) {
            return Err(ProxyProtoError::Missing);
        }
    }
}

async fn read_v1_rest<S: AsyncRead + Unpin>(
    s: &mut S,
    mut buf: Vec<u8>,
) -> Result<Vec<u8>, ProxyProtoError> {
    while buf.len() < V1_MAX {
        let b = read_byte(s).await?;
        buf.push(b);
        if b == b'\n' {
            return Ok(buf);
        }
    }
    Err(ProxyProtoError::TooLong)
}

async fn read_v2_rest<S: AsyncRead + Unpin>(
    s: &mut S,
    mut buf: Vec<u8>,
) -> Result<Vec<u8>, ProxyProtoError> {
    let mut fixed = [0u8; 4];
    s.read_exact(&mut fixed).await.map_err(eof_is_truncated)?;
    let len = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
    if len > V2_MAX_PAYLOAD {
        return Err(ProxyProtoError::TooLong);
    }
    buf.extend_from_slice(&fixed);
    let start = buf.len();
    buf.resize(start + len, 0);
    s.read_exact(&mut buf[start..])
        .await
        .map_err(eof_is_truncated)?;
    Ok(buf)
}

async fn read_byte<S: AsyncRead + Unpin>(s: &mut S) -> Result<u8, ProxyProtoError> {
    s.read_u8().await.map_err(eof_is_truncated)
}

fn eof_is_truncated(e: io::Error) -> ProxyProtoError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        ProxyProtoError::Truncated
    } else {
        ProxyProtoError::Io(e)
    }
}

/// Parses a complete frame; anything but exactly one header filling the
/// frame, or a non-TCP (datagram) source, is invalid.
fn parse(frame: &[u8]) -> Result<Option<SocketAddr>, ProxyProtoError> {
    let config = ParseConfig {
        include_tlvs: false,
        ..ParseConfig::default()
    };
    let (header, used) = ProxyHeader::parse(frame, config).map_err(|e| match e {
        // The frame is complete, so "needs more bytes" means a short line.
        proxy_header::Error::BufferTooShort => ProxyProtoError::Invalid("incomplete header".into()),
        e => ProxyProtoError::Invalid(e.to_string()),
    })?;
    if used != frame.len() {
        return Err(ProxyProtoError::Invalid(
            "trailing bytes in the header".into(),
        ));
    }
    match header.proxied_address() {
        None => Ok(None),
        Some(a) if a.protocol == Protocol::Stream => Ok(Some(a.source)),
        Some(_) => Err(ProxyProtoError::Invalid(
            "datagram (UDP) source on a TCP connection".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Reads a header from `bytes` and returns it with what is left after it.
    async fn read(bytes: &[u8]) -> (Result<Option<SocketAddr>, ProxyProtoError>, Vec<u8>) {
        let mut s = bytes;
        let got = read_header_within(&mut s, Duration::from_secs(2)).await;
        (got, s.to_vec())
    }

    /// A v2 frame: version/command byte, family/protocol byte, payload.
    fn v2(ver_cmd: u8, fam: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = V2_SIGNATURE.to_vec();
        f.extend_from_slice(&[ver_cmd, fam]);
        f.extend_from_slice(&u16::try_from(payload.len()).expect("small").to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn addr(s: &str) -> Option<SocketAddr> {
        Some(s.parse().expect("test address"))
    }

    #[tokio::test]
    async fn v1_tcp4_tcp6_unknown_consume_exactly_the_line() {
        let (got, rest) =
            read(b"PROXY TCP4 198.51.100.7 10.0.0.1 51234 6080\r\nGET / HTTP/1.1\r\n").await;
        assert_eq!(got.expect("valid"), addr("198.51.100.7:51234"));
        assert_eq!(rest, b"GET / HTTP/1.1\r\n");
        let (got, rest) =
            read(b"PROXY TCP6 2001:db8::7 2001:db8::1 51234 443\r\n\x16\x03\x01").await;
        assert_eq!(got.expect("valid"), addr("[2001:db8::7]:51234"));
        assert_eq!(rest, b"\x16\x03\x01");
        let (got, rest) = read(b"PROXY UNKNOWN\r\nx").await;
        assert_eq!((got.expect("valid"), rest.as_slice()), (None, &b"x"[..]));
        let (got, _) = read(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n").await;
        assert_eq!(got.expect("valid"), None);
    }

    #[tokio::test]
    async fn v1_malformed_lines_are_errors() {
        for bad in [
            &b"PROXY TCP4 999.1.1.1 10.0.0.1 1 2\r\n"[..],
            b"PROXY TCP5 1.1.1.1 10.0.0.1 1 2\r\n",
            b"PROXY TCP4 1.1.1.1 10.0.0.1 1\r\n",
            b"PROXY TCP4 1.1.1.1 10.0.0.1 1 70000\r\n",
            b"PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n",
            b"PROXY TCP4 1.1.1.1 10.0.0.1 1 2\n",
            b"PROXY \r\n",
        ] {
            let (got, _) = read(bad).await;
            assert!(
                matches!(got, Err(ProxyProtoError::Invalid(_))),
                "{:?}: {got:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[tokio::test]
    async fn v1_without_crlf_in_107_bytes_is_too_long() {
        let mut line = b"PROXY TCP4 ".to_vec();
        line.resize(300, b'1');
        let (got, rest) = read(&line).await;
        assert!(matches!(got, Err(ProxyProtoError::TooLong)), "{got:?}");
        assert_eq!(rest.len(), 300 - V1_MAX, "stopped reading at the limit");
    }

    #[tokio::test]
    async fn v2_tcp4_tcp6_with_tlvs() {
        let mut p4 = vec![198, 51, 100, 7, 10, 0, 0, 1];
        p4.extend_from_slice(&51234u16.to_be_bytes());
        p4.extend_from_slice(&6080u16.to_be_bytes());
        p4.extend_from_slice(&[0x04, 0x00, 0x02, b'h', b'i']); // NOOP TLV
        let mut frame = v2(0x21, 0x11, &p4);
        frame.extend_from_slice(b"after");
        let (got, rest) = read(&frame).await;
        assert_eq!(got.expect("valid"), addr("198.51.100.7:51234"));
        assert_eq!(rest, b"after");

        let src: std::net::Ipv6Addr = "2001:db8::7".parse().expect("v6");
        let dst: std::net::Ipv6Addr = "2001:db8::1".parse().expect("v6");
        let mut p6 = src.octets().to_vec();
        p6.extend_from_slice(&dst.octets());
        p6.extend_from_slice(&[0xc8, 0x22, 0x01, 0xbb]);
        let (got, rest) = read(&v2(0x21, 0x21, &p6)).await;
        assert_eq!(
            (got.expect("valid"), rest.len()),
            (addr("[2001:db8::7]:51234"), 0)
        );
    }

    #[tokio::test]
    async fn v2_local_unspec_and_unix_mean_use_the_peer() {
        // LOCAL (health check) with an address block that must be ignored.
        let (got, rest) = read(&v2(0x20, 0x11, &[1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2])).await;
        assert_eq!((got.expect("valid"), rest.len()), (None, 0));
        let (got, _) = read(&v2(0x20, 0x00, &[])).await;
        assert_eq!(got.expect("valid"), None);
        let (got, _) = read(&v2(0x21, 0x00, &[])).await;
        assert_eq!(got.expect("valid"), None);
        let (got, _) = read(&v2(0x21, 0x31, &[0u8; 216])).await;
        assert_eq!(got.expect("valid"), None);
    }

    #[tokio::test]
    async fn v2_invalid_frames_are_errors() {
        let ok4 = [198, 51, 100, 7, 10, 0, 0, 1, 0, 1, 0, 2];
        for (name, frame) in [
            ("version 1 in a v2 frame", v2(0x11, 0x11, &ok4)),
            ("unknown command", v2(0x2f, 0x11, &ok4)),
            ("unknown family", v2(0x21, 0x41, &ok4)),
            ("address block too short", v2(0x21, 0x11, &ok4[..6])),
            ("udp", v2(0x21, 0x12, &ok4)),
        ] {
            let (got, _) = read(&frame).await;
            assert!(
                matches!(got, Err(ProxyProtoError::Invalid(_))),
                "{name}: {got:?}"
            );
        }
    }

    #[tokio::test]
    async fn v2_length_over_limit_is_too_long_without_reading_it() {
        let mut frame = V2_SIGNATURE.to_vec();
        frame.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        let (got, _) = read(&frame).await;
        assert!(matches!(got, Err(ProxyProtoError::TooLong)), "{got:?}");
    }

    #[tokio::test]
    async fn truncated_headers_are_errors() {
        let full = v2(0x21, 0x11, &[198, 51, 100, 7, 10, 0, 0, 1, 0, 1, 0, 2]);
        for cut in [1, 5, 12, 14, 16, full.len() - 1] {
            let (got, _) = read(&full[..cut]).await;
            assert!(
                matches!(got, Err(ProxyProtoError::Truncated)),
                "cut {cut}: {got:?}"
            );
        }
        let (got, _) = read(b"PROXY TCP4 1.2.3.4").await;
        assert!(matches!(got, Err(ProxyProtoError::Truncated)), "{got:?}");
        let (got, _) = read(b"").await;
        assert!(matches!(got, Err(ProxyProtoError::Truncated)), "{got:?}");
    }

    #[tokio::test]
    async fn garbage_fails_at_the_first_wrong_byte() {
        for garbage in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"\x16\x03\x01\x02\x00",
            b"PROXZ",
            b"\r\n\r\n\0\r\nQUIX",
        ] {
            // The writer stays open: a reader that waited for more would time out.
            let (mut client, mut server) = tokio::io::duplex(64);
            client.write_all(garbage).await.expect("write");
            let got = read_header_within(&mut server, Duration::from_secs(5)).await;
            assert!(
                matches!(got, Err(ProxyProtoError::Missing)),
                "{garbage:?}: {got:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_silent_or_slow_peer_times_out() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let got = read_header_within(&mut server, Duration::from_millis(50)).await;
        assert!(matches!(got, Err(ProxyProtoError::Timeout(_))), "{got:?}");
        client
            .write_all(b"PROXY TCP4 1.2.3.4 ")
            .await
            .expect("write");
        let got = read_header_within(&mut server, Duration::from_millis(50)).await;
        assert!(matches!(got, Err(ProxyProtoError::Timeout(_))), "{got:?}");
    }

    #[test]
    fn errors_display_without_panicking() {
        let e = ProxyProtoError::Timeout(HEADER_TIMEOUT);
        assert!(e.to_string().contains("5s"));
    }
}
