//! The layering rule of `docs/architecture.md` against the source: every
//! top-level module of `src/` is in one tier, and uses only modules of a
//! lower tier. An import that breaks it fails here, naming the file and the
//! line, so the written design cannot drift from the code.
//!
//! The check reads `crate::X` paths, and `super::` paths that climb to the
//! crate root (counted from the file's own module), outside comment lines
//! and test code: `#[cfg(test)]` modules written inline and the files such a
//! declaration includes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{architecture, ARCHITECTURE};

/// Module name -> tier, from the `tier N: a, b` lines.
fn tiers() -> BTreeMap<String, u32> {
    let mut tiers = BTreeMap::new();
    for line in architecture().lines() {
        let Some(rest) = line.strip_prefix("tier ") else {
            continue;
        };
        let (number, modules) = rest.split_once(':').expect("tier N: modules");
        let number: u32 = number.trim().parse().expect("a tier number");
        for module in modules.split(',').map(str::trim).filter(|m| !m.is_empty()) {
            let before = tiers.insert(module.to_owned(), number);
            assert!(before.is_none(), "{ARCHITECTURE}: {module} is in two tiers");
        }
    }
    assert!(tiers.len() > 10, "{ARCHITECTURE}: too few tiers: {tiers:?}");
    tiers
}

/// The top-level modules of `src/`: its folders and its files but the roots.
fn top_modules() -> BTreeSet<String> {
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir("src").expect("src") {
        let path = entry.expect("entry").path();
        let name = path.file_stem().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() || (name != "lib" && name != "main") {
            modules.insert(name.to_owned());
        }
    }
    modules
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A source file's module path under `src/`: `src/access/auth/basic.rs` is
/// `["access", "auth", "basic"]`, `src/access/mod.rs` is `["access"]`.
fn module_path(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix("src").expect("a file under src/");
    let mut parts: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The lines after `#[cfg(test)]` at `at`, past other attributes: the
/// `#[path = ".."]` given, if any, and the item line.
fn test_item(lines: &[&str], at: usize) -> (Option<String>, Option<(usize, String)>) {
    let mut path = None;
    for (i, line) in lines.iter().enumerate().skip(at + 1) {
        let line = line.trim();
        if let Some(p) = line.strip_prefix("#[path = \"") {
            path = p.strip_suffix("\"]").map(str::to_owned);
        } else if !line.starts_with("#[") {
            let item = ["pub(crate) ", "pub(super) ", "pub "]
                .iter()
                .fold(line, |l, v| l.strip_prefix(v).unwrap_or(l));
            return (path, Some((i, item.to_owned())));
        }
    }
    (path, None)
}

/// The files that `file`'s `#[cfg(test)] mod NAME;` lines include.
fn test_files_declared(file: &Path, text: &str) -> Vec<PathBuf> {
    let lines: Vec<&str> = text.lines().collect();
    let dir = file.parent().expect("a folder");
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let module_dir = match stem {
        "mod" | "lib" | "main" => dir.to_path_buf(),
        _ => dir.join(stem),
    };
    let mut out = Vec::new();
    for (at, _) in lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim() == "#[cfg(test)]")
    {
        let (path, item) = test_item(&lines, at);
        let Some(name) =
            item.and_then(|(_, i)| i.strip_prefix("mod ")?.strip_suffix(';').map(str::to_owned))
        else {
            continue;
        };
        match path {
            Some(path) => out.push(dir.join(path)),
            None => {
                out.push(module_dir.join(format!("{name}.rs")));
                out.push(module_dir.join(name).join("mod.rs"));
            }
        }
    }
    out
}

/// The lines of `text` that are code outside inline `#[cfg(test)]`
/// modules, with their 1-based numbers; comment lines left out.
fn code_lines(text: &str) -> Vec<(usize, &str)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim() == "#[cfg(test)]" {
            if let (_, Some((item_at, item))) = test_item(&lines, i) {
                if item.starts_with("mod ") && item.ends_with('{') {
                    // The module ends at a `}` indented as its `mod` line.
                    let indent =
                        &lines[item_at][..lines[item_at].len() - lines[item_at].trim_start().len()];
                    let end = lines[item_at..]
                        .iter()
                        .position(|l| *l == format!("{indent}}}"));
                    i = item_at + end.unwrap_or(lines.len()) + 1;
                    continue;
                }
            }
        }
        if !line.trim_start().starts_with("//") {
            out.push((i + 1, line));
        }
        i += 1;
    }
    out
}

/// The name that starts `text`: letters, digits and `_`.
fn ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The top-level modules a line's paths name, for a file `depth` modules
/// deep: `crate::X`, and `super::` repeated `depth` times then `X`.
fn modules_named(line: &str, depth: usize) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in line
        .match_indices("crate::")
        .chain(line.match_indices("super::"))
    {
        let before = line[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue; // `super::` inside a chain, or part of a longer name
        }
        let mut rest = &line[at..];
        if let Some(r) = rest.strip_prefix("crate::") {
            rest = r;
        } else {
            let mut climbed = 0;
            while let Some(r) = rest.strip_prefix("super::") {
                rest = r;
                climbed += 1;
            }
            if climbed != depth {
                continue; // stays inside the file's own top-level module
            }
        }
        out.push(ident(rest).to_owned());
    }
    out
}

/// The imports in `file` (its `text`) that break the tiers, one message each.
fn violations(file: &Path, text: &str, tiers: &BTreeMap<String, u32>) -> (usize, Vec<String>) {
    let module = module_path(file);
    let own = &module[0];
    let Some(&own_tier) = tiers.get(own) else {
        return (
            0,
            vec![format!(
                "{}: module {own} has no tier in {ARCHITECTURE}",
                file.display()
            )],
        );
    };
    let mut seen = 0;
    let mut out = Vec::new();
    for (number, line) in code_lines(text) {
        for used in modules_named(line, module.len()) {
            let Some(&tier) = tiers.get(&used) else {
                continue; // not a module: an item of the crate root
            };
            if used == *own {
                continue;
            }
            seen += 1;
            if tier >= own_tier {
                out.push(format!(
                    "{}:{number}: {own} (tier {own_tier}) uses {used} (tier {tier}): `{}`",
                    file.display(),
                    line.trim()
                ));
            }
        }
    }
    (seen, out)
}

#[test]
fn every_module_of_src_is_in_one_tier() {
    let tiers: BTreeSet<String> = tiers().into_keys().collect();
    let modules = top_modules();
    let untiered: Vec<_> = modules.difference(&tiers).collect();
    let stale: Vec<_> = tiers.difference(&modules).collect();
    assert!(
        untiered.is_empty(),
        "{ARCHITECTURE} gives no tier to: {untiered:?}"
    );
    assert!(
        stale.is_empty(),
        "{ARCHITECTURE} tiers modules src/ lacks: {stale:?}"
    );
}

#[test]
fn no_module_uses_one_of_its_own_tier_or_a_higher_one() {
    let tiers = tiers();
    let mut files = Vec::new();
    rust_files(Path::new("src"), &mut files);
    let texts: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|f| {
            let text =
                std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            (f, text)
        })
        .collect();
    let tests: BTreeSet<PathBuf> = texts
        .iter()
        .flat_map(|(f, text)| test_files_declared(f, text))
        .collect();
    let roots = [Path::new("src/lib.rs"), Path::new("src/main.rs")];
    let (mut seen, mut broken) = (0, Vec::new());
    for (file, text) in texts
        .iter()
        .filter(|(f, _)| !tests.contains(f) && !roots.contains(&f.as_path()))
    {
        let (n, found) = violations(file, text, &tiers);
        seen += n;
        broken.extend(found);
    }
    assert!(
        seen > 100,
        "only {seen} imports between modules found: is the scan blind?"
    );
    assert!(
        broken.is_empty(),
        "imports against the layers of {ARCHITECTURE} (a module uses only lower tiers):\n{}",
        broken.join("\n")
    );
}

/// The check itself: it must see an upward import written either way, and
/// leave comments and test modules alone, or a green run would prove nothing.
#[test]
fn the_check_finds_an_import_against_the_tiers() {
    let text = "\
//! Not an import: crate::daemon in a comment.
use crate::addr::Target;
use crate::http::Service;
use super::super::relay::Writer;
fn f() { super::super::super::daemon::main(); }
#[cfg(test)]
mod tests {
    use crate::daemon::main;
}
";
    let file = Path::new("src/session/relay/x.rs");
    let (seen, found) = violations(file, text, &tiers());
    assert_eq!(seen, 3, "{found:?}");
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("src/session/relay/x.rs:3: session (tier 6) uses http (tier 7)"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("src/session/relay/x.rs:5: session (tier 6) uses daemon (tier 11)"),
        "{found:?}"
    );
}
