//! Dynamic IP sessions in the shared store: what the packet core reports ("this address, or this
//! IPv6 prefix, or this CGNAT port block, belongs to this MSISDN until then"). Fed through the
//! admin API today; a RADIUS-accounting feed would write the same records.
//!
//! Key layout: `session:{network}` (e.g. `session:100.64.0.1/32`, `session:2001:db8:1::/64`), the
//! value a JSON array of [`SessionRecord`]s (one per port block). A lookup is a handful of `GET`s:
//! the /32 (or /128) of the address, then the IPv6 prefix lengths operators delegate
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

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionRecord {
    /// `first-last` port block, or absent for the whole address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<String>,
    pub msisdn: PhoneNumber,
    /// Seconds since the epoch.
    pub valid_until: i64,
}

impl SessionRecord {
    fn port_range(&self) -> Option<PortRange> {
        self.ports.as_deref().and_then(|p| p.parse().ok())
    }
}

pub fn session_key(net: &IpNet) -> String {
    format!("session:{}", net.trunc())
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

pub struct SessionResolver {
    store: Arc<dyn Store>,
}

impl SessionResolver {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

pub async fn read_records(store: &dyn Store, key: &str) -> Result<Vec<SessionRecord>, StoreError> {
    Ok(store
        .get(key)
        .await?
        .and_then(|v| serde_json::from_slice(&v).ok())
        .unwrap_or_default())
}

/// Replace the records of `net` (the key expires with the last of them).
pub async fn write_records(
    store: &dyn Store,
    net: &IpNet,
    records: &[SessionRecord],
    now: i64,
) -> Result<(), StoreError> {
    let key = session_key(net);
    let live: Vec<&SessionRecord> = records.iter().filter(|r| r.valid_until > now).collect();
    match live.iter().map(|r| r.valid_until).max() {
        None => store.delete(&key).await.map(|_| ()),
        Some(last) => {
            let value = serde_json::to_vec(&live).unwrap_or_default();
            store
                .put(
                    &key,
                    &value,
                    Duration::from_secs((last - now).max(1) as u64),
                )
                .await
        }
    }
}

#[async_trait]
impl IdentityResolver for SessionResolver {
    async fn resolve(&self, addr: &ClientAddr, at: i64) -> Result<Option<PhoneNumber>, StoreError> {
        for key in candidate_keys(addr.ip) {
            let records = read_records(&*self.store, &key).await?;
            let live = records.iter().filter(|r| r.valid_until > at);
            // A port-block record before a whole-address one, as in the static table.
            let mut whole = None;
            for r in live {
                match (r.port_range(), addr.port) {
                    (Some(range), Some(port)) if range.contains(port) => {
                        return Ok(Some(r.msisdn.clone()))
                    }
                    (None, _) => whole = whole.or(Some(r.msisdn.clone())),
                    _ => {}
                }
            }
            if whole.is_some() {
                return Ok(whole);
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nv_store::{FakeClock, MemoryStore};

    #[tokio::test]
    async fn sessions_resolve_by_address_port_block_and_ipv6_prefix_until_they_expire() {
        let clock = FakeClock::new(1000);
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new(Arc::new(clock.clone())));
        let rec = |ports: Option<&str>, n: &str, until| SessionRecord {
            ports: ports.map(str::to_owned),
            msisdn: n.parse().unwrap(),
            valid_until: until,
        };
        let v4: IpNet = "100.64.0.1/32".parse().unwrap();
        write_records(
            &*store,
            &v4,
            &[
                rec(Some("1024-2047"), "+99000000001", 2000),
                rec(None, "+99000000002", 1500),
            ],
            1000,
        )
        .await
        .unwrap();
        let v6: IpNet = "2001:db8:1:2::/64".parse().unwrap();
        write_records(&*store, &v6, &[rec(None, "+99000000003", 2000)], 1000)
            .await
            .unwrap();
        let r = SessionResolver::new(store.clone());
        let at = |ip: &str, port| ClientAddr {
            ip: ip.parse().unwrap(),
            port,
        };
        let n = |x: Option<PhoneNumber>| x.map(|p| p.as_str().to_owned());
        assert_eq!(
            n(r.resolve(&at("100.64.0.1", Some(1500)), 1000)
                .await
                .unwrap())
            .as_deref(),
            Some("+99000000001")
        );
        assert_eq!(
            n(r.resolve(&at("100.64.0.1", Some(9000)), 1000)
                .await
                .unwrap())
            .as_deref(),
            Some("+99000000002")
        );
        assert_eq!(
            n(r.resolve(&at("100.64.0.1", Some(9000)), 1600)
                .await
                .unwrap()),
            None,
            "expired record"
        );
        assert_eq!(
            n(r.resolve(&at("2001:db8:1:2::99", None), 1000)
                .await
                .unwrap())
            .as_deref(),
            Some("+99000000003")
        );
        assert_eq!(
            n(r.resolve(&at("2001:db8:1:3::99", None), 1000)
                .await
                .unwrap()),
            None
        );
    }
}
