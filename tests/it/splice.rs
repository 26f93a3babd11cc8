//! Target to client by splice (zero-copy) through the real binary and real
//! sockets: the bytes arrive exactly, whatever the target's write sizes and
//! however slowly the client reads; closes, half-closes and heartbeat pings
//! never land inside a spliced frame; and every session whose bytes
//! something needs (base64, `--traffic`, recording, TLS on either side)
//! takes the copying path and says why at debug level.

use crate::common;

use common::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// The proxy's debug line for a session on the splice path.
const SPLICED: &str = "target->client by splice";

/// The proxy's debug line for a session on the copying path, with its reason.
const COPIED: &str = "target->client by copy: ";

/// A target the test drives: the proxy (with `args` before the listen and
/// target addresses, `-v` for its debug lines), a client upgraded on it,
/// and the proxy's connection to the target.
async fn session(args: &[&str]) -> (Proxy, TcpStream, TcpStream) {
    session_with(args, None).await
}

/// [`session`], the client offering `protocol`.
async fn session_with(args: &[&str], protocol: Option<&str>) -> (Proxy, TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let target = listener.local_addr().expect("addr").to_string();
    let proxy = Proxy::start(&[&["-v"], args, &["127.0.0.1:0", &target][..]].concat());
    let client = raw_upgrade(proxy.addr(), "/websockify", protocol).await;
    let (conn, _) = timeout(WAIT, listener.accept())
        .await
        .expect("the proxy connects the target")
        .expect("accept");
    (proxy, client, conn)
}

/// Reads data frames until `want` payload bytes came, answering pings;
/// the payload and how many pings came. Any frame but data and ping fails.
async fn receive(client: &mut TcpStream, want: usize) -> (Vec<u8>, usize) {
    let (mut got, mut pings) = (Vec::with_capacity(want), 0);
    while got.len() < want {
        match read_frame(client).await {
            (0x2, p) => got.extend_from_slice(&p),
            (0x9, p) => {
                pings += 1;
                client
                    .write_all(&client_frame(0x8A, &p))
                    .await
                    .expect("pong");
            }
            (op, p) => panic!("unexpected frame {op:#x} ({} bytes)", p.len()),
        }
    }
    assert_eq!(got.len(), want, "more bytes than the target sent");
    (got, pings)
}

/// Reads data frames (answering pings) until at least `want` payload
/// bytes came from an endless target.
async fn receive_some(client: &mut TcpStream, want: usize) {
    let mut got = 0;
    while got < want {
        match read_frame(client).await {
            (0x2, p) => got += p.len(),
            (0x9, p) => client
                .write_all(&client_frame(0x8A, &p))
                .await
                .expect("pong"),
            (op, _) => panic!("unexpected frame {op:#x}"),
        }
    }
}

/// `len` bytes that differ at every offset (so a lost or moved byte shows).
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Waits for the closing line and returns it.
fn closed_line(proxy: &mut Proxy) -> String {
    proxy.wait_for_log("session closed")
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_of_every_size_around_the_threshold_arrive_exactly_by_splice() {
    let (mut proxy, mut client, mut target) = session(&[]).await;
    // Small, large, and back: each write crosses the threshold (16 KiB) in
    // one direction or the other, and each is received before the next.
    let sizes = [
        1,
        100,
        16_383,
        16_384,
        16_385,
        65_536,
        65_537,
        5,
        200_000,
        3,
        1 << 20,
        1,
        40_000,
        17,
    ];
    let mut total = 0;
    for (i, len) in sizes.into_iter().enumerate() {
        let data = pattern(len, i as u32);
        target.write_all(&data).await.expect("target write");
        let (got, _) = receive(&mut client, len).await;
        assert!(got == data, "write {i} of {len} bytes arrived changed");
        total += len;
    }
    proxy.wait_for_log(SPLICED);
    drop(target);
    assert_eq!(read_frame(&mut client).await.0, 0x8, "close after FIN");
    let line = closed_line(&mut proxy);
    assert!(
        line.contains(&format!(" {total} bytes to client")),
        "counted exactly: {line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_client_gets_every_byte_while_the_target_sends() {
    let (mut proxy, mut client, mut target) = session(&[]).await;
    let data = pattern(64 << 20, 7);
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        target.write_all(&sent).await.expect("target write");
        target
    });
    // The client reads nothing until the target is stuck (the proxy stops
    // reading it once the client's socket is full), then reads slowly.
    let stuck = std::time::Instant::now();
    while !writer.is_finished() && stuck.elapsed() < std::time::Duration::from_millis(500) {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        !writer.is_finished(),
        "64 MiB fit in the buffers: no backpressure tested"
    );
    let mut got = Vec::new();
    while got.len() < data.len() {
        let (op, p) = read_frame(&mut client).await;
        assert_eq!(op, 0x2, "only data frames");
        got.extend_from_slice(&p);
        if got.len() < 1 << 20 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }
    assert!(got == data, "bytes lost or changed under backpressure");
    let _target = timeout(WAIT, writer).await.expect("writer").expect("join");
    proxy.wait_for_log(SPLICED);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_target_half_closing_after_a_large_write_delivers_it_all_then_closes() {
    let (mut proxy, mut client, mut target) = session(&[]).await;
    let data = pattern(3 << 20, 3);
    target.write_all(&data).await.expect("target write");
    target.shutdown().await.expect("FIN");
    let (got, _) = receive(&mut client, data.len()).await;
    assert!(got == data);
    let (op, p) = read_frame(&mut client).await;
    assert_eq!(op, 0x8, "a close frame follows the data");
    assert_eq!(&p[..2], &1000u16.to_be_bytes());
    proxy.wait_for_log(SPLICED);
    let line = closed_line(&mut proxy);
    assert!(
        line.contains(&format!(" {} bytes to client", data.len())),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_close_while_the_target_streams_gets_a_whole_close_frame() {
    let (mut proxy, mut client, target) = session(&[]).await;
    let (mut tr, mut tw) = target.into_split();
    // The target streams without end; what the proxy sends it is drained.
    let streamer = tokio::spawn(async move {
        let chunk = pattern(256 << 10, 9);
        while tw.write_all(&chunk).await.is_ok() {}
    });
    tokio::spawn(async move {
        let mut sink = vec![0u8; 1 << 16];
        while let Ok(1..) = tr.read(&mut sink).await {}
    });
    let mut got = 0;
    while got < 4 << 20 {
        let (op, p) = read_frame(&mut client).await;
        assert!(op == 0x2 || op == 0x9, "unexpected frame {op:#x}");
        got += p.len();
    }
    proxy.wait_for_log(SPLICED);
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    client
        .write_all(&client_frame(0x88, &close))
        .await
        .expect("close");
    // Every frame until the close parses: none was cut by the close frame.
    loop {
        match read_frame(&mut client).await {
            (0x2 | 0x9, _) => {}
            (0x8, p) => {
                assert_eq!(&p[..2], &1000u16.to_be_bytes(), "the code is echoed");
                break;
            }
            (op, _) => panic!("unexpected frame {op:#x}"),
        }
    }
    let line = closed_line(&mut proxy);
    assert!(line.contains("close 1000"), "{line}");
    streamer.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn heartbeat_pings_come_between_spliced_frames() {
    let (mut proxy, mut client, mut target) = session(&["--heartbeat", "1"]).await;
    let data = pattern(1 << 20, 11);
    let (mut pings, mut rounds) = (0, 0);
    // Large writes for a few heartbeat periods: the pings must be whole
    // frames between the data frames (receive fails on anything else).
    while pings < 2 {
        rounds += 1;
        assert!(rounds < 200, "no heartbeat pings in {rounds} rounds");
        target.write_all(&data).await.expect("target write");
        let (got, p) = receive(&mut client, data.len()).await;
        assert!(got == data, "round {rounds} arrived changed");
        pings += p;
        if p == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    proxy.wait_for_log(SPLICED);
}

#[tokio::test(flavor = "multi_thread")]
async fn half_a_gibibyte_arrives_with_the_same_sha256() {
    let (mut proxy, mut client, mut target) = session(&[]).await;
    const TOTAL: usize = 512 << 20;
    let block = pattern(1 << 20, 5);
    let writer = tokio::spawn(async move {
        let mut sent = ring::digest::Context::new(&ring::digest::SHA256);
        for _ in 0..TOTAL / block.len() {
            target.write_all(&block).await.expect("target write");
            sent.update(&block);
        }
        target.shutdown().await.expect("FIN");
        sent.finish()
    });
    let mut got = ring::digest::Context::new(&ring::digest::SHA256);
    let mut len = 0;
    loop {
        match read_frame(&mut client).await {
            (0x2, p) => {
                len += p.len();
                got.update(&p);
            }
            (0x8, _) => break,
            (0x9, p) => client
                .write_all(&client_frame(0x8A, &p))
                .await
                .expect("pong"),
            (op, _) => panic!("unexpected frame {op:#x}"),
        }
    }
    let sent = writer.await.expect("writer");
    assert_eq!(len, TOTAL);
    assert_eq!(got.finish().as_ref(), sent.as_ref(), "SHA-256 differs");
    proxy.wait_for_log(SPLICED);
    let line = closed_line(&mut proxy);
    assert!(
        line.contains(&format!(" {TOTAL} bytes to client")),
        "{line}"
    );
}

/// Sends 1 MiB from the target, checks the client got it through `read`,
/// and that the proxy said `reason` and never took the splice path.
async fn copies(proxy: &mut Proxy, target: &mut TcpStream, reason: &str) -> Vec<u8> {
    let data = pattern(1 << 20, 13);
    target.write_all(&data).await.expect("target write");
    proxy.wait_for_log(&format!("{COPIED}{reason}"));
    data
}

/// No splice line in the proxy's log.
fn never_spliced(proxy: &Proxy) {
    let log = proxy.log();
    assert!(!log.iter().any(|l| l.contains(SPLICED)), "spliced: {log:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn base64_mode_copies_and_says_so() {
    use base64::Engine as _;
    let (mut proxy, mut client, mut target) = session_with(&[], Some("base64")).await;
    let data = copies(&mut proxy, &mut target, "base64 mode").await;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut got = Vec::new();
    // Each text frame is the base64 of one target read, padded on its own.
    while got.len() < data.len() {
        match read_frame(&mut client).await {
            (0x1, p) => got.extend(b64.decode(&p).expect("base64")),
            (0x9, p) => client
                .write_all(&client_frame(0x8A, &p))
                .await
                .expect("pong"),
            (op, _) => panic!("unexpected frame {op:#x}: text frames in base64 mode"),
        }
    }
    assert!(got == data);
    never_spliced(&proxy);
}

#[tokio::test(flavor = "multi_thread")]
async fn traffic_copies_and_says_so() {
    let (mut proxy, mut client, mut target) = session(&["--traffic"]).await;
    let data = copies(&mut proxy, &mut target, "--traffic").await;
    assert!(receive(&mut client, data.len()).await.0 == data);
    never_spliced(&proxy);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recorded_session_copies_and_says_so() {
    let dir = TempDir::new("splice-record");
    let base = dir.path().join("rec");
    let (mut proxy, mut client, mut target) =
        session(&["--record", base.to_str().expect("utf-8")]).await;
    let data = copies(&mut proxy, &mut target, "the session is recorded").await;
    assert!(receive(&mut client, data.len()).await.0 == data);
    never_spliced(&proxy);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_client_copies_and_says_so() {
    let dir = TempDir::new("splice-wss");
    let (pem, der) = combined_pem(&dir);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let target = listener.local_addr().expect("addr").to_string();
    let pem = pem.to_str().expect("utf-8");
    let mut proxy = Proxy::start(&["-v", "--cert", pem, "127.0.0.1:0", &target]);
    let mut wss = wss_connect(proxy.addr(), &der).await;
    let (mut conn, _) = timeout(WAIT, listener.accept())
        .await
        .expect("connect")
        .expect("accept");
    let data = copies(&mut proxy, &mut conn, "the client is not plain TCP").await;
    assert!(common::wss::receive(&mut wss, data.len()).await == data);
    never_spliced(&proxy);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_target_copies_and_says_so() {
    let (cert, key, _) = self_signed();
    let dir = TempDir::new("splice-ssl-target");
    let cert_path = dir.write("target.pem", &cert);
    let key_path = dir.write("target.key", &key);
    let server =
        websockify::tls::server_config(&cert_path, Some(&key_path), &Default::default()).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(server.config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let target = format!("localhost:{}", listener.local_addr().expect("addr").port());
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["-v", "--ssl-target", "127.0.0.1:0", &target])
        .env("SSL_CERT_FILE", &cert_path)
        .stdin(std::process::Stdio::null());
    let mut proxy = Proxy::spawn(&mut cmd, 1);
    let mut client = raw_upgrade(proxy.addr(), "/websockify", None).await;
    let (tcp, _) = timeout(WAIT, listener.accept())
        .await
        .expect("connect")
        .expect("accept");
    let mut tls = acceptor.accept(tcp).await.expect("TLS");
    let data = pattern(1 << 20, 17);
    tls.write_all(&data).await.expect("target write");
    tls.flush().await.expect("flush");
    proxy.wait_for_log(&format!("{COPIED}TLS to the target"));
    assert!(receive(&mut client, data.len()).await.0 == data);
    never_spliced(&proxy);
}

/// A target that writes 256 KiB chunks until its connection fails; the
/// client side of a [`session`].
fn stream_forever(target: TcpStream) {
    let (mut tr, mut tw) = target.into_split();
    tokio::spawn(async move {
        let chunk = pattern(256 << 10, 21);
        while tw.write_all(&chunk).await.is_ok() {}
    });
    tokio::spawn(async move {
        let mut sink = vec![0u8; 1 << 16];
        while let Ok(1..) = tr.read(&mut sink).await {}
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_during_a_splice_sends_a_whole_1001() {
    let (mut proxy, mut client, target) = session(&[]).await;
    stream_forever(target);
    receive_some(&mut client, 4 << 20).await;
    proxy.wait_for_log(SPLICED);
    proxy.signal(nix::sys::signal::Signal::SIGTERM);
    loop {
        match read_frame(&mut client).await {
            (0x2 | 0x9, _) => {}
            (0x8, p) => {
                assert_eq!(&p[..2], &1001u16.to_be_bytes(), "going away");
                break;
            }
            (op, _) => panic!("unexpected frame {op:#x}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_during_a_splice_is_cut() {
    let (mut proxy, mut client, target) = session(&["--heartbeat", "1"]).await;
    stream_forever(target);
    receive_some(&mut client, 1 << 20).await;
    proxy.wait_for_log(SPLICED);
    // From here the client reads nothing: the frame being spliced cannot
    // finish, and the send limit (two heartbeats) ends the session.
    let line = closed_line(&mut proxy);
    assert!(line.contains("close 1006"), "{line}");
    drop(client);
}

/// The proxy's descriptors that are pipes.
fn pipes_of(proxy: &Proxy) -> usize {
    let fds = std::fs::read_dir(format!("/proc/{}/fd", proxy.pid())).expect("/proc/PID/fd");
    fds.filter_map(Result::ok)
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter(|link| link.to_string_lossy().starts_with("pipe:"))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn forty_stuck_splicing_sessions_hold_at_most_eight_pipes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let target = listener.local_addr().expect("addr").to_string();
    let proxy = Proxy::start(&["-v", "127.0.0.1:0", &target]);
    // Its own pipes (stderr to the test, ...), before any session.
    let base = pipes_of(&proxy);
    let mut clients = Vec::new();
    for _ in 0..40 {
        let mut client = raw_upgrade(proxy.addr(), "/websockify", None).await;
        let (conn, _) = timeout(WAIT, listener.accept())
            .await
            .expect("connect")
            .expect("accept");
        stream_forever(conn);
        // Enough to put the session on the splice path; then it reads no more.
        receive_some(&mut client, 1 << 20).await;
        clients.push(client);
    }
    // Each session's frame waits on a full client socket, each holding a
    // pipe while there is one: the pool fills up to its bound, no further.
    let deadline = std::time::Instant::now() + WAIT;
    while pipes_of(&proxy) < base + 2 * 8 {
        assert!(
            std::time::Instant::now() < deadline,
            "pipes: {}",
            pipes_of(&proxy)
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for _ in 0..10 {
        assert_eq!(pipes_of(&proxy), base + 2 * 8, "8 pipes for splice");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_unix_socket_target_splices_too() {
    let dir = TempDir::new("splice-unix-target");
    let path = dir.path().join("target.sock");
    let listener = tokio::net::UnixListener::bind(&path).expect("bind");
    let path = path.to_str().expect("utf-8");
    let mut proxy = Proxy::start(&["-v", "--unix-target", path, "127.0.0.1:0"]);
    let mut client = raw_upgrade(proxy.addr(), "/websockify", None).await;
    let (mut conn, _) = timeout(WAIT, listener.accept())
        .await
        .expect("connect")
        .expect("accept");
    for (i, len) in [100, 70_000, 1 << 20, 10].into_iter().enumerate() {
        let data = pattern(len, 30 + i as u32);
        conn.write_all(&data).await.expect("target write");
        assert!(receive(&mut client, len).await.0 == data, "write {i}");
    }
    proxy.wait_for_log(SPLICED);
}
