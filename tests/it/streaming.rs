//! The streaming relay through the real binary: messages are never gathered,
//! so unfinished messages hold no memory, control frames may sit between the
//! fragments of a message, and base64 groups may be split across frames.

use crate::common;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Completes the upgrade at /websockify on a raw socket, offering `protocol`.
async fn upgrade(addr: std::net::SocketAddr, protocol: Option<&str>) -> TcpStream {
    raw_upgrade(addr, "/websockify", protocol).await
}

/// Data frames until `want` payload bytes came, and whether a pong with
/// `pong` arrived on the way; the heartbeat's pings are passed over (a
/// slow run lasts long enough to get one).
async fn read_data(s: &mut TcpStream, want: usize, pong: &[u8]) -> (Vec<u8>, bool) {
    let (mut data, mut ponged) = (Vec::new(), false);
    while data.len() < want || (!pong.is_empty() && !ponged) {
        match read_frame(s).await {
            (0xA, p) => ponged |= p == pong,
            (0x9, _) => {}
            (0x1 | 0x2, p) => data.extend_from_slice(&p),
            (op, p) => panic!("unexpected frame {op:#x} {p:?}"),
        }
    }
    (data, ponged)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ping_between_fragments_is_answered_and_the_message_arrives() {
    let target = echo_target().await;
    let proxy = Proxy::start(&["127.0.0.1:0", &target.to_string()]);
    let mut s = upgrade(proxy.addr(), None).await;
    let mut wire = client_frame(0x02, b"hello ");
    wire.extend(client_frame(0x89, b"are you there"));
    wire.extend(client_frame(0x80, b"world"));
    s.write_all(&wire).await.expect("write");
    let (data, ponged) = read_data(&mut s, 11, b"are you there").await;
    assert_eq!(data, b"hello world");
    assert!(ponged, "no pong for the ping between the fragments");
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_pings_in_one_write_get_ten_pongs_in_order() {
    let target = echo_target().await;
    let proxy = Proxy::start(&["127.0.0.1:0", &target.to_string()]);
    let mut s = upgrade(proxy.addr(), None).await;
    let payloads: Vec<Vec<u8>> = (0..10).map(|i| format!("ping {i}").into_bytes()).collect();
    let mut wire: Vec<u8> = payloads
        .iter()
        .flat_map(|p| client_frame(0x89, p))
        .collect();
    // Then a last ping, whose pong is the last one sent.
    wire.extend(client_frame(0x89, b"last"));
    s.write_all(&wire).await.expect("write");
    let mut got = Vec::new();
    loop {
        match read_frame(&mut s).await {
            (0xA, p) if p == b"last" => break,
            (0xA, p) => got.push(p),
            (op, p) => panic!("unexpected frame {op:#x} {p:?}"),
        }
    }
    let got: Vec<String> = got
        .iter()
        .map(|p| String::from_utf8_lossy(p).into())
        .collect();
    let want: Vec<String> = payloads
        .iter()
        .map(|p| String::from_utf8_lossy(p).into())
        .collect();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frame_header_split_anywhere_across_writes_still_relays() {
    let target = echo_target().await;
    let proxy = Proxy::start(&["127.0.0.1:0", &target.to_string()]);
    let mut s = upgrade(proxy.addr(), None).await;
    let payload = pattern(300, 7);
    let wire = client_frame(0x82, &payload);
    for split in 1..wire.len().min(16) {
        s.write_all(&wire[..split]).await.expect("write head");
        s.flush().await.expect("flush");
        s.write_all(&wire[split..]).await.expect("write rest");
        let (data, _) = read_data(&mut s, payload.len(), b"").await;
        assert_eq!(data, payload, "split at {split}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn base64_groups_split_across_frames_decode_whole() {
    let target = echo_target().await;
    let proxy = Proxy::start(&["127.0.0.1:0", &target.to_string()]);
    let mut s = upgrade(proxy.addr(), Some("base64")).await;
    // "hello world" is aGVsbG8gd29ybGQ=; split inside groups, over three frames.
    let mut wire = client_frame(0x01, b"aGV");
    wire.extend(client_frame(0x00, b"sbG8gd2"));
    wire.extend(client_frame(0x80, b"9ybGQ="));
    s.write_all(&wire).await.expect("write");
    let (text, _) = read_data(&mut s, "aGVsbG8gd29ybGQ=".len(), b"").await;
    assert_eq!(text, b"aGVsbG8gd29ybGQ=");
    // A bad character anywhere gets 1007.
    s.write_all(&client_frame(0x81, b"aGV*"))
        .await
        .expect("write");
    let (op, payload) = read_frame(&mut s).await;
    assert_eq!((op, &payload[..2]), (0x8, &1007u16.to_be_bytes()[..]));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_message_limit_counts_decoded_base64_bytes() {
    let (target, received) = sink_target().await;
    let proxy = Proxy::start(&[
        "--max-message-size",
        "3000",
        "127.0.0.1:0",
        &target.to_string(),
    ]);
    let mut s = upgrade(proxy.addr(), Some("base64")).await;
    // 3000 bytes decoded is 4000 characters of text: within the limit.
    let data = pattern(3000, 3);
    let text = base64_text(&data);
    s.write_all(&client_frame(0x81, text.as_bytes()))
        .await
        .expect("write");
    // One byte more is over it: 1009.
    s.write_all(&client_frame(
        0x81,
        base64_text(&pattern(3001, 4)).as_bytes(),
    ))
    .await
    .expect("write");
    let (op, payload) = read_frame(&mut s).await;
    assert_eq!((op, &payload[..2]), (0x8, &1009u16.to_be_bytes()[..]));
    drop(s);
    drop(proxy);
    let got = timeout(WAIT, received)
        .await
        .expect("target closed")
        .expect("sink");
    assert_eq!(&got[..3000], &data[..], "the first message arrived whole");
}

fn base64_text(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Proportional set size of a process, in KiB.
fn pss_kib(pid: u32) -> u64 {
    let rollup =
        std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).expect("smaps_rollup");
    let line = rollup
        .lines()
        .find(|l| l.starts_with("Pss:"))
        .expect("Pss line");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("Pss value")
}

#[tokio::test(flavor = "multi_thread")]
async fn unfinished_messages_hold_no_memory() {
    const SESSIONS: usize = 200;
    const SENT: usize = 1 << 20;
    let target = echo_target().await;
    let proxy = Proxy::start(&[
        // One client opens them all: no per-client cap here.
        "--max-connections-per-client",
        "0",
        "127.0.0.1:0",
        &target.to_string(),
    ]);
    let mut bystander = upgrade(proxy.addr(), None).await;
    let before = pss_kib(proxy.pid());
    let mut held = Vec::new();
    for i in 0..SESSIONS {
        let mut s = upgrade(proxy.addr(), None).await;
        // A 15 MiB binary message is announced; 1 MiB of it is sent.
        let head = client_frame_claiming(0x82, &[], 15 << 20);
        s.write_all(&head).await.expect("head");
        s.write_all(&vec![i as u8; SENT]).await.expect("body");
        held.push(s);
    }
    // Each session's 1 MiB comes back from the echo target: read it all, so
    // every byte was relayed before memory is measured.
    for s in &mut held {
        let (data, _) = read_data(s, SENT, b"").await;
        assert_eq!(data.len(), SENT);
    }
    let grown = pss_kib(proxy.pid()).saturating_sub(before);
    assert!(
        grown < 64 * 1024,
        "{SESSIONS} unfinished messages grew the proxy by {grown} KiB"
    );
    bystander
        .write_all(&client_frame(0x82, b"still here"))
        .await
        .expect("write");
    assert_eq!(read_data(&mut bystander, 10, b"").await.0, b"still here");
}

/// A target that hashes what it receives until EOF: (bytes, SHA-256).
async fn hashing_sink() -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Receiver<(usize, String)>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        let (mut hash, mut n, mut buf) = (Sha256::new(), 0, vec![0u8; 1 << 20]);
        while let Ok(got @ 1..) = s.read(&mut buf).await {
            hash.update(&buf[..got]);
            n += got;
        }
        let _ = tx.send((n, hash.hex()));
    });
    (addr, rx)
}

/// The highest PSS of `pid` seen until `stop` is set, sampled every 20 ms.
fn watch_peak(
    pid: u32,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            peak = peak.max(pss_kib(pid));
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        peak
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_256_mib_message_streams_each_way_in_fixed_memory() {
    const SIZE: usize = 256 << 20;
    let block: Vec<u8> = pattern(1 << 20, 9);
    let (sink, hashed) = hashing_sink().await;
    let proxy = Proxy::start(&["127.0.0.1:0", &sink.to_string()]);
    let before = pss_kib(proxy.pid());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let peak = watch_peak(proxy.pid(), stop.clone());
    // Client to target: one binary message of 256 MiB in one frame. The mask
    // key is zero, so the payload goes out as is (the proxy still unmasks).
    let mut s = upgrade(proxy.addr(), None).await;
    let mut head = vec![0x82, 0xFF];
    head.extend_from_slice(&(SIZE as u64).to_be_bytes());
    head.extend_from_slice(&[0, 0, 0, 0]);
    s.write_all(&head).await.expect("header");
    let mut want = Sha256::new();
    for _ in 0..SIZE / block.len() {
        s.write_all(&block).await.expect("payload");
        want.update(&block);
    }
    s.write_all(&client_frame(0x88, &1000u16.to_be_bytes()))
        .await
        .expect("close");
    let (n, got) = timeout(WAIT * 4, hashed)
        .await
        .expect("target EOF")
        .expect("sink");
    assert_eq!((n, got), (SIZE, want.hex()));
    // Target to client: 256 MiB from a source target, frame by frame.
    let data: Vec<u8> = block.iter().copied().cycle().take(SIZE).collect();
    let want = sha256(&data);
    let source = source_target(data).await;
    let proxy2 = Proxy::start(&["127.0.0.1:0", &source.to_string()]);
    let stop2 = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let before2 = pss_kib(proxy2.pid());
    let peak2 = watch_peak(proxy2.pid(), stop2.clone());
    let mut c = upgrade(proxy2.addr(), None).await;
    let (got, _) = read_data(&mut c, SIZE, b"").await;
    assert_eq!(sha256(&got), want);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    stop2.store(true, std::sync::atomic::Ordering::Relaxed);
    let (up, down) = (
        peak.join().expect("watch").saturating_sub(before),
        peak2.join().expect("watch").saturating_sub(before2),
    );
    assert!(
        up < 16 * 1024 && down < 16 * 1024,
        "PSS grew by {up} KiB (up) and {down} KiB (down)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_16_mib_base64_message_passes_by_default() {
    let (sink, hashed) = hashing_sink().await;
    let proxy = Proxy::start(&["127.0.0.1:0", &sink.to_string()]);
    let mut s = upgrade(proxy.addr(), Some("base64")).await;
    let data = pattern(16 << 20, 5);
    s.write_all(&client_frame(0x81, base64_text(&data).as_bytes()))
        .await
        .expect("write");
    s.write_all(&client_frame(0x88, &1000u16.to_be_bytes()))
        .await
        .expect("close");
    let (n, got) = timeout(WAIT, hashed)
        .await
        .expect("target EOF")
        .expect("sink");
    assert_eq!((n, got), (data.len(), sha256(&data)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_that_stops_reading_is_blamed_not_the_client() {
    // The target accepts and then reads nothing, ever.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let target = listener.local_addr().expect("addr");
    let hold = tokio::spawn(async move { listener.accept().await.map(|(s, _)| s) });
    let mut proxy = Proxy::start(&["--heartbeat", "1", "127.0.0.1:0", &target.to_string()]);
    let s = upgrade(proxy.addr(), None).await;
    let (mut rx, mut tx) = s.into_split();
    // The client sends until every buffer on the way is full; it stays alive
    // (it would answer pings), but the relay cannot read it any more.
    let writer = tokio::spawn(async move {
        let chunk = client_frame(0x82, &vec![5u8; 64 << 10]);
        while tx.write_all(&chunk).await.is_ok() {}
    });
    let close = loop {
        let mut h = [0u8; 2];
        timeout(WAIT, rx.read_exact(&mut h))
            .await
            .expect("a frame")
            .expect("no close frame");
        let mut payload = vec![0u8; usize::from(h[1] & 0x7F)];
        rx.read_exact(&mut payload).await.expect("payload");
        if h[0] & 0x0F == 0x8 {
            break payload;
        }
    };
    assert_eq!(&close[..2], &1011u16.to_be_bytes()[..], "close {close:?}");
    let line = proxy.wait_for_log("session closed");
    assert!(line.contains("the target took nothing"), "{line}");
    writer.abort();
    drop(hold);
}
