//! Tests for `caps.rs`: each cap on its own, IPv6 /64 keys, a connection
//! counted once for its first client, and slots released on drop, panic and
//! cancel.

use super::*;

fn caps(global: Option<usize>, per_client: Option<usize>, per_target: Option<usize>) -> Caps {
    Caps::new(Maximums {
        global,
        per_client,
        per_target,
    })
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

#[test]
fn a_connection_is_counted_once_for_its_first_client() {
    let l = caps(Some(10), Some(1), None);
    let a = l.try_connection().expect("global slot");
    assert_eq!(a.count_client(ip("192.0.2.1")), Ok(()));
    assert_eq!(a.count_client(ip("192.0.2.2")), Ok(()), "already counted");
    assert_eq!(l.client_connections(ip("192.0.2.2")), 0);
    let b = l.try_connection().expect("global slot");
    assert_eq!(b.count_client(ip("192.0.2.1")), Err(1));
    assert_eq!(b.count_client(ip("192.0.2.3")), Err(1), "refusal sticks");
    assert_eq!(l.connections(), 2, "refused ones hold a global slot");
    drop((a, b));
    assert_eq!(
        (l.connections(), l.client_connections(ip("192.0.2.1"))),
        (0, 0)
    );
}

#[test]
fn no_caps_admit_everything() {
    let l = caps(None, None, None);
    let permits: Vec<_> = (0..100)
        .map(|_| l.try_client(ip("192.0.2.1")).expect("no cap"))
        .collect();
    assert_eq!(l.connections(), 100);
    drop(permits);
    assert_eq!(l.connections(), 0);
}

#[test]
fn per_client_cap_is_independent_per_address() {
    let l = caps(None, Some(2), None);
    let a1 = l.try_client(ip("192.0.2.1")).expect("first");
    let _a2 = l.try_client(ip("192.0.2.1")).expect("second");
    assert!(l.try_client(ip("192.0.2.1")).is_none());
    let _b = l
        .try_client(ip("192.0.2.2"))
        .expect("other client unaffected");
    drop(a1);
    assert!(
        l.try_client(ip("192.0.2.1")).is_some(),
        "slot released on drop"
    );
}

#[test]
fn global_cap_counts_all_clients() {
    let l = caps(Some(2), Some(5), None);
    let _a = l.try_client(ip("192.0.2.1")).expect("1");
    let b = l.try_client(ip("192.0.2.2")).expect("2");
    assert!(l.try_client(ip("192.0.2.3")).is_none());
    drop(b);
    assert!(l.try_client(ip("192.0.2.3")).is_some());
}

#[test]
fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
    let l = caps(None, Some(1), None);
    let _a = l.try_client(ip("2001:db8:1:2::1")).expect("first");
    assert!(
        l.try_client(ip("2001:db8:1:2:ffff::9")).is_none(),
        "same /64"
    );
    assert!(l.try_client(ip("2001:db8:1:3::1")).is_some(), "other /64");
    let _v4 = l.try_client(ip("192.0.2.1")).expect("v4");
    assert!(
        l.try_client(ip("::ffff:192.0.2.1")).is_none(),
        "mapped = same client"
    );
}

#[test]
fn target_cap_and_release() {
    let l = caps(None, None, Some(1));
    let t = l.try_target("localhost:5901").expect("first");
    assert!(l.try_target("localhost:5901").is_none());
    assert!(l.try_target("localhost:5902").is_some());
    assert_eq!(l.target_sessions("localhost:5901"), 1);
    drop(t);
    assert_eq!(l.target_sessions("localhost:5901"), 0);
    assert!(l.try_target("localhost:5901").is_some());
}

#[test]
fn released_on_panic() {
    let l = caps(Some(1), Some(1), Some(1));
    let l2 = l.clone();
    let result = std::thread::spawn(move || {
        let _c = l2.try_client(ip("192.0.2.1")).expect("slot");
        let _t = l2.try_target("t").expect("slot");
        panic!("session blew up");
    })
    .join();
    assert!(result.is_err());
    assert_eq!((l.connections(), l.target_sessions("t")), (0, 0));
    assert!(l.try_client(ip("192.0.2.1")).is_some());
}

#[tokio::test]
async fn released_on_cancel() {
    let l = caps(Some(1), None, None);
    let l2 = l.clone();
    let task = tokio::spawn(async move {
        let _c = l2.try_client(ip("192.0.2.1")).expect("slot");
        std::future::pending::<()>().await;
    });
    tokio::task::yield_now().await;
    while l.connections() == 0 {
        tokio::task::yield_now().await;
    }
    task.abort();
    assert!(task.await.expect_err("aborted").is_cancelled());
    assert_eq!(l.connections(), 0);
}

#[test]
fn maps_do_not_grow_with_closed_clients() {
    let l = caps(None, Some(3), None);
    for i in 0..50u8 {
        drop(l.try_client(IpAddr::from([192, 0, 2, i])));
    }
    assert!(l.lock().clients.is_empty());
}

#[test]
fn lowered_caps_apply_to_new_connections() {
    let l = caps(None, None, None);
    let _a = l.try_client(ip("192.0.2.1")).expect("1");
    let _b = l.try_client(ip("192.0.2.1")).expect("2");
    l.set(Maximums {
        global: Some(10),
        per_client: Some(1),
        per_target: None,
    });
    assert!(l.try_client(ip("192.0.2.1")).is_none());
    assert_eq!(
        l.client_connections(ip("192.0.2.1")),
        2,
        "existing ones kept"
    );
}
