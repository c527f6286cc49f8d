//! The collector over real UDP on loopback, with a memory store and a fake clock. One task
//! handles the datagrams in order, so a test waits until the counters have seen each one.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use ipfix_nat::testing::MessageBuilder;
use ipfix_nat::{NatEvent, NatEventKind};
use nv_store::{FakeClock, MemoryStore, Store};
use tokio::net::UdpSocket;

use super::IpfixCollector;
use crate::config::Settings;
use crate::network::cgnat::{list, private_address, CgnatCounters, CgnatSnapshot};

const NOW: i64 = 1_700_000_000;
const PUBLIC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

struct Harness {
    _collector: IpfixCollector,
    store: Arc<dyn Store>,
    counters: Arc<CgnatCounters>,
    exporter: UdpSocket,
    addr: std::net::SocketAddr,
}

async fn harness() -> Harness {
    let clock = FakeClock::new(NOW);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(Arc::new(clock.clone())));
    let mut settings = Settings::default();
    settings.cgnat.ipfix.listen = Some("127.0.0.1:0".parse().unwrap());
    settings.cgnat.ipfix.exporters = vec!["127.0.0.1/32".parse().unwrap()];
    let counters = Arc::new(CgnatCounters::default());
    let collector =
        IpfixCollector::start(&settings, store.clone(), Arc::new(clock), counters.clone())
            .unwrap()
            .expect("configured");
    let exporter = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = collector.local_addr();
    Harness {
        _collector: collector,
        store,
        counters,
        exporter,
        addr,
    }
}

/// Every datagram the collector has taken in, accepted or not.
fn seen(s: &CgnatSnapshot) -> u64 {
    s.messages + s.dropped["malformed"] + s.dropped["unknown_exporter"]
}

impl Harness {
    /// Send and wait until the collector has handled the datagram.
    async fn send(&self, datagram: &[u8]) -> CgnatSnapshot {
        self.send_from(&self.exporter, datagram).await
    }

    async fn send_from(&self, socket: &UdpSocket, datagram: &[u8]) -> CgnatSnapshot {
        let before = seen(&self.counters.snapshot());
        socket.send_to(datagram, self.addr).await.unwrap();
        for _ in 0..500 {
            let s = self.counters.snapshot();
            if seen(&s) > before {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the collector never handled the datagram");
    }

    async fn private(&self, port: u16) -> Option<std::net::IpAddr> {
        private_address(&*self.store, PUBLIC, port, NOW)
            .await
            .unwrap()
    }
}

fn event(kind: NatEventKind, private: [u8; 4]) -> NatEvent {
    NatEvent {
        kind,
        private: private.into(),
        public: PUBLIC,
        ports_first: 1024,
        ports_last: 2047,
        time: NOW - 10,
    }
}

#[tokio::test]
async fn a_template_then_allocations_and_deallocations_update_the_table() {
    let h = harness().await;
    h.send(&MessageBuilder::new(1, NOW as u32).nat_template(256).build())
        .await;
    let s = h
        .send(
            &MessageBuilder::new(1, NOW as u32)
                .events(256, &[event(NatEventKind::Allocation, [100, 64, 0, 1])])
                .build(),
        )
        .await;
    assert_eq!((s.messages, s.allocations), (2, 1));
    assert_eq!(h.private(1500).await, Some("100.64.0.1".parse().unwrap()));
    assert_eq!(list(&*h.store, NOW).await.unwrap().len(), 1);
    let s = h
        .send(
            &MessageBuilder::new(1, NOW as u32)
                .events(256, &[event(NatEventKind::Deallocation, [100, 64, 0, 1])])
                .build(),
        )
        .await;
    assert_eq!((s.deallocations, s.active_blocks), (1, 0));
    assert_eq!(h.private(1500).await, None);
}

#[tokio::test]
async fn data_before_its_template_and_after_its_withdrawal_is_dropped_and_counted() {
    let h = harness().await;
    let data = MessageBuilder::new(1, NOW as u32)
        .events(256, &[event(NatEventKind::Allocation, [100, 64, 0, 1])])
        .build();
    let s = h.send(&data).await;
    assert_eq!(s.dropped["unknown_template"], 1);
    assert_eq!(h.private(1500).await, None);
    h.send(&MessageBuilder::new(1, 0).nat_template(256).build())
        .await;
    h.send(&MessageBuilder::new(1, 0).withdraw(256).build())
        .await;
    let s = h.send(&data).await;
    assert_eq!((s.dropped["unknown_template"], s.allocations), (2, 0));
    assert_eq!(h.private(1500).await, None);
}

#[tokio::test]
async fn garbage_wrong_lengths_and_unknown_exporters_are_dropped_and_the_collector_keeps_going() {
    let h = harness().await;
    let good = MessageBuilder::new(1, NOW as u32)
        .nat_template(256)
        .events(256, &[event(NatEventKind::Allocation, [100, 64, 0, 1])])
        .build();
    let mut lying = good.clone();
    lying[3] = lying[3].wrapping_add(1);
    let mut cut = good.clone();
    cut.truncate(good.len() - 3);
    for bad in [&b"garbage"[..], &lying, &cut, &[0u8; 0], &good[..16]] {
        let _ = h.send(bad).await;
    }
    let s = h.counters.snapshot();
    // `good[..16]` is a header whose Length is the whole message's: malformed too.
    assert_eq!(s.dropped["malformed"], 5);
    assert_eq!(h.private(1500).await, None);
    let stranger = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let s = h.send_from(&stranger, &good).await;
    assert_eq!((s.dropped["unknown_exporter"], s.allocations), (1, 0));
    let s = h.send(&good).await;
    assert_eq!(s.allocations, 1);
    assert_eq!(h.private(1500).await, Some("100.64.0.1".parse().unwrap()));
}

#[tokio::test]
async fn a_reallocation_moves_the_block_and_the_old_holders_late_release_changes_nothing() {
    let h = harness().await;
    h.send(&MessageBuilder::new(1, 0).nat_template(256).build())
        .await;
    let mut second = event(NatEventKind::Allocation, [100, 64, 0, 2]);
    second.time = NOW - 5;
    h.send(
        &MessageBuilder::new(1, 0)
            .events(
                256,
                &[event(NatEventKind::Allocation, [100, 64, 0, 1]), second],
            )
            .build(),
    )
    .await;
    assert_eq!(h.private(1500).await, Some("100.64.0.2".parse().unwrap()));
    let s = h
        .send(
            &MessageBuilder::new(1, 0)
                .events(256, &[event(NatEventKind::Deallocation, [100, 64, 0, 1])])
                .build(),
        )
        .await;
    assert_eq!(s.stale, 1);
    assert_eq!(h.private(1500).await, Some("100.64.0.2".parse().unwrap()));
}
