//! The man pages in `man/` against the program: every long option the command
//! line accepts has an entry in websockify(1) and every conf key one in
//! websockify.conf(5), every option of websockifyctl one in websockifyctl(8)
//! (and no entry documents something that no longer exists); every page renders without a warning from `mandoc -Tlint` and
//! `groff -ww` (packages `mandoc` and `groff-base`: a missing tool fails the
//! test, it never skips it).

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;

const PAGES: &[&str] = &[
    "websockify.1",
    "websockify.conf.5",
    "websockify-generator.8",
    "websockifyctl.8",
];

fn page_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("man").join(name)
}

fn page(name: &str) -> String {
    let path = page_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The roff source with `\-` as `-`, `\(dq` as `"`, so text is searchable.
fn plain(roff: &str) -> String {
    roff.replace("\\-", "-").replace("\\(dq", "\"")
}

/// The tag lines (the line after each `.TP`/`.TQ`) of section `section`.
fn tags(roff: &str, section: &str) -> Vec<String> {
    let mut in_section = false;
    let mut next_is_tag = false;
    let mut out = Vec::new();
    for line in plain(roff).lines() {
        if let Some(title) = line.strip_prefix(".SH ") {
            in_section = title.trim_matches('"') == section;
            next_is_tag = false;
            continue;
        }
        if !in_section {
            continue;
        }
        if next_is_tag {
            out.push(line.to_owned());
            next_is_tag = false;
        } else if line == ".TP" || line == ".TQ" {
            next_is_tag = true;
        }
    }
    assert!(!out.is_empty(), "no .TP entries in section {section}");
    out
}

/// The text of the `.TP` entry of `section` whose tag starts with `name`.
fn entry(roff: &str, section: &str, name: &str) -> String {
    let text = plain(roff);
    let mut lines = text.lines().skip_while(|l| *l != format!(".SH {section}"));
    let mut out = String::new();
    let mut inside = false;
    while let Some(line) = lines.next() {
        if line == ".TP" {
            if inside {
                break;
            }
            let tag = lines.next().unwrap_or("");
            let tag = tag.trim_start_matches(".BR ").trim_start_matches(".B ");
            inside = tag.split_whitespace().next() == Some(name);
            continue;
        }
        if inside && (line.starts_with(".SH") || line.starts_with(".SS")) {
            break;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Every `--long-option` in `text` (a word that starts with two dashes).
fn long_options(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("--") {
        let after = &rest[i + 2..];
        let boundary = i == 0 || !rest[..i].ends_with(|c: char| c.is_alphanumeric() || c == '-');
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(after.len());
        if boundary && len > 0 {
            out.push(after[..len].to_owned());
        }
        rest = &after[len..];
    }
    out
}

/// The long options the binary's command line accepts and `--help` lists
/// (`--help` and `--version` included).
fn cli_long_options() -> Vec<String> {
    let mut cmd = websockify::config::cli::Cli::command();
    cmd.build();
    let mut out = Vec::new();
    collect(&cmd, &mut out);
    out.sort();
    out.dedup();
    out
}

/// The long options accepted but hidden from `--help`: Python's options that
/// are refused (exit status 2), documented in the man page's Compatibility
/// subsection only.
fn hidden_long_options() -> Vec<String> {
    let mut cmd = websockify::config::cli::Cli::command();
    cmd.build();
    let mut out: Vec<String> = cmd
        .get_arguments()
        .filter(|a| a.is_hide_set())
        .filter_map(|a| a.get_long().map(str::to_owned))
        .collect();
    out.sort();
    out
}

/// The tag lines of the `.SS` subsection `sub` of section `section`.
fn subsection_tags(roff: &str, section: &str, sub: &str) -> Vec<String> {
    let text = plain(roff);
    let mut lines = text
        .lines()
        .skip_while(|l| *l != format!(".SH {section}"))
        .skip_while(|l| *l != format!(".SS {sub}"))
        .skip(1)
        .take_while(|l| !l.starts_with(".SS") && !l.starts_with(".SH"));
    let mut out = Vec::new();
    while let Some(line) = lines.next() {
        if line == ".TP" || line == ".TQ" {
            out.extend(lines.next().map(str::to_owned));
        }
    }
    out
}

fn collect(cmd: &clap::Command, out: &mut Vec<String>) {
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        if let Some(long) = arg.get_long() {
            out.push(long.to_owned());
        }
        out.extend(
            arg.get_all_aliases()
                .unwrap_or_default()
                .into_iter()
                .map(String::from),
        );
    }
    for sub in cmd.get_subcommands() {
        collect(sub, out);
    }
}

/// Asserts that a page documents exactly the names the code accepts:
/// `missing` heads the list of accepted names without an entry, `stale`
/// the list of entries for names the code does not know.
#[track_caller]
fn assert_same_names(
    accepted: &[impl AsRef<str>],
    documented: &[impl AsRef<str>],
    missing: &str,
    stale: &str,
) {
    let absent_from = |names: &[&str], from: &[&str]| -> Vec<String> {
        let names = names.iter().filter(|n| !from.contains(n));
        names.map(|n| n.to_string()).collect()
    };
    let accepted: Vec<&str> = accepted.iter().map(AsRef::as_ref).collect();
    let documented: Vec<&str> = documented.iter().map(AsRef::as_ref).collect();
    let undocumented = absent_from(&accepted, &documented);
    assert!(undocumented.is_empty(), "{missing}: {undocumented:?}");
    let unknown = absent_from(&documented, &accepted);
    assert!(unknown.is_empty(), "{stale}: {unknown:?}");
}

#[test]
fn every_long_option_has_an_entry_in_websockify_1() {
    let roff = page("websockify.1");
    let documented: Vec<String> = tags(&roff, "OPTIONS")
        .iter()
        .flat_map(|t| long_options(t))
        .collect();
    let accepted = cli_long_options();
    assert!(accepted.len() >= 10, "clap knows only {accepted:?}");
    // The refused options are hidden from --help but documented, under
    // Compatibility.
    let hidden = hidden_long_options();
    assert!(
        hidden.contains(&"key-password".to_owned()) && hidden.contains(&"wrap-mode".to_owned()),
        "the refused options should be hidden from --help: {hidden:?}"
    );
    let compat: Vec<String> = subsection_tags(&roff, "OPTIONS", "Compatibility")
        .iter()
        .flat_map(|t| long_options(t))
        .collect();
    for opt in &hidden {
        assert!(
            compat.contains(opt),
            "--{opt} is hidden from --help: man/websockify.1 documents it under OPTIONS, Compatibility"
        );
    }
    let accepted: Vec<String> = accepted.into_iter().chain(hidden).collect();

    assert_same_names(
        &accepted,
        &documented,
        "options the binary accepts but man/websockify.1 has no OPTIONS entry (.TP) for",
        "man/websockify.1 documents options the binary does not accept",
    );
}

#[test]
fn every_websockifyctl_option_has_an_entry_in_websockifyctl_8() {
    let roff = page("websockifyctl.8");
    let unfont = |t: &String| {
        ["\\fB", "\\fI", "\\fP", "\\fR", "\\c"]
            .iter()
            .fold(t.clone(), |t, f| t.replace(f, ""))
    };
    let documented: Vec<String> = ["OPTIONS", "COMMANDS"]
        .iter()
        .flat_map(|s| tags(&roff, s))
        .flat_map(|t| long_options(&unfont(&t)))
        .collect();
    let mut cmd = websockify::ctl::Ctl::command();
    cmd.build();
    let mut accepted = Vec::new();
    collect(&cmd, &mut accepted);
    assert_same_names(
        &accepted,
        &documented,
        "websockifyctl options without an entry (.TP) in man/websockifyctl.8",
        "man/websockifyctl.8 documents",
    );
    // And every command has its entry.
    let text = plain(&roff);
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = sub.get_name();
        assert!(
            text.contains(&format!(".BI \"{name} "))
                || text.contains(&format!(".B {name}\n"))
                || text.contains(&format!(".BR {name} "))
                || text.contains(&format!("\\fB{name}\\fP")),
            "command {name} has no entry in man/websockifyctl.8"
        );
    }
}

#[test]
fn the_binary_agrees_with_clap_about_its_options() {
    // The list above comes from the library's parser; make sure it is the
    // binary's (its --help names every option the test expects).
    let out = Command::new(env!("CARGO_BIN_EXE_websockify"))
        .arg("--help")
        .output()
        .expect("run websockify --help");
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    let in_help = long_options(&help);
    for opt in cli_long_options() {
        assert!(
            in_help.contains(&opt),
            "--{opt} is not in websockify --help"
        );
    }
    // The refused Python options are accepted (exit status 2, tests/it/modes.rs)
    // but neither listed nor in the usage line.
    for opt in hidden_long_options() {
        assert!(
            !in_help.contains(&opt),
            "--{opt} is refused, yet websockify --help lists it"
        );
    }
    assert!(!help.contains("WRAP_COMMAND"), "{help}");
    // Options are grouped under the man page's headings.
    for heading in [
        "General:",
        "Listening:",
        "TLS:",
        "Limits:",
        "Logging and recording:",
    ] {
        assert!(help.lines().any(|l| l == heading), "no {heading} in --help");
    }
}

#[test]
fn every_conf_key_has_an_entry_in_websockify_conf_5() {
    let roff = page("websockify.conf.5");
    let documented: Vec<String> = tags(&roff, "KEYS")
        .iter()
        .filter_map(|t| {
            let t = t.trim_start_matches(".BR ").trim_start_matches(".B ");
            t.split_whitespace().next().map(str::to_owned)
        })
        .collect();
    let keys = websockify::config::options::KEYS;
    assert_same_names(
        keys,
        &documented,
        "conf keys without a KEYS entry (.TP) in man/websockify.conf.5",
        "man/websockify.conf.5 documents keys that websockify::config::options::KEYS lacks",
    );
    // The complete example shows every key (set, or commented out with an
    // example value), but the refused ones.
    let text = plain(&roff);
    for key in keys {
        if entry(&roff, "KEYS", key).contains("Refused") {
            continue;
        }
        assert!(
            text.lines().any(
                |l| l.starts_with(&format!("{key} = ")) || l.starts_with(&format!("#{key} = "))
            ),
            "the EXAMPLE of man/websockify.conf.5 does not show `{key}`"
        );
    }
}

#[test]
fn the_complete_conf_example_parses() {
    // The example with every key is a valid conf file (the paths in it need
    // not exist to parse).
    let text = plain(&page("websockify.conf.5"));
    let example: String = text
        .lines()
        .skip_while(|l| !l.starts_with("listen = ["))
        .take_while(|l| *l != ".EE")
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(example.contains("verbose"), "example not found");
    websockify::config::options::ConfFile::parse(Path::new("websockify.conf.5"), example.clone())
        .unwrap_or_else(|e| panic!("{e}\n{example}"));
}

/// Runs a linter; a missing tool is a failure that says what to install.
fn lint(tool: &str, package: &str, args: &[&str], page: &Path) {
    let out = Command::new(tool)
        .args(args)
        .arg(page)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {tool} ({e}): install it with `apt-get install {package}`")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim().is_empty() && stderr.trim().is_empty(),
        "{tool} {} {}: {}\n{stdout}{stderr}",
        args.join(" "),
        page.display(),
        out.status
    );
}

#[test]
fn pages_pass_mandoc_lint() {
    for name in PAGES {
        lint(
            "mandoc",
            "mandoc",
            &["-Tlint", "-W", "style"],
            &page_path(name),
        );
    }
}

#[test]
fn pages_render_without_groff_warnings() {
    for name in PAGES {
        lint(
            "groff",
            "groff-base",
            &["-ww", "-z", "-man"],
            &page_path(name),
        );
    }
}

/// The tag line of the `.TP` entry whose tag starts with `tag` (after the
/// font macro) and the entry's text, up to the next entry or section.
fn tagged_entry(roff: &str, tag: &str) -> String {
    let text = plain(roff);
    let lines: Vec<&str> = text.lines().collect();
    let is_tag = |w: &[&str]| {
        (w[0] == ".TP" || w[0] == ".TQ")
            && w[1].starts_with(".B")
            && w[1].split_whitespace().nth(1) == Some(tag)
    };
    let Some(at) = lines.windows(2).position(is_tag) else {
        return String::new();
    };
    let body = lines[at + 2..]
        .iter()
        .take_while(|l| **l != ".TP" && !l.starts_with(".S"));
    let mut out = lines[at + 1].to_owned();
    for line in body {
        out.push('\n');
        out.push_str(line);
    }
    out
}

/// Every duration and count has its range in websockify(1) and
/// websockify.conf(5), as the binary enforces it: the bound is read from
/// the binary's own refusal of 2^64-1, so a numeric option added without a
/// bound, or a bound changed without the pages, fails here.
#[test]
fn every_numeric_option_states_its_bound_in_both_pages() {
    let cmd = websockify::config::cli::Cli::command();
    let numeric: Vec<String> = cmd
        .get_arguments()
        .filter(|a| {
            let names = a.get_value_names().unwrap_or_default();
            names
                .iter()
                .any(|n| ["SECONDS", "BYTES", "N", "DAYS"].contains(&n.as_str()))
        })
        .filter_map(|a| a.get_long().map(str::to_owned))
        .collect();
    assert!(numeric.len() >= 12, "{numeric:?}");
    let (one, conf) = (page("websockify.1"), page("websockify.conf.5"));
    for key in numeric {
        let option = format!("--{key}");
        let out = Command::new(env!("CARGO_BIN_EXE_websockify"))
            .args(["--check", &option, "18446744073709551615"])
            .args(["127.0.0.1:0", "127.0.0.1:5901"])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        let bound = said
            .split("must be at most ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("{option} 2^64-1 names no bound: {said}"))
            .trim_end_matches(',');
        let one_entry = tagged_entry(&one, &option);
        assert!(
            one_entry.contains(bound),
            "websockify.1, {option}: no {bound} in\n{one_entry}"
        );
        let conf_entry = tagged_entry(&conf, &key);
        assert!(
            conf_entry.contains(bound),
            "websockify.conf.5, {key}: no {bound} in\n{conf_entry}"
        );
    }
}

/// The roff source as one line of words: `.B`-style macros and line breaks
/// gone, so a sentence set over several lines can be searched.
fn words(roff: &str) -> String {
    let text = plain(roff);
    let words = text.lines().flat_map(|l| {
        let l = l
            .strip_prefix('.')
            .map_or(l, |m| m.split_once(' ').map_or("", |(_, r)| r));
        l.split_whitespace()
    });
    words.collect::<Vec<_>>().join(" ")
}

/// `websockify --help`, the unit and the man pages name the same control
/// socket: before, `--help` said /run/websockify/NAME.sock, where the unit
/// never puts it.
#[test]
fn help_the_unit_and_the_man_pages_agree_on_the_control_socket() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/websockify-rs@.service"),
    )
    .unwrap();
    assert!(
        unit.contains("--control-socket /run/websockify/%i/control.sock"),
        "{unit}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_websockify"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains("[default: off; the unit: /run/websockify/NAME/control.sock]"),
        "{help}"
    );
    for page in ["websockify.1", "websockify.conf.5", "websockifyctl.8"] {
        let text = plain(&self::page(page));
        assert!(text.contains("/run/websockify/NAME/control.sock"), "{page}");
    }
}

/// websockify.conf(5), `add --help` and `add`'s refusal give the same rule
/// for instance names, in the same words.
#[test]
fn the_conf_page_and_add_agree_on_instance_names() {
    let rule = websockify::ctl::NAME_RULE;
    let rule = rule.strip_prefix("a name ").unwrap();
    let conf = words(&page("websockify.conf.5"));
    assert!(
        conf.contains(&format!("NAME {rule}")),
        "{rule} not in websockify.conf(5)"
    );
    let ctl = words(&page("websockifyctl.8"));
    assert!(
        ctl.contains(&format!("name {rule}")),
        "{rule} not in websockifyctl(8)"
    );
    let mut cmd = websockify::ctl::Ctl::command();
    let add = cmd.find_subcommand_mut("add").unwrap().render_long_help();
    let add = add
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(add.contains(rule), "{add}");
}
