//! Huge messages: one message of `--mib` (1 GiB) each way through the
//! proxy, per subprotocol (`binary`, none, `base64`), checked byte for byte
//! by SHA-256 at the far end, while a side thread samples the proxy's PSS
//! every 50 ms ([`PeakSampler`]); records the peak growth over the PSS
//! before and the rate of each direction.
//!
//! Client→target is ONE WebSocket message: with `binary` and no subprotocol
//! a single frame announcing the whole length, its payload written 1 MiB at
//! a time; with `base64` a text frame and continuation frames, the base64
//! of the stream split off group boundaries. Target→client is whatever
//! frames the proxy makes of the target's 1 GiB, followed by the target's
//! SHA-256 of what it sent.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clap::{Args, ValueEnum};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::client::{frame_head, mask_payload, Client, OP_BINARY, OP_CONT, OP_TEXT};
use crate::measure::{record, secs, Common};
use crate::pattern::{B64Stream, Pattern, CHUNK};
use crate::pss::{tree_pss_kib, PeakSampler};
use crate::target::{tagged, MODE_GEN, MODE_HASH};

/// The subprotocol a huge-message session offers.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Proto {
    Binary,
    None,
    Base64,
}

impl Proto {
    fn offer(self) -> Option<&'static str> {
        match self {
            Proto::Binary => Some("binary"),
            Proto::None => None,
            Proto::Base64 => Some("base64"),
        }
    }

    fn name(self) -> &'static str {
        self.offer().unwrap_or("none")
    }
}

/// What to run: the proxy whose PSS is followed, the message size, the
/// subprotocols in turn and the deadline of each direction.
#[derive(Args)]
pub struct HugeOpts {
    #[command(flatten)]
    common: Common,
    /// The proxy, whose PSS is sampled.
    #[arg(long)]
    pid: u32,
    /// Message size in MiB.
    #[arg(long, default_value_t = 1024)]
    mib: u64,
    /// Subprotocols, in turn.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "binary,none,base64"
    )]
    protos: Vec<Proto>,
    /// Deadline of each direction.
    #[arg(long, default_value_t = 120.0)]
    max_secs: f64,
}

pub async fn huge(o: &HugeOpts) -> Result<()> {
    ensure!(o.mib > 0, "--mib must be positive");
    let pattern = Pattern::new();
    let mut failed = 0;
    for &p in &o.protos {
        failed += one_proto(&o.common, o, p, &pattern).await?;
    }
    ensure!(failed == 0, "{failed} huge-message transfer(s) failed");
    Ok(())
}

/// Both directions with subprotocol `p`; returns how many failed.
async fn one_proto(common: &Common, o: &HugeOpts, p: Proto, pattern: &Pattern) -> Result<u32> {
    let (base, _) = tree_pss_kib(o.pid)?;
    let sampler = PeakSampler::start(o.pid, Duration::from_millis(50));
    let limit = secs(o.max_secs);
    let n = o.mib << 20;
    let up = tokio::time::timeout(limit, upload(common, p, n, pattern)).await;
    let down = tokio::time::timeout(limit, download(common, p, n)).await;
    let (peak, samples) = sampler.finish();
    let name = p.name();
    record(common, &format!("huge_{name}_pss_base_kib"), base as f64)?;
    record(
        common,
        &format!("huge_{name}_peak_growth_kib"),
        peak as f64 - base as f64,
    )?;
    record(common, &format!("huge_{name}_samples"), samples as f64)?;
    let mut failed = 0;
    for (dir, r) in [("up", up), ("down", down)] {
        let r = r.context("timed out").and_then(|r| r);
        record(
            common,
            &format!("huge_{name}_{dir}_ok"),
            f64::from(r.is_ok()),
        )?;
        match r {
            Ok(mbps) => record(common, &format!("huge_{name}_{dir}_mbps"), mbps)?,
            Err(e) => {
                eprintln!("huge {name} {dir}: {e:#}");
                failed += 1;
            }
        }
    }
    Ok(failed)
}

async fn connect(common: &Common, p: Proto) -> Result<Client> {
    Client::connect_proto(common.connect, true, CHUNK, p.offer()).await
}

/// A short message: binary, or base64 text for `base64`.
async fn send_small(c: &mut Client, p: Proto, msg: &[u8]) -> Result<()> {
    match p {
        Proto::Base64 => c.send_frame(OP_TEXT, STANDARD.encode(msg).as_bytes()).await,
        _ => c.send_msg(msg).await,
    }
}

/// Client→target: the target hashes what it received and answers the digest.
async fn upload(common: &Common, p: Proto, n: u64, pattern: &Pattern) -> Result<f64> {
    let mut c = connect(common, p).await?;
    send_small(&mut c, p, &tagged(MODE_HASH, n)).await?;
    let t0 = Instant::now();
    let sent = match p {
        Proto::Base64 => send_base64(&mut c, n, pattern).await?,
        _ => send_binary(&mut c, n, pattern).await?,
    };
    let mut rx = Received::new(p, 0);
    receive(&mut c, &mut rx).await?;
    ensure!(
        rx.tail[..] == sent[..],
        "the target's SHA-256 differs from the sent message's"
    );
    Ok(n as f64 / t0.elapsed().as_secs_f64() / 1e6)
}

/// One binary frame announcing `n` bytes, its payload 1 MiB per write.
async fn send_binary(c: &mut Client, n: u64, pattern: &Pattern) -> Result<[u8; 32]> {
    let mask = c.next_mask();
    let mut out = Vec::with_capacity(CHUNK + 14);
    frame_head(&mut out, true, OP_BINARY, n, mask);
    let mut h = Sha256::new();
    let mut off = 0u64;
    for i in 0..Pattern::chunks(n) {
        let chunk = pattern.chunk(i, n);
        h.update(chunk);
        mask_payload(&mut out, chunk, mask, off);
        off += chunk.len() as u64;
        c.stream.write_all(&out).await?;
        out.clear();
    }
    Ok(h.finalize().into())
}

/// One text message of the base64 of `n` bytes, a frame per 1 MiB chunk.
async fn send_base64(c: &mut Client, n: u64, pattern: &Pattern) -> Result<[u8; 32]> {
    let mut h = Sha256::new();
    let mut frames = B64Frames::default();
    let chunks = Pattern::chunks(n);
    for i in 0..chunks {
        let chunk = pattern.chunk(i, n);
        h.update(chunk);
        let mask = c.next_mask();
        let frame = frames.next(chunk, i + 1 == chunks, mask);
        c.stream.write_all(frame).await?;
    }
    Ok(h.finalize().into())
}

/// Cuts the base64 of a byte stream into the frames of one text message.
/// Every frame but the last keeps back one character, so frames end in the
/// middle of a 4-character group, as the proxy must allow.
#[derive(Default)]
struct B64Frames {
    raw: Vec<u8>,
    text: String,
    out: Vec<u8>,
    started: bool,
}

impl B64Frames {
    fn next(&mut self, chunk: &[u8], last: bool, mask: [u8; 4]) -> &[u8] {
        self.raw.extend_from_slice(chunk);
        let take = if last {
            self.raw.len()
        } else {
            self.raw.len() / 3 * 3
        };
        STANDARD.encode_string(&self.raw[..take], &mut self.text);
        self.raw.drain(..take);
        let send = if last {
            self.text.len()
        } else {
            self.text.len().saturating_sub(1)
        };
        let opcode = if self.started { OP_CONT } else { OP_TEXT };
        self.started = true;
        self.out.clear();
        frame_head(&mut self.out, last, opcode, send as u64, mask);
        mask_payload(&mut self.out, &self.text.as_bytes()[..send], mask, 0);
        self.text.drain(..send);
        &self.out
    }
}

/// Target→client: `n` bytes of the pattern, then the target's digest of them.
async fn download(common: &Common, p: Proto, n: u64) -> Result<f64> {
    let mut c = connect(common, p).await?;
    send_small(&mut c, p, &tagged(MODE_GEN, n)).await?;
    let t0 = Instant::now();
    let mut rx = Received::new(p, n);
    receive(&mut c, &mut rx).await?;
    let got: [u8; 32] = rx.hash.finalize().into();
    ensure!(
        rx.tail[..] == got[..],
        "the received message's SHA-256 differs from the target's"
    );
    Ok(n as f64 / t0.elapsed().as_secs_f64() / 1e6)
}

/// Receive until `rx` has its message and the 32-byte digest after it.
async fn receive(c: &mut Client, rx: &mut Received) -> Result<()> {
    while rx.tail.len() < 32 {
        // The target closes once it has sent the digest, so the proxy's
        // close may come in the same read: an error only counts if the
        // digest is still missing.
        let r = c.recv_some(&mut |d| rx.feed(d)).await;
        if let Some(e) = rx.err.take() {
            return Err(e);
        }
        if let Err(e) = r {
            ensure!(rx.tail.len() >= 32, e);
        }
    }
    if rx.tail.len() > 32 {
        bail!("{} bytes more than expected", rx.tail.len() - 32);
    }
    Ok(())
}

/// What arrived: the first `n` payload bytes are hashed, the rest kept in
/// `tail` (the digest); base64 text is decoded first.
struct Received {
    b64: Option<B64Stream>,
    hash: Sha256,
    n: u64,
    seen: u64,
    tail: Vec<u8>,
    err: Option<anyhow::Error>,
}

impl Received {
    fn new(p: Proto, n: u64) -> Self {
        Received {
            b64: (p == Proto::Base64).then(B64Stream::default),
            hash: Sha256::new(),
            n,
            seen: 0,
            tail: Vec::new(),
            err: None,
        }
    }

    fn feed(&mut self, d: &[u8]) {
        let bytes = match &mut self.b64 {
            Some(b) => match b.feed(d) {
                Ok(x) => x,
                Err(e) => {
                    self.err.get_or_insert(e);
                    return;
                }
            },
            None => d,
        };
        let body = usize::try_from(self.n - self.seen).map_or(bytes.len(), |l| l.min(bytes.len()));
        self.hash.update(&bytes[..body]);
        self.seen += body as u64;
        self.tail.extend_from_slice(&bytes[body..]);
    }
}
