//! VNC awareness, each part opt in, run between the target connect and the
//! relay. `require-rfb`: the target must open with an RFB ProtocolVersion
//! (`banner`), which then goes to the client as the target's first bytes.
//! `vnc-password-file`, or a token's `vnc_password` (which the session puts
//! in the policy in its place): the proxy answers the target's VNC Authentication
//! itself (`access::vnc_password`: the password and DES; `handshake`: the target's side)
//! and offers the browser security type None (`browser`), speaking RFB in
//! WebSocket frames until the relay takes over (`frames`). `probe`: the
//! target check of `--check`, `/readyz` and `websockifyctl status`.
//! `vencrypt`: the subtypes a VeNCrypt-only server offers, for its refusal.

pub mod banner;
mod browser;
mod frames;
mod handshake;
pub mod probe;
mod vencrypt;

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::time::timeout;

pub use crate::config::RfbPolicy as Policy;
use frames::{FrameStop, Frames};

use super::codec::Mode;
use super::relay::ClientWriter;
use super::target::TargetStream;

/// The close reason when the target does not open with an RFB version.
pub const NOT_VNC: &str = "target is not a VNC server";

/// How long each side of the handshake may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// The target's banner, and its handshake (`connect-timeout`).
    pub target: Duration,
    /// The browser's answers (`handshake-timeout`).
    pub client: Duration,
}

/// Why a session ends before its relay starts: the close frame to send
/// (none when the client is gone) and the text of the log line. Neither
/// ever holds the password.
#[derive(Debug)]
pub struct HandshakeRefusal {
    /// The close code, and the reason sent with it; `None`: send nothing.
    pub close: Option<(u16, String)>,
    /// What happened, for the log.
    pub log: String,
}

/// Runs what `policy` asks on a connected target; `Ok` when the relay may
/// start, with what the client was sent here (the banner checked, or the
/// proxy's own None handshake; never the target's authentication), which a
/// recording starts with so that it replays.
pub async fn prepare<C>(
    client: &mut C,
    target: &mut TargetStream,
    policy: &Policy,
    mode: Mode,
    limits: Timeouts,
) -> Result<Vec<u8>, HandshakeRefusal>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    if policy.password.is_none() && !policy.require_rfb {
        return Ok(Vec::new());
    }
    let (banner, version) = banner::read(target, limits.target)
        .await
        .map_err(|e| target_refusal(NOT_VNC, format!("target {e}")))?;
    let Some(password) = &policy.password else {
        // Only checked: the banner is the first thing the client receives.
        let sent = ClientWriter::new(&mut *client).payload(mode, &banner).await;
        return sent
            .map(|()| banner.to_vec())
            .map_err(|e| client_refusal(FrameStop::Gone(e.to_string())));
    };
    let auth = handshake::authenticate(target, version, password);
    match timeout(limits.target, auth).await {
        Ok(Ok(())) => {}
        Ok(Err(handshake::Refused(why))) => return Err(target_refusal(&why, why.clone())),
        Err(_) => {
            let why = format!(
                "the VNC server did not finish its handshake within {:?}",
                limits.target
            );
            return Err(target_refusal(&why, why.clone()));
        }
    }
    let (rest, shown) = browser_side(client, mode, version, limits.client).await?;
    // Whatever the client sent beyond the handshake (ClientInit) goes first.
    target
        .write_all(&rest)
        .await
        .map_err(|e| target_refusal("Target connection error", format!("target: {e}")))?;
    Ok(shown)
}

/// The browser's handshake; what it sent beyond it (ClientInit, if it came
/// in the same message), and what it was sent.
async fn browser_side<C>(
    client: &mut C,
    mode: Mode,
    version: banner::Version,
    limit: Duration,
) -> Result<(Vec<u8>, Vec<u8>), HandshakeRefusal>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let mut frames = Frames::new(client, mode);
    let browser = async {
        let shown = browser::present(&mut frames, version).await?;
        Ok((frames.finish().await?, shown))
    };
    match timeout(limit, browser).await {
        Ok(Ok(rest)) => Ok(rest),
        Ok(Err(stop)) => Err(client_refusal(stop)),
        Err(_) => Err(client_refusal(FrameStop::Fault(
            1008,
            "RFB handshake timed out".into(),
        ))),
    }
}

/// The target's fault: 1011 with `reason`.
fn target_refusal(reason: &str, log: String) -> HandshakeRefusal {
    HandshakeRefusal {
        close: Some((1011, reason.to_owned())),
        log,
    }
}

/// The client's side of the handshake failed.
fn client_refusal(stop: FrameStop) -> HandshakeRefusal {
    match stop {
        FrameStop::Fault(code, why) => HandshakeRefusal {
            log: format!("the client broke the RFB handshake: {why}"),
            close: Some((code, why)),
        },
        FrameStop::Closed(code) => HandshakeRefusal {
            close: Some((code.unwrap_or(1000), String::new())),
            log: "the client closed during the RFB handshake".into(),
        },
        FrameStop::Gone(why) => HandshakeRefusal {
            close: None,
            log: format!("the client went away during the RFB handshake: {why}"),
        },
    }
}
