//! The bash completions the package installs (`debian/completions/`) are what
//! clap_complete makes from the command lines of `websockify` and
//! `websockifyctl` today. After changing an option, regenerate them with
//! `UPDATE_COMPLETIONS=1 cargo test --test it completions::`. websockifyctl's
//! also completes instance names (src/ctl/completion.rs), checked in bash.

use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::{generate, Shell};

/// clap_complete's script for `cmd`, then `extra`.
fn check(mut cmd: clap::Command, name: &str, extra: &str) {
    let mut made = Vec::new();
    generate(Shell::Bash, &mut cmd, name, &mut made);
    made.extend_from_slice(extra.as_bytes());
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
    check(websockify::config::cli::Cli::command(), "websockify", "");
}

#[test]
fn websockifyctl_completions_are_up_to_date() {
    let text = {
        check(
            websockify::ctl::Ctl::command(),
            "websockifyctl",
            &websockify::ctl::completion::bash_instance_names(),
        );
        std::fs::read_to_string("debian/completions/websockifyctl").unwrap()
    };
    for word in ["add", "status", "passwd", "--conf-dir", "--behind-nginx"] {
        assert!(text.contains(word), "{word} not completed");
    }
}

/// What bash offers after `websockifyctl [--conf-dir DIR] WORDS...`, with
/// the shipped script loaded: `COMPREPLY`, one word a line.
fn offered(words: &[&str]) -> Vec<String> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/debian/completions/websockifyctl"
    );
    let line = words.join(" ");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let quoted = quoted.join(" ");
    let program = format!(
        "source '{script}'\nCOMP_WORDS=(websockifyctl {quoted})\nCOMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))\n\
         COMP_LINE=\"websockifyctl {line}\"\nCOMP_POINT=${{#COMP_LINE}}\n\
         _websockifyctl_instances websockifyctl \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n"
    );
    let out = std::process::Command::new("bash")
        .args(["--norc", "-c", &program])
        .output()
        .expect("bash (package bash)");
    assert!(out.status.success(), "{out:?}");
    let mut words: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    words.sort();
    words
}

/// Instance names from the conf directory after a command that takes one;
/// commands and options still from clap's part.
#[test]
fn websockifyctl_completes_instance_names() {
    let dir = crate::common::TempDir::new("completion");
    for f in ["desk1.conf", "desk2.conf", "other.conf", "notes.txt"] {
        dir.write(f, "");
    }
    let d = dir.arg();
    assert_eq!(
        offered(&["--conf-dir", d, "start", "de"]),
        ["desk1", "desk2"]
    );
    assert_eq!(
        offered(&["--conf-dir", d, "logs", ""]),
        ["desk1", "desk2", "other"]
    );
    assert_eq!(offered(&["--conf-dir", d, "sessions", "o"]), ["other"]);
    // Not for add (a new name) nor for a second argument.
    assert!(offered(&["--conf-dir", d, "add", "de"]).is_empty());
    assert!(offered(&["--conf-dir", d, "kill", "desk1", "de"]).is_empty());
    // Commands and options come from clap's part.
    assert!(offered(&["--conf-dir", d, "rest"]).contains(&"restart".to_owned()));
    assert!(offered(&["--conf-dir", d, "logs", "--fo"]).contains(&"--follow".to_owned()));
}
