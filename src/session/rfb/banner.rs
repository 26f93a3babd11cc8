//! The RFB ProtocolVersion: the 12 bytes `RFB xxx.yyy\n` a VNC server sends
//! first. Reading it tells a VNC server from any other TCP service
//! (`require-rfb`, `--check`).

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio::time::timeout;

/// The length of a ProtocolVersion message.
pub const LEN: usize = 12;

/// An RFB protocol version, as the handshake treats it: 3.3, 3.7 or 3.8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// 3.3: the server chooses the security type.
    V3_3,
    /// 3.7: the client chooses; no SecurityResult after type None.
    V3_7,
    /// 3.8: the client chooses; SecurityResult always, with a reason on failure.
    V3_8,
}

impl Version {
    /// The version a peer's `RFB xxx.yyy\n` stands for, `None` when those
    /// 12 bytes are not a ProtocolVersion. As the RFB specification asks,
    /// unknown 3.x minors count as 3.3, newer ones (3.889) as 3.8.
    pub fn parse(banner: &[u8]) -> Option<Self> {
        let (major, minor) = numbers(banner)?;
        match (major, minor) {
            (3, 8..) | (4.., _) => Some(Self::V3_8),
            (3, 7) => Some(Self::V3_7),
            (3, _) => Some(Self::V3_3),
            _ => None,
        }
    }

    /// Its ProtocolVersion message.
    pub fn banner(self) -> &'static [u8; LEN] {
        match self {
            Self::V3_3 => b"RFB 003.003\n",
            Self::V3_7 => b"RFB 003.007\n",
            Self::V3_8 => b"RFB 003.008\n",
        }
    }
}

/// `RFB xxx.yyy\n`'s two numbers.
fn numbers(banner: &[u8]) -> Option<(u16, u16)> {
    let rest = banner.strip_prefix(b"RFB ")?;
    if rest.len() != 8 || rest[3] != b'.' || rest[7] != b'\n' {
        return None;
    }
    let number = |digits: &[u8]| -> Option<u16> {
        digits.iter().try_fold(0u16, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u16::from(d - b'0'))
        })
    };
    Some((number(&rest[..3])?, number(&rest[4..7])?))
}

/// Reads the target's first 12 bytes within `limit`; an error unless they
/// are an RFB ProtocolVersion (the bytes are returned with the version).
pub async fn read<R: AsyncRead + Unpin>(
    target: &mut R,
    limit: Duration,
) -> io::Result<([u8; LEN], Version)> {
    let mut banner = [0u8; LEN];
    match timeout(limit, target.read_exact(&mut banner)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
            return Err(not_vnc("it closed the connection without a word"))
        }
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(not_vnc(&format!("it said nothing for {limit:?}"))),
    }
    match Version::parse(&banner) {
        Some(v) => Ok((banner, v)),
        None => Err(not_vnc("its first bytes are not an RFB version")),
    }
}

/// How the errors of `read` about what the target sent begin.
pub const NOT_VNC_PREFIX: &str = "not a VNC server: ";

fn not_vnc(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{NOT_VNC_PREFIX}{why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(Version::parse(b"RFB 003.008\n"), Some(Version::V3_8));
        assert_eq!(Version::parse(b"RFB 003.889\n"), Some(Version::V3_8));
        assert_eq!(Version::parse(b"RFB 003.007\n"), Some(Version::V3_7));
        assert_eq!(Version::parse(b"RFB 003.005\n"), Some(Version::V3_3));
        assert_eq!(Version::parse(b"RFB 003.008"), None);
        assert_eq!(Version::parse(b"SSH-2.0-Open"), None);
        assert_eq!(Version::parse(b"RFB 00a.008\n"), None);
        assert_eq!(Version::parse(b"RFB 002.008\n"), None);
    }
}
