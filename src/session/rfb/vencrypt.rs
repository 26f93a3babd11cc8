//! VeNCrypt (security type 19), only as far as naming what it offers: when
//! a server offers no VNC Authentication, the proxy cannot inject the
//! password, and the refusal should say which VeNCrypt subtypes the server
//! wanted. TigerVNC's TLS subtypes use anonymous Diffie-Hellman (TLSVnc) or
//! X.509 certificates (X509Vnc); rustls has no anonymous TLS, so neither is
//! spoken here. TigerVNC's default also offers plain VNC Authentication,
//! which the proxy takes.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// Security type VeNCrypt.
pub const VENCRYPT: u8 = 19;

/// Chooses VeNCrypt, agrees on version 0.2 and reads the subtypes the
/// server offers; the connection is then of no further use.
pub async fn subtypes<T>(t: &mut T) -> io::Result<Vec<u32>>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    t.write_all(&[VENCRYPT]).await?;
    let mut version = [0u8; 2];
    t.read_exact(&mut version).await?;
    if version != [0, 2] {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("VeNCrypt version {}.{}, not 0.2", version[0], version[1]),
        ));
    }
    t.write_all(&[0, 2]).await?;
    if t.read_u8().await? != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "VeNCrypt version 0.2 refused",
        ));
    }
    let count = t.read_u8().await?;
    let mut subtypes = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        subtypes.push(t.read_u32().await?);
    }
    Ok(subtypes)
}

/// A VeNCrypt subtype's name, as TigerVNC's `-SecurityTypes` spells it.
pub fn subtype_name(n: u32) -> String {
    let name = match n {
        1 => "None",
        2 => "VncAuth",
        256 => "Plain",
        257 => "TLSNone",
        258 => "TLSVnc",
        259 => "TLSPlain",
        260 => "X509None",
        261 => "X509Vnc",
        262 => "X509Plain",
        263 => "TLSSASL",
        264 => "X509SASL",
        _ => return format!("subtype {n}"),
    };
    name.into()
}
