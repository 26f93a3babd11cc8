//! `wsbench`: the load client, target server and report writer behind
//! `scripts/bench`. This file owns the command line and the dispatch to the
//! modules below, nothing else.
//!
//! Why a purpose-built tool rather than an off-the-shelf one: the benchmark
//! compares raw TCP paths (direct, `socat`) with WebSocket paths (Python
//! websockify, ours) and must drive both with the *same* client code, count
//! bytes where the issue says to count them (at the target for client→target,
//! at the client for target→client), and never be the bottleneck itself. A
//! tiny hand-rolled WebSocket client (binary frames, no subprotocol) lets the
//! throughput paths write pre-built batches of masked frames and skip payloads
//! without copying, which general-purpose libraries do not allow.
//!
//! Subcommands:
//! - `target` ([`target`]): a TCP server whose per-connection behaviour is
//!   chosen by the first byte the client sends; one target serves every test
//!   through one proxy instance.
//! - `download`, `upload` ([`throughput`]), `latency` ([`latency`]),
//!   `conn-rate` ([`conn_rate`]), `idle` ([`idle`]): measurements; each
//!   appends `SYSTEM<TAB>metric<TAB>value` lines to the `--record` file
//!   ([`measure`]).
//! - `attack` ([`attack`]): PSS of the proxy while many sessions hold
//!   partial large messages, and a bystander's round trip meanwhile.
//! - `huge` ([`huge`]): one 1 GiB message each way, checked by SHA-256
//!   ([`pattern`]), with the proxy's peak PSS growth.
//! - `load` ([`load`], target side [`load_target`]): many sessions shaped
//!   like VNC at once; proxy CPU and the round trips of input events.
//! - `report` ([`report`]): turns that file into the markdown table with the
//!   goals.
//! - `free-port`: prints a free loopback port for the script.
//!
//! `download --tls` speaks over TLS ([`tls`]): wss:// to ours, raw TCP to
//! socat's OPENSSL front.
//!
//! Every loop is bounded by a count and a wall-clock deadline.

mod attack;
mod client;
mod conn_rate;
mod cpu;
mod goals;
mod huge;
mod idle;
mod latency;
mod load;
mod load_target;
mod measure;
mod pattern;
mod pss;
mod report;
mod target;
mod throughput;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use measure::{Common, Timing};
use target::TargetMode;

#[derive(Parser)]
#[command(about = "Load client, target server and report writer for scripts/bench")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the TCP target; prints `PORT <n>` once listening.
    Target {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// `auto` picks the behaviour from the first byte of each connection.
        #[arg(long, value_enum, default_value_t = TargetMode::Auto)]
        mode: TargetMode,
        /// Tokio worker threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Print a free TCP port on 127.0.0.1.
    FreePort,
    /// Target→client throughput: the target writes as fast as it can, the
    /// client counts payload bytes received.
    Download {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 1)]
        conns: usize,
        #[command(flatten)]
        timing: Timing,
        /// The proxy's pid: also report its CPU seconds per GB relayed.
        #[arg(long)]
        proxy_pid: Option<u32>,
    },
    /// Client→target throughput: the client writes `--msg-size` messages,
    /// the target's sink counts what it received.
    Upload {
        #[command(flatten)]
        common: Common,
        /// The target itself, for the counter query (never via the proxy).
        #[arg(long)]
        target: SocketAddr,
        #[arg(long, default_value_t = 4096)]
        msg_size: usize,
        #[arg(long, default_value_t = 1)]
        conns: usize,
        #[command(flatten)]
        timing: Timing,
    },
    /// Round-trip latency of `--size`-byte messages, one outstanding.
    Latency {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 16)]
        size: usize,
        #[arg(long, default_value_t = 3.0)]
        secs: f64,
        #[arg(long, default_value_t = 200_000)]
        max_iters: usize,
    },
    /// Connections per second: connect, (handshake), one round trip, close.
    ConnRate {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        #[arg(long, default_value_t = 3.0)]
        secs: f64,
        #[arg(long, default_value_t = 30_000)]
        max_conns: u64,
        /// The proxy's pid: also report its CPU time per session.
        #[arg(long)]
        proxy_pid: Option<u32>,
    },
    /// Open idle sessions, verify each with a round trip, measure the proxy's
    /// PSS (process tree of `--pid`) before and after.
    Idle {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 9500)]
        sessions: usize,
        /// Proxy process whose tree's PSS is measured.
        #[arg(long)]
        pid: Option<u32>,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Deadline for opening all sessions.
        #[arg(long, default_value_t = 120.0)]
        max_secs: f64,
        /// Pause after verification before reading PSS, so forked children
        /// and allocators settle.
        #[arg(long, default_value_t = 1.0)]
        settle_secs: f64,
    },
    /// Sessions that each announce a large binary message, send part of it
    /// to the target's sink and are held open; the proxy's PSS growth and a
    /// bystander's 4 KiB round trip meanwhile.
    Attack(attack::AttackOpts),
    /// One huge message each way per subprotocol, checked by SHA-256, with
    /// the proxy's peak PSS growth.
    Huge(huge::HugeOpts),
    /// Many sessions shaped like VNC (bursts target→client, input events
    /// client→target echoed by the target): proxy CPU and the input events'
    /// round trips; `--idle` for the one-session baseline.
    Load(load::LoadOpts),
    /// Render the recorded results as markdown.
    Report {
        #[arg(long)]
        input: PathBuf,
        /// Also write the markdown here.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    raise_nofile_limit();
    // Latency wants everything on one thread (pinned by the script with
    // taskset); the others scale with the machine.
    let rt = match &cli.cmd {
        Cmd::Latency { .. } | Cmd::FreePort | Cmd::Report { .. } => {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        }
        Cmd::Target { threads, .. } => tokio::runtime::Builder::new_multi_thread()
            .worker_threads((*threads).max(1))
            .enable_all()
            .build()?,
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
    };
    rt.block_on(run(cli.cmd))
}

async fn run(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Target {
            listen,
            mode,
            threads: _,
        } => target::run_target(listen, mode).await,
        Cmd::FreePort => free_port(),
        Cmd::Download {
            common,
            conns,
            timing,
            proxy_pid,
        } => throughput::download(&common, conns, timing, proxy_pid).await,
        Cmd::Upload {
            common,
            target,
            msg_size,
            conns,
            timing,
        } => throughput::upload(&common, target, msg_size, conns, timing).await,
        Cmd::Latency {
            common,
            size,
            secs,
            max_iters,
        } => latency::latency(&common, size, secs, max_iters).await,
        Cmd::ConnRate {
            common,
            concurrency,
            secs,
            max_conns,
            proxy_pid,
        } => conn_rate::conn_rate(&common, concurrency, secs, max_conns, proxy_pid).await,
        Cmd::Idle {
            common,
            sessions,
            pid,
            concurrency,
            max_secs,
            settle_secs,
        } => idle::idle(&common, sessions, pid, concurrency, max_secs, settle_secs).await,
        Cmd::Attack(o) => attack::attack(&o).await,
        Cmd::Huge(o) => huge::huge(&o).await,
        Cmd::Load(o) => load::load(&o).await,
        Cmd::Report { input, output } => report::report(&input, output.as_deref()),
    }
}

fn free_port() -> Result<()> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    println!("{}", l.local_addr()?.port());
    Ok(())
}

/// Raise the soft fd limit to the hard one: the idle test holds thousands of
/// sockets in the client and in the target.
fn raise_nofile_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}
