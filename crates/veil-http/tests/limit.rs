//! The per-client rate limit: allowance, IPv6 /64 grouping, a full table failing closed.

use std::net::IpAddr;

use veil_http::limit::{Limited, MAX_CLIENTS, RateLimit};

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

#[test]
fn a_client_gets_its_allowance_per_second_and_no_more() {
    let limit = RateLimit::new(3);
    for _ in 0..3 {
        limit.check(ip("192.0.2.1"), 100).unwrap();
    }
    assert_eq!(limit.check(ip("192.0.2.1"), 100), Err(Limited::Client(3)));
    // Another client is untouched; the next second starts afresh.
    limit.check(ip("192.0.2.2"), 100).unwrap();
    limit.check(ip("192.0.2.1"), 101).unwrap();
}

#[test]
fn an_ipv6_host_is_one_client_across_its_slash_64() {
    let limit = RateLimit::new(1);
    limit.check(ip("2001:db8:1:2::1"), 7).unwrap();
    assert!(limit.check(ip("2001:db8:1:2:ffff::9"), 7).is_err(), "same /64");
    limit.check(ip("2001:db8:1:3::1"), 7).unwrap();
    // An IPv4-mapped address is the IPv4 client.
    limit.check(ip("198.51.100.7"), 7).unwrap();
    assert!(limit.check(ip("::ffff:198.51.100.7"), 7).is_err());
}

#[test]
fn a_full_table_refuses_new_clients_but_not_counted_ones() {
    let limit = RateLimit::new(2);
    for i in 0..MAX_CLIENTS as u32 {
        limit.check(Some(IpAddr::V4(i.into())), 5).unwrap();
    }
    assert_eq!(limit.check(ip("203.0.113.9"), 5), Err(Limited::Table));
    limit.check(Some(IpAddr::V4(0u32.into())), 5).unwrap();
    // The next second has room again.
    limit.check(ip("203.0.113.9"), 6).unwrap();
}
