//! `websockifyctl play NAME RECORDING` (or `play --file PATH`): plays one
//! recording in the browser. A small HTTP server on a loopback port serves
//! the player page (`player.html`, `player.js`: noVNC's own RFB client fed
//! by a fake WebSocket, with play, pause, speed and seek), noVNC's `core/`
//! and `vendor/` from the noVNC web root, and the recording; the URL it
//! prints holds a random token, without which every request gets 404, so
//! other users of the machine cannot watch along. Python websockify's
//! `--record` files play too: the format is the same.

mod serve;

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::pick::pick;
use super::Ctx;
use crate::session::record::hex;

/// Requests served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 16;

/// `play` options.
#[derive(Args)]
pub struct PlayArgs {
    /// The instance.
    #[arg(required_unless_present = "file")]
    pub name: Option<String>,
    /// The recording: its file name (as `recordings` lists it) or its
    /// session id.
    #[arg(required_unless_present = "file")]
    pub recording: Option<String>,
    /// Play this recording file instead (any `record`, `record-sessions` or
    /// Python websockify `--record` file).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["name", "recording"])]
    pub file: Option<PathBuf>,
    /// The noVNC web root whose core/ the player runs on.
    #[arg(long, value_name = "DIR", default_value = "/usr/share/novnc")]
    pub novnc: PathBuf,
    /// The loopback port to serve on (0: any free one).
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub port: u16,
}

/// What the server serves, shared by its connection threads.
pub struct Served {
    /// The path prefix every request must start with: `/TOKEN/`.
    pub prefix: String,
    /// The recording.
    pub recording: PathBuf,
    /// The noVNC web root.
    pub novnc: PathBuf,
}

/// Serves the player until interrupted.
pub fn run(ctx: &Ctx, args: PlayArgs) -> Result<ExitCode> {
    let recording = match (&args.file, &args.name, &args.recording) {
        (Some(file), _, _) => file.clone(),
        (None, Some(name), Some(which)) => pick(ctx, name, which)?.path,
        _ => bail!("give NAME RECORDING, or --file PATH"),
    };
    if !recording.is_file() {
        bail!("{}: no such recording", recording.display());
    }
    if !args.novnc.join("core/rfb.js").is_file() {
        bail!(
            "{}: no noVNC here (core/rfb.js); give --novnc DIR",
            args.novnc.display()
        );
    }
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    let port = listener.local_addr()?.port();
    let served = Arc::new(Served {
        prefix: format!("/{}/", token()?),
        recording,
        novnc: args.novnc,
    });
    // Not println!: a closed stdout (`| head`) must not stop the server.
    let said = format!(
        "playing {}\nopen http://127.0.0.1:{port}{}\n(Ctrl-C stops it)\n",
        served.recording.display(),
        served.prefix
    );
    let mut stdout = std::io::stdout();
    let _ = stdout
        .write_all(said.as_bytes())
        .and_then(|()| stdout.flush());
    accept(&listener, &served);
    Ok(ExitCode::SUCCESS)
}

/// 128 random bits, hex: the URL's secret.
fn token() -> Result<String> {
    use ring::rand::{SecureRandom as _, SystemRandom};
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no random numbers for the URL's token"))?;
    Ok(hex(&bytes))
}

/// A thread per connection, at most [`MAX_CONNECTIONS`] at once.
fn accept(listener: &TcpListener, served: &Arc<Served>) {
    let busy = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        while busy.load(Ordering::Acquire) >= MAX_CONNECTIONS {
            std::thread::park_timeout(std::time::Duration::from_millis(10));
        }
        busy.fetch_add(1, Ordering::AcqRel);
        let (served, done) = (served.clone(), busy.clone());
        let spawned = std::thread::Builder::new()
            .name("play".into())
            .spawn(move || {
                serve::connection(stream, &served);
                done.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            busy.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
