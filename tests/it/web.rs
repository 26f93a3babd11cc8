//! The static web server: noVNC at "/", content types, 405s, and every way
//! out of the web root refused.

use crate::common;

use std::net::SocketAddr;

use common::http::{exchange_all, status};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

/// Sends one raw request (path bytes exactly as given) and returns the
/// status code, headers and body of the response.
async fn get(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let text = exchange_all(addr, req.as_bytes()).await;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = status(head);
    assert_ne!(code, 0, "no status in {text:?}");
    (code, head.to_owned(), body.to_owned())
}

fn web_root() -> (TempDir, TempDir) {
    let outside = TempDir::new("outside");
    outside.write("secret.txt", "TOP SECRET");
    let root = TempDir::new("webroot");
    root.write("vnc.html", "<html>noVNC page</html>");
    root.write("app/ui.js", "console.log('ui');");
    root.write("app/styles/base.css", "body{}");
    root.write("core/rfb.js", "export default 1;");
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        root.path().join("leak.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path(), root.path().join("leakdir")).unwrap();
    (root, outside)
}

#[tokio::test(flavor = "multi_thread")]
async fn root_serves_vnc_html_and_files_have_types() {
    let (root, _outside) = web_root();
    let proxy = Proxy::start(&["--web", root.arg(), "127.0.0.1:0", "localhost:5901"]);
    let (status, head, body) = get(proxy.addr(), "GET", "/").await;
    assert_eq!(status, 200, "{head}");
    assert_eq!(body, "<html>noVNC page</html>");
    assert!(
        head.to_lowercase().contains("content-type: text/html"),
        "{head}"
    );
    let (status, head, _) = get(proxy.addr(), "GET", "/app/ui.js").await;
    assert_eq!(status, 200);
    assert!(head.to_lowercase().contains("javascript"), "{head}");
    let (status, head, _) = get(proxy.addr(), "GET", "/app/styles/base.css").await;
    assert_eq!(status, 200);
    assert!(
        head.to_lowercase().contains("content-type: text/css"),
        "{head}"
    );
    let (status, _, body) = get(proxy.addr(), "HEAD", "/vnc.html").await;
    assert_eq!((status, body.as_str()), (200, ""));
    // An index.html, when present, wins over vnc.html.
    root.write("index.html", "index page");
    let (status, _, body) = get(proxy.addr(), "GET", "/").await;
    assert_eq!((status, body.as_str()), (200, "index page"));
}

#[tokio::test(flavor = "multi_thread")]
async fn no_listing_no_traversal_no_symlink_escape_no_redirect() {
    let (root, _outside) = web_root();
    let proxy = Proxy::start(&["--web", root.arg(), "127.0.0.1:0", "localhost:5901"]);
    for path in [
        "/app/",
        "/app",
        "/core",
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/app/%2e%2e/%2e%2e/etc/passwd",
        "/app/..%5c..%5cetc%5cpasswd",
        "/leak.txt",
        "/leakdir/secret.txt",
        "//example.com/",
        "//example.com/%2e%2e",
        "/%00",
    ] {
        let (status, head, body) = get(proxy.addr(), "GET", path).await;
        assert!(
            (400..500).contains(&status),
            "{path}: status {status}\n{head}\n{body}"
        );
        assert!(
            !body.contains("TOP SECRET") && !body.contains("root:"),
            "{path}: {body}"
        );
        assert!(!body.contains("ui.js"), "{path} listed a directory: {body}");
        assert!(
            !head.to_lowercase().contains("location:"),
            "{path} redirected: {head}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_web_get_is_405_and_other_methods_always_are() {
    let proxy = Proxy::start(&["127.0.0.1:0", "localhost:5901"]);
    for method in ["GET", "HEAD"] {
        let (status, _, _) = get(proxy.addr(), method, "/").await;
        assert_eq!(status, 405, "{method}");
    }
    let (root, _outside) = web_root();
    let proxy = Proxy::start(&["--web", root.arg(), "127.0.0.1:0", "localhost:5901"]);
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"] {
        let (status, _, _) = get(proxy.addr(), method, "/vnc.html").await;
        assert_eq!(status, 405, "{method}");
    }
}

#[test]
fn missing_web_dir_is_a_startup_error() {
    let (ok, err) = run_to_exit(&["--web", "/nonexistent/novnc", "0", "localhost:5901"]);
    assert!(!ok);
    assert!(err.contains("/nonexistent/novnc"), "{err}");
}

/// Makes `link` (relative to `root`) a symlink to `to`.
fn link(root: &TempDir, to: impl AsRef<std::path::Path>, link: &str) {
    let at = root.path().join(link);
    if let Some(parent) = at.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::os::unix::fs::symlink(to, at).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn index_files_are_confined_too_and_inner_symlinks_work() {
    let (root, outside) = web_root();
    let secret = outside.path().join("secret.txt");
    link(&root, &secret, "sub/index.html");
    link(&root, "../../outside-nope/x", "sub2/index.html");
    // Symlinks that stay inside the root keep working (Debian's noVNC ships
    // vnc_auto.html -> vnc.html).
    link(&root, "vnc.html", "vnc_auto.html");
    link(&root, "app", "lib");
    link(&root, "../vnc.html", "inner/index.html");
    let proxy = Proxy::start(&["--web", root.arg(), "127.0.0.1:0", "localhost:5901"]);
    for path in ["/sub/", "/sub", "/sub/index.html", "/sub2/"] {
        let (status, head, body) = get(proxy.addr(), "GET", path).await;
        assert!(!body.contains("TOP SECRET"), "{path} leaked: {head}");
        assert_eq!(status, 404, "{path}: {head}");
    }
    for (path, want) in [
        ("/vnc_auto.html", "<html>noVNC page</html>"),
        ("/lib/ui.js", "console.log('ui');"),
        ("/inner/", "<html>noVNC page</html>"),
    ] {
        let (status, head, body) = get(proxy.addr(), "GET", path).await;
        assert_eq!((status, body.as_str()), (200, want), "{path}: {head}");
    }
    // The root's own index.html, and the vnc.html fallback, are confined.
    for name in ["index.html", "vnc.html"] {
        let root = TempDir::new("webroot-escape");
        link(&root, &secret, name);
        let proxy = Proxy::start(&["--web", root.arg(), "127.0.0.1:0", "localhost:5901"]);
        let (status, head, body) = get(proxy.addr(), "GET", "/").await;
        assert!(!body.contains("TOP SECRET"), "/ via {name} leaked: {head}");
        assert_eq!(status, 404, "/ via {name}: {head}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_is_cut_and_others_are_served() {
    const SIZE: usize = 32 << 20;
    let (root, _outside) = web_root();
    root.write("big.bin", pattern(SIZE, 7));
    let args = [
        "--web",
        root.arg(),
        "--handshake-timeout",
        "1",
        "127.0.0.1:0",
        "localhost:5901",
    ];
    let mut proxy = Proxy::start(&args);
    let mut slow = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    slow.write_all(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut got = vec![0u8; 64 * 1024];
    let n = timeout(WAIT, slow.read(&mut got))
        .await
        .expect("head")
        .unwrap();
    assert!(
        got[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        &got[..n.min(200)]
    );
    // The slow client now reads nothing; another client is served meanwhile.
    let (status, _, body) = get(proxy.addr(), "GET", "/vnc.html").await;
    assert_eq!((status, body.as_str()), (200, "<html>noVNC page</html>"));
    // Blocking is fine here: the server is another process.
    let line = proxy.wait_for_log("read nothing");
    assert!(line.contains("closed"), "{line}");
    // Resuming, the client finds the connection closed before the end of the file.
    let mut total = n;
    let rest = timeout(WAIT, async {
        loop {
            match slow.read(&mut got).await {
                Ok(0) | Err(_) => break,
                Ok(k) => total += k,
            }
        }
    });
    rest.await.expect("the connection was not closed");
    assert!(total < SIZE, "got all {total} bytes");
}
