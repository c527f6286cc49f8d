//! The listener over real UDP on loopback, with a memory store and a fake clock. One task
//! (`max_in_flight = 1`) handles the datagrams in order, so "no answer" is observed as the next
//! answer on the socket being the one to a later, valid probe.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use nv_store::{FakeClock, MapEntries, MemoryStore, Store, StoreError};
use radius_accounting::testing::RequestBuilder;
use radius_accounting::Request;
use tokio::net::UdpSocket;

use super::RadiusFeed;
use crate::config::{NasClient, Secret, Settings};
use crate::network::{ClientAddr, IdentityResolver, SessionResolver};

const SECRET: &str = "testing123";
const STATUS: u8 = 40;
const SESSION_ID: u8 = 44;
const CALLING: u8 = 31;
const FRAMED_IP: u8 = 8;
const FRAMED_PREFIX: u8 = 97;
const DELEGATED_PREFIX: u8 = 123;
const NAS_IP: u8 = 4;
const SESSION_TIME: u8 = 46;

/// A store whose writes can be made to fail (a Redis outage).
struct Flaky {
    inner: MemoryStore,
    failing: AtomicBool,
}

impl Flaky {
    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("test outage".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for Flaky {
    async fn put_if_absent(&self, k: &str, v: &[u8], t: Duration) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.put_if_absent(k, v, t).await
    }
    async fn take(&self, k: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.take(k).await
    }
    async fn put(&self, k: &str, v: &[u8], t: Duration) -> Result<(), StoreError> {
        self.check()?;
        self.inner.put(k, v, t).await
    }
    async fn get(&self, k: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(k).await
    }
    async fn delete(&self, k: &str) -> Result<bool, StoreError> {
        self.inner.delete(k).await
    }
    async fn scan_prefix(&self, p: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.inner.scan_prefix(p).await
    }
    async fn map_put(&self, k: &str, f: &str, v: &[u8], t: Duration) -> Result<(), StoreError> {
        self.check()?;
        self.inner.map_put(k, f, v, t).await
    }
    async fn map_remove(&self, k: &str, f: &str) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.map_remove(k, f).await
    }
    async fn map_get(&self, k: &str) -> Result<MapEntries, StoreError> {
        self.inner.map_get(k).await
    }
    async fn map_scan_prefix(&self, p: &str) -> Result<Vec<(String, MapEntries)>, StoreError> {
        self.inner.map_scan_prefix(p).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

struct Harness {
    feed: RadiusFeed,
    store: Arc<Flaky>,
    clock: FakeClock,
    nas: UdpSocket,
    probes: std::sync::atomic::AtomicU8,
}

async fn harness() -> Harness {
    let clock = FakeClock::new(1_000_000);
    let store = Arc::new(Flaky {
        inner: MemoryStore::new(Arc::new(clock.clone())),
        failing: AtomicBool::new(false),
    });
    let mut settings = Settings::default();
    settings.radius.listen = Some("127.0.0.1:0".parse().unwrap());
    settings.radius.max_in_flight = 1;
    settings.radius.clients = vec![NasClient {
        network: "127.0.0.1/32".parse().unwrap(),
        secret: Secret::new(SECRET),
    }];
    let feed = RadiusFeed::start(&settings, store.clone(), Arc::new(clock.clone()))
        .unwrap()
        .expect("configured");
    let nas = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    nas.connect(feed.local_addr()).await.unwrap();
    Harness {
        feed,
        store,
        clock,
        nas,
        probes: Default::default(),
    }
}

fn start(id: u8, session: &str, ip: [u8; 4], msisdn: &str) -> RequestBuilder {
    update(id, 1, session, ip, msisdn)
}

/// An Accounting-Request of `status` for `session`.
fn update(id: u8, status: u32, session: &str, ip: [u8; 4], msisdn: &str) -> RequestBuilder {
    RequestBuilder::new(id)
        .u32(STATUS, status)
        .string(SESSION_ID, session.as_bytes())
        .string(CALLING, msisdn.as_bytes())
        .ipv4(FRAMED_IP, ip)
}

fn stop(id: u8, session: &str, ip: [u8; 4]) -> RequestBuilder {
    RequestBuilder::new(id)
        .u32(STATUS, 2)
        .string(SESSION_ID, session.as_bytes())
        .ipv4(FRAMED_IP, ip)
        .u32(SESSION_TIME, 60)
}

impl Harness {
    async fn send(&self, packet: &[u8]) {
        self.nas.send(packet).await.unwrap();
    }

    async fn answer(&self) -> Vec<u8> {
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(10), self.nas.recv(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        buf[..n].to_vec()
    }

    /// Sends `packet`, expects the Accounting-Response with the right authenticator.
    async fn exchange(&self, packet: &[u8]) {
        self.send(packet).await;
        let answer = self.answer().await;
        let request = Request::parse(packet).unwrap();
        assert_eq!(
            answer,
            request.response(SECRET.as_bytes()),
            "the answer to this request"
        );
    }

    /// A valid request whose answer must be the next one: whatever was sent before it got none.
    async fn probe(&self) {
        let n = self.probes.fetch_add(1, Ordering::SeqCst);
        let packet = start(
            200u8.wrapping_add(n),
            &format!("probe-{n}"),
            [100, 64, 200, n],
            "+99000000999",
        )
        .build(SECRET.as_bytes());
        self.exchange(&packet).await;
    }

    /// Waits (without a deadline of its own: the test's) until `reason` counted `n` drops.
    async fn until_dropped(&self, reason: &str, n: u64) {
        while self.feed.counters().snapshot().dropped[reason] < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn who(&self, ip: &str) -> Option<String> {
        let addr = ClientAddr {
            ip: ip.parse().unwrap(),
            port: None,
        };
        SessionResolver::new(self.store.clone())
            .resolve(&addr, nv_store::Clock::now(&self.clock))
            .await
            .unwrap()
            .map(|n| n.as_str().to_owned())
    }
}

#[tokio::test]
async fn a_start_is_answered_once_stored_and_its_stop_unbinds_it() {
    let h = harness().await;
    h.exchange(&start(1, "s1", [100, 64, 0, 7], "491701234567").build(SECRET.as_bytes()))
        .await;
    assert_eq!(h.who("100.64.0.7").await.as_deref(), Some("+491701234567"));
    h.exchange(&stop(2, "s1", [100, 64, 0, 7]).build(SECRET.as_bytes()))
        .await;
    assert_eq!(h.who("100.64.0.7").await, None);
    let c = h.feed.counters().snapshot();
    assert_eq!((c.accepted["start"], c.accepted["stop"]), (1, 1));
    assert_eq!(c.dropped_total(), 0);
}

#[tokio::test]
async fn a_retransmission_is_answered_again_without_being_applied_twice() {
    let h = harness().await;
    let packet = start(9, "s1", [100, 64, 0, 7], "491701234567").build(SECRET.as_bytes());
    h.exchange(&packet).await;
    // Had the copy been applied again, it would bind the address again.
    h.exchange(&stop(10, "s1", [100, 64, 0, 7]).build(SECRET.as_bytes()))
        .await;
    h.exchange(&packet).await;
    assert_eq!(h.who("100.64.0.7").await, None);
    let c = h.feed.counters().snapshot();
    assert_eq!((c.accepted["start"], c.retransmissions), (1, 1));
    // Past the duplicate window the same octets are a new request.
    h.clock.advance(super::listener::DUPLICATE_WINDOW);
    h.exchange(&packet).await;
    assert_eq!(h.who("100.64.0.7").await.as_deref(), Some("+491701234567"));
}

#[tokio::test]
async fn unknown_peers_and_wrong_secrets_are_dropped_unanswered_and_counted() {
    let h = harness().await;
    let packet = start(1, "s1", [100, 64, 0, 7], "491701234567");
    h.send(&packet.build(b"not-the-secret")).await;
    // 127.0.0.9 is local on Linux, but no configured NAS.
    let stranger = UdpSocket::bind("127.0.0.9:0").await.unwrap();
    let signed = packet.build(SECRET.as_bytes());
    stranger
        .send_to(&signed, h.feed.local_addr())
        .await
        .unwrap();
    h.probe().await;
    let mut buf = [0u8; 64];
    assert!(
        stranger.try_recv_from(&mut buf).is_err(),
        "the stranger got no answer"
    );
    let c = h.feed.counters().snapshot();
    assert_eq!(c.dropped["bad_authenticator"], 1);
    assert_eq!(c.dropped["unknown_nas"], 1);
    assert_eq!(h.who("100.64.0.7").await, None);
}

#[tokio::test]
async fn malformed_datagrams_and_incomplete_requests_are_dropped_unanswered_and_counted() {
    let h = harness().await;
    let secret = SECRET.as_bytes();
    let good = start(1, "s1", [100, 64, 0, 7], "491701234567").build(secret);
    let with_length = |len: u16| {
        let mut p = good.clone();
        p[2..4].copy_from_slice(&len.to_be_bytes());
        p
    };
    let lying_length = with_length(good.len() as u16 + 4);
    let below_header = with_length(12);
    let mut wrong_code = start(1, "s1", [100, 64, 0, 7], "491701234567").build(secret);
    wrong_code[0] = 1;
    // Signed correctly, then broken in the attributes: the authenticator is recomputed so only
    // the attribute check can refuse it.
    let resign = |mut p: Vec<u8>| {
        let a = radius_accounting::request_authenticator(&p, secret);
        p[4..20].copy_from_slice(&a);
        p
    };
    let overrun = {
        let mut p = good.clone();
        p.extend_from_slice(&[CALLING, 40, b'4']);
        let len = p.len() as u16;
        p[2..4].copy_from_slice(&len.to_be_bytes());
        resign(p)
    };
    let short_attribute = {
        let mut p = good.clone();
        p.extend_from_slice(&[CALLING, 1]);
        let len = p.len() as u16;
        p[2..4].copy_from_slice(&len.to_be_bytes());
        resign(p)
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..12].to_vec()),
        ("truncated", lying_length),
        ("bad_length", below_header),
        ("oversized", vec![4; 5000]),
        ("wrong_code", wrong_code),
        ("bad_attribute", overrun),
        ("bad_attribute", short_attribute),
        (
            "bad_attribute",
            start(1, "s2", [100, 64, 0, 8], "491701234567")
                .raw(FRAMED_PREFIX, &[0, 129, 0x20, 0x01])
                .build(secret),
        ),
        (
            "missing_attribute",
            RequestBuilder::new(3)
                .u32(STATUS, 1)
                .string(SESSION_ID, b"s3")
                .string(CALLING, b"491701234567")
                .build(secret),
        ),
        (
            "missing_attribute",
            RequestBuilder::new(4)
                .u32(STATUS, 1)
                .string(SESSION_ID, b"s4")
                .ipv4(FRAMED_IP, [100, 64, 0, 9])
                .build(secret),
        ),
        (
            "missing_attribute",
            RequestBuilder::new(5)
                .string(SESSION_ID, b"s5")
                .ipv4(FRAMED_IP, [100, 64, 0, 9])
                .build(secret),
        ),
        (
            "bad_msisdn",
            start(6, "s6", [100, 64, 0, 10], "49-170-1234").build(secret),
        ),
        (
            "bad_msisdn",
            start(7, "s7", [100, 64, 0, 10], "0170123456").build(secret),
        ),
        (
            "unbindable_address",
            start(8, "s8", [0, 0, 0, 0], "491701234567").build(secret),
        ),
        (
            "unsupported_status",
            update(9, 15, "s9", [100, 64, 0, 11], "491701234567").build(secret),
        ),
        (
            "bad_attribute",
            start(10, "s10", [100, 64, 0, 11], "491701234567")
                .u32(STATUS, 1)
                .build(secret),
        ),
        ("truncated", Vec::new()),
        ("truncated", b"garbage".to_vec()),
        ("bad_length", vec![0xff; 64]),
        ("wrong_code", {
            let mut g = vec![0xff; 64];
            g[2..4].copy_from_slice(&64u16.to_be_bytes());
            g
        }),
    ];
    for (reason, datagram) in &cases {
        let before = h.feed.counters().snapshot().dropped[reason];
        h.send(datagram).await;
        h.probe().await;
        let after = h.feed.counters().snapshot().dropped[reason];
        assert_eq!(
            after,
            before + 1,
            "{reason}: {:?}",
            h.feed.counters().snapshot()
        );
    }
    let c = h.feed.counters().snapshot();
    assert_eq!(c.dropped_total(), cases.len() as u64);
    assert_eq!(c.accepted["start"], cases.len() as u64, "only the probes");
    for ip in [
        "100.64.0.7",
        "100.64.0.8",
        "100.64.0.9",
        "100.64.0.10",
        "100.64.0.11",
    ] {
        assert_eq!(h.who(ip).await, None, "{ip}");
    }
}

#[tokio::test]
async fn an_update_the_store_cannot_take_is_not_answered_and_its_retransmission_is_applied_later() {
    let h = harness().await;
    let packet = start(1, "s1", [100, 64, 0, 7], "491701234567").build(SECRET.as_bytes());
    h.store.failing.store(true, Ordering::SeqCst);
    h.send(&packet).await;
    h.until_dropped("store_error", 1).await;
    h.store.failing.store(false, Ordering::SeqCst);
    h.probe().await;
    h.exchange(&packet).await;
    assert_eq!(h.who("100.64.0.7").await.as_deref(), Some("+491701234567"));
    assert_eq!(h.feed.counters().snapshot().retransmissions, 0);
}

#[tokio::test]
async fn ipv6_prefixes_bind_every_address_inside_them() {
    let h = harness().await;
    h.exchange(
        &RequestBuilder::new(1)
            .u32(STATUS, 1)
            .string(SESSION_ID, b"v6")
            .string(CALLING, b"491701234567")
            .ipv6_prefix(FRAMED_PREFIX, "2001:db8:1:2::/64")
            .ipv6_prefix(DELEGATED_PREFIX, "2001:db8:ff00::/56")
            .build(SECRET.as_bytes()),
    )
    .await;
    for inside in [
        "2001:db8:1:2::abcd",
        "2001:db8:1:2:ffff:ffff:ffff:ffff",
        "2001:db8:ff00:12::1",
    ] {
        assert_eq!(
            h.who(inside).await.as_deref(),
            Some("+491701234567"),
            "{inside}"
        );
    }
    for outside in ["2001:db8:1:3::1", "2001:db8:ff01::1", "2001:db8::1"] {
        assert_eq!(h.who(outside).await, None, "{outside}");
    }
}

#[tokio::test]
async fn a_session_without_updates_expires_and_an_interim_update_keeps_it() {
    let h = harness().await;
    h.exchange(&start(1, "a", [100, 64, 0, 1], "491701234561").build(SECRET.as_bytes()))
        .await;
    h.exchange(&start(2, "b", [100, 64, 0, 2], "491701234562").build(SECRET.as_bytes()))
        .await;
    h.clock.advance(1700);
    h.exchange(
        &update(3, 3, "b", [100, 64, 0, 2], "491701234562")
            .u32(SESSION_TIME, 1700)
            .build(SECRET.as_bytes()),
    )
    .await;
    h.clock.advance(200);
    assert_eq!(h.who("100.64.0.1").await, None, "no update for 1900 s");
    assert_eq!(h.who("100.64.0.2").await.as_deref(), Some("+491701234562"));
}

#[tokio::test]
async fn accounting_on_drops_the_sessions_of_that_nas_only() {
    let h = harness().await;
    let secret = SECRET.as_bytes();
    h.exchange(&start(1, "a", [100, 64, 0, 1], "491701234561").build(secret))
        .await;
    // Forwarded by this peer for another gateway.
    h.exchange(
        &start(2, "b", [100, 64, 0, 2], "491701234562")
            .ipv4(NAS_IP, [10, 9, 9, 9])
            .build(secret),
    )
    .await;
    h.clock.advance(1);
    h.exchange(&RequestBuilder::new(3).u32(STATUS, 7).build(secret))
        .await;
    assert_eq!(h.who("100.64.0.1").await, None);
    assert_eq!(h.who("100.64.0.2").await.as_deref(), Some("+491701234562"));
    // The NAS's sessions after its restart bind again.
    h.exchange(&start(4, "a", [100, 64, 0, 1], "491701234563").build(secret))
        .await;
    assert_eq!(h.who("100.64.0.1").await.as_deref(), Some("+491701234563"));
    // Accounting-Off for the other gateway.
    h.clock.advance(1);
    h.exchange(
        &RequestBuilder::new(5)
            .u32(STATUS, 8)
            .ipv4(NAS_IP, [10, 9, 9, 9])
            .build(secret),
    )
    .await;
    assert_eq!(h.who("100.64.0.2").await, None);
    let c = h.feed.counters().snapshot();
    assert_eq!(
        (c.accepted["accounting_on"], c.accepted["accounting_off"]),
        (1, 1)
    );
    assert_eq!(c.active_sessions, 1);
}

#[tokio::test]
async fn a_stop_then_a_start_of_another_subscriber_never_lets_the_first_match() {
    let h = harness().await;
    let secret = SECRET.as_bytes();
    h.exchange(&start(1, "a", [100, 64, 0, 1], "491701234561").build(secret))
        .await;
    h.exchange(&stop(2, "a", [100, 64, 0, 1]).build(secret))
        .await;
    h.exchange(&start(3, "b", [100, 64, 0, 1], "491701234562").build(secret))
        .await;
    assert_eq!(h.who("100.64.0.1").await.as_deref(), Some("+491701234562"));
    // A's Stop retransmitted late (past the duplicate window) does not touch B.
    h.clock.advance(super::listener::DUPLICATE_WINDOW);
    h.exchange(&stop(2, "a", [100, 64, 0, 1]).build(secret))
        .await;
    assert_eq!(h.who("100.64.0.1").await.as_deref(), Some("+491701234562"));
}
