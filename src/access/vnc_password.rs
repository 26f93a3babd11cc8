//! VNC Authentication (RFB security type 2): the target's password, read
//! from a plain-text file or a `vncpasswd` file, and the DES answer to the
//! server's 16-byte challenge. VNC keys DES with each password byte's bits
//! reversed (its DES code numbers key bits the other way round).

use std::fmt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use des::cipher::{Block, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use des::Des;

/// The fixed key TigerVNC, TightVNC, RealVNC and x11vnc obfuscate a stored
/// password with (`vncpasswd`, `x11vnc -storepasswd`), as VNC writes it.
const VNCPASSWD_KEY: [u8; 8] = [23, 82, 107, 6, 35, 78, 88, 7];

/// A VNC password: its first 8 bytes, zero-padded (VNC uses no more).
/// Never printed: `Debug` shows no byte of it.
#[derive(Clone, PartialEq, Eq)]
pub struct VncPassword([u8; 8]);

impl fmt::Debug for VncPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VncPassword(..)")
    }
}

impl Drop for VncPassword {
    fn drop(&mut self) {
        self.0 = [0; 8];
    }
}

impl VncPassword {
    /// A password given as text; only its first 8 bytes count.
    pub fn from_text(text: &[u8]) -> Result<Self> {
        if text.is_empty() {
            bail!("the password is empty");
        }
        let mut pw = [0u8; 8];
        let n = text.len().min(8);
        pw[..n].copy_from_slice(&text[..n]);
        Ok(Self(pw))
    }

    /// Reads `path`: exactly 8 bytes without a newline is the `vncpasswd`
    /// format; anything else is plain text, whose first line is the password.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
        Self::from_file(&bytes).with_context(|| format!("{}", path.display()))
    }

    fn from_file(bytes: &[u8]) -> Result<Self> {
        if bytes.len() == 8 && !bytes.contains(&b'\n') {
            let mut block = Block::<Des>::from(<[u8; 8]>::try_from(bytes)?);
            cipher(VNCPASSWD_KEY).decrypt_block(&mut block);
            let mut pw = [0u8; 8];
            pw.copy_from_slice(&block);
            return Ok(Self(pw));
        }
        let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Self::from_text(line).context("the first line holds no password")
    }

    /// The answer to a VNC Authentication challenge: each 8-byte half
    /// encrypted with DES under the password.
    pub fn response(&self, challenge: &[u8; 16]) -> [u8; 16] {
        let des = cipher(self.0);
        let mut out = [0u8; 16];
        for (i, half) in challenge.chunks_exact(8).enumerate() {
            let mut block = Block::<Des>::try_from(half).expect("8 bytes");
            des.encrypt_block(&mut block);
            out[i * 8..i * 8 + 8].copy_from_slice(&block);
        }
        out
    }

    /// The `vncpasswd` file of this password (tests and tools).
    pub fn vncpasswd(&self) -> [u8; 8] {
        let mut block = Block::<Des>::from(self.0);
        cipher(VNCPASSWD_KEY).encrypt_block(&mut block);
        let mut out = [0u8; 8];
        out.copy_from_slice(&block);
        out
    }
}

/// DES keyed the way VNC keys it: each key byte's bits reversed.
fn cipher(key: [u8; 8]) -> Des {
    let key = key.map(u8::reverse_bits);
    Des::new_from_slice(&key).expect("an 8-byte DES key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_key_is_the_well_known_des_key() {
        // vncpasswd's key as standard DES sees it: e84ad660c4721ae0.
        let key = VNCPASSWD_KEY.map(u8::reverse_bits);
        assert_eq!(key, [0xe8, 0x4a, 0xd6, 0x60, 0xc4, 0x72, 0x1a, 0xe0]);
    }

    #[test]
    fn vectors_from_x11vnc_and_openssl() {
        let pw = VncPassword::from_text(b"password").unwrap();
        // `x11vnc -storepasswd password FILE` writes these 8 bytes.
        let stored = [0xdb, 0xd8, 0x3c, 0xfd, 0x72, 0x7a, 0x14, 0x58];
        assert_eq!(pw.vncpasswd(), stored);
        assert_eq!(VncPassword::from_file(&stored).unwrap(), pw);
        // `openssl enc -des-ecb -nopad -K 0e86ceceeef64e26` of 00 01 .. 0f.
        let challenge: [u8; 16] = std::array::from_fn(|i| i as u8);
        let expected = [
            0xb8, 0x66, 0x92, 0x41, 0x25, 0xc8, 0xee, 0xbb, 0x9d, 0xeb, 0xc1, 0xdb, 0x61, 0xc5,
            0x38, 0xe2,
        ];
        assert_eq!(pw.response(&challenge), expected);
    }

    #[test]
    fn plain_text_and_vncpasswd_files_give_the_same_password() {
        let text = VncPassword::from_file(b"secret12345\n").unwrap();
        assert_eq!(text, VncPassword::from_text(b"secret12").unwrap());
        let stored = text.vncpasswd();
        assert_eq!(VncPassword::from_file(&stored).unwrap(), text);
        assert!(VncPassword::from_file(b"\nsecond line\n").is_err());
        assert_eq!(format!("{text:?}"), "VncPassword(..)");
    }
}
