//! Apache `htpasswd` files: what `htpasswd` from apache2-utils writes, so the
//! file nginx used can move to the proxy unchanged.
//!
//! Accepted: bcrypt (`-B`, `$2y$`; also `$2a$`/`$2b$`), SHA-256/512-crypt
//! (`-2`/`-5`, `$5$`/`$6$`), APR1-MD5 (`-m`, htpasswd's default, `$apr1$`),
//! MD5-crypt (`$1$`, from `openssl passwd -1`) and SHA-1 (`-s`, `{SHA}`).
//! The two MD5 forms and SHA-1 are weak; loading a file that uses them logs a
//! warning that names `htpasswd -B`.
//!
//! Refused, each with an error naming the file and line at load:
//! DES crypt (`-d`: only the first 8 characters of a password count, and the
//! salt is 12 bits), plaintext (`-p`: Apache itself ignores it on Unix), `$2x$`
//! (marks hashes from a buggy bcrypt), bcrypt cost above 12 and SHA-crypt
//! rounds above 100000 (each login would keep a core busy for a second or
//! more, see `defaults`), and any other scheme. Errors name the user, never
//! the hash.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Context};
use base64::Engine as _;
use http::HeaderMap;
use md5::{Digest, Md5};
use ring::digest;
use sha_crypt::{PasswordVerifier, ShaCrypt};
use subtle::ConstantTimeEq;

use super::verified::Verified;
use super::{basic, Refusal};
use crate::defaults::{MAX_BCRYPT_COST, MAX_SHA_CRYPT_ROUNDS};

/// Alphabet of crypt(3)'s base64 (bcrypt, MD5-crypt, SHA-crypt hash parts).
const CRYPT64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Modular-crypt scheme ids that other tools write (yescrypt from
/// `mkpasswd`, argon2, scrypt, PBKDF2 from passlib, ...), named in the error.
const OTHER_SCHEMES: &[&str] = &[
    "y",
    "gy",
    "7",
    "3",
    "2",
    "md5",
    "sha1",
    "argon2i",
    "argon2d",
    "argon2id",
    "scrypt",
    "pbkdf2",
    "pbkdf2-sha256",
    "pbkdf2-sha512",
    "bcrypt-sha256",
];

/// One user's stored hash, checked for form at load so a bad line is an
/// error then, not a silent "wrong password" at every login.
#[derive(Clone)]
enum Hash {
    Bcrypt(String),
    Md5Crypt {
        magic: &'static str,
        salt: String,
        hash: String,
    },
    ShaCrypt(String),
    Sha1([u8; 20]),
}

impl Hash {
    fn parse(s: &str) -> anyhow::Result<Hash> {
        if let Some(rest) = s.strip_prefix("$apr1$") {
            return md5_crypt_parts("$apr1$", rest);
        }
        if let Some(rest) = s.strip_prefix("$1$") {
            return md5_crypt_parts("$1$", rest);
        }
        if s.starts_with("$2y$") || s.starts_with("$2b$") || s.starts_with("$2a$") {
            return bcrypt_check(s).map(|()| Hash::Bcrypt(s.to_owned()));
        }
        if s.starts_with("$5$") || s.starts_with("$6$") {
            return sha_crypt_check(s).map(|()| Hash::ShaCrypt(s.to_owned()));
        }
        if let Some(b64) = s.strip_prefix("{SHA}") {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| anyhow::anyhow!("{{SHA}} hash is not valid base64"))?;
            return raw
                .try_into()
                .map(Hash::Sha1)
                .map_err(|_| anyhow::anyhow!("{{SHA}} hash is not 20 bytes"));
        }
        if s.starts_with("$2x$") {
            return Err(anyhow::anyhow!(
                "bcrypt $2x$ marks hashes from a buggy implementation; re-create with htpasswd -B"
            ));
        }
        if let Some(rest) = s.strip_prefix('$') {
            // Name the scheme only when it is a known one: a plaintext
            // password may start with `$` too, and must not reach the log.
            let id = rest.split('$').next().unwrap_or_default();
            return Err(if OTHER_SCHEMES.contains(&id) {
                anyhow::anyhow!("unsupported hash scheme ${id}$; re-create with htpasswd -B")
            } else {
                anyhow::anyhow!("unknown password format; re-create with htpasswd -B")
            });
        }
        if s.len() == 13 && s.bytes().all(|b| CRYPT64.contains(&b)) {
            return Err(anyhow::anyhow!(
                "DES crypt (htpasswd -d) is refused: it uses only the first 8 characters \
                 of a password; re-create with htpasswd -B"
            ));
        }
        Err(anyhow::anyhow!(
            "plaintext or unknown password format is refused; re-create with htpasswd -B"
        ))
    }

    fn verify(&self, password: &[u8]) -> bool {
        match self {
            Hash::Bcrypt(h) => bcrypt::verify(password, h).unwrap_or(false),
            Hash::Md5Crypt { magic, salt, hash } => md5_crypt(magic, password, salt.as_bytes())
                .as_bytes()
                .ct_eq(hash.as_bytes())
                .into(),
            Hash::ShaCrypt(h) => ShaCrypt::default()
                .verify_password(password, h.as_str())
                .is_ok(),
            Hash::Sha1(expected) => {
                let got = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, password);
                got.as_ref().ct_eq(expected).into()
            }
        }
    }

    fn is_weak(&self) -> bool {
        matches!(self, Hash::Md5Crypt { .. } | Hash::Sha1(_))
    }
}

fn md5_crypt_parts(magic: &'static str, rest: &str) -> anyhow::Result<Hash> {
    let bad = || anyhow::anyhow!("malformed {magic} hash");
    let (salt, hash) = rest.split_once('$').ok_or_else(bad)?;
    let crypt64 = |s: &str| s.bytes().all(|b| CRYPT64.contains(&b));
    if salt.is_empty() || salt.len() > 8 || !crypt64(salt) || hash.len() != 22 || !crypt64(hash) {
        return Err(bad());
    }
    Ok(Hash::Md5Crypt {
        magic,
        salt: salt.to_owned(),
        hash: hash.to_owned(),
    })
}

/// `$2y$NN$` + 53 crypt64 characters (22 of salt, 31 of hash).
fn bcrypt_check(s: &str) -> anyhow::Result<()> {
    let bad = || anyhow::anyhow!("malformed bcrypt hash");
    let rest = s.get(4..).ok_or_else(bad)?;
    let (cost, tail) = rest.split_once('$').ok_or_else(bad)?;
    let cost: u32 = cost.parse().map_err(|_| bad())?;
    if tail.len() != 53 || !tail.bytes().all(|b| CRYPT64.contains(&b)) || s.len() != 60 {
        return Err(bad());
    }
    if !(4..=MAX_BCRYPT_COST).contains(&cost) {
        return Err(anyhow::anyhow!(
            "bcrypt cost {cost} is outside 4..={MAX_BCRYPT_COST}, so each login would take \
             too long; re-create with htpasswd -B (cost 5) or -C {MAX_BCRYPT_COST} at most"
        ));
    }
    Ok(())
}

/// `$5$[rounds=N$]salt$hash`, salt at most 16 characters, hash 43 (SHA-256)
/// or 86 (SHA-512) characters, N as glibc accepts it.
fn sha_crypt_check(s: &str) -> anyhow::Result<()> {
    let bad = || anyhow::anyhow!("malformed SHA-crypt hash");
    let want = if s.starts_with("$5$") { 43 } else { 86 };
    let mut fields: Vec<&str> = s[3..].split('$').collect();
    if let Some(rounds) = fields.first().and_then(|f| f.strip_prefix("rounds=")) {
        let n: u32 = rounds.parse().map_err(|_| bad())?;
        if !(sha_crypt::Params::ROUNDS_MIN..=MAX_SHA_CRYPT_ROUNDS).contains(&n) {
            return Err(anyhow::anyhow!(
                "SHA-crypt rounds={n} is outside {}..={MAX_SHA_CRYPT_ROUNDS}",
                sha_crypt::Params::ROUNDS_MIN
            ));
        }
        fields.remove(0);
    }
    match fields.as_slice() {
        [salt, hash]
            if salt.len() <= 16
                && !salt.contains(['$', ':'])
                && hash.len() == want
                && hash.bytes().all(|b| CRYPT64.contains(&b)) =>
        {
            Ok(())
        }
        _ => Err(bad()),
    }
}

/// MD5-crypt (Poul-Henning Kamp's, in FreeBSD and glibc as `$1$`; Apache's
/// APR1 is the same with the magic `$apr1$`). No maintained crate covers
/// APR1, and the algorithm is fixed, so it lives here over the `md-5` crate,
/// checked against hashes the real `htpasswd` and `openssl passwd` wrote.
fn md5_crypt(magic: &str, password: &[u8], salt: &[u8]) -> String {
    let alt: [u8; 16] = Md5::new_with_prefix(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize()
        .into();
    let mut ctx = Md5::new_with_prefix(password)
        .chain_update(magic.as_bytes())
        .chain_update(salt);
    let mut left = password.len();
    while left > 0 {
        let n = left.min(16);
        ctx.update(&alt[..n]);
        left -= n;
    }
    let mut i = password.len();
    while i != 0 {
        ctx.update(if i & 1 == 1 {
            &[0u8][..]
        } else {
            &password[..1]
        });
        i >>= 1;
    }
    let mut fin: [u8; 16] = ctx.finalize().into();
    for round in 0..1000 {
        let mut c = Md5::new();
        c.update(if round & 1 == 1 { password } else { &fin[..] });
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(password);
        }
        c.update(if round & 1 == 1 { &fin[..] } else { password });
        fin = c.finalize().into();
    }
    let mut out = String::with_capacity(22);
    let groups = [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)];
    for (a, b, c) in groups {
        push_crypt64(
            &mut out,
            u32::from(fin[a]) << 16 | u32::from(fin[b]) << 8 | u32::from(fin[c]),
            4,
        );
    }
    push_crypt64(&mut out, u32::from(fin[11]), 2);
    out
}

fn push_crypt64(out: &mut String, mut v: u32, n: usize) {
    for _ in 0..n {
        out.push(char::from(CRYPT64[(v & 0x3f) as usize]));
        v >>= 6;
    }
}

/// The users of one `htpasswd` file. `Debug` shows the path and the number of
/// users, never a name or hash.
#[derive(Clone)]
pub struct Htpasswd {
    path: PathBuf,
    users: HashMap<String, Hash>,
    /// Logins of this load that passed the hash (a reload starts anew).
    verified: Arc<Verified>,
}

impl Htpasswd {
    /// Reads and checks the whole file: a line that is not `user:hash` with a
    /// supported hash, or a user defined twice, is an error naming `file:line`.
    /// Blank lines and lines starting with `#` are skipped, as Apache does; a
    /// third `:`-field (nginx's comment) is ignored.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| anyhow::anyhow!("reading auth file {}", path.display()))?;
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            anyhow!("{}:{line}: not UTF-8", path.display())
        })?;
        Self::parse(text, path)
    }

    /// As [`load`](Self::load), from text already read; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> anyhow::Result<Self> {
        let mut users = HashMap::new();
        let mut first_line = HashMap::new();
        for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = || anyhow::anyhow!("{}:{n}", path.display());
            let (user, rest) = line
                .split_once(':')
                .ok_or_else(|| anyhow!("{}: expected user:hash", at()))?;
            if user.is_empty() {
                return Err(anyhow!("{}: empty user name", at()));
            }
            let stored = rest.split(':').next().unwrap_or(rest);
            let hash = Hash::parse(stored).map_err(|e| anyhow!("{}: user {user:?}: {e}", at()))?;
            if let Some(first) = first_line.insert(user.to_owned(), n) {
                return Err(anyhow!(
                    "{}: user defined again (first on line {first})",
                    at()
                ));
            }
            users.insert(user.to_owned(), hash);
        }
        if users.is_empty() {
            // Where the last user was deleted: nobody may log in, and a
            // reload that takes everyone's access away must succeed.
            log::warn!("{}: no users: nobody can log in", path.display());
        }
        let weak = users.values().filter(|h| h.is_weak()).count();
        if weak > 0 {
            log::warn!(
                "{}: {weak} user(s) have MD5 or SHA-1 password hashes; re-create them with `htpasswd -B`",
                path.display()
            );
        }
        Ok(Htpasswd {
            path: path.to_owned(),
            users,
            verified: Arc::default(),
        })
    }

    /// Number of users in the file.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when the file has no users (nobody can log in).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// True if `user` exists and `password` matches. An unknown user still
    /// costs one hash verification, so response time does not tell which
    /// user names exist.
    pub fn verify(&self, user: &[u8], password: &[u8]) -> bool {
        let found = std::str::from_utf8(user)
            .ok()
            .and_then(|u| self.users.get(u));
        match found {
            Some(hash) => hash.verify(password),
            None => {
                if let Some(any) = self.users.values().next() {
                    let _ = any.verify(password);
                }
                false
            }
        }
    }

    /// Whether the file has an entry for `user`.
    pub fn contains(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    /// Basic credentials against the file: the user name, or 401 missing
    /// or wrong, 403 malformed. Credentials that pass are remembered.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<String, Refusal> {
        let presented = basic::presented(headers)?;
        let (user, password) = (presented.user(), presented.password());
        if self.verify(user, password) {
            let key = self.verified.key(user, password);
            self.verified.remember(key, Instant::now());
            Ok(String::from_utf8_lossy(user).into_owned())
        } else {
            Err(Refusal::demand_auth(super::WRONG_CREDENTIALS))
        }
    }

    /// The user, when these Basic credentials passed the hash a short while
    /// ago (no hash now); `None` otherwise, also for missing credentials.
    pub(crate) fn remembered(&self, headers: &HeaderMap) -> Option<String> {
        let presented = basic::presented(headers).ok()?;
        let (user, password) = (presented.user(), presented.password());
        let key = self.verified.key(user, password);
        self.verified
            .seen(&key, Instant::now())
            .then(|| String::from_utf8_lossy(user).into_owned())
    }
}

impl fmt::Debug for Htpasswd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Htpasswd")
            .field("path", &self.path)
            .field("users", &self.users.len())
            .finish()
    }
}

#[cfg(test)]
#[path = "htpasswd_tests.rs"]
mod tests;
