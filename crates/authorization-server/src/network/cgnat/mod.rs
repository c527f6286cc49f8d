//! CGNAT port blocks in the shared store: "public IPv4 address A, ports first–last, belong to
//! private address P since then, until then", as the NAT reports them (IPFIX NAT events,
//! RFC 8158, or the admin API). A request from public A, source port p, at instant T resolves
//! to the private address holding the block of p at T, and that private address to the
//! subscriber holding it at T in the sessions table (`network::sessions`): the join is
//! public ip:port at T → private ip at T → MSISDN at T.
//!
//! Key layout: one store map per public address, `cgnat:{public}`, one field per block
//! (`first-last`), the value the JSON of the allocation. Each update is one atomic field write
//! ([`nv_store::Store::map_put`]), with the store TTL of the allocation, so every replica sees it
//! and an allocation that is not refreshed expires.
//!
//! Time-indexed like the sessions: a lookup at T sees only allocations with
//! `since <= T < valid_until`. A new allocation removes every older one whose ports overlap it
//! (a re-partitioned or re-allocated block: the old holder must never match again, CWE-362); a
//! de-allocation removes the block only when it names the private address that holds it and
//! is not older than the allocation, so a late or replayed de-allocation never ends the block's
//! next holder. Two live allocations containing the port identify nobody (fail closed).

mod counters;
pub mod ipfix;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use nv_store::{Store, StoreError};
use nv_token::PhoneNumber;
use serde::{Deserialize, Serialize};

pub use counters::{CgnatCounters, CgnatSnapshot, DropReason};

use super::{ClientAddr, IdentityResolver};
use crate::config::PortRange;

const CGNAT_PREFIX: &str = "cgnat:";

fn block_key(public: Ipv4Addr) -> String {
    format!("{CGNAT_PREFIX}{public}")
}

/// One port block as stored: who holds it, from when until when (seconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub private: IpAddr,
    pub since: i64,
    pub valid_until: i64,
}

/// A port block and its allocation, as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRecord {
    pub public: Ipv4Addr,
    pub ports: PortRange,
    pub allocation: Allocation,
}

/// What an allocation did to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocated {
    /// Stored (new or refreshed).
    Stored,
    /// Older than the allocation already stored for these ports (reordered delivery), or
    /// already expired: nothing written.
    Stale,
}

fn parse(field: &str, value: &[u8]) -> Option<(PortRange, Allocation)> {
    // A field that is not a block, or a value that is not an allocation, is skipped: reading it
    // as a wider block would hand other subscribers' ports to one (fail closed).
    let ports = field.parse::<PortRange>().ok()?;
    let a: Allocation = serde_json::from_slice(value).ok()?;
    Some((ports, a))
}

fn overlaps(a: PortRange, b: PortRange) -> bool {
    a.first <= b.last && b.first <= a.last
}

/// Record that `ports` of `public` went to `allocation.private` at `allocation.since`, until
/// `allocation.valid_until`. Older allocations of overlapping ports are removed first.
pub async fn allocate(
    store: &dyn Store,
    public: Ipv4Addr,
    ports: PortRange,
    allocation: Allocation,
    now: i64,
) -> Result<Allocated, StoreError> {
    if allocation.valid_until <= now || allocation.since >= allocation.valid_until {
        return Ok(Allocated::Stale);
    }
    let key = block_key(public);
    let field = ports.to_string();
    for (f, v) in store.map_get(&key).await? {
        let Some((p, old)) = parse(&f, &v) else {
            continue;
        };
        if !overlaps(p, ports) {
            continue;
        }
        if old.since > allocation.since {
            return Ok(Allocated::Stale);
        }
        if f != field {
            store.map_remove(&key, &f).await?;
        }
    }
    let value =
        serde_json::to_vec(&allocation).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let ttl = Duration::from_secs((allocation.valid_until - now).max(1) as u64);
    store.map_put(&key, &field, &value, ttl).await?;
    Ok(Allocated::Stored)
}

/// Record that `ports` of `public` were released by `private` at `at`. `true` if the block was
/// held by `private` since `at` or earlier and is now gone.
pub async fn deallocate(
    store: &dyn Store,
    public: Ipv4Addr,
    ports: PortRange,
    private: IpAddr,
    at: i64,
) -> Result<bool, StoreError> {
    let key = block_key(public);
    let field = ports.to_string();
    let held = store
        .map_get(&key)
        .await?
        .iter()
        .find(|(f, _)| *f == field)
        .and_then(|(f, v)| parse(f, v))
        .is_some_and(|(_, a)| a.private == private && a.since <= at);
    if !held {
        return Ok(false);
    }
    store.map_remove(&key, &field).await
}

/// Every live allocation (admin listing).
pub async fn list(store: &dyn Store, now: i64) -> Result<Vec<BlockRecord>, StoreError> {
    let mut out = Vec::new();
    for (key, fields) in store.map_scan_prefix(CGNAT_PREFIX).await? {
        let Ok(public) = key.trim_start_matches(CGNAT_PREFIX).parse::<Ipv4Addr>() else {
            continue;
        };
        for (f, v) in &fields {
            if let Some((ports, allocation)) = parse(f, v) {
                if allocation.since <= now && now < allocation.valid_until {
                    out.push(BlockRecord {
                        public,
                        ports,
                        allocation,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// The private address behind `public:port` at `at`, if exactly one live block holds the port.
pub async fn private_address(
    store: &dyn Store,
    public: Ipv4Addr,
    port: u16,
    at: i64,
) -> Result<Option<IpAddr>, StoreError> {
    let mut found = None;
    for (f, v) in store.map_get(&block_key(public)).await? {
        let Some((ports, a)) = parse(&f, &v) else {
            continue;
        };
        if !(ports.contains(port) && a.since <= at && at < a.valid_until) {
            continue;
        }
        match found {
            None => found = Some(a.private),
            Some(p) if p == a.private => {}
            Some(_) => {
                tracing::warn!("overlapping CGNAT allocations of one port; not identifying");
                return Ok(None);
            }
        }
    }
    Ok(found)
}

/// The join: public address and source port → private address (this table) → subscriber
/// (`inner`, the sessions). Only for IPv4 requests with a known source port; anything else is
/// not behind a NAT this table knows.
pub struct CgnatResolver<R> {
    store: Arc<dyn Store>,
    inner: R,
    counters: Arc<CgnatCounters>,
}

impl<R: IdentityResolver> CgnatResolver<R> {
    pub fn new(store: Arc<dyn Store>, inner: R, counters: Arc<CgnatCounters>) -> Self {
        Self {
            store,
            inner,
            counters,
        }
    }
}

fn public_v4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    }
}

#[async_trait]
impl<R: IdentityResolver> IdentityResolver for CgnatResolver<R> {
    async fn resolve(&self, addr: &ClientAddr, at: i64) -> Result<Option<PhoneNumber>, StoreError> {
        let (Some(public), Some(port)) = (public_v4(addr.ip), addr.port) else {
            return Ok(None);
        };
        let Some(private) = private_address(&*self.store, public, port, at).await? else {
            self.counters.lookup(false);
            return Ok(None);
        };
        // The private address's own lease, whole address: the NAT has already told which of
        // its ports is in play, and the subscriber holds every port of its private address.
        let found = self
            .inner
            .resolve(
                &ClientAddr {
                    ip: private,
                    port: None,
                },
                at,
            )
            .await?;
        self.counters.lookup(found.is_some());
        Ok(found)
    }
}

#[cfg(test)]
mod tests;
