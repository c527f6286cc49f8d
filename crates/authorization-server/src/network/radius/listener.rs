//! The UDP listener: one socket, `radius.max_in_flight` tasks each handling one datagram at a
//! time from receipt to answer, so the work in progress is bounded and the only queue is the
//! kernel's socket buffer (a flood overflows it and the kernel drops; gateways retransmit).
//!
//! Per datagram: the peer must be a configured NAS client (else dropped before parsing), the
//! header must parse and the Request Authenticator must verify with that client's secret; then
//! the duplicate cache answers a retransmission from what was sent the first time; then the
//! attributes are read and the update is stored, and only then answered (RFC 2866 §2: "If it
//! is not able to record …, it MUST NOT send an Accounting-Response acknowledgment").

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::IpNet;
use nv_store::{Clock, Store};
use nv_token::PhoneNumber;
use radius_accounting::{Accounting, Request, StatusType, HEADER_LEN, MAX_PACKET_LEN};
use tokio::net::UdpSocket;

use super::counters::{DropReason, FeedCounters};
use crate::config::{NasClient, Secret, TrustedProxy};
use crate::network::sessions::{self, Lease, Origin, SessionKey};

/// How long an answered request is remembered for its retransmissions, in seconds: longer than
/// a NAS retries the same packet (RFC 5080 §2.2.2; radclient's default is 3 tries × 5 s).
pub const DUPLICATE_WINDOW: i64 = 30;
/// Most requests remembered at once; the oldest go first.
pub const DUPLICATE_ENTRIES: usize = 65_536;
/// Updates of one session are applied one at a time (a Start and its Stop received together
/// must not be stored in the other order); sessions are spread over this many locks.
const SESSION_STRIPES: usize = 64;

/// The NAS clients, most specific network first.
pub struct NasTable(Vec<(IpNet, Secret)>);

impl NasTable {
    pub fn new(clients: &[NasClient]) -> Self {
        let mut entries: Vec<(IpNet, Secret)> = clients
            .iter()
            .map(|c| (c.network, c.secret.clone()))
            .collect();
        entries.sort_by_key(|(net, _)| std::cmp::Reverse(net.prefix_len()));
        Self(entries)
    }

    /// The secret of the client `peer` is, by longest prefix.
    pub fn secret(&self, peer: IpAddr) -> Option<&Secret> {
        self.0
            .iter()
            .find(|(net, _)| net.contains(&peer))
            .map(|(_, s)| s)
    }
}

/// A request as its retransmissions repeat it (RFC 5080 §2.2.2: source, identifier and
/// authenticator).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct RequestId {
    peer: SocketAddr,
    identifier: u8,
    authenticator: [u8; 16],
}

enum Seen {
    New,
    InProgress,
    Answered([u8; HEADER_LEN]),
}

/// Recently seen requests and what they were answered; bounded in time and size.
#[derive(Default)]
struct DuplicateCache {
    entries: HashMap<RequestId, (i64, Option<[u8; HEADER_LEN]>)>,
    order: VecDeque<(RequestId, i64)>,
}

impl DuplicateCache {
    fn begin(&mut self, id: RequestId, now: i64) -> Seen {
        while let Some((old, at)) = self.order.front().copied() {
            if now - at < DUPLICATE_WINDOW && self.entries.len() < DUPLICATE_ENTRIES {
                break;
            }
            self.order.pop_front();
            if self.entries.get(&old).is_some_and(|(t, _)| *t == at) {
                self.entries.remove(&old);
            }
        }
        match self.entries.get(&id) {
            Some((_, Some(answer))) => Seen::Answered(*answer),
            Some((_, None)) => Seen::InProgress,
            None => {
                self.entries.insert(id, (now, None));
                self.order.push_back((id, now));
                Seen::New
            }
        }
    }

    fn answered(&mut self, id: RequestId, answer: [u8; HEADER_LEN]) {
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.1 = Some(answer);
        }
    }

    /// Not recorded: a retransmission must be tried again.
    fn forget(&mut self, id: RequestId) {
        self.entries.remove(&id);
    }
}

/// Everything the tasks share.
pub struct Handler {
    pub nas: NasTable,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub counters: Arc<FeedCounters>,
    pub proxies: Vec<TrustedProxy>,
    pub session_timeout: i64,
    duplicates: Mutex<DuplicateCache>,
    stripes: Vec<tokio::sync::Mutex<()>>,
}

impl Handler {
    pub fn new(
        nas: NasTable,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        counters: Arc<FeedCounters>,
        proxies: Vec<TrustedProxy>,
        session_timeout: i64,
    ) -> Self {
        Self {
            nas,
            store,
            clock,
            counters,
            proxies,
            session_timeout,
            duplicates: Mutex::default(),
            stripes: (0..SESSION_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        }
    }

    fn duplicates(&self) -> std::sync::MutexGuard<'_, DuplicateCache> {
        self.duplicates.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn drop_it(&self, reason: DropReason, peer: IpAddr) -> Option<[u8; HEADER_LEN]> {
        self.counters.dropped(reason);
        // The peer is the NAS, never a subscriber; nothing of the packet is logged.
        tracing::debug!(radius.peer = %peer, radius.reason = reason.name(), "accounting request dropped");
        None
    }

    /// The answer to send, if any.
    pub async fn handle(&self, datagram: &[u8], peer: SocketAddr) -> Option<[u8; HEADER_LEN]> {
        let peer_ip = peer.ip().to_canonical();
        let Some(secret) = self.nas.secret(peer_ip) else {
            return self.drop_it(DropReason::UnknownNas, peer_ip);
        };
        let request = match Request::parse(datagram) {
            Ok(r) => r,
            Err(e) => return self.drop_it(e.into(), peer_ip),
        };
        let secret = secret.expose().as_bytes();
        if !request.is_authentic(secret) {
            return self.drop_it(DropReason::BadAuthenticator, peer_ip);
        }
        let id = RequestId {
            peer,
            identifier: request.identifier(),
            authenticator: request.authenticator(),
        };
        let seen = self.duplicates().begin(id, self.clock.now());
        match seen {
            Seen::Answered(answer) => {
                self.counters.retransmission();
                return Some(answer);
            }
            // The first copy is being recorded and will be answered.
            Seen::InProgress => {
                self.counters.retransmission();
                return None;
            }
            Seen::New => {}
        }
        match self.apply(&request, peer_ip).await {
            Ok(status) => {
                let answer = request.response(secret);
                self.duplicates().answered(id, answer);
                self.counters.accepted(status);
                Some(answer)
            }
            Err(reason) => {
                self.duplicates().forget(id);
                self.drop_it(reason, peer_ip)
            }
        }
    }

    async fn apply(&self, request: &Request<'_>, peer: IpAddr) -> Result<StatusType, DropReason> {
        let acct = Accounting::from_request(request)?;
        let status = acct.status.ok_or(DropReason::MissingAttribute)?;
        // RFC 2866 §5.4: NAS-IP-Address names the NAS (a proxy forwards for several).
        let nas = acct.nas_ip.map_or(peer, |ip| ip.to_canonical());
        let now = self.clock.now();
        // When the event happened: the NAS has been trying to send it for Acct-Delay-Time.
        let event = now - i64::from(acct.delay_time);
        let stored = |e| {
            tracing::debug!(error.cause = %e, "accounting update not stored");
            DropReason::StoreError
        };
        match status {
            StatusType::Start | StatusType::InterimUpdate => {
                let session = session_key(nas, &acct)?;
                let msisdn = msisdn(acct.calling_station_id.as_deref())?;
                let networks = self.networks(&acct)?;
                let since = event - i64::from(acct.session_time);
                let lease = Lease {
                    msisdn,
                    valid_until: event + self.session_timeout,
                };
                let origin = Origin {
                    nas,
                    session_id: String::from_utf8_lossy(
                        acct.session_id.as_deref().unwrap_or_default(),
                    )
                    .into_owned(),
                    imsi: acct.audit.imsi.clone(),
                    imeisv: acct.audit.imeisv.clone(),
                    rat_type: acct.audit.rat_type,
                };
                let _one_at_a_time = self.stripe(&session).lock().await;
                // An update older than the timeout binds nothing; it is still recorded.
                if lease.valid_until > now {
                    for net in &networks {
                        sessions::put_session(
                            &*self.store,
                            net,
                            &session,
                            &lease,
                            since,
                            &origin,
                            now,
                        )
                        .await
                        .map_err(stored)?;
                    }
                }
                if status == StatusType::Start {
                    self.counters.session_started(nas);
                }
            }
            StatusType::Stop => {
                let session = session_key(nas, &acct)?;
                let networks = self.networks(&acct)?;
                let started = event - i64::from(acct.session_time);
                let _one_at_a_time = self.stripe(&session).lock().await;
                for net in &networks {
                    sessions::end_session(&*self.store, net, &session, started)
                        .await
                        .map_err(stored)?;
                }
                self.counters.session_stopped(nas);
            }
            StatusType::AccountingOn | StatusType::AccountingOff => {
                // Every lease this NAS wrote before `event` expires within the timeout.
                let ttl = Duration::from_secs(self.session_timeout as u64 + 1);
                sessions::flush_nas(&*self.store, nas, event, ttl)
                    .await
                    .map_err(stored)?;
                self.counters.nas_flushed(nas);
                tracing::info!(radius.nas = %nas, "NAS restarted: its sessions are dropped");
            }
            StatusType::Other(_) => return Err(DropReason::UnsupportedStatus),
        }
        Ok(status)
    }

    fn stripe(&self, session: &SessionKey) -> &tokio::sync::Mutex<()> {
        let h = u8::from_str_radix(&session.as_str()[..2], 16).unwrap_or(0);
        &self.stripes[usize::from(h) % self.stripes.len()]
    }

    /// The networks the request names, each one the resolver looks up and no trusted proxy's.
    fn networks(&self, acct: &Accounting) -> Result<Vec<IpNet>, DropReason> {
        let mut out: Vec<IpNet> = Vec::new();
        let all = acct
            .framed_ip
            .map(|ip| IpNet::from(IpAddr::V4(ip)))
            .into_iter()
            .chain(acct.framed_ipv6_prefixes.iter().map(|n| IpNet::V6(*n)))
            .chain(acct.delegated_ipv6_prefixes.iter().map(|n| IpNet::V6(*n)))
            .chain(
                acct.framed_ipv6_addresses
                    .iter()
                    .map(|ip| IpNet::from(IpAddr::V6(*ip))),
            );
        for net in all {
            let unusable = match net.addr() {
                IpAddr::V4(v4) => v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast(),
                IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
            };
            if unusable {
                return Err(DropReason::UnbindableAddress);
            }
            let net = sessions::subscriber_network(net, &self.proxies)
                .map_err(|_| DropReason::UnbindableAddress)?;
            if !out.contains(&net) {
                out.push(net);
            }
        }
        if out.is_empty() {
            return Err(DropReason::MissingAttribute);
        }
        Ok(out)
    }
}

fn session_key(nas: IpAddr, acct: &Accounting) -> Result<SessionKey, DropReason> {
    let id = acct
        .session_id
        .as_deref()
        .ok_or(DropReason::MissingAttribute)?;
    Ok(SessionKey::new(nas, id))
}

/// Calling-Station-Id as E.164: 3GPP gateways send the MSISDN in international form without the
/// `+` (TS 29.061 §16.4.7.1); anything that is not then a number is refused, not guessed at.
fn msisdn(calling_station_id: Option<&str>) -> Result<PhoneNumber, DropReason> {
    let raw = calling_station_id.ok_or(DropReason::MissingAttribute)?;
    let digits = raw.strip_prefix('+').unwrap_or(raw);
    format!("+{digits}")
        .parse()
        .map_err(|_| DropReason::BadMsisdn)
}

/// One task: receive, handle, answer; one datagram at a time.
pub async fn serve(socket: Arc<UdpSocket>, handler: Arc<Handler>) {
    // One octet more than the largest packet, so an oversized datagram is seen as one.
    let mut buf = vec![0u8; MAX_PACKET_LEN + 1];
    loop {
        let (len, peer) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error.cause = %e, "RADIUS receive failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if let Some(answer) = handler.handle(&buf[..len], peer).await {
            if let Err(e) = socket.send_to(&answer, peer).await {
                tracing::debug!(error.cause = %e, radius.peer = %peer.ip(), "RADIUS answer not sent");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nv_store::{FakeClock, MemoryStore};

    fn id(n: u8) -> RequestId {
        RequestId {
            peer: "127.0.0.1:5000".parse().unwrap(),
            identifier: n,
            authenticator: [n; 16],
        }
    }

    #[test]
    fn the_duplicate_cache_answers_within_its_window_and_forgets_after_it() {
        let mut c = DuplicateCache::default();
        assert!(matches!(c.begin(id(1), 100), Seen::New));
        assert!(matches!(c.begin(id(1), 100), Seen::InProgress));
        c.answered(id(1), [5; HEADER_LEN]);
        assert!(
            matches!(c.begin(id(1), 100 + DUPLICATE_WINDOW - 1), Seen::Answered(a) if a == [5; HEADER_LEN])
        );
        assert!(matches!(c.begin(id(2), 100 + DUPLICATE_WINDOW), Seen::New));
        assert!(matches!(c.begin(id(1), 100 + DUPLICATE_WINDOW), Seen::New));
        c.forget(id(2));
        assert!(matches!(c.begin(id(2), 100 + DUPLICATE_WINDOW), Seen::New));
    }

    #[test]
    fn the_duplicate_cache_is_bounded() {
        let mut c = DuplicateCache::default();
        for i in 0..DUPLICATE_ENTRIES + 10 {
            let mut r = id(0);
            r.authenticator[..8].copy_from_slice(&(i as u64).to_be_bytes());
            c.begin(r, 1);
        }
        assert!(c.entries.len() <= DUPLICATE_ENTRIES);
        assert!(c.order.len() <= DUPLICATE_ENTRIES + 1);
    }

    #[test]
    fn the_most_specific_nas_client_gives_the_secret() {
        let client = |net: &str, s: &str| NasClient {
            network: crate::config::parse_ip_or_net(net).unwrap(),
            secret: Secret::new(s),
        };
        let t = NasTable::new(&[client("10.0.0.0/8", "wide"), client("10.1.2.3", "narrow")]);
        let secret = |ip: &str| t.secret(ip.parse().unwrap()).map(|s| s.expose().to_owned());
        assert_eq!(secret("10.1.2.3").as_deref(), Some("narrow"));
        assert_eq!(secret("10.1.2.4").as_deref(), Some("wide"));
        assert_eq!(secret("192.0.2.1"), None);
    }

    #[test]
    fn calling_station_ids_become_e164_or_are_refused() {
        let ok = |s| msisdn(Some(s)).map(|n| n.as_str().to_owned());
        assert_eq!(ok("491701234567").as_deref(), Ok("+491701234567"));
        assert_eq!(ok("+491701234567").as_deref(), Ok("+491701234567"));
        for bad in [
            "",
            "+",
            "0049170123",
            "4917O1234567",
            "1234",
            "1234567890123456",
            "++4917012345",
            "49 170 1234567",
        ] {
            assert_eq!(ok(bad), Err(DropReason::BadMsisdn), "{bad}");
        }
        assert_eq!(msisdn(None).err(), Some(DropReason::MissingAttribute));
    }

    #[tokio::test]
    async fn addresses_outside_what_the_resolver_reads_or_inside_a_proxy_range_bind_nothing() {
        let clock = Arc::new(FakeClock::new(1000));
        let h = Handler::new(
            NasTable::new(&[]),
            Arc::new(MemoryStore::new(clock.clone())),
            clock,
            Arc::default(),
            vec![TrustedProxy {
                network: "100.64.9.0/24".parse().unwrap(),
                header: crate::config::ForwardingHeader::Forwarded,
            }],
            1800,
        );
        let with = |f: &dyn Fn(&mut Accounting)| {
            let mut a = Accounting::default();
            f(&mut a);
            h.networks(&a)
        };
        assert_eq!(with(&|_| {}), Err(DropReason::MissingAttribute));
        assert_eq!(
            with(&|a| a.framed_ip = Some([100, 64, 0, 1].into())).map(|v| v.len()),
            Ok(1)
        );
        for bad in [[0, 0, 0, 0], [224, 0, 0, 1], [100, 64, 9, 7]] {
            assert_eq!(
                with(&|a| a.framed_ip = Some(bad.into())),
                Err(DropReason::UnbindableAddress)
            );
        }
        assert_eq!(
            with(&|a| a.framed_ipv6_prefixes = vec!["2001:db8::/60".parse().unwrap()]),
            Err(DropReason::UnbindableAddress)
        );
        assert_eq!(
            with(&|a| a.framed_ipv6_prefixes = vec!["::ffff:0:0/96".parse().unwrap()]),
            Err(DropReason::UnbindableAddress)
        );
    }
}
