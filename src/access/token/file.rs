//! `TokenFile` and `ReadOnlyTokenFile`: a file, or a directory of files, of
//! `token: host:port` lines.
//!
//! `TokenFile` notices edits without a restart: each lookup stats the files
//! (cheap) and re-reads them only when a size, time, inode or the set of
//! files changed, where Python re-reads everything on every connection.
//! `ReadOnlyTokenFile` reads once, at start.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use super::{parse_target, TokenError, TokenTarget};

/// A token file or directory and, for `TokenFile`, what it looked like when
/// last read.
#[derive(Clone)]
pub(super) struct TokenFile {
    path: PathBuf,
    /// `TokenFile` (re-read on change) rather than `ReadOnlyTokenFile`.
    watch: bool,
    state: Arc<Mutex<Loaded>>,
}

/// A loaded token table and the stamp of the files it came from.
struct Loaded {
    stamp: Stamp,
    table: Arc<HashMap<String, TokenTarget>>,
    /// Every file was older than [`RACY_WINDOW`] when read. Until then a
    /// second write within the file system's timestamp granularity could
    /// leave the stamp unchanged, so the files are read again ("racy git").
    settled: bool,
    /// How many times the files were read (for tests).
    reads: u64,
}

/// How recent a file's mtime must be for its stamp not to be trusted yet:
/// well above the kernel's coarse file-time tick.
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// What a change shows up in: for each file read, its identity, size and
/// times. Two stamps differ when a file was edited, replaced, added or removed.
type Stamp = Vec<(PathBuf, FileStamp)>;

#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    fn modified(&self) -> SystemTime {
        let (secs, nanos) = self.mtime;
        let since_epoch = Duration::new(
            secs.max(0).unsigned_abs(),
            nanos.clamp(0, 999_999_999) as u32,
        );
        UNIX_EPOCH + since_epoch
    }

    fn of(meta: &fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

impl TokenFile {
    /// Reads `source` now, so that a missing or unreadable source stops the
    /// daemon at start; bad lines are only warned about.
    pub(super) fn new(source: &str, watch: bool) -> anyhow::Result<Self> {
        let path = PathBuf::from(source);
        let stamp = stamp(&path).with_context(|| format!("token source {source}"))?;
        let loaded = Loaded::read(&path, stamp, 0, log::Level::Warn);
        Ok(Self {
            path,
            watch,
            state: Arc::new(Mutex::new(loaded)),
        })
    }

    pub(super) async fn lookup(&self, token: &str) -> Result<Option<TokenTarget>, TokenError> {
        let table = if self.watch {
            let this = self.clone();
            tokio::task::spawn_blocking(move || this.current_table())
                .await
                .map_err(|e| self.unavailable(io::Error::other(e)))??
        } else {
            self.lock().table.clone()
        };
        Ok(table.get(token).cloned())
    }

    /// The table for the files as they are now, re-read if they changed.
    /// A source that has gone is an error rather than an empty table or the
    /// old one: deleting the file must not keep old tokens working, and an
    /// outage is not an unknown token.
    fn current_table(&self) -> Result<Arc<HashMap<String, TokenTarget>>, TokenError> {
        let now = stamp(&self.path).map_err(|e| self.unavailable(e))?;
        let mut state = self.lock();
        if state.stamp != now {
            *state = Loaded::read(&self.path, now, state.reads, log::Level::Warn);
        } else if !state.settled {
            // Same files, read again only to be sure: their problems were
            // already reported.
            *state = Loaded::read(&self.path, now, state.reads, log::Level::Debug);
        }
        Ok(state.table.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Loaded> {
        // The table is replaced whole, so a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn unavailable(&self, e: io::Error) -> TokenError {
        TokenError::Unavailable {
            origin: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }
}

impl Loaded {
    /// Reads the files of `stamp`; problems in them are logged at `level`.
    fn read(path: &Path, stamp: Stamp, reads: u64, level: log::Level) -> Self {
        let table = read_table(&stamp, level);
        log::log!(
            level.max(log::Level::Info),
            "{}: {} tokens",
            path.display(),
            table.len()
        );
        let racy_after = SystemTime::now() - RACY_WINDOW;
        let settled = stamp.iter().all(|(_, s)| s.modified() < racy_after);
        Self {
            stamp,
            table: Arc::new(table),
            settled,
            reads: reads + 1,
        }
    }
}

impl fmt::Display for TokenFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if self.watch {
            "TokenFile"
        } else {
            "ReadOnlyTokenFile"
        };
        write!(f, "{name} {}", self.path.display())
    }
}

/// The files a source stands for, with their stamps: the file itself, or
/// every regular file in the directory (symlinks followed, sorted by name so
/// that a token given twice resolves the same way every time). Hidden files
/// and `~` backups are skipped: editors leave them beside the real file.
fn stamp(path: &Path) -> io::Result<Stamp> {
    let meta = fs::metadata(path)?;
    if !meta.is_dir() {
        return Ok(vec![(path.to_owned(), FileStamp::of(&meta))]);
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let file = entry.path();
        match fs::metadata(&file) {
            Ok(meta) if meta.is_file() => files.push((file, FileStamp::of(&meta))),
            Ok(_) => log::debug!("{}: not a regular file; skipped", file.display()),
            // Dangling symlink or a file removed while listing: nothing to read.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// Reads every file of a stamp into one table. An unreadable file is skipped
/// with a warning, so the other files keep serving.
fn read_table(stamp: &Stamp, level: log::Level) -> HashMap<String, TokenTarget> {
    let mut table = HashMap::new();
    for (file, _) in stamp {
        match fs::read(file) {
            Ok(bytes) => parse_file(file, &bytes, &mut table, level),
            Err(e) => log::log!(
                level,
                "{}: {e}; its tokens are not available",
                file.display()
            ),
        }
    }
    table
}

/// Adds the entries of one file to `table`, warning (with file and line)
/// about each line that is not an entry. A later entry for the same token
/// wins, as in Python.
pub(crate) fn parse_file(
    file: &Path,
    bytes: &[u8],
    table: &mut HashMap<String, TokenTarget>,
    level: log::Level,
) {
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let at = format!("{}:{}", file.display(), index + 1);
        let line = match std::str::from_utf8(line) {
            Ok(line) => line,
            Err(_) => {
                log::log!(level, "{at}: not UTF-8 text; line skipped");
                continue;
            }
        };
        match parse_line(line) {
            Ok(Some((token, target))) => {
                if table.insert(token.to_owned(), target).is_some() {
                    log::log!(
                        level,
                        "{at}: token {} given again; this entry wins",
                        super::redact(token)
                    );
                }
            }
            Ok(None) => {}
            Err(e) => log::log!(level, "{at}: {e}; line skipped"),
        }
    }
}

/// One line of a token file: `token: host:port`, `token: unix_socket:/path`,
/// a `#` comment, or blank. As in Python the line is split where a colon is
/// followed by whitespace (a space or a tab), and that must happen exactly
/// once; the target is then split at its last colon.
fn parse_line(line: &str) -> Result<Option<(&str, TokenTarget)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut parts = split_colon_space(line);
    let (Some(token), Some(target), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("expected \"token: host:port\" (a colon and a space after the token)".into());
    };
    let token = token.trim();
    if token.is_empty() {
        return Err("empty token".into());
    }
    let target = parse_target(target).map_err(|e| format!("bad target: {e}"))?;
    Ok(Some((token, target)))
}

/// Python's `re.split(r':\s', line)`.
fn split_colon_space(line: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(line);
    std::iter::from_fn(move || {
        let s = rest?;
        let mut chars = s.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == ':' {
                if let Some(&(j, ws)) = chars.peek() {
                    if ws.is_whitespace() {
                        rest = Some(&s[j + ws.len_utf8()..]);
                        return Some(&s[..i]);
                    }
                }
            }
        }
        rest = None;
        Some(s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> TokenTarget {
        TokenTarget::tcp(host, port)
    }

    fn entry(line: &str) -> Option<(String, TokenTarget)> {
        parse_line(line)
            .unwrap()
            .map(|(t, target)| (t.to_owned(), target))
    }

    #[test]
    fn python_split() {
        let split = |s| split_colon_space(s).collect::<Vec<_>>();
        assert_eq!(split("a: b:c"), ["a", "b:c"]);
        assert_eq!(split("a:\tb"), ["a", "b"]);
        assert_eq!(split("a:  b"), ["a", " b"]);
        assert_eq!(split("a:: b"), ["a:", "b"]);
        assert_eq!(split("a:b"), ["a:b"]);
        assert_eq!(split("a: b: c"), ["a", "b", "c"]);
        assert_eq!(split("a:"), ["a:"]);
        assert_eq!(split("a: "), ["a", ""]);
    }

    #[test]
    fn entries() {
        let t = |s: &str| Some(("tok".to_owned(), tcp(s, 5900)));
        assert_eq!(entry("tok: host:5900"), t("host"));
        assert_eq!(entry("tok:\thost:5900"), t("host"));
        assert_eq!(entry("  tok:\t\t host:5900  "), t("host"));
        assert_eq!(entry("tok: ::1:5900"), t("::1"));
        assert_eq!(entry("tok: [fe80::1]:5900"), t("fe80::1"));
        assert_eq!(entry("tok: 10.0.0.1:5900\r"), t("10.0.0.1"));
        assert_eq!(
            entry("tok: unix_socket:/run/vnc/1.sock"),
            Some(("tok".into(), TokenTarget::Unix("/run/vnc/1.sock".into())))
        );
        assert_eq!(entry("# tok: host:5900"), None);
        assert_eq!(entry("   "), None);
        assert_eq!(entry(""), None);
    }

    #[test]
    fn bad_lines_are_errors_not_panics() {
        for line in [
            "tok:host:5900",
            "tok host:5900",
            "tok: host",
            "tok: host:port",
            "tok: host:99999",
            "tok: a: b:1",
            ": host:5900",
            "tok: unix_socket:",
            "tok: ",
            "tok: :",
            "tok: h st:1",
        ] {
            assert!(parse_line(line).is_err(), "{line:?}");
        }
    }

    /// Unchanged files are not read again; a change, even one of the same
    /// size right after a read, is.
    #[tokio::test]
    async fn reads_only_on_change() {
        let dir = std::env::temp_dir().join(format!("wsrs-token-reads-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens");
        fs::write(&path, "a: h:1\n").unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let plugin = TokenFile::new(path.to_str().unwrap(), true).unwrap();
        for _ in 0..3 {
            assert_eq!(plugin.lookup("a").await.unwrap(), Some(tcp("h", 1)));
        }
        assert_eq!(plugin.lock().reads, 1);
        fs::write(&path, "a: h:2\n").unwrap();
        assert_eq!(plugin.lookup("a").await.unwrap(), Some(tcp("h", 2)));
        // Same size, same second: caught because the last read was racy.
        fs::write(&path, "a: h:3\n").unwrap();
        assert_eq!(plugin.lookup("a").await.unwrap(), Some(tcp("h", 3)));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn whole_file_skips_bad_lines_and_later_entries_win() {
        let text = b"# tokens\n\na: h1:1\nbroken line\nb:\th2:2\n\xff\xfe: x:1\na: h3:3\n";
        let mut table = HashMap::new();
        parse_file(Path::new("t"), text, &mut table, log::Level::Warn);
        assert_eq!(table.len(), 2);
        assert_eq!(table["a"], tcp("h3", 3));
        assert_eq!(table["b"], tcp("h2", 2));
    }
}
