//! Dynamic IP sessions in the shared store: what the packet core reports ("this address, or this
//! IPv6 prefix, or this CGNAT port block, belongs to this MSISDN until then"). Fed through the
//! admin API today; a RADIUS-accounting feed writes the same records.
//!
//! Key layout: one store map per network, `lease:{network}` (e.g. `lease:100.64.0.1/32`,
//! `lease:2001:db8:1::/64`), with one field per lease: `*` for the whole address, or the port
//! block `first-last`; the value is a JSON [`Lease`]. Each lease update is one atomic field write
//! ([`nv_store::Store::map_put`]): concurrent updates of different blocks of one address cannot
//! lose each other, and a reassigned block is replaced in one step (CWE-362). A lookup reads the
//! map of the address's /32 (or /128), then of the IPv6 prefix lengths operators delegate
//! ([`IPV6_PREFIXES`]). No scan on the hot path.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ipnet::IpNet;
use nv_store::{Store, StoreError};
use nv_token::PhoneNumber;
use serde::{Deserialize, Serialize};

use super::{ClientAddr, IdentityResolver};
use crate::config::PortRange;

/// IPv6 prefix lengths looked up, most specific first (a /64 per subscriber is the 3GPP norm).
pub const IPV6_PREFIXES: [u8; 4] = [128, 64, 56, 48];

/// The field of a lease that covers the whole address.
const WHOLE_ADDRESS: &str = "*";

/// One lease: who holds the address (or its port block) until when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Lease {
    pub msisdn: PhoneNumber,
    /// Seconds since the epoch.
    pub valid_until: i64,
}

/// A lease and where it applies, as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub network: IpNet,
    /// The port block, or `None` for the whole address.
    pub ports: Option<PortRange>,
    pub lease: Lease,
}

/// Why a network cannot hold sessions: the resolver would never look it up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionNetworkError {
    #[error("an IPv4 session is for one address (/32), not {0}")]
    Ipv4Prefix(IpNet),
    #[error("an IPv6 session is for a /128, /64, /56 or /48 prefix, not {0}")]
    Ipv6Prefix(IpNet),
    #[error("{0} is an IPv4-mapped IPv6 network: give the IPv4 address instead")]
    Ipv4Mapped(IpNet),
}

/// The network as the resolver looks it up, or why it never would.
pub fn session_network(net: IpNet) -> Result<IpNet, SessionNetworkError> {
    let net = net.trunc();
    match net {
        IpNet::V4(v4) if v4.prefix_len() != 32 => Err(SessionNetworkError::Ipv4Prefix(net)),
        IpNet::V4(_) => Ok(net),
        IpNet::V6(v6) if v6.addr().to_ipv4_mapped().is_some() => {
            Err(SessionNetworkError::Ipv4Mapped(net))
        }
        IpNet::V6(v6) if !IPV6_PREFIXES.contains(&v6.prefix_len()) => {
            Err(SessionNetworkError::Ipv6Prefix(net))
        }
        IpNet::V6(_) => Ok(net),
    }
}

fn session_key(net: &IpNet) -> String {
    format!("{SESSION_PREFIX}{}", net.trunc())
}

/// Not `session:`, the prefix of the earlier layout (one JSON string per network): a map
/// operation on such a key would fail, so the new layout starts with keys of its own and the
/// old ones expire unread.
const SESSION_PREFIX: &str = "lease:";

fn field(ports: Option<PortRange>) -> String {
    match ports {
        None => WHOLE_ADDRESS.to_owned(),
        Some(r) => r.to_string(),
    }
}

/// Candidate keys for an address, most specific first.
fn candidate_keys(ip: IpAddr) -> Vec<String> {
    match ip {
        IpAddr::V4(_) => vec![session_key(&IpNet::from(ip))],
        IpAddr::V6(_) => IPV6_PREFIXES
            .iter()
            .filter_map(|len| IpNet::new(ip, *len).ok())
            .map(|n| session_key(&n))
            .collect(),
    }
}

/// Store (or replace) the lease of `ports` of `net`, in one atomic write.
pub async fn put_lease(
    store: &dyn Store,
    net: &IpNet,
    ports: Option<PortRange>,
    lease: &Lease,
    now: i64,
) -> Result<(), StoreError> {
    let value = serde_json::to_vec(lease).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let ttl = Duration::from_secs((lease.valid_until - now).max(1) as u64);
    store
        .map_put(&session_key(net), &field(ports), &value, ttl)
        .await
}

/// Remove the lease of `ports` of `net`. `true` if there was one.
pub async fn remove_lease(
    store: &dyn Store,
    net: &IpNet,
    ports: Option<PortRange>,
) -> Result<bool, StoreError> {
    store.map_remove(&session_key(net), &field(ports)).await
}

/// What a stored field says. A field that is neither `*` nor a port block, or a value that is
/// not a lease, is skipped: treating an unreadable block as the whole address would hand every
/// port of a shared CGNAT address to one subscriber (fail closed).
fn parse_lease(field: &str, value: &[u8]) -> Option<(Option<PortRange>, Lease)> {
    let ports = match field {
        WHOLE_ADDRESS => None,
        f => Some(f.parse::<PortRange>().ok()?),
    };
    let lease = serde_json::from_slice(value).ok()?;
    Some((ports, lease))
}

/// Every live session (admin listing).
pub async fn list(store: &dyn Store, now: i64) -> Result<Vec<SessionRecord>, StoreError> {
    let mut out = Vec::new();
    for (key, fields) in store.map_scan_prefix(SESSION_PREFIX).await? {
        let Ok(network) = key.trim_start_matches(SESSION_PREFIX).parse::<IpNet>() else {
            continue;
        };
        for (field, value) in fields {
            if let Some((ports, lease)) = parse_lease(&field, &value) {
                if lease.valid_until > now {
                    out.push(SessionRecord {
                        network,
                        ports,
                        lease,
                    });
                }
            }
        }
    }
    Ok(out)
}

pub struct SessionResolver {
    store: Arc<dyn Store>,
}

impl SessionResolver {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl IdentityResolver for SessionResolver {
    async fn resolve(&self, addr: &ClientAddr, at: i64) -> Result<Option<PhoneNumber>, StoreError> {
        for key in candidate_keys(addr.ip) {
            let fields = self.store.map_get(&key).await?;
            let live = fields
                .iter()
                .filter_map(|(f, v)| parse_lease(f, v))
                .filter(|(_, lease)| lease.valid_until > at);
            // A port-block lease before a whole-address one, as in the static table. Two live
            // blocks that both contain the port (a re-partitioned address whose old lease was
            // not removed) are ambiguous: nobody is identified rather than whichever sorts first.
            let mut whole = None;
            let mut in_block = None;
            for (ports, lease) in live {
                match (ports, addr.port) {
                    (Some(range), Some(port)) if range.contains(port) => {
                        if in_block.is_some() {
                            tracing::warn!("overlapping CGNAT port-block leases; not identifying");
                            return Ok(None);
                        }
                        in_block = Some(lease.msisdn);
                    }
                    (None, _) => whole = whole.or(Some(lease.msisdn)),
                    _ => {}
                }
            }
            if let Some(n) = in_block.or(whole) {
                return Ok(Some(n));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nv_store::{FakeClock, MemoryStore};

    fn lease(n: &str, until: i64) -> Lease {
        Lease {
            msisdn: n.parse().unwrap(),
            valid_until: until,
        }
    }

    fn at(ip: &str, port: Option<u16>) -> ClientAddr {
        ClientAddr {
            ip: ip.parse().unwrap(),
            port,
        }
    }

    fn store() -> Arc<dyn Store> {
        Arc::new(MemoryStore::new(Arc::new(FakeClock::new(1000))))
    }

    async fn number(r: &SessionResolver, addr: ClientAddr, when: i64) -> Option<String> {
        r.resolve(&addr, when)
            .await
            .unwrap()
            .map(|p| p.as_str().to_owned())
    }

    #[tokio::test]
    async fn sessions_resolve_by_address_port_block_and_ipv6_prefix_until_they_expire() {
        let store = store();
        let v4: IpNet = "100.64.0.1/32".parse().unwrap();
        let block = Some("1024-2047".parse().unwrap());
        put_lease(&*store, &v4, block, &lease("+99000000001", 2000), 1000)
            .await
            .unwrap();
        put_lease(&*store, &v4, None, &lease("+99000000002", 1500), 1000)
            .await
            .unwrap();
        let v6: IpNet = "2001:db8:1:2::/64".parse().unwrap();
        put_lease(&*store, &v6, None, &lease("+99000000003", 2000), 1000)
            .await
            .unwrap();
        let r = SessionResolver::new(store.clone());
        let n = |a, w| number(&r, a, w);
        assert_eq!(
            n(at("100.64.0.1", Some(1500)), 1000).await.as_deref(),
            Some("+99000000001")
        );
        assert_eq!(
            n(at("100.64.0.1", Some(9000)), 1000).await.as_deref(),
            Some("+99000000002")
        );
        assert_eq!(n(at("100.64.0.1", Some(9000)), 1600).await, None);
        assert_eq!(
            n(at("2001:db8:1:2::99", None), 1000).await.as_deref(),
            Some("+99000000003")
        );
        assert_eq!(n(at("2001:db8:1:3::99", None), 1000).await, None);
    }

    #[tokio::test]
    async fn a_reassigned_block_resolves_to_its_new_holder_only() {
        let store = store();
        let net: IpNet = "100.64.0.1/32".parse().unwrap();
        let block = Some("1024-2047".parse().unwrap());
        put_lease(&*store, &net, block, &lease("+99000000001", 2000), 1000)
            .await
            .unwrap();
        put_lease(&*store, &net, block, &lease("+99000000005", 2000), 1000)
            .await
            .unwrap();
        let r = SessionResolver::new(store.clone());
        assert_eq!(
            number(&r, at("100.64.0.1", Some(1100)), 1000)
                .await
                .as_deref(),
            Some("+99000000005")
        );
        assert_eq!(list(&*store, 1000).await.unwrap().len(), 1);
        assert!(remove_lease(&*store, &net, block).await.unwrap());
        assert!(!remove_lease(&*store, &net, block).await.unwrap());
        assert_eq!(number(&r, at("100.64.0.1", Some(1100)), 1000).await, None);
    }

    /// A stored block that does not parse is no lease at all, never one of every port.
    #[tokio::test]
    async fn an_unreadable_port_block_is_skipped_not_taken_for_the_whole_address() {
        let store = store();
        let value = serde_json::to_vec(&lease("+99000000001", 2000)).unwrap();
        for bad in ["2047-1024", "1024-", "x", ""] {
            store
                .map_put("lease:100.64.0.1/32", bad, &value, Duration::from_secs(600))
                .await
                .unwrap();
        }
        store
            .map_put(
                "lease:100.64.0.2/32",
                "*",
                b"not json",
                Duration::from_secs(600),
            )
            .await
            .unwrap();
        let r = SessionResolver::new(store.clone());
        for port in [Some(1024), Some(1500), Some(50000), None] {
            assert_eq!(number(&r, at("100.64.0.1", port), 1000).await, None);
        }
        assert_eq!(number(&r, at("100.64.0.2", None), 1000).await, None);
        assert!(list(&*store, 1000).await.unwrap().is_empty());
    }

    /// A re-partitioned address whose old lease was not removed: the port is in two live
    /// blocks, so it names nobody (before, whichever block sorted first won).
    #[tokio::test]
    async fn overlapping_blocks_that_both_contain_the_port_identify_nobody() {
        let store = store();
        let net: IpNet = "100.64.0.1/32".parse().unwrap();
        for (block, n) in [
            ("1024-2047", "+99000000001"),
            ("1024-1535", "+99000000002"),
            ("1536-2047", "+99000000003"),
        ] {
            put_lease(
                &*store,
                &net,
                Some(block.parse().unwrap()),
                &lease(n, 2000),
                1000,
            )
            .await
            .unwrap();
        }
        let r = SessionResolver::new(store.clone());
        assert_eq!(number(&r, at("100.64.0.1", Some(1600)), 1000).await, None);
        assert_eq!(number(&r, at("100.64.0.1", Some(1100)), 1000).await, None);
        // Once the stale lease is removed, each block names its holder.
        remove_lease(&*store, &net, Some("1024-2047".parse().unwrap()))
            .await
            .unwrap();
        assert_eq!(
            number(&r, at("100.64.0.1", Some(1600)), 1000)
                .await
                .as_deref(),
            Some("+99000000003")
        );
    }

    #[test]
    fn only_networks_the_resolver_looks_up_can_hold_sessions() {
        let ok = |s: &str| session_network(s.parse().unwrap()).map(|n| n.to_string());
        assert_eq!(ok("100.64.0.1/32").as_deref(), Ok("100.64.0.1/32"));
        assert_eq!(ok("2001:db8:1:2::/64").as_deref(), Ok("2001:db8:1:2::/64"));
        assert_eq!(ok("2001:db8::5/128").as_deref(), Ok("2001:db8::5/128"));
        for bad in [
            "100.64.0.0/24",
            "100.64.0.0/10",
            "2001:db8::/32",
            "2001:db8::/63",
            "::ffff:100.64.0.1/128",
            "::ffff:0:0/96",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
    }
}
