//! The shipped systemd units work on the oldest systemd our users run:
//! Ubuntu 22.04's 249. Every directive of systemd/*.service, *.socket,
//! *.target and of the generator's drop-ins must be in systemd/directives.list
//! with the release that has it (from systemd's own man pages and NEWS), and
//! that release must be 249 or older. A new directive therefore fails here
//! until someone looks up when systemd gained it.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::*;

/// Ubuntu 22.04's systemd; Ubuntu 24.04 has 255, Debian 12 252, Debian 13 257.
const OLDEST_SYSTEMD: u32 = 249;

/// One line of systemd/directives.list.
struct Entry {
    section: String,
    key: String,
    value: Option<String>,
    since: u32,
}

fn directives_list() -> Vec<Entry> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/directives.list");
    let text = std::fs::read_to_string(&path).expect("systemd/directives.list");
    parse_list(&text)
}

fn parse_list(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(fields.len() >= 4, "directives.list:{}: {line}", n + 1);
        let (key, value) = match fields[1].split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (fields[1].to_string(), None),
        };
        let since = fields[2]
            .parse()
            .unwrap_or_else(|_| panic!("directives.list:{}: version {}", n + 1, fields[2]));
        out.push(Entry {
            section: fields[0].to_string(),
            key,
            value,
            since,
        });
    }
    out
}

/// (section, key, value) of every assignment in a unit file.
fn assignments(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
        } else if let Some((k, v)) = line.split_once('=') {
            out.push((section.clone(), k.trim().to_string(), v.trim().to_string()));
        } else {
            panic!("not a unit file line: {line}");
        }
    }
    out
}

/// What is wrong with these assignments for a systemd of release `oldest`.
fn problems(list: &[Entry], used: &[(String, String, String)], oldest: u32) -> Vec<String> {
    let mut out = Vec::new();
    for (section, key, value) in used {
        let of_key: Vec<&Entry> = list
            .iter()
            .filter(|e| &e.section == section && &e.key == key)
            .collect();
        let Some(base) = of_key.iter().find(|e| e.value.is_none()) else {
            out.push(format!(
                "[{section}] {key}= is not in systemd/directives.list"
            ));
            continue;
        };
        if base.since > oldest {
            out.push(format!("[{section}] {key}= needs systemd {}", base.since));
        }
        let valued: Vec<&&Entry> = of_key.iter().filter(|e| e.value.is_some()).collect();
        if valued.is_empty() {
            continue;
        }
        for token in value.split_whitespace().map(|t| t.trim_start_matches('~')) {
            match valued.iter().find(|e| e.value.as_deref() == Some(token)) {
                None => out.push(format!(
                    "[{section}] {key}={token} is not in systemd/directives.list"
                )),
                Some(e) if e.since > oldest => out.push(format!(
                    "[{section}] {key}={token} needs systemd {}",
                    e.since
                )),
                Some(_) => {}
            }
        }
    }
    out
}

/// The shipped units plus the drop-in the real generator writes for a conf.
fn shipped_assignments() -> Vec<(String, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
    let mut used = Vec::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ["service", "socket", "target"].contains(&ext) {
            used.extend(assignments(&std::fs::read_to_string(&path).unwrap()));
            files += 1;
        }
    }
    assert_eq!(files, 3, "systemd/ should hold 3 units");

    let confs = TempDir::new("units-confs");
    confs.write(
        "d1.conf",
        "listen = [\"127.0.0.1:6080\", \"[::1]:6080\"]\ntarget = \"localhost:5901\"\n",
    );
    let out = TempDir::new("units-out");
    let link = out.path().join("websockify-generator");
    std::os::unix::fs::symlink(bin(), &link).unwrap();
    let gen = out.path().join("normal");
    std::fs::create_dir(&gen).unwrap();
    let run = Command::new(&link)
        .args([&gen, &gen, &gen])
        .env("WEBSOCKIFY_CONF_DIR", confs.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let dropin = gen.join("websockify@d1.socket.d/50-listen.conf");
    let text =
        std::fs::read_to_string(&dropin).unwrap_or_else(|e| panic!("{}: {e}", dropin.display()));
    used.extend(assignments(&text));
    used
}

#[test]
fn every_unit_directive_is_listed_and_known_to_systemd_249() {
    let list = directives_list();
    let used = shipped_assignments();
    assert!(
        used.iter().any(|(_, k, _)| k == "ListenStream"),
        "generator drop-in read"
    );
    let found = problems(&list, &used, OLDEST_SYSTEMD);
    assert!(
        found.is_empty(),
        "units vs systemd/directives.list:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_list_names_only_directives_the_units_use() {
    let used: BTreeSet<(String, String)> = shipped_assignments()
        .into_iter()
        .map(|(s, k, _)| (s, k))
        .collect();
    let stale: Vec<String> = directives_list()
        .iter()
        .filter(|e| !used.contains(&(e.section.clone(), e.key.clone())))
        .map(|e| format!("[{}] {}=", e.section, e.key))
        .collect();
    assert!(stale.is_empty(), "listed but not used: {stale:?}");
}

#[test]
fn the_check_catches_unlisted_and_too_new_directives_and_values() {
    let list = parse_list(
        "Service PrivateIPC 248 x\nService ProtectHome 214 x\nService MemoryKSM 254 x\n\
         Service ProtectSystem 214 x\nService ProtectSystem=strict 232 x\n",
    );
    let used = assignments(
        "[Service]\nPrivateIPC=yes\nMemoryKSM=yes\nPrivateUsers=self\n\
         ProtectSystem=strict\nProtectSystem=full\n",
    );
    let found = problems(&list, &used, OLDEST_SYSTEMD);
    assert_eq!(
        found,
        [
            "[Service] MemoryKSM= needs systemd 254",
            "[Service] PrivateUsers= is not in systemd/directives.list",
            "[Service] ProtectSystem=full is not in systemd/directives.list",
        ]
    );
    // PrivateIPC= (248) is fine for Ubuntu 22.04 but not for Debian 11's 247.
    assert_eq!(
        problems(&list, &assignments("[Service]\nPrivateIPC=yes\n"), 247),
        ["[Service] PrivateIPC= needs systemd 248"]
    );
}
