//! No secret reaches a log: with `-v` every request is logged, but only its
//! path and the names of its query parameters; credentials in headers are
//! never logged; `--log-file` gets the same redacted lines.

use crate::common;

use common::http::{exchange, status};
use common::{echo_target, upgrade_status, Proxy, TempDir};

const SECRETS: &[&str] = &[
    "TOKSECRET",
    "VNCSECRET",
    "PWSECRET",
    "COOKIESECRET",
    "dXNlcjpQV1NFQ1JFVA",
];

#[tokio::test(flavor = "multi_thread")]
async fn verbose_request_lines_show_parameter_names_not_values() {
    let target = echo_target().await.to_string();
    let dir = TempDir::new("secrets");
    let log_file = dir.path().join("ws.log");
    let mut proxy = Proxy::start(&[
        "-v",
        "--log-file",
        log_file.to_str().expect("utf-8 path"),
        "--auth-plugin",
        "BasicHTTPAuth",
        "--auth-source",
        "user:PWSECRET",
        "127.0.0.1:0",
        &target,
    ]);
    let head = "GET /websockify?token=TOKSECRET&password=VNCSECRET&x HTTP/1.1\r\n\
                Host: localhost\r\n\
                Authorization: Basic dXNlcjpQV1NFQ1JFVA==\r\n\
                Cookie: session=COOKIESECRET\r\n\r\n";
    let answer = exchange(proxy.addr(), head.as_bytes()).await;
    assert_eq!(status(&answer), 405, "plain GET without --web: {answer}");
    let line = proxy.wait_for_log("GET /websockify?");
    assert!(
        line.contains("token=…") && line.contains("password=…"),
        "{line}"
    );
    let wrong = "Authorization: Basic dXNlcjp3cm9uZw==\r\n";
    let path = "/websockify?token=TOKSECRET";
    assert_eq!(upgrade_status(proxy.addr(), path, wrong).await, 401);
    proxy.wait_for_log("refused");
    let mut everything = proxy.log().join("\n");
    everything.push_str(&std::fs::read_to_string(&log_file).expect("log file"));
    for secret in SECRETS {
        assert!(
            !everything.contains(secret),
            "{secret} logged:\n{everything}"
        );
    }
}
