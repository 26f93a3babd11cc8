//! The per-user part of the access rules: which authenticated users may use
//! an instance (`allowed-users`) and where each one goes (`[users.NAME]`).
//!
//! The auth plugin says who the client is; this says what that user may
//! reach. Without either key every user the auth plugin knows may open the
//! instance's target, as before these keys existed.

use std::collections::{BTreeMap, BTreeSet};

use super::token::Destination;
use super::Refusal;

/// Longest user name shown in a log line; longer ones are cut with `…`.
const SHOWN_USER_CHARS: usize = 64;

/// Who may use the instance, and each mapped user's own destination.
#[derive(Debug, Default)]
pub struct Users {
    /// `allowed-users`: only these may; `None`: every user the auth knows.
    pub allowed: Option<BTreeSet<String>>,
    /// `[users.NAME]`: the user's target and VNC password. When not empty,
    /// an authenticated user without an entry gets 403, never a default.
    pub map: BTreeMap<String, Destination>,
}

impl Users {
    /// Whether either key restricts who may come in.
    pub fn restricts(&self) -> bool {
        self.allowed.is_some() || !self.map.is_empty()
    }

    /// Ok when `user` may use this instance; otherwise the 403 and why, in
    /// words for the log.
    pub fn admit(&self, user: Option<&str>) -> Result<(), (Refusal, String)> {
        if !self.restricts() {
            return Ok(());
        }
        let Some(user) = user else {
            let why = "no user name (allowed-users and [users] need a login)".to_owned();
            return Err((Refusal::forbidden("Forbidden"), why));
        };
        if let Some(allowed) = &self.allowed {
            if !allowed.contains(user) {
                let why = format!("user {} is not in allowed-users", shown(user));
                return Err((Refusal::forbidden("Forbidden"), why));
            }
        }
        if !self.map.is_empty() && !self.map.contains_key(user) {
            let why = format!("user {} has no [users] entry", shown(user));
            return Err((Refusal::forbidden("Forbidden"), why));
        }
        Ok(())
    }

    /// The user's own destination, when the map has one.
    pub fn destination(&self, user: Option<&str>) -> Option<&Destination> {
        self.map.get(user?)
    }

    /// Why a session of `user` to `target` may no longer go on under these
    /// rules (`None`: it may). Used at reload to close revoked sessions.
    pub fn revoked(&self, user: &str, target: &str) -> Option<String> {
        if let Err((_, why)) = self.admit(Some(user)) {
            return Some(why);
        }
        match self.map.get(user) {
            Some(dest) if dest.target.to_string() != target => {
                Some(format!("user {} now goes to {}", shown(user), dest.target))
            }
            _ => None,
        }
    }
}

/// A user name as log lines show it: quoted, control characters escaped,
/// cut to a sane length (it may be whatever a client typed).
pub fn shown(user: &str) -> String {
    let mut cut: String = user.chars().take(SHOWN_USER_CHARS).collect();
    if cut.len() < user.len() {
        cut.push('…');
    }
    format!("{cut:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{Target, TargetAddr};

    fn dest(port: u16) -> Destination {
        Destination::from(Target::Tcp(TargetAddr {
            host: "localhost".into(),
            port,
        }))
    }

    #[test]
    fn no_keys_let_every_user_in() {
        let users = Users::default();
        assert!(users.admit(None).is_ok());
        assert!(users.admit(Some("anyone")).is_ok());
        assert_eq!(users.revoked("anyone", "localhost:1"), None);
    }

    #[test]
    fn allowed_users_and_the_map_both_apply() {
        let users = Users {
            allowed: Some(["alice".to_owned(), "bob".to_owned()].into()),
            map: [("alice".to_owned(), dest(5901))].into(),
        };
        assert!(users.admit(Some("alice")).is_ok());
        let (r, why) = users.admit(Some("bob")).expect_err("unmapped");
        assert_eq!(r.status.as_u16(), 403);
        assert!(why.contains("no [users] entry"), "{why}");
        let (_, why) = users.admit(Some("carol")).expect_err("not allowed");
        assert!(why.contains("\"carol\" is not in allowed-users"), "{why}");
        assert!(users.admit(None).is_err());
        assert_eq!(
            users
                .destination(Some("alice"))
                .map(|d| d.target.to_string()),
            Some("localhost:5901".into())
        );
        assert_eq!(users.revoked("alice", "localhost:5901"), None);
        assert!(users.revoked("alice", "localhost:5902").is_some());
    }

    #[test]
    fn shown_names_are_escaped_and_cut() {
        assert_eq!(shown("a\nb\u{1b}[31m"), "\"a\\nb\\u{1b}[31m\"");
        let long = "x".repeat(500);
        assert_eq!(shown(&long).chars().count(), SHOWN_USER_CHARS + 3);
    }
}
