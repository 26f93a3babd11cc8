use std::time::Duration;

use super::*;

fn ip(n: u32) -> IpAddr {
    IpAddr::from(n.to_be_bytes())
}

fn policy() -> Policy {
    Policy {
        burst: 3.0,
        per_second: 1.0,
        all_burst: 50.0,
        all_per_second: 10.0,
        clients: 4,
        summaries: 2,
    }
}

/// Refusals of `key` at `now`; how many may be logged.
fn logged(limiter: &Limiter, key: IpAddr, refusals: usize, now: Instant) -> usize {
    (0..refusals)
        .filter(|_| limiter.admit(key, now).log)
        .count()
}

#[test]
fn a_client_gets_its_burst_then_its_rate_and_a_summary() {
    let limiter = Limiter::new(policy());
    let t0 = Instant::now();
    assert_eq!(logged(&limiter, ip(1), 1000, t0), 3);
    assert_eq!(
        logged(&limiter, ip(2), 1, t0),
        1,
        "another client still logs"
    );
    let (lines, more) = limiter.sweep(t0);
    assert_eq!(lines, ["997 more refusals from 0.0.0.1 suppressed"]);
    assert!(more);
    assert_eq!(logged(&limiter, ip(1), 10, t0 + Duration::from_secs(2)), 2);
    assert_eq!(
        limiter.sweep(t0 + Duration::from_secs(2)).0,
        ["8 more refusals from 0.0.0.1 suppressed"]
    );
    // Quiet long enough to be full again: forgotten, the task may stop.
    let (lines, more) = limiter.sweep(t0 + Duration::from_secs(10));
    assert!(lines.is_empty() && !more, "{lines:?}");
    assert!(limiter.lock().clients.is_empty());
}

#[test]
fn many_clients_stay_within_the_table_and_the_common_budget() {
    let limiter = Limiter::new(Policy {
        clients: 20,
        ..policy()
    });
    let t0 = Instant::now();
    let logged: usize = (0..10_000).map(|n| logged(&limiter, ip(n), 5, t0)).sum();
    assert_eq!(logged, 50, "all clients together: the common burst");
    assert_eq!(limiter.lock().clients.len(), 20, "the table is bounded");
    let (lines, _) = limiter.sweep(t0);
    assert_eq!(
        lines.len(),
        3,
        "two clients by name, the rest in one line: {lines:?}"
    );
    let total: u64 = lines
        .iter()
        .filter_map(|l| l.split(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(total, 50_000 - 50, "every refusal is logged or counted");
    assert!(
        lines[2].ends_with("from other clients suppressed"),
        "{lines:?}"
    );
}

#[test]
fn the_summary_task_is_started_once_while_anyone_is_in_the_table() {
    let limiter = Limiter::new(policy());
    let t0 = Instant::now();
    assert!(limiter.admit(ip(1), t0).start_sweeping);
    assert!(!limiter.admit(ip(2), t0).start_sweeping);
    let (_, more) = limiter.sweep(t0 + Duration::from_secs(60));
    assert!(!more);
    assert!(
        limiter
            .admit(ip(1), t0 + Duration::from_secs(60))
            .start_sweeping
    );
}

#[test]
fn ipv6_clients_are_named_by_their_64() {
    let key = crate::access::caps::client_key("2001:db8:1:2:3:4:5:6".parse().expect("address"));
    assert_eq!(shown(key), "2001:db8:1:2::/64");
}
