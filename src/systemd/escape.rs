//! Log lines as one line of plain text. Lines carry text that clients choose
//! (a close reason, a web path): a newline there would forge a whole line of
//! its own in stderr, `--log-file` and syslog, and terminal escapes would
//! rewrite what an operator's terminal shows. Every control character is
//! therefore written as an escape (`\n`, `\t`, `\x1b`, `\u{202e}`), and the
//! backslash as `\\`, so the text reads back unambiguously. A line without
//! any of these is left as it is, without a copy.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with its control characters and backslashes escaped.
pub(super) fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if !needs_escape(c) => out.push(c),
            c if c.is_ascii() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// Control characters (C0, DEL, C1), the Unicode line and paragraph
/// separators some viewers break lines at, the bidirectional controls that
/// reorder what a terminal shows, and the backslash that starts an escape.
fn needs_escape(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_are_not_copied() {
        let line = "127.0.0.1:5000: session closed: close 1000 (bye) é ✓";
        assert!(matches!(escape(line), Cow::Borrowed(l) if l == line));
    }

    #[test]
    fn controls_are_escaped_readably_and_backslashes_too() {
        assert_eq!(
            escape("a\nb\r\tc\x1b[2K\x07\x7f\\n\u{85}\u{202e}z"),
            "a\\nb\\r\\tc\\x1b[2K\\x07\\x7f\\\\n\\u{85}\\u{202e}z"
        );
    }
}
