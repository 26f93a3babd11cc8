//! Keys for tables of credentials seen before (`auth/verified.rs`, logins
//! that passed the hash; `forward_cache.rs`, auth-request's answers): a
//! SHA-256 of a random salt of this table and the credentials, so the table
//! holds no credential and its keys mean nothing to another process or load.

use ring::digest::{Context, SHA256};
use ring::rand::{SecureRandom, SystemRandom};

/// One table's salt.
pub struct Salt([u8; 32]);

impl Salt {
    /// A fresh random salt; `None` without randomness (the caller then
    /// remembers nothing).
    pub fn new() -> Option<Self> {
        let mut salt = [0; 32];
        SystemRandom::new().fill(&mut salt).ok()?;
        Some(Self(salt))
    }

    /// The key of `parts`: each part's length, then its bytes, so that
    /// parts cannot run together.
    pub fn key<'a>(&self, parts: impl IntoIterator<Item = &'a [u8]>) -> [u8; 32] {
        let mut ctx = Context::new(&SHA256);
        ctx.update(&self.0);
        for part in parts {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        let mut key = [0; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_do_not_run_together_and_salts_differ() {
        let (a, b) = (Salt::new().expect("random"), Salt::new().expect("random"));
        assert_ne!(
            a.key([b"ab".as_slice(), b"c"]),
            a.key([b"a".as_slice(), b"bc"])
        );
        assert_eq!(
            a.key([b"a".as_slice(), b"b"]),
            a.key([b"a".as_slice(), b"b"])
        );
        assert_ne!(a.key([b"a".as_slice()]), b.key([b"a".as_slice()]));
    }
}
