//! Dynamic IP sessions in the shared store: what the packet core reports ("this address, or this
//! IPv6 prefix, or this CGNAT port block, belongs to this MSISDN since then, until then"). Fed
//! through the admin API and by RADIUS accounting (`network::radius`), through the same writes.
//!
//! Key layout: one store map per network, `lease:{network}` (e.g. `lease:100.64.0.1/32`,
//! `lease:2001:db8:1::/64`), with one field per lease: `*` for the whole address, or the port
//! block `first-last` (admin API), or `*@{session}` for the whole address held by one RADIUS
//! session ([`SessionKey`]); the value is the JSON of the lease: the MSISDN, since when and
//! until when it holds the address, and for a RADIUS session its NAS and audit attributes. Each
//! update is one atomic field write ([`nv_store::Store::map_put`]): concurrent updates of
//! different leases of one address cannot lose each other, and a reassigned block is replaced in
//! one step (CWE-362). A lookup reads the map of the address's /32 (or /128), then of the IPv6
//! prefix lengths operators delegate ([`IPV6_PREFIXES`]). No scan on the hot path.
//!
//! Time-indexed: a lookup at instant T sees only leases held at T (`since <= T < valid_until`).
//! Of several leases of the same ports, the one that started last holds them: the address went
//! to it after the others, whose Stop may have been lost. Two that started in the same second
//! for different subscribers identify nobody. A RADIUS Stop removes its session's lease and every
//! older one of the address ([`end_session`]), so a superseded lease never comes back; an
//! Accounting-On/Off marks the instant its NAS dropped all sessions ([`flush_nas`]), and leases
//! of that NAS from before it are not live.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ipnet::IpNet;
use nv_store::{Store, StoreError};
use nv_token::PhoneNumber;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{ClientAddr, IdentityResolver};
use crate::config::{PortRange, TrustedProxy};

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
    /// Seconds since the epoch: when the holder got the address.
    pub since: i64,
    /// The RADIUS session that reported it, if one did.
    pub origin: Option<Origin>,
}

/// The RADIUS session behind a lease: its NAS (whose Accounting-On/Off ends it) and what the
/// packet core said about the device, kept for audit. Personal data: `Debug` masks it.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Origin {
    pub nas: IpAddr,
    /// `Acct-Session-Id` as sent (invalid UTF-8 replaced), to match the gateway's records.
    pub session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imsi: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imeisv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rat_type: Option<u8>,
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Origin")
            .field("nas", &self.nas)
            .field("imsi", &self.imsi.as_ref().map(|_| "***"))
            .field("imeisv", &self.imeisv.as_ref().map(|_| "***"))
            .field("rat_type", &self.rat_type)
            .finish_non_exhaustive()
    }
}

/// A RADIUS session's name in the lease map: a digest of its NAS and `Acct-Session-Id` (unique
/// per NAS, RFC 2866 §5.5), so arbitrary session-id octets never become part of a field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey(String);

impl SessionKey {
    pub fn new(nas: IpAddr, acct_session_id: &[u8]) -> Self {
        let digest = Sha256::new()
            .chain_update(nas.to_string())
            .chain_update([0])
            .chain_update(acct_session_id)
            .finalize();
        Self(hex::encode(&digest[..16]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the store keeps per lease. Leases written before `since` existed hold since 0.
#[derive(Serialize, Deserialize)]
struct Stored {
    msisdn: PhoneNumber,
    valid_until: i64,
    #[serde(default)]
    since: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    origin: Option<Origin>,
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
    #[error("{0} overlaps the trusted proxy range {1}; a proxy's addresses are not subscribers'")]
    ProxyRange(IpNet, IpNet),
}

/// The network as the resolver looks it up, outside every trusted proxy's range (a device there
/// would be believed about its own forwarding header, CWE-348), or why it cannot hold sessions.
pub fn subscriber_network(
    net: IpNet,
    proxies: &[TrustedProxy],
) -> Result<IpNet, SessionNetworkError> {
    let net = session_network(net)?;
    match proxies
        .iter()
        .find(|p| p.network.contains(&net) || net.contains(&p.network))
    {
        Some(p) => Err(SessionNetworkError::ProxyRange(net, p.network)),
        None => Ok(net),
    }
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

/// Separates the ports of a field from the session holding them.
const SESSION_MARK: char = '@';

fn session_field(session: &SessionKey) -> String {
    format!("{WHOLE_ADDRESS}{SESSION_MARK}{}", session.as_str())
}

/// Where the instant a NAS last dropped all its sessions (Accounting-On/Off) is kept.
fn nas_flush_key(nas: IpAddr) -> String {
    format!("nas-flush:{nas}")
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

/// The one write of a lease, whoever reports it.
async fn write(
    store: &dyn Store,
    net: &IpNet,
    field: &str,
    stored: &Stored,
    now: i64,
) -> Result<(), StoreError> {
    let value = serde_json::to_vec(stored).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let ttl = Duration::from_secs((stored.valid_until - now).max(1) as u64);
    store.map_put(&session_key(net), field, &value, ttl).await
}

/// Store (or replace) the lease of `ports` of `net`, held from `now`, in one atomic write.
pub async fn put_lease(
    store: &dyn Store,
    net: &IpNet,
    ports: Option<PortRange>,
    lease: &Lease,
    now: i64,
) -> Result<(), StoreError> {
    let stored = Stored {
        msisdn: lease.msisdn.clone(),
        valid_until: lease.valid_until,
        since: now,
        origin: None,
    };
    write(store, net, &field(ports), &stored, now).await
}

/// Store (or refresh) the whole-address lease of `net` held by a RADIUS session since `since`,
/// in one atomic write. Other sessions' leases of the address are left alone: the one that
/// started last holds it.
pub async fn put_session(
    store: &dyn Store,
    net: &IpNet,
    session: &SessionKey,
    lease: &Lease,
    since: i64,
    origin: &Origin,
    now: i64,
) -> Result<(), StoreError> {
    let stored = Stored {
        msisdn: lease.msisdn.clone(),
        valid_until: lease.valid_until,
        since,
        origin: Some(origin.clone()),
    };
    write(store, net, &session_field(session), &stored, now).await
}

/// A RADIUS Stop for `net`: remove the session's lease and every whole-address lease of `net`
/// that started before it (superseded: their Stop was lost, and once this session's lease is
/// gone they must not hold the address again). `started` is when the session began by the
/// Stop's own account, used when its lease is already gone. `true` if its lease was there.
pub async fn end_session(
    store: &dyn Store,
    net: &IpNet,
    session: &SessionKey,
    started: i64,
) -> Result<bool, StoreError> {
    let key = session_key(net);
    let own = session_field(session);
    let fields = store.map_get(&key).await?;
    let since = fields
        .iter()
        .find(|(f, _)| *f == own)
        .and_then(|(f, v)| parse_lease(f, v))
        .map_or(started, |l| l.since);
    let mut found = false;
    for (f, v) in &fields {
        let superseded = || parse_lease(f, v).is_some_and(|l| l.ports.is_none() && l.since < since);
        if *f == own || superseded() {
            found |= store.map_remove(&key, f).await? && *f == own;
        }
    }
    Ok(found)
}

/// Accounting-On/Off: `nas` dropped every session at `at`. Leases it reported before then are
/// no longer live. Kept for `ttl`, which must outlast every lease the NAS wrote before `at`.
pub async fn flush_nas(
    store: &dyn Store,
    nas: IpAddr,
    at: i64,
    ttl: Duration,
) -> Result<(), StoreError> {
    store
        .put(&nas_flush_key(nas), at.to_string().as_bytes(), ttl)
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

/// One stored lease, read.
struct Parsed {
    ports: Option<PortRange>,
    msisdn: PhoneNumber,
    since: i64,
    valid_until: i64,
    origin: Option<Origin>,
}

/// What a stored field says. A field that is neither `*`, a port block nor `*@` and a session,
/// or a value that is not a lease, is skipped: treating an unreadable block as the whole address
/// would hand every port of a shared CGNAT address to one subscriber (fail closed).
fn parse_lease(field: &str, value: &[u8]) -> Option<Parsed> {
    let ports = match field.split_once(SESSION_MARK) {
        Some((WHOLE_ADDRESS, session))
            if session.len() == 32 && session.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            None
        }
        Some(_) => return None,
        None if field == WHOLE_ADDRESS => None,
        None => Some(field.parse::<PortRange>().ok()?),
    };
    let stored: Stored = serde_json::from_slice(value).ok()?;
    Some(Parsed {
        ports,
        msisdn: stored.msisdn,
        since: stored.since,
        valid_until: stored.valid_until,
        origin: stored.origin,
    })
}

/// When each NAS of these leases last dropped all its sessions (one read per NAS).
async fn flushes<'a>(
    store: &dyn Store,
    leases: impl Iterator<Item = &'a Parsed>,
    cache: &mut HashMap<IpAddr, i64>,
) -> Result<(), StoreError> {
    for nas in leases.filter_map(|l| l.origin.as_ref().map(|o| o.nas)) {
        if cache.contains_key(&nas) {
            continue;
        }
        let at = store
            .get(&nas_flush_key(nas))
            .await?
            .and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok())
            .unwrap_or(i64::MIN);
        cache.insert(nas, at);
    }
    Ok(())
}

/// Held at `at`: started, not expired, and not dropped by its NAS since it started.
fn held_at(lease: &Parsed, at: i64, flushed: &HashMap<IpAddr, i64>) -> bool {
    let dropped = lease
        .origin
        .as_ref()
        .is_some_and(|o| flushed.get(&o.nas).is_some_and(|f| lease.since < *f));
    lease.since <= at && at < lease.valid_until && !dropped
}

/// Every live session (admin listing).
pub async fn list(store: &dyn Store, now: i64) -> Result<Vec<SessionRecord>, StoreError> {
    let mut out = Vec::new();
    let mut flushed = HashMap::new();
    for (key, fields) in store.map_scan_prefix(SESSION_PREFIX).await? {
        let Ok(network) = key.trim_start_matches(SESSION_PREFIX).parse::<IpNet>() else {
            continue;
        };
        let leases: Vec<Parsed> = fields
            .iter()
            .filter_map(|(f, v)| parse_lease(f, v))
            .collect();
        flushes(store, leases.iter(), &mut flushed).await?;
        for l in leases {
            if held_at(&l, now, &flushed) {
                out.push(SessionRecord {
                    network,
                    ports: l.ports,
                    lease: Lease {
                        msisdn: l.msisdn,
                        valid_until: l.valid_until,
                    },
                    since: l.since,
                    origin: l.origin,
                });
            }
        }
    }
    Ok(out)
}

/// Who holds `ports` (or the whole address) at an instant, of several live leases of it.
enum Holder {
    One(PhoneNumber),
    /// Two leases that started in the same second name different subscribers.
    Ambiguous,
}

/// The holder of each distinct port spec: the lease that started last.
fn holders(leases: Vec<Parsed>) -> Vec<(Option<PortRange>, i64, Holder)> {
    let mut out: Vec<(Option<PortRange>, i64, Holder)> = Vec::new();
    for l in leases {
        match out.iter_mut().find(|(ports, _, _)| *ports == l.ports) {
            None => out.push((l.ports, l.since, Holder::One(l.msisdn))),
            Some((_, since, holder)) => {
                if l.since > *since {
                    *since = l.since;
                    *holder = Holder::One(l.msisdn);
                } else if l.since == *since {
                    if let Holder::One(n) = holder {
                        if *n != l.msisdn {
                            *holder = Holder::Ambiguous;
                        }
                    }
                }
            }
        }
    }
    out
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
        let mut flushed = HashMap::new();
        for key in candidate_keys(addr.ip) {
            let fields = self.store.map_get(&key).await?;
            let leases: Vec<Parsed> = fields
                .iter()
                .filter_map(|(f, v)| parse_lease(f, v))
                .filter(|l| l.since <= at && at < l.valid_until)
                .collect();
            flushes(&*self.store, leases.iter(), &mut flushed).await?;
            let live = leases
                .into_iter()
                .filter(|l| held_at(l, at, &flushed))
                .collect();
            // A port-block lease before a whole-address one, as in the static table. Two live
            // blocks that both contain the port (a re-partitioned address whose old lease was
            // not removed) are ambiguous: nobody is identified rather than whichever sorts first.
            let mut whole = None;
            let mut in_block = None;
            for (ports, _, holder) in holders(live) {
                let in_range = match (ports, addr.port) {
                    (Some(range), Some(port)) if range.contains(port) => true,
                    (None, _) => false,
                    _ => continue,
                };
                let Holder::One(holder) = holder else {
                    tracing::warn!("two leases of one address started together; not identifying");
                    return Ok(None);
                };
                if !in_range {
                    whole = Some(holder);
                } else if in_block.replace(holder).is_some() {
                    tracing::warn!("overlapping CGNAT port-block leases; not identifying");
                    return Ok(None);
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

    fn origin(nas: &str) -> Origin {
        Origin {
            nas: nas.parse().unwrap(),
            session_id: "s".into(),
            imsi: Some("262011234567890".into()),
            imeisv: None,
            rat_type: Some(6),
        }
    }

    /// A RADIUS session `id` of `nas` holding `net` for `n` from `since` until 5000.
    async fn session(store: &dyn Store, net: &str, nas: &str, id: &str, n: &str, since: i64) {
        let net: IpNet = net.parse().unwrap();
        let key = SessionKey::new(nas.parse().unwrap(), id.as_bytes());
        put_session(
            store,
            &net,
            &key,
            &lease(n, 5000),
            since,
            &origin(nas),
            1000,
        )
        .await
        .unwrap();
    }

    async fn stop(store: &dyn Store, net: &str, nas: &str, id: &str, started: i64) -> bool {
        let key = SessionKey::new(nas.parse().unwrap(), id.as_bytes());
        end_session(store, &net.parse().unwrap(), &key, started)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_lookup_sees_only_leases_held_at_its_instant() {
        let store = store();
        session(
            &*store,
            "100.64.0.9/32",
            "10.0.0.1",
            "a",
            "+99000000001",
            1010,
        )
        .await;
        let r = SessionResolver::new(store.clone());
        assert_eq!(number(&r, at("100.64.0.9", None), 1009).await, None);
        assert_eq!(
            number(&r, at("100.64.0.9", None), 1010).await.as_deref(),
            Some("+99000000001")
        );
        assert_eq!(number(&r, at("100.64.0.9", None), 5000).await, None);
    }

    /// A's Stop was lost, then the address went to B: B holds it, and B's Stop does not hand
    /// it back to A.
    #[tokio::test]
    async fn the_lease_that_started_last_holds_the_address_and_a_stop_never_revives_an_older_one() {
        let store = store();
        session(
            &*store,
            "100.64.0.9/32",
            "10.0.0.1",
            "a",
            "+99000000001",
            1000,
        )
        .await;
        session(
            &*store,
            "100.64.0.9/32",
            "10.0.0.1",
            "b",
            "+99000000002",
            1100,
        )
        .await;
        let r = SessionResolver::new(store.clone());
        let who = |when| number(&r, at("100.64.0.9", None), when);
        assert_eq!(who(1200).await.as_deref(), Some("+99000000002"));
        assert_eq!(who(1050).await.as_deref(), Some("+99000000001"));
        assert!(stop(&*store, "100.64.0.9/32", "10.0.0.1", "b", 1100).await);
        assert_eq!(who(1200).await, None);
        assert!(list(&*store, 1200).await.unwrap().is_empty());
    }

    /// A late Stop of a session that held the address before the current one leaves the
    /// current one alone.
    #[tokio::test]
    async fn a_stop_unbinds_only_the_session_it_names() {
        let store = store();
        session(
            &*store,
            "100.64.0.9/32",
            "10.0.0.1",
            "new",
            "+99000000002",
            1100,
        )
        .await;
        session(
            &*store,
            "100.64.0.10/32",
            "10.0.0.1",
            "other",
            "+99000000003",
            1000,
        )
        .await;
        assert!(!stop(&*store, "100.64.0.9/32", "10.0.0.1", "old", 900).await);
        let r = SessionResolver::new(store.clone());
        assert_eq!(
            number(&r, at("100.64.0.9", None), 1200).await.as_deref(),
            Some("+99000000002")
        );
        assert!(stop(&*store, "100.64.0.9/32", "10.0.0.1", "new", 0).await);
        assert_eq!(number(&r, at("100.64.0.9", None), 1200).await, None);
        assert_eq!(
            number(&r, at("100.64.0.10", None), 1200).await.as_deref(),
            Some("+99000000003")
        );
    }

    #[tokio::test]
    async fn two_leases_that_started_in_the_same_second_for_different_subscribers_identify_nobody()
    {
        let store = store();
        session(
            &*store,
            "100.64.0.9/32",
            "10.0.0.1",
            "a",
            "+99000000001",
            1000,
        )
        .await;
        session(
            &*store,
            "100.64.0.9/32",
            "10.0.0.2",
            "b",
            "+99000000002",
            1000,
        )
        .await;
        let r = SessionResolver::new(store.clone());
        assert_eq!(number(&r, at("100.64.0.9", None), 1100).await, None);
        // The same subscriber reported twice is no conflict.
        session(
            &*store,
            "100.64.0.7/32",
            "10.0.0.1",
            "c",
            "+99000000003",
            1000,
        )
        .await;
        session(
            &*store,
            "100.64.0.7/32",
            "10.0.0.2",
            "d",
            "+99000000003",
            1000,
        )
        .await;
        assert_eq!(
            number(&r, at("100.64.0.7", None), 1100).await.as_deref(),
            Some("+99000000003")
        );
    }

    #[tokio::test]
    async fn a_nas_flush_ends_the_sessions_it_reported_before_and_no_others() {
        let store = store();
        session(
            &*store,
            "100.64.0.1/32",
            "10.0.0.1",
            "a",
            "+99000000001",
            1000,
        )
        .await;
        session(
            &*store,
            "100.64.0.2/32",
            "10.0.0.2",
            "b",
            "+99000000002",
            1000,
        )
        .await;
        flush_nas(
            &*store,
            "10.0.0.1".parse().unwrap(),
            1050,
            Duration::from_secs(600),
        )
        .await
        .unwrap();
        session(
            &*store,
            "100.64.0.3/32",
            "10.0.0.1",
            "c",
            "+99000000003",
            1050,
        )
        .await;
        let r = SessionResolver::new(store.clone());
        assert_eq!(number(&r, at("100.64.0.1", None), 1100).await, None);
        assert_eq!(
            number(&r, at("100.64.0.2", None), 1100).await.as_deref(),
            Some("+99000000002")
        );
        assert_eq!(
            number(&r, at("100.64.0.3", None), 1100).await.as_deref(),
            Some("+99000000003")
        );
        let listed: Vec<_> = list(&*store, 1100)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.network.to_string())
            .collect();
        assert_eq!(listed.len(), 2);
        assert!(!listed.contains(&"100.64.0.1/32".to_owned()));
    }

    #[tokio::test]
    async fn a_session_lease_keeps_its_origin_and_masks_it_in_debug() {
        let store = store();
        session(
            &*store,
            "2001:db8:1:2::/64",
            "10.0.0.1",
            "a",
            "+99000000001",
            1000,
        )
        .await;
        let records = list(&*store, 1000).await.unwrap();
        assert_eq!(records[0].origin, Some(origin("10.0.0.1")));
        assert_eq!(records[0].since, 1000);
        let shown = format!("{records:?}");
        assert!(!shown.contains("262011234567890"), "{shown}");
    }

    /// A lease stored before `since` existed holds from the beginning of time.
    #[tokio::test]
    async fn a_lease_stored_without_since_still_resolves() {
        let store = store();
        let value = serde_json::to_vec(&lease("+99000000001", 2000)).unwrap();
        store
            .map_put("lease:100.64.0.1/32", "*", &value, Duration::from_secs(600))
            .await
            .unwrap();
        let r = SessionResolver::new(store.clone());
        assert_eq!(
            number(&r, at("100.64.0.1", None), 1000).await.as_deref(),
            Some("+99000000001")
        );
    }

    #[test]
    fn a_session_field_is_a_fixed_size_digest_of_nas_and_session_id() {
        let a = SessionKey::new("10.0.0.1".parse().unwrap(), b"x@y*\0");
        assert_eq!(a.as_str().len(), 32);
        assert!(parse_lease(
            &session_field(&a),
            &serde_json::to_vec(&lease("+99000000001", 1)).unwrap()
        )
        .is_some());
        assert_ne!(a, SessionKey::new("10.0.0.2".parse().unwrap(), b"x@y*\0"));
        for bad in [
            "*@",
            "*@xyz",
            "1024-2047@0123456789abcdef0123456789abcdef",
            "@*",
        ] {
            assert!(
                parse_lease(bad, &serde_json::to_vec(&lease("+99000000001", 1)).unwrap()).is_none(),
                "{bad}"
            );
        }
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
