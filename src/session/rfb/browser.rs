//! The handshake the browser sees when the proxy has authenticated for it
//! (`vnc-password-file`): the server's ProtocolVersion, security type None
//! only, and the SecurityResult its version calls for. ClientInit and all
//! that follows go through the relay untouched.

use tokio::io::{AsyncRead, AsyncWrite};

use super::banner::{self, Version};
use super::frames::{FrameStop, Frames};

/// Security type None.
const NONE: u8 = 1;

/// Offers `offer` and runs the client's side up to where ClientInit is due;
/// returns what the client was sent (no secret: the proxy's own None
/// handshake), which a recording starts with so that it replays.
/// The browser may answer an older version; its side then follows that one.
pub async fn present<C>(frames: &mut Frames<'_, C>, offer: Version) -> Result<Vec<u8>, FrameStop>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let mut sent = offer.banner().to_vec();
    frames.send(offer.banner()).await?;
    let answer = frames.take(banner::LEN).await?;
    let Some(chosen) = Version::parse(&answer) else {
        return Err(fault("the client's first message is not an RFB version"));
    };
    match chosen {
        Version::V3_3 => {
            let none = u32::from(NONE).to_be_bytes();
            frames.send(&none).await?;
            sent.extend_from_slice(&none);
        }
        Version::V3_7 | Version::V3_8 => {
            frames.send(&[1, NONE]).await?;
            sent.extend_from_slice(&[1, NONE]);
            let pick = frames.take(1).await?[0];
            if pick != NONE {
                return Err(fault(&format!(
                    "the client chose security type {pick}, not None"
                )));
            }
            if chosen == Version::V3_8 {
                frames.send(&0u32.to_be_bytes()).await?;
                sent.extend_from_slice(&0u32.to_be_bytes());
            }
        }
    }
    Ok(sent)
}

/// The client broke the RFB handshake: 1002, protocol error.
fn fault(why: &str) -> FrameStop {
    FrameStop::Fault(1002, format!("RFB protocol error: {why}"))
}
