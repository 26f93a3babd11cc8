//! `websockifyctl export NAME RECORDING --to DIR`: hands one recording to an
//! auditor: `DIR/FILE` (the recording, byte for byte) and `DIR/FILE.json`
//! (its `index.jsonl` line, byte for byte), both mode 0600 and never over
//! an existing file. The copy is checked against the SHA-256 the index has
//! for it before it gets its name, so what the auditor gets is what the
//! proxy wrote, or nothing.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use ring::digest::{Context as Digest, SHA256};

use super::files::{self, Existing};
use super::pick::{pick, Picked};
use super::Ctx;
use crate::session::record::hex;

/// `export` options.
#[derive(Args)]
pub struct ExportArgs {
    /// The instance.
    pub name: String,
    /// The recording: its file name (as `recordings` lists it) or its
    /// session id.
    pub recording: String,
    /// Where to write it (made mode 0700 when missing).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
}

/// Exports one recording with its index line.
pub fn run(ctx: &Ctx, args: ExportArgs) -> Result<ExitCode> {
    let picked = pick(ctx, &args.name, &args.recording)?;
    let Some(want) = picked.entry["sha256"].as_str().map(str::to_owned) else {
        bail!("the index line has no sha256: {}", picked.line);
    };
    files::ensure_dir(&args.to, 0o700)?;
    let name = picked.path.file_name().unwrap_or_default().to_owned();
    let rec_to = args.to.join(&name);
    let json_to = args.to.join(format!("{}.json", name.to_string_lossy()));
    for out in [&rec_to, &json_to] {
        if out.symlink_metadata().is_ok() {
            bail!("{}: exists; refusing to overwrite it", out.display());
        }
    }
    copy_checked(&picked, &want, &rec_to)?;
    let line = format!("{}\n", picked.line);
    files::write(&json_to, line.as_bytes(), 0o600, None, Existing::Refuse)?;
    if picked.entry["complete"] == false {
        eprintln!("websockifyctl: warning: the recording is incomplete (a write failed)");
    }
    println!("{}\n{}", rec_to.display(), json_to.display());
    Ok(ExitCode::SUCCESS)
}

/// Copies the recording to a temporary file beside `to` while hashing it,
/// and names it `to` only when the hash is `want`.
fn copy_checked(picked: &Picked, want: &str, to: &Path) -> Result<()> {
    let from = &picked.path;
    let Some((mut src, _)) = files::open_regular(from)? else {
        bail!(
            "{}: no such file (removed by record-max-total or record-max-age?)",
            from.display()
        );
    };
    let tmp = to.with_file_name(format!(
        ".{}.part",
        to.file_name().unwrap_or_default().to_string_lossy()
    ));
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    let copied = copy_hashing(&mut src, &mut out)
        .with_context(|| format!("cannot copy {} to {}", from.display(), tmp.display()));
    let checked = copied.and_then(|got| match got == want {
        true => out.sync_all().map_err(anyhow::Error::from),
        false => Err(anyhow!(
            "{}: SHA-256 {got}, but the index says {want}: the file changed since it was \
             written; nothing exported",
            from.display()
        )),
    });
    let named = checked.and_then(|()| {
        std::fs::hard_link(&tmp, to).with_context(|| format!("cannot create {}", to.display()))
    });
    let _ = std::fs::remove_file(&tmp);
    named
}

/// Copies `src` to `out`; the SHA-256 of what was copied, hex.
fn copy_hashing(src: &mut std::fs::File, out: &mut std::fs::File) -> std::io::Result<String> {
    let mut hash = Digest::new(&SHA256);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            return Ok(hex(hash.finish().as_ref()));
        }
        hash.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
}
