//! The client side of every measurement: one connection speaking raw TCP or
//! a minimal RFC 6455 WebSocket client (masked binary frames, no
//! subprotocol), plus frame encoding.
//!
//! Hand-rolled rather than a library so the throughput paths can write
//! pre-built batches of masked frames (`encode_frame`) and consume payloads
//! straight from the read buffer without copying, and so the same code drives
//! the raw TCP paths (direct, `socat`) and the WebSocket ones.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::{client::generate_key, derive_accept_key};

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Upper bound for the HTTP upgrade response, so a broken proxy cannot make
/// the client buffer without limit.
const MAX_HANDSHAKE_RESPONSE: usize = 16 * 1024;

/// Control frames the caller must act on.
enum Ctrl {
    Ping(Vec<u8>),
    Close,
}

/// One client connection. In WebSocket mode `rbuf` holds received bytes not
/// parsed yet and `data_left` the payload bytes of the current data frame
/// still to come, so payloads are consumed straight from the read buffer.
///
/// Generic over the stream so the same code speaks over TLS (`wss://`, or
/// raw TCP through socat's OPENSSL front); plain TCP by default.
pub struct Client<S = TcpStream> {
    pub stream: S,
    pub ws: bool,
    pub rbuf: BytesMut,
    data_left: u64,
    /// How much to reserve per read: large for throughput, small for the
    /// thousands of idle sessions.
    pub read_chunk: usize,
    rng: u64,
}

impl Client {
    pub async fn connect(addr: SocketAddr, ws: bool, read_chunk: usize) -> Result<Self> {
        Self::connect_proto(addr, ws, read_chunk, None).await
    }

    /// `connect`, offering the WebSocket subprotocol `protocol` (which the
    /// server must then accept) when given.
    pub async fn connect_proto(
        addr: SocketAddr,
        ws: bool,
        read_chunk: usize,
        protocol: Option<&str>,
    ) -> Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        Client::start(stream, addr, ws, read_chunk, protocol).await
    }
}

impl Client<crate::tls::Stream> {
    /// `connect` over TLS (the server's certificate is not checked: the
    /// bench's own, on loopback).
    pub async fn connect_tls(addr: SocketAddr, ws: bool, read_chunk: usize) -> Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        let stream = crate::tls::connect(stream, addr).await?;
        Client::start(stream, addr, ws, read_chunk, None).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Client<S> {
    /// A client on a connected `stream`, after the WebSocket handshake when
    /// `ws`.
    async fn start(
        stream: S,
        addr: SocketAddr,
        ws: bool,
        read_chunk: usize,
        protocol: Option<&str>,
    ) -> Result<Self> {
        let mut c = Client {
            stream,
            ws,
            rbuf: BytesMut::new(),
            data_left: 0,
            read_chunk,
            rng: seed(),
        };
        if ws {
            c.handshake(addr, protocol).await?;
        }
        Ok(c)
    }

    /// RFC 6455 client handshake; no subprotocol (what current noVNC sends)
    /// unless `protocol` is given.
    async fn handshake(&mut self, addr: SocketAddr, protocol: Option<&str>) -> Result<()> {
        let key = generate_key();
        let offer = protocol.map_or(String::new(), |p| {
            format!("Sec-WebSocket-Protocol: {p}\r\n")
        });
        let req = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
        );
        self.stream.write_all(req.as_bytes()).await?;
        let end = loop {
            if let Some(pos) = find(&self.rbuf, b"\r\n\r\n") {
                break pos + 4;
            }
            ensure!(
                self.rbuf.len() < MAX_HANDSHAKE_RESPONSE,
                "handshake response larger than {MAX_HANDSHAKE_RESPONSE} bytes"
            );
            self.rbuf.reserve(4096);
            let n = self.stream.read_buf(&mut self.rbuf).await?;
            ensure!(n > 0, "connection closed during WebSocket handshake");
        };
        let head = self.rbuf.split_to(end);
        let head = String::from_utf8_lossy(&head);
        check_upgrade_response(&head, &key)?;
        if let Some(p) = protocol {
            ensure!(
                header_value(&head, "sec-websocket-protocol") == Some(p),
                "the server did not accept subprotocol {p:?}"
            );
        }
        Ok(())
    }

    pub fn next_mask(&mut self) -> [u8; 4] {
        // xorshift64: masking keys need not be cryptographic for a benchmark.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng as u32).to_le_bytes()
    }

    /// Send one message: raw bytes, or one masked binary frame.
    pub async fn send_msg(&mut self, payload: &[u8]) -> Result<()> {
        if self.ws {
            self.send_frame(OP_BINARY, payload).await
        } else {
            Ok(self.stream.write_all(payload).await?)
        }
    }

    pub async fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> Result<()> {
        let mut out = Vec::with_capacity(payload.len() + 14);
        let mask = self.next_mask();
        encode_frame(&mut out, opcode, payload, mask);
        Ok(self.stream.write_all(&out).await?)
    }

    /// Read once from the socket (or use what is buffered) and hand payload
    /// bytes to `on_data`. Answers pings. Errors on close or EOF.
    pub async fn recv_some(&mut self, on_data: &mut (dyn FnMut(&[u8]) + Send)) -> Result<()> {
        if !self.ws {
            self.rbuf.clear();
            self.rbuf.reserve(self.read_chunk);
            let n = self.stream.read_buf(&mut self.rbuf).await?;
            ensure!(n > 0, "connection closed by peer");
            on_data(&self.rbuf);
            return Ok(());
        }
        if self.pump(on_data).await? {
            bail!("WebSocket closed by peer");
        }
        self.rbuf.reserve(self.read_chunk);
        let n = self.stream.read_buf(&mut self.rbuf).await?;
        ensure!(n > 0, "connection closed by peer (no close frame)");
        if self.pump(on_data).await? {
            bail!("WebSocket closed by peer");
        }
        Ok(())
    }

    /// Parse everything buffered, answering pings. Returns true on close.
    pub async fn pump(&mut self, on_data: &mut (dyn FnMut(&[u8]) + Send)) -> Result<bool> {
        loop {
            match self.parse(on_data)? {
                Some(Ctrl::Ping(p)) => self.send_frame(OP_PONG, &p).await?,
                Some(Ctrl::Close) => return Ok(true),
                None => return Ok(false),
            }
        }
    }

    /// Consume as much of `rbuf` as is complete. Data payload goes to
    /// `on_data`; stops at the first control frame the caller must handle.
    fn parse(&mut self, on_data: &mut (dyn FnMut(&[u8]) + Send)) -> Result<Option<Ctrl>> {
        loop {
            if self.data_left > 0 {
                if self.rbuf.is_empty() {
                    return Ok(None);
                }
                let n = self.rbuf.len().min(usize::try_from(self.data_left)?);
                on_data(&self.rbuf[..n]);
                self.rbuf.advance(n);
                self.data_left -= n as u64;
                continue;
            }
            let Some((opcode, len, hdr)) = frame_header(&self.rbuf)? else {
                return Ok(None);
            };
            match opcode {
                OP_CONT | OP_TEXT | OP_BINARY => {
                    self.rbuf.advance(hdr);
                    self.data_left = len;
                }
                OP_CLOSE | OP_PING | OP_PONG => {
                    ensure!(len <= 125, "control frame payload of {len} bytes");
                    let total = hdr + len as usize;
                    if self.rbuf.len() < total {
                        return Ok(None);
                    }
                    let payload = self.rbuf[hdr..total].to_vec();
                    self.rbuf.advance(total);
                    match opcode {
                        OP_CLOSE => return Ok(Some(Ctrl::Close)),
                        OP_PING => return Ok(Some(Ctrl::Ping(payload))),
                        _ => {}
                    }
                }
                _ => bail!("unknown opcode {opcode:#x}"),
            }
        }
    }

    /// Receive exactly `out.len()` payload bytes (echo replies).
    pub async fn recv_exact(&mut self, out: &mut [u8]) -> Result<()> {
        if !self.ws {
            self.stream.read_exact(out).await?;
            return Ok(());
        }
        let mut filled = 0usize;
        let mut overflow = false;
        let want = out.len();
        // Whatever is already buffered first (it may hold the whole reply).
        {
            let mut sink = |d: &[u8]| copy_into(out, &mut filled, &mut overflow, d);
            if self.pump(&mut sink).await? {
                bail!("WebSocket closed by peer");
            }
        }
        while filled < want && !overflow {
            let mut sink = |d: &[u8]| copy_into(out, &mut filled, &mut overflow, d);
            self.recv_some(&mut sink).await?;
        }
        ensure!(!overflow, "more echo data than sent");
        Ok(())
    }

    /// Orderly close: WebSocket close frame and wait (bounded) for the
    /// server's close or EOF; raw TCP: FIN.
    pub async fn close(mut self) -> Result<()> {
        if self.ws {
            self.send_frame(OP_CLOSE, &1000u16.to_be_bytes()).await?;
            let wait = async {
                loop {
                    if self.pump(&mut |_| {}).await? {
                        return Ok::<(), anyhow::Error>(());
                    }
                    self.rbuf.reserve(4096);
                    if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                        return Ok(());
                    }
                }
            };
            tokio::time::timeout(Duration::from_secs(2), wait)
                .await
                .context("no close reply within 2 s")??;
        } else {
            self.stream.shutdown().await?;
        }
        Ok(())
    }
}

/// The server's upgrade response head (up to the blank line): `101` and the
/// `Sec-WebSocket-Accept` that answers `key`.
fn check_upgrade_response(head: &str, key: &str) -> Result<()> {
    let status = head.split("\r\n").next().unwrap_or_default();
    ensure!(
        status.starts_with("HTTP/1.1 101"),
        "handshake refused: {status:?}"
    );
    let want = derive_accept_key(key.as_bytes());
    let accepted = header_value(head, "sec-websocket-accept") == Some(want.as_str());
    ensure!(accepted, "missing or wrong Sec-WebSocket-Accept");
    Ok(())
}

/// The value of header `name` (lower case) in a response head.
fn header_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A server frame's header at the start of `b`: opcode, payload length and
/// header length, or `None` until all of the header has arrived.
fn frame_header(b: &[u8]) -> Result<Option<(u8, u64, usize)>> {
    if b.len() < 2 {
        return Ok(None);
    }
    ensure!(b[0] & 0x70 == 0, "server frame with RSV bits set");
    let opcode = b[0] & 0x0f;
    ensure!(b[1] & 0x80 == 0, "server sent a masked frame");
    let (len, hdr) = match b[1] & 0x7f {
        126 => {
            if b.len() < 4 {
                return Ok(None);
            }
            (u64::from(u16::from_be_bytes([b[2], b[3]])), 4)
        }
        127 => {
            if b.len() < 10 {
                return Ok(None);
            }
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[2..10]);
            (u64::from_be_bytes(x), 10)
        }
        l => (u64::from(l), 2),
    };
    Ok(Some((opcode, len, hdr)))
}

fn copy_into(out: &mut [u8], filled: &mut usize, overflow: &mut bool, d: &[u8]) {
    let room = out.len() - *filled;
    if d.len() > room {
        *overflow = true;
    }
    let n = d.len().min(room);
    out[*filled..*filled + n].copy_from_slice(&d[..n]);
    *filled += n;
}

/// Append one masked client frame of `payload` to `out`.
pub fn encode_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    frame_head(out, true, opcode, payload.len() as u64, mask);
    mask_payload(out, payload, mask, 0);
}

/// Append the header of a masked client frame announcing `len` payload
/// bytes; the payload may then follow in pieces (`mask_payload`).
pub fn frame_head(out: &mut Vec<u8>, fin: bool, opcode: u8, len: u64, mask: [u8; 4]) {
    out.push(if fin { 0x80 } else { 0 } | opcode);
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(l) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&l.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(&mask);
}

/// Append `payload` masked with `mask`, as the bytes starting at `offset`
/// of a frame's payload.
pub fn mask_payload(out: &mut Vec<u8>, payload: &[u8], mask: [u8; 4], offset: u64) {
    let m: [u8; 8] = std::array::from_fn(|i| mask[(i + offset as usize) & 3]);
    let m64 = u64::from_ne_bytes(m);
    let start = out.len();
    out.extend_from_slice(payload);
    let mut words = out[start..].chunks_exact_mut(8);
    for w in &mut words {
        let x = u64::from_ne_bytes((&*w).try_into().unwrap_or([0; 8])) ^ m64;
        w.copy_from_slice(&x.to_ne_bytes());
    }
    for (b, k) in words.into_remainder().iter_mut().zip(m) {
        *b ^= k;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A non-zero seed from the clock and the pid: masking keys, upload tags.
pub fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9e37_79b9_7f4a_7c15);
    // Never zero (xorshift would stay at zero).
    (t ^ u64::from(std::process::id()).rotate_left(32)) | 1
}
