//! The PROXY protocol v1/v2 reader (`conn::proxy_header::read_header`) over
//! in-memory streams: the whole input at once, and the same bytes handed out
//! a few at a time, must give the same answer and consume the same bytes.
#![no_main]

use std::io;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::runtime::Runtime;
use websockify::conn::proxy_header::{read_header, ProxyProtoError};

/// Hands out at most `step` bytes per read.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.step.min(self.data.len()).min(buf.remaining());
        buf.put_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Poll::Ready(Ok(()))
    }
}

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
    })
}

/// The answer in a comparable form, and how many bytes were left unread.
fn read(data: &[u8], step: usize) -> (String, usize) {
    let mut s = Trickle { data, step };
    let got = runtime().block_on(read_header(&mut s));
    let answer = match got {
        Ok(addr) => format!("{addr:?}"),
        // A stream that never waits cannot time out.
        Err(ProxyProtoError::Timeout(_)) => panic!("timeout on an in-memory stream"),
        Err(e) => format!("error: {e}"),
    };
    (answer, s.data.len())
}

fuzz_target!(|data: &[u8]| {
    let (step, data) = match data.split_first() {
        Some((&b, rest)) => (usize::from(b % 16) + 1, rest),
        None => (1, data),
    };
    let (answer, left) = read(data, usize::MAX);
    if answer.starts_with("Some") || answer == "None" {
        let used = &data[..data.len() - left];
        let v1 = used.starts_with(b"PROXY ") && used.ends_with(b"\r\n");
        let v2 = used.starts_with(b"\r\n\r\n\0\r\nQUIT\n")
            && used.len() == 16 + usize::from(u16::from_be_bytes([used[14], used[15]]));
        assert!(v1 || v2, "accepted {used:?}");
    }
    assert_eq!(read(data, step), (answer, left), "step {step}");
});
