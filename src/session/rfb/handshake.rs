//! The proxy's side of the RFB handshake with the target (`vnc-password-file`):
//! ProtocolVersion, the security type (VNC Authentication, type 2), the DES
//! answer to the challenge and the SecurityResult. After it the server waits
//! for ClientInit, which the browser sends through the relay.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::banner::Version;
use super::vencrypt;
use crate::access::vnc_password::VncPassword;

/// Security type None.
const NONE: u8 = 1;
/// Security type VNC Authentication.
const VNC_AUTH: u8 = 2;
/// The longest failure reason read from a server.
const MAX_REASON: u32 = 1024;

/// Why the target did not let the proxy in: the text goes into the close
/// frame (1011) and the log, and never holds the password.
#[derive(Debug)]
pub struct Refused(pub String);

impl From<io::Error> for Refused {
    fn from(e: io::Error) -> Self {
        Refused(format!("VNC handshake with the target failed: {e}"))
    }
}

/// Speaks the handshake as a client up to the SecurityResult; `version`
/// is what the server sent (the same is answered).
pub async fn authenticate<T>(t: &mut T, version: Version, pw: &VncPassword) -> Result<(), Refused>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    if let Err(e) = t.write_all(version.banner()).await {
        // A server that refuses at once (TigerVNC's blacklist: "Too many
        // security failures") sends 3.3's refusal and closes without
        // reading; its reason is still there to read.
        return Err(match t.read_u32().await {
            Ok(0) => refused(t, "the VNC server refused the connection").await,
            _ => Refused::from(e),
        });
    }
    let chosen = match version {
        Version::V3_3 => match t.read_u32().await? {
            0 => return Err(refused(t, "the VNC server refused the connection").await),
            n if n == u32::from(NONE) => NONE,
            n if n == u32::from(VNC_AUTH) => VNC_AUTH,
            n => {
                let name = type_name(n);
                return Err(Refused(format!(
                    "the VNC server chose security type {n} ({name}), not VNC Authentication"
                )));
            }
        },
        Version::V3_7 | Version::V3_8 => choose(t).await?,
    };
    if chosen == VNC_AUTH {
        let mut challenge = [0u8; 16];
        t.read_exact(&mut challenge).await?;
        t.write_all(&pw.response(&challenge)).await?;
    } else if version != Version::V3_8 {
        return Ok(()); // type None: 3.3 and 3.7 send no SecurityResult
    }
    result(t, version).await
}

/// 3.7 and 3.8: the server lists its types; the proxy takes VNC
/// Authentication, or None when the server needs no password.
async fn choose<T>(t: &mut T) -> Result<u8, Refused>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let count = t.read_u8().await?;
    if count == 0 {
        return Err(refused(t, "the VNC server refused the connection").await);
    }
    let mut types = vec![0u8; usize::from(count)];
    t.read_exact(&mut types).await?;
    let chosen = [VNC_AUTH, NONE].into_iter().find(|c| types.contains(c));
    let Some(chosen) = chosen else {
        return Err(no_vnc_auth(t, &types).await);
    };
    t.write_all(&[chosen]).await?;
    Ok(chosen)
}

/// The refusal naming the types offered; VeNCrypt's subtypes too, read
/// from the server, since TigerVNC's `-SecurityTypes` names those.
async fn no_vnc_auth<T>(t: &mut T, types: &[u8]) -> Refused
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let vencrypt = match types.contains(&vencrypt::VENCRYPT) {
        true => vencrypt::subtypes(t).await.ok(),
        false => None,
    };
    let named: Vec<String> = types
        .iter()
        .map(|&n| match (n, &vencrypt) {
            (vencrypt::VENCRYPT, Some(subs)) => {
                let subs: Vec<String> = subs.iter().map(|&s| vencrypt::subtype_name(s)).collect();
                format!("{n} (VeNCrypt: {})", subs.join(", "))
            }
            _ => format!("{n} ({})", type_name(u32::from(n))),
        })
        .collect();
    Refused(format!(
        "the VNC server offers no VNC Authentication: security types {}",
        named.join(", ")
    ))
}

/// The SecurityResult: 0 is OK, 1 failed (3.8: with a reason), 2 too many
/// attempts (older servers).
async fn result<T>(t: &mut T, version: Version) -> Result<(), Refused>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    match t.read_u32().await? {
        0 => Ok(()),
        1 if version == Version::V3_8 => {
            Err(refused(t, "the VNC server refused the password").await)
        }
        1 => Err(Refused("the VNC server refused the password".into())),
        2 => Err(Refused(
            "the VNC server refused the password: too many authentication failures".into(),
        )),
        n => Err(Refused(format!("the VNC server sent SecurityResult {n}"))),
    }
}

/// `what`, with the reason string the server sends after it.
async fn refused<T: AsyncRead + Unpin>(t: &mut T, what: &str) -> Refused {
    match reason(t).await {
        Ok(r) if !r.is_empty() => Refused(format!("{what}: {r}")),
        _ => Refused(what.to_owned()),
    }
}

/// A server's reason string (u32 length, then text), bounded and printable.
async fn reason<T: AsyncRead + Unpin>(t: &mut T) -> io::Result<String> {
    let len = t.read_u32().await?.min(MAX_REASON);
    let mut text = vec![0u8; len as usize];
    t.read_exact(&mut text).await?;
    let text = String::from_utf8_lossy(&text);
    Ok(text.chars().filter(|c| !c.is_control()).collect())
}

/// The registered name of a security type (IANA RFB registry), for messages.
fn type_name(n: u32) -> &'static str {
    match n {
        1 => "None",
        2 => "VNC Authentication",
        5 => "RA2",
        6 => "RA2ne",
        16 => "Tight",
        17 => "Ultra",
        18 => "TLS",
        19 => "VeNCrypt",
        20 => "SASL",
        21 => "MD5",
        22 => "xvp",
        30 => "Apple Remote Desktop",
        113 | 129 => "Unix Logon",
        _ => "unknown",
    }
}
