//! A browser's side of RFB on a raw WebSocket (tests/it/vnc.rs with fake
//! servers, tests/it/vnc_servers.rs with real ones): masked binary frames, the
//! next data message or close frame, and the handshake a browser does when
//! the proxy has already authenticated (security type None only).

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{client_frame, raw_upgrade, raw_upgrade_with, read_frame};

/// The Basic credentials `upgrade_logged_in` sends, and the
/// `--auth-source` of `LOGIN_ARGS`.
pub const LOGIN: &str = "u:p";

/// A login that names a user (`BasicHTTPAuth` with [`LOGIN`]): what must
/// stand in front of a VNC password the proxy answers.
pub const LOGIN_ARGS: [&str; 4] = ["--auth-plugin", "BasicHTTPAuth", "--auth-source", LOGIN];

/// A masked binary client frame.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    client_frame(0x82, payload)
}

/// Upgrades a raw socket at `path` (subprotocol `binary`).
pub async fn upgrade(addr: SocketAddr, path: &str) -> TcpStream {
    raw_upgrade(addr, path, Some("binary")).await
}

/// Upgrades as [`upgrade`], logged in with [`LOGIN`].
pub async fn upgrade_logged_in(addr: SocketAddr, path: &str) -> TcpStream {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(LOGIN);
    let auth = format!("Authorization: Basic {basic}\r\n");
    raw_upgrade_with(addr, path, Some("binary"), &auth).await
}

/// The next binary frame's payload.
pub async fn data(s: &mut TcpStream) -> Vec<u8> {
    let (op, p) = read_frame(s).await;
    assert_eq!(
        op,
        2,
        "binary frame expected, got {op:#x} {:?}",
        String::from_utf8_lossy(&p)
    );
    p
}

/// The close frame's code and reason.
pub async fn close(s: &mut TcpStream) -> (u16, String) {
    let (op, p) = read_frame(s).await;
    assert_eq!(
        op,
        8,
        "close expected, got {op:#x} {:?}",
        String::from_utf8_lossy(&p)
    );
    (
        u16::from_be_bytes([p[0], p[1]]),
        String::from_utf8_lossy(&p[2..]).into_owned(),
    )
}

/// A browser's handshake through a proxy that injects the password: the
/// server's version is answered with the same; the security type must be
/// None (3.3: chosen by the server; 3.7 and 3.8: the only one offered), the
/// SecurityResult (3.8) OK; then ClientInit (shared). Returns the version
/// and the ServerInit's framebuffer width and height.
pub async fn connect_as_browser(s: &mut TcpStream) -> (String, u16, u16) {
    let (version, init) = server_init_as_browser(s).await;
    let size = |i: usize| u16::from_be_bytes([init[i], init[i + 1]]);
    (version, size(0), size(2))
}

/// The desktop name in the ServerInit a browser gets, as
/// [`connect_as_browser`] connects.
pub async fn desktop_name_as_browser(s: &mut TcpStream) -> String {
    let (_, init) = server_init_as_browser(s).await;
    let len = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
    String::from_utf8_lossy(&init[24..24 + len]).into_owned()
}

/// [`connect_as_browser`]'s handshake: the version and the ServerInit.
async fn server_init_as_browser(s: &mut TcpStream) -> (String, Vec<u8>) {
    let version = data(s).await;
    assert!(version.starts_with(b"RFB 003.00"), "{version:?}");
    s.write_all(&frame(&version)).await.unwrap();
    let version = String::from_utf8_lossy(&version[..11]).into_owned();
    if version == "RFB 003.003" {
        assert_eq!(data(s).await, [0, 0, 0, 1], "3.3: security type None");
    } else {
        assert_eq!(data(s).await, [1, 1], "security types: None only");
        s.write_all(&frame(&[1])).await.unwrap();
        if version == "RFB 003.008" {
            assert_eq!(data(s).await, [0, 0, 0, 0], "SecurityResult OK");
        }
    }
    s.write_all(&frame(&[1])).await.unwrap();
    let init = data(s).await;
    assert!(init.len() >= 24, "ServerInit: {init:?}");
    (version, init)
}

/// The browser's side of an RFB 3.8 session whose VNC authentication the
/// proxy does itself: version, security type None only, SecurityResult OK
/// (after the server saw the right DES response, `right`), then ClientInit
/// (shared).
pub async fn through_injection(s: &mut TcpStream, right: tokio::sync::oneshot::Receiver<bool>) {
    use tokio::io::AsyncWriteExt;
    assert_eq!(data(s).await, b"RFB 003.008\n");
    s.write_all(&frame(b"RFB 003.008\n")).await.unwrap();
    assert_eq!(data(s).await, [1, 1], "security types: None only");
    s.write_all(&frame(&[1])).await.unwrap();
    assert_eq!(data(s).await, [0, 0, 0, 0], "SecurityResult OK");
    assert!(
        right.await.unwrap(),
        "the server saw the right DES response"
    );
    s.write_all(&frame(&[1])).await.unwrap(); // ClientInit, shared
}
