//! One WebSocket session: after the 101, connect the target, relay, log the result.

use std::time::Instant;

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use crate::config::Config;
use crate::conn::Ctx;
use crate::handshake::Mode;
use crate::limits::{CLOSE_TIMEOUT, WS_MAX_WRITE_BUFFER, WS_READ_BUFFER};
use crate::record::Recorder;
use crate::relay;
use crate::server::SessionCount;
use crate::target;
use crate::target::Target;

/// The WebSocket settings every session uses: bounded message and buffer sizes.
fn ws_config(config: &Config) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(WS_MAX_WRITE_BUFFER)
        .max_message_size(Some(config.limits.max_message_size))
        .max_frame_size(Some(config.limits.max_message_size))
}

/// Runs a session on an upgraded connection until both sides have closed.
pub async fn run(upgraded: Upgraded, client: String, target: Target, mode: Mode, ctx: Ctx) {
    let Ctx {
        config,
        mut shutdown,
        sessions,
        ..
    } = ctx;
    let _live = LiveSession::new(&sessions);
    let io = TokioIo::new(upgraded);
    let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(ws_config(&config))).await;
    let target = &target;
    let started = Instant::now();
    let target_tls = config.target_tls.as_ref();
    let stream = match target::connect(target, config.limits.connect_timeout, target_tls).await {
        Ok(stream) => stream,
        Err(e) => {
            log::warn!(
                client = client.to_string().as_str(), target_addr = target.to_string().as_str(), close_code = 1011;
                "{client}: session refused: target {target}: {e}; sent close 1011"
            );
            let frame = CloseFrame {
                code: CloseCode::Error,
                reason: "Failed to connect to downstream server".into(),
            };
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(Some(frame))).await;
            return;
        }
    };
    let mode_name = match mode {
        Mode::Binary => "binary",
        Mode::Base64 => "base64",
    };
    let (client_s, target_s) = (client.to_string(), target.to_string());
    log::info!(
        client = client_s.as_str(), target_addr = target_s.as_str(), mode = mode_name;
        "{client}: session open to {target} ({mode_name} frames)"
    );
    let observe = relay::Observer {
        traffic: config.traffic,
        recorder: config
            .record
            .as_deref()
            .and_then(|base| match Recorder::open(base) {
                Ok(r) => Some(std::sync::Mutex::new(r)),
                Err(e) => {
                    log::warn!("{client}: cannot record to {}.N: {e}", base.display());
                    None
                }
            }),
    };
    let out = relay::run(ws, stream, mode, config.heartbeat, &mut shutdown, &observe).await;
    drop(observe); // finishes the recording before the session is reported closed
    let secs = started.elapsed().as_secs_f64();
    log::info!(
        client = client_s.as_str(), target_addr = target_s.as_str(),
        bytes_to_target = out.to_target, bytes_to_client = out.to_client,
        duration_s = format!("{secs:.1}").as_str(), close_code = out.code, close_reason = out.reason.as_str();
        "{client}: session closed: target {target}, {} bytes to target, {} bytes to client, {secs:.1} s, close {} ({})",
        out.to_target,
        out.to_client,
        out.code,
        out.reason,
    );
}

/// Counts a session as live from the upgrade until it is dropped.
struct LiveSession<'a>(&'a tokio::sync::watch::Sender<SessionCount>);

impl<'a> LiveSession<'a> {
    fn new(sessions: &'a tokio::sync::watch::Sender<SessionCount>) -> Self {
        sessions.send_modify(|c| c.live += 1);
        Self(sessions)
    }
}

impl Drop for LiveSession<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|c| {
            c.live = c.live.saturating_sub(1);
            c.ended += 1;
        });
    }
}
