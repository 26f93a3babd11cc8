//! The login cookie: the user name and the end of the session, sealed with
//! ChaCha20-Poly1305 (ring, the TLS crypto stack) under a key kept in the
//! instance's state directory, so a cookie can be neither read nor forged,
//! and logins survive a restart.
//!
//! The key file holds one key a line (base64): the first seals, every one
//! opens. Rotating is putting a new line first and reloading; removing the
//! old line later ends the cookies sealed with it.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom as _, SystemRandom};

/// The cookie's name.
pub const COOKIE: &str = "websockify_oidc";

/// Longest cookie value opened: anything longer is not ours.
const MAX_COOKIE: usize = 1024;

/// The keys of the key file; `Debug` shows how many, never a byte.
pub struct CookieKeys {
    keys: Vec<LessSafeKey>,
}

impl std::fmt::Debug for CookieKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CookieKeys({} keys)", self.keys.len())
    }
}

/// What a valid cookie says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The user the ID token named.
    pub user: String,
    /// When it was sealed, Unix seconds (logout ends older ones).
    pub issued: u64,
    /// When it stops being valid, Unix seconds.
    pub expires: u64,
}

impl CookieKeys {
    /// Reads `path`, or creates it (mode 0600) with one new random key.
    pub fn load_or_create(path: &Path) -> Result<CookieKeys> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path)?,
            Err(e) => return Err(e).with_context(|| format!("{}", path.display())),
        };
        let mut keys = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let bytes = URL_SAFE_NO_PAD
                .decode(line)
                .ok()
                .filter(|b| b.len() == CHACHA20_POLY1305.key_len());
            let Some(bytes) = bytes else {
                bail!("{}: a line is not a 32-byte base64url key", path.display());
            };
            let key = UnboundKey::new(&CHACHA20_POLY1305, &bytes)
                .map_err(|_| anyhow::anyhow!("{}: unusable key", path.display()))?;
            keys.push(LessSafeKey::new(key));
        }
        if keys.is_empty() {
            bail!("{}: no key in the file", path.display());
        }
        Ok(CookieKeys { keys })
    }

    /// One random key of this process only, where there is no state
    /// directory to keep one in (`--check`, a run outside systemd): logins
    /// then end with the process.
    pub fn ephemeral() -> Result<CookieKeys> {
        let mut key = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| anyhow::anyhow!("no random numbers for the cookie key"))?;
        let key = UnboundKey::new(&CHACHA20_POLY1305, &key)
            .map_err(|_| anyhow::anyhow!("unusable cookie key"))?;
        Ok(CookieKeys {
            keys: vec![LessSafeKey::new(key)],
        })
    }

    /// The cookie value for `login`: base64url(nonce || sealed text).
    pub fn seal(&self, login: &Login) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).ok()?;
        let mut data = format!("{}\n{}\n{}", login.issued, login.expires, login.user).into_bytes();
        self.keys
            .first()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(COOKIE),
                &mut data,
            )
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Some(URL_SAFE_NO_PAD.encode(out))
    }

    /// The login in `value` if one of the keys sealed it and it has not
    /// expired at `now`.
    pub fn open(&self, value: &str, now: u64) -> Option<Login> {
        if value.len() > MAX_COOKIE {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(value).ok()?;
        if raw.len() < NONCE_LEN + aead::MAX_TAG_LEN {
            return None;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let login = self.keys.iter().find_map(|key| {
            let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
            let mut data = sealed.to_vec();
            let plain = key
                .open_in_place(nonce, Aad::from(COOKIE), &mut data)
                .ok()?;
            parse(std::str::from_utf8(plain).ok()?)
        })?;
        (now < login.expires).then_some(login)
    }
}

fn parse(text: &str) -> Option<Login> {
    let mut parts = text.splitn(3, '\n');
    let issued = parts.next()?.parse().ok()?;
    let expires = parts.next()?.parse().ok()?;
    let user = parts.next()?.to_owned();
    Some(Login {
        user,
        issued,
        expires,
    })
}

/// A new key file with one random key, readable by the service only.
fn create(path: &Path) -> Result<String> {
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| anyhow::anyhow!("no random numbers for the cookie key"))?;
    let line = format!("{}\n", URL_SAFE_NO_PAD.encode(key));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(line.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    log::info!("created the login cookie key {}", path.display());
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(dir: &Path) -> CookieKeys {
        CookieKeys::load_or_create(&dir.join("key")).expect("key")
    }

    #[test]
    fn sealed_cookies_open_until_they_expire_and_forged_ones_never() {
        let dir = std::env::temp_dir().join(format!("oidc-cookie-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("dir");
        let k = keys(&dir);
        let login = Login {
            user: "alice".into(),
            issued: 100,
            expires: 200,
        };
        let value = k.seal(&login).expect("seal");
        assert_eq!(k.open(&value, 150), Some(login.clone()));
        assert_eq!(k.open(&value, 200), None, "expired");
        // The same file again (a restart) opens it; a flipped byte does not.
        assert_eq!(keys(&dir).open(&value, 150), Some(login));
        let mut forged = URL_SAFE_NO_PAD.decode(&value).expect("b64");
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert_eq!(k.open(&URL_SAFE_NO_PAD.encode(forged), 150), None);
        assert_eq!(k.open("alice", 150), None);
        let _ = fs::remove_dir_all(&dir);
    }
}
