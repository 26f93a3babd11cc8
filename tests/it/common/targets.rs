//! TCP targets the proxy relays to: echo, source, sink, a user's desk that
//! says whose it is, and an address where nothing listens.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A TCP target on 127.0.0.1 that echoes every byte back.
pub async fn echo_target() -> SocketAddr {
    echo_target_on("127.0.0.1:0").await
}

/// A TCP target on `bind` that echoes every byte back, for any number of connections.
pub async fn echo_target_on(bind: &str) -> SocketAddr {
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// A target that writes `data` to its first connection, then closes it.
pub async fn source_target(data: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        if let Ok((mut s, _)) = listener.accept().await {
            let _ = s.write_all(&data).await;
            let _ = s.shutdown().await;
            // Hold the socket until the proxy closes its side.
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
        }
    });
    addr
}

/// A target that reads its first connection to EOF and reports what it got.
pub async fn sink_target() -> (SocketAddr, oneshot::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        if let Ok((mut s, _)) = listener.accept().await {
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got).await;
            let _ = tx.send(got);
        }
    });
    (addr, rx)
}

/// An address where nothing listens.
pub async fn dead_target() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// A user's desktop, as a target that greets with its `name` and a newline, then echoes.
pub async fn desk(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                if s.write_all(format!("{name}\n").as_bytes()).await.is_ok() {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                }
            });
        }
    });
    addr
}
