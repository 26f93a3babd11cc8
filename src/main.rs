//! The `websockify` command: parse, validate, bind, serve until SIGINT/SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};

use websockify::cli::Cli;
use websockify::{listen, logging, Config};

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn run(cli: Cli) -> Result<()> {
    let (listen, config) = Config::from_cli(&cli)?;
    listen::raise_fd_limit();
    let listeners = listen::bind(&listen).await?;
    for l in &listeners {
        log::info!(
            "listening on {}",
            l.local_addr().context("listener address")?
        );
    }
    log::info!(
        "relaying to {}{}",
        config.target,
        config
            .web
            .as_ref()
            .map(|w| format!(", web root {}", w.display()))
            .unwrap_or_default()
    );
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let stop = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    websockify::run(listeners, Arc::new(config), stop).await;
    Ok(())
}
