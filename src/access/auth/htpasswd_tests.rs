//! Tests for `htpasswd.rs`: committed fixture files, and fresh lines written by
//! the real `htpasswd` from apache2-utils for every format it offers.

use super::*;
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/auth")
}

/// One line from the real tool, `htpasswd -nb FLAGS... user password`. Panics
/// (fails the test) when the tool is missing: checking against our own idea
/// of the formats would prove nothing.
fn htpasswd_line(flags: &[&str], user: &str, password: &str) -> String {
    let out = Command::new("htpasswd")
        .arg("-nb")
        .args(flags)
        .args([user, password])
        .output()
        .unwrap_or_else(|e| {
            panic!("htpasswd not runnable ({e}): apt-get install -y apache2-utils")
        });
    assert!(
        out.status.success(),
        "htpasswd {flags:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("htpasswd prints ASCII")
        .trim()
        .to_owned()
}

#[test]
fn every_format_htpasswd_writes_verifies() {
    let cases: [(&[&str], &str); 6] = [
        (&["-B"], "$2y$05$"),
        (&["-B", "-C", "4"], "$2y$04$"),
        (&["-m"], "$apr1$"),
        (&["-s"], "{SHA}"),
        (&["-2"], "$5$"),
        (&["-5", "-r", "6000"], "$6$rounds=6000$"),
    ];
    let mut text = String::new();
    for (i, (flags, prefix)) in cases.iter().enumerate() {
        let line = htpasswd_line(flags, &format!("u{i}"), &format!("pw-{i}-ü"));
        assert!(line.contains(prefix), "{flags:?} wrote {line}");
        text.push_str(&line);
        text.push('\n');
    }
    let file = Htpasswd::parse(&text, Path::new("generated")).expect("all formats load");
    assert_eq!(file.len(), cases.len());
    for (i, (flags, _)) in cases.iter().enumerate() {
        let (user, pw) = (format!("u{i}"), format!("pw-{i}-ü"));
        assert!(
            file.verify(user.as_bytes(), pw.as_bytes()),
            "{flags:?} right"
        );
        assert!(!file.verify(user.as_bytes(), b"wrong"), "{flags:?} wrong");
        assert!(!file.verify(user.as_bytes(), b""), "{flags:?} empty");
    }
    assert!(!file.verify(b"nobody", b"pw-0-\xc3\xbc"));
}

#[test]
fn refused_formats_from_the_real_tool() {
    for (flag, what) in [("-d", "DES crypt"), ("-p", "plaintext")] {
        let line = htpasswd_line(&[flag], "u", "s3cr3t-Xy");
        let err = Htpasswd::parse(&line, Path::new("gen"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("gen:1: ") && err.contains(what), "{err}");
        assert!(!err.contains(&line[2..]), "hash echoed in error: {err}");
    }
}

#[test]
fn committed_fixture_verifies() {
    let file = Htpasswd::load(&fixtures().join("valid.htpasswd")).expect("loads");
    let users = [
        "bcrypt",
        "bcrypt4",
        "apr1",
        "sha1",
        "sha256",
        "sha512",
        "sha512r",
        "md5crypt",
        "nginxcomment",
    ];
    assert_eq!(file.len(), users.len());
    for user in users {
        let password: String = user.chars().rev().collect();
        assert!(file.verify(user.as_bytes(), password.as_bytes()), "{user}");
        assert!(
            !file.verify(user.as_bytes(), user.as_bytes()),
            "{user} wrong"
        );
    }
}

#[test]
fn invalid_fixtures_name_file_and_line() {
    let expected: &[(&str, usize, &str)] = &[
        ("apr1-bad-salt", 1, "malformed $apr1$"),
        ("apr1-truncated", 1, "malformed $apr1$"),
        ("bcrypt-2x", 1, "$2x$"),
        ("bcrypt-cost", 1, "cost 18"),
        ("bcrypt-truncated", 1, "malformed bcrypt"),
        ("des-crypt", 2, "DES crypt"),
        ("duplicate-user", 3, "first on line 1"),
        ("empty-user", 1, "empty user name"),
        ("no-colon", 2, "expected user:hash"),
        ("plaintext", 2, "plaintext"),
        ("sha1-bad-base64", 1, "base64"),
        ("sha1-short", 1, "20 bytes"),
        ("sha256-truncated", 1, "malformed SHA-crypt"),
        ("sha512-rounds", 1, "rounds=500"),
        ("unknown-scheme", 1, "$argon2id$"),
    ];
    let dir = fixtures().join("invalid");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fixture dir") {
        let path = entry.expect("entry").path();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_owned();
        let err = format!("{:#}", Htpasswd::load(&path).unwrap_err());
        seen += 1;
        match stem.as_str() {
            "not-utf8" => assert!(err.ends_with("not-utf8.htpasswd:1: not UTF-8"), "{err}"),
            _ => {
                let (_, line, text) = expected
                    .iter()
                    .find(|(name, ..)| *name == stem)
                    .unwrap_or_else(|| panic!("fixture {stem} has no expectation"));
                let at = format!("{}:{line}: ", path.display());
                assert!(err.starts_with(&at) && err.contains(text), "{stem}: {err}");
            }
        }
    }
    assert_eq!(
        seen,
        expected.len() + 1,
        "every invalid fixture was checked"
    );
}

#[test]
fn plaintext_starting_with_dollar_is_not_echoed() {
    for secret in ["$ecretpassword", "$ecret$passw0rd-with-a-long-first-part$x"] {
        let err = Htpasswd::parse(&format!("u:{secret}"), Path::new("p")).unwrap_err();
        assert!(!err.to_string().contains("ecret"), "{err}");
    }
}

#[test]
fn missing_file_names_it() {
    let err = format!(
        "{:#}",
        Htpasswd::load(Path::new("/nonexistent/users")).unwrap_err()
    );
    assert!(err.contains("/nonexistent/users"), "{err}");
}

#[test]
fn md5_crypt_known_vectors() {
    // From the htpasswd-verify crate's tests and `openssl passwd -1 -salt xxxxxxxx password`.
    assert_eq!(
        md5_crypt("$apr1$", b"password", b"xxxxxxxx"),
        "dxHfLAsjHkDRmG83UXe8K0"
    );
    assert_eq!(
        md5_crypt("$1$", b"password", b"xxxxxxxx"),
        "UYCIxa628.9qXjpQCjM4a."
    );
    // Empty and long (> 16 bytes) passwords take the other branches.
    let long = b"a password longer than sixteen bytes, and then some more";
    for pw in [&b""[..], &long[..]] {
        let h = md5_crypt("$apr1$", pw, b"saltsalt");
        let line = format!("u:$apr1$saltsalt${h}");
        let file = Htpasswd::parse(&line, Path::new("m")).expect("own output loads");
        assert!(file.verify(b"u", pw));
    }
}

#[test]
fn debug_shows_no_user_or_hash() {
    let file = Htpasswd::load(&fixtures().join("valid.htpasswd")).expect("loads");
    let debug = format!("{file:?}");
    assert!(
        debug.contains("valid.htpasswd") && debug.contains("users: 9"),
        "{debug}"
    );
    assert!(!debug.contains("bcrypt") && !debug.contains('$'), "{debug}");
}

#[test]
fn reload_sees_changes() {
    let dir = std::env::temp_dir().join(format!("wsfy-htpasswd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let path = dir.join("users");
    std::fs::write(&path, htpasswd_line(&["-B", "-C", "4"], "a", "one")).expect("write");
    assert!(Htpasswd::load(&path).expect("load").verify(b"a", b"one"));
    std::fs::write(&path, htpasswd_line(&["-m"], "a", "two")).expect("write");
    let reloaded = Htpasswd::load(&path).expect("reload");
    assert!(reloaded.verify(b"a", b"two") && !reloaded.verify(b"a", b"one"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bcrypt_2a_and_2b_prefixes_verify_like_2y() {
    // The same hash under the prefixes other tools write (PHP, OpenBSD, passlib).
    let y = "$2y$04$4isYKliFv3wuajXkH.y/mOoDRd5E/lCD6ZXVY826drhJGqawK8kEi";
    for prefix in ["$2a$", "$2b$", "$2y$"] {
        let line = format!("bcrypt4:{prefix}{}", &y[4..]);
        let file = Htpasswd::parse(&line, Path::new("b")).expect("loads");
        assert!(file.verify(b"bcrypt4", b"4tpyrcb"), "{prefix}");
    }
}

#[test]
fn a_file_without_users_lets_nobody_in() {
    let h = Htpasswd::parse("# every user deleted\n\n", Path::new("empty")).expect("loads");
    assert!(h.is_empty());
    assert!(!h.verify(b"alice", b""));
    assert!(!h.contains("alice"));
}
