//! Per-client rate limits on the broker's unauthenticated, costly routes
//! (`/v1/kms/challenge`, `/v1/kms/attest`): verifying evidence costs milliseconds of
//! CPU and every refusal costs an fsynced audit line, so a stranger must not be able
//! to spend them without bound.
//!
//! Invariant: a client (an IPv4 address, or an IPv6 /64, which one host can hold
//! whole) gets at most `per_second` of these requests in any one second of the
//! broker's clock. The table holds only the current second's clients, at most
//! [`MAX_CLIENTS`] of them; when it is full a new client is refused for the rest of
//! that second (fail closed), while clients already counted keep their allowance. An
//! attested worker needs two of these calls every few minutes, so a per-second
//! allowance of a few is plenty for it and for a host's handful of workers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Clients tracked within one second.
pub const MAX_CLIENTS: usize = 65_536;

/// The default allowance per client per second.
pub const DEFAULT_PER_SECOND: u32 = 20;

/// Who is asking: an IPv4 address, an IPv6 /64, or (no socket address known) everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Client {
    V4(u32),
    V6(u64),
    Unknown,
}

impl From<Option<IpAddr>> for Client {
    fn from(ip: Option<IpAddr>) -> Self {
        match ip.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V4(a)) => Self::V4(u32::from(a)),
            Some(IpAddr::V6(a)) => Self::V6((u128::from(a) >> 64) as u64),
            None => Self::Unknown,
        }
    }
}

struct Window {
    second: u64,
    counts: HashMap<Client, u32>,
}

/// Requests per client per second.
pub struct RateLimit {
    per_second: u32,
    window: Mutex<Window>,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Limited {
    /// This client used its allowance for this second.
    #[error("more than {0} requests this second from this client; retry in a second")]
    Client(u32),
    /// Too many clients this second to track another.
    #[error("too many clients this second; retry in a second")]
    Table,
}

impl RateLimit {
    /// At most `per_second` requests per client per second (at least one).
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second: per_second.max(1),
            window: Mutex::new(Window { second: 0, counts: HashMap::new() }),
        }
    }

    /// Count a request from `ip` at `now` (Unix seconds), or refuse it.
    pub fn check(&self, ip: Option<IpAddr>, now: u64) -> Result<(), Limited> {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        if w.second != now {
            w.second = now;
            w.counts.clear();
        }
        let full = w.counts.len() >= MAX_CLIENTS;
        let client = Client::from(ip);
        match w.counts.get_mut(&client) {
            Some(n) if *n >= self.per_second => Err(Limited::Client(self.per_second)),
            Some(n) => {
                *n += 1;
                Ok(())
            }
            None if full => Err(Limited::Table),
            None => {
                w.counts.insert(client, 1);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
