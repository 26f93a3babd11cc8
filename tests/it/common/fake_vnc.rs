//! A fake VNC server that asks for VNC Authentication (3.8 or 3.3) and
//! checks the proxy's DES response (tests/it/vnc.rs, tests/it/recordings.rs).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The challenge the fake server sends, and VNC's DES answer to it under
/// "password" (`openssl enc -des-ecb -nopad -K 0e86ceceeef64e26`).
pub const CHALLENGE: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
pub const RESPONSE: [u8; 16] = [
    0xb8, 0x66, 0x92, 0x41, 0x25, 0xc8, 0xee, 0xbb, 0x9d, 0xeb, 0xc1, 0xdb, 0x61, 0xc5, 0x38, 0xe2,
];
pub const SERVER_INIT: &[u8] = b"fake ServerInit";

/// How the fake RFB server behaves.
#[derive(Clone, Copy)]
pub enum Fake {
    /// 3.8, security types [2], then echo.
    V38,
    /// 3.3, the server chooses type 2, then echo.
    V33,
    /// 3.8 offering only TLS and VeNCrypt.
    TlsOnly,
}

/// A one-connection fake VNC server; reports whether the proxy's DES
/// response was right.
pub async fn fake_vnc(kind: Fake) -> (std::net::SocketAddr, oneshot::Receiver<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let v = if matches!(kind, Fake::V33) {
            b"RFB 003.003\n"
        } else {
            b"RFB 003.008\n"
        };
        s.write_all(v).await.unwrap();
        let mut answer = [0u8; 12];
        if s.read_exact(&mut answer).await.is_err() {
            return; // a probe (--check): the banner only, then it closes
        }
        assert_eq!(&answer, v, "the proxy answers the server's version");
        match kind {
            Fake::TlsOnly => {
                s.write_all(&[2, 18, 19]).await.unwrap();
                let _ = s.read(&mut [0u8; 1]).await;
                return;
            }
            Fake::V33 => s.write_all(&2u32.to_be_bytes()).await.unwrap(),
            Fake::V38 => {
                s.write_all(&[1, 2]).await.unwrap();
                let mut pick = [0u8; 1];
                s.read_exact(&mut pick).await.unwrap();
                assert_eq!(pick, [2], "the proxy chooses VNC Authentication");
            }
        }
        s.write_all(&CHALLENGE).await.unwrap();
        let mut response = [0u8; 16];
        s.read_exact(&mut response).await.unwrap();
        let right = response == RESPONSE;
        let _ = tx.send(right);
        if !right {
            let reason = b"Authentication failed";
            let mut fail = 1u32.to_be_bytes().to_vec();
            if !matches!(kind, Fake::V33) {
                fail.extend_from_slice(&(reason.len() as u32).to_be_bytes());
                fail.extend_from_slice(reason);
            }
            s.write_all(&fail).await.unwrap();
            return;
        }
        s.write_all(&0u32.to_be_bytes()).await.unwrap();
        let mut client_init = [0u8; 1];
        s.read_exact(&mut client_init).await.unwrap();
        s.write_all(SERVER_INIT).await.unwrap();
        let (mut r, mut w) = s.split();
        let _ = tokio::io::copy(&mut r, &mut w).await;
    });
    (addr, rx)
}
