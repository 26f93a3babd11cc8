//! `index.jsonl` of `record-sessions`: one JSON object per recording,
//! appended by its writer thread when the session ends, so an auditor finds
//! who, from where, to what, when, how much, and can check the file against
//! its SHA-256 (`websockifyctl recordings` reads it).

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The index's name in `record-dir`.
pub const INDEX: &str = "index.jsonl";

/// What the session tells its recording at its end.
#[derive(Debug, Clone)]
pub struct End {
    /// The user, if the session had one.
    pub user: Option<String>,
    /// The client address.
    pub client: String,
    /// The target, as logged.
    pub target: String,
    /// The session's id (as in the log and `websockifyctl sessions`).
    pub session_id: u64,
    /// Payload bytes each way.
    pub to_target: u64,
    /// Payload bytes each way.
    pub to_client: u64,
    /// The close code the session ended with.
    pub code: u16,
}

/// What the writer knows of the file it wrote.
pub(super) struct Written {
    /// The recording's path (its name goes into the index).
    pub path: PathBuf,
    /// When the recording started.
    pub start: SystemTime,
    /// Bytes in the file.
    pub size: u64,
    /// SHA-256 of those bytes, hex.
    pub sha256: String,
    /// False when a write failed: the file stops short.
    pub complete: bool,
}

/// Appends the index line for one recording (mode 0600 when new).
pub(super) fn append(dir: &Path, end: &End, file: &Written) -> std::io::Result<()> {
    let name = file.path.file_name().map(|n| n.to_string_lossy());
    let line = serde_json::json!({
        "user": end.user,
        "client": end.client,
        "target": end.target,
        "session_id": end.session_id,
        "start": humantime::format_rfc3339_seconds(file.start).to_string(),
        "end": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        "bytes_to_target": end.to_target,
        "bytes_to_client": end.to_client,
        "close_code": end.code,
        "file": name,
        "size": file.size,
        "sha256": file.sha256,
        "complete": file.complete,
    });
    let mut text = line.to_string();
    text.push('\n');
    let mut index = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(dir.join(INDEX))?;
    // One write of the whole line: appends of sessions ending together
    // do not interleave (O_APPEND).
    index.write_all(text.as_bytes())
}

/// Lower-case hex of a digest (the index's `sha256`).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
