//! `docs/architecture.md` against the tree. Its "Layout" section is the map
//! of the source: every path it names must exist, and every folder and
//! top-level file under `src/` must be on it, so the map cannot drift from
//! the tree. Its "Layers" section is the rule between modules, checked
//! against every import in `layers`.

mod layers;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const ROOTS: &[&str] = &[
    "src/", "systemd/", "debian/", "man/", "docs/", "tests/", "scripts/", "bench/", "fuzz/",
];

const ARCHITECTURE: &str = "docs/architecture.md";

/// The text of `docs/architecture.md`.
fn architecture() -> String {
    std::fs::read_to_string(ARCHITECTURE).unwrap_or_else(|e| panic!("{ARCHITECTURE}: {e}"))
}

/// The fenced block of the Layout section.
fn layout_block() -> String {
    let text = architecture();
    let section = text
        .split("\n## Layout\n")
        .nth(1)
        .expect("docs/architecture.md has a Layout section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let block = section
        .split("```")
        .nth(1)
        .expect("Layout has a code block");
    block.to_owned()
}

/// Every path the block names, resolved against the repository root: whole
/// paths (`src/web/`), and names on a folder's lines (`sockets.rs`, `auth/`).
fn named_paths() -> BTreeSet<PathBuf> {
    let mut named = BTreeSet::new();
    let mut folder = PathBuf::new();
    for line in layout_block().lines() {
        let words = line.split(|c: char| c.is_whitespace() || "(),:;".contains(c));
        for (i, word) in words.filter(|w| !w.is_empty()).enumerate() {
            let word = word.trim_matches('`');
            if ROOTS.iter().any(|r| word.starts_with(r)) {
                if i == 0 && word.ends_with('/') && !line.starts_with(' ') {
                    folder = PathBuf::from(word);
                }
                named.insert(PathBuf::from(word));
            } else if word.ends_with(".rs")
                || word.ends_with(".md")
                || (word.ends_with('/') && word.len() > 1)
            {
                named.insert(folder.join(word));
            }
        }
    }
    named
}

#[test]
fn every_path_in_the_layout_exists() {
    let named = named_paths();
    assert!(named.len() > 20, "too few paths found: {named:?}");
    let missing: Vec<_> = named.iter().filter(|p| !p.exists()).collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md Layout names missing paths: {missing:?}"
    );
}

#[test]
fn every_source_folder_and_file_is_in_the_layout() {
    let named = named_paths();
    let mut unnamed = Vec::new();
    for entry in std::fs::read_dir("src").expect("src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            let folder = PathBuf::from(format!("{}/", path.display()));
            if !named.contains(&folder) {
                unnamed.push(folder);
            }
            unnamed.extend(unnamed_files(&path, &named));
        } else if !named.contains(&path) {
            unnamed.push(path);
        }
    }
    assert!(
        unnamed.is_empty(),
        "docs/architecture.md Layout does not name: {unnamed:?}"
    );
}

/// Files of one top-level folder that the Layout leaves out (`mod.rs`, test
/// files and files of named subfolders are covered by their folder).
fn unnamed_files(folder: &Path, named: &BTreeSet<PathBuf>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(folder).expect("folder") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            let sub = PathBuf::from(format!("{}/", path.display()));
            if !named.contains(&sub) {
                out.push(sub);
            }
        } else if name != "mod.rs" && !name.ends_with("_tests.rs") && !named.contains(&path) {
            out.push(path);
        }
    }
    out
}
