//! The README's commands stay true: every `websockify` and `websockifyctl`
//! command line in its code blocks parses with today's options, and the
//! setups it shows (the first desktop, several users, one port for many)
//! run for real in a temporary conf directory, as an administrator would
//! type them (with `--stdin` for the passwords, and no systemd).

use crate::common::{bin, TempDir};

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use clap::Parser;

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    std::fs::read_to_string(path).expect("read README.md")
}

/// The command lines of the README's shell code blocks (fences without a
/// language), continuation lines joined, comments and `sudo ` taken off.
fn commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut fenced, mut shell, mut pending) = (false, false, String::new());
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            shell = fenced && line.trim() == "```";
            continue;
        }
        if !shell {
            continue;
        }
        let line = line.split(" #").next().unwrap_or("").trim();
        if let Some(part) = line.strip_suffix('\\') {
            pending += part;
            continue;
        }
        let whole = std::mem::take(&mut pending) + line;
        let whole = whole
            .strip_prefix("sudo ")
            .unwrap_or(&whole)
            .trim()
            .to_owned();
        if whole.starts_with("websockify") {
            out.push(whole);
        }
    }
    out
}

/// The README's synopsis notation made concrete: NAME, ID and USER become
/// examples, `a|b` and `[a|b]` the first choice, other `[...]` nothing.
fn concrete(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    for word in line.split_whitespace() {
        let word = match word {
            "NAME" | "[NAME]" => "display1",
            "ID" => "1",
            "USER" => "alice",
            w if w.contains('|') => {
                let first = w.trim_matches(['[', ']']).split('|').next().unwrap_or("");
                words.push(first.to_owned());
                continue;
            }
            w if w.starts_with('[') => continue,
            w => w,
        };
        words.push(word.to_owned());
    }
    words
}

#[test]
fn every_command_line_in_the_readme_parses() {
    let lines = commands(&readme());
    assert!(lines.len() >= 15, "too few commands found: {lines:?}");
    for line in &lines {
        let words = concrete(line);
        let parsed = match words[0].as_str() {
            "websockifyctl" => websockify::ctl::Ctl::try_parse_from(&words).map(|_| ()),
            "websockify" => websockify::config::cli::Cli::try_parse_from(&words).map(|_| ()),
            _ => continue,
        };
        if let Err(e) = parsed {
            panic!("README: {line}\n{e}");
        }
    }
}

/// Runs one README `websockifyctl` line in `dir` (conf directory `conf/`,
/// paths under /etc/websockify moved there), the password on stdin.
fn run(dir: &TempDir, line: &str) {
    let conf = dir.path().join("conf");
    let line = line.replace("/etc/websockify", conf.to_str().unwrap());
    let mut words = concrete(&line);
    let asks = words.iter().any(|w| w == "--user") || words[1..3] == ["user", "add"];
    if asks || words[1] == "passwd" && !words.contains(&"--delete".to_owned()) {
        words.push("--stdin".into());
    }
    if words[1] == "add" {
        words.push("--no-start".into());
    }
    let link = dir.path().join("websockifyctl");
    if !link.exists() {
        std::os::unix::fs::symlink(bin(), &link).unwrap();
    }
    let mut child = Command::new(&link)
        .arg("--conf-dir")
        .arg(&conf)
        .arg("--no-systemd")
        .args(&words[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run websockifyctl");
    let _ = child.stdin.take().unwrap().write_all(b"a-password\n");
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "README: {line}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The README lines that change files: they run without systemd.
fn runs_here(line: &str) -> bool {
    let words = concrete(line);
    words[0] == "websockifyctl" && matches!(words[1].as_str(), "add" | "user" | "passwd" | "status")
}

#[test]
fn the_readme_setups_run_as_written() {
    let text = readme();
    let mut ran = 0;
    for section in ["## The first desktop", "## Several users on one host"] {
        let start = text
            .find(section)
            .unwrap_or_else(|| panic!("README has no {section}"));
        let rest = &text[start + section.len()..];
        let body = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
        let dir = TempDir::new("readme");
        dir.write("conf/bob.vncpasswd", "bob-vnc\n");
        for line in commands(body).iter().filter(|l| runs_here(l)) {
            run(&dir, line);
            ran += 1;
        }
    }
    assert!(ran >= 7, "ran only {ran} README commands");
}
