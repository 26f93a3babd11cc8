//! The bash completions the package installs (`debian/completions/`) are what
//! clap_complete makes from the command lines of `websockify` and
//! `websockifyctl` today. After changing an option, regenerate them with
//! `UPDATE_COMPLETIONS=1 cargo test --test it completions::`.

use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::{generate, Shell};

fn check(mut cmd: clap::Command, name: &str) {
    let mut made = Vec::new();
    generate(Shell::Bash, &mut cmd, name, &mut made);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("debian/completions")
        .join(name);
    if std::env::var_os("UPDATE_COMPLETIONS").is_some() {
        std::fs::write(&path, &made).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == made,
        "{} is out of date: UPDATE_COMPLETIONS=1 cargo test --test it completions::",
        path.display()
    );
    let text = String::from_utf8(made).unwrap();
    assert!(text.contains(&format!("complete -F _{name}")), "{text}");
}

#[test]
fn websockify_completions_are_up_to_date() {
    check(websockify::config::cli::Cli::command(), "websockify");
}

#[test]
fn websockifyctl_completions_are_up_to_date() {
    let text = {
        check(websockify::ctl::Ctl::command(), "websockifyctl");
        std::fs::read_to_string("debian/completions/websockifyctl").unwrap()
    };
    for word in ["add", "status", "passwd", "--conf-dir", "--behind-nginx"] {
        assert!(text.contains(word), "{word} not completed");
    }
}
