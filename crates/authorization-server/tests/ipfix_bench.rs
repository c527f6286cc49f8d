//! Measurement of the CGNAT feed, ignored by default (figures in docs/performance.md):
//!
//! ```sh
//! cargo test -p authorization-server --all-features --test ipfix_bench -- --ignored --nocapture
//! ```
//!
//! It prints figures and asserts only that the work was done, never how fast.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authorization_server::network::cgnat::ipfix::IpfixCollector;
use authorization_server::network::cgnat::CgnatCounters;
use ipfix_nat::testing::MessageBuilder;
use ipfix_nat::{NatEvent, NatEventKind};
use nv_store::{Clock, MemoryStore, Store, SystemClock};

/// Records per message: a NAT packs its events into datagrams below the path MTU.
const PER_MESSAGE: usize = 40;
const MESSAGES: usize = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn ipfix_port_block_records_per_second_the_collector_ingests() {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
    let mut settings = authorization_server::Settings::default();
    settings.cgnat.ipfix.listen = Some("127.0.0.1:0".parse().unwrap());
    settings.cgnat.ipfix.exporters = vec!["127.0.0.1/32".parse().unwrap()];
    let counters = Arc::new(CgnatCounters::default());
    let collector = IpfixCollector::start(&settings, store, clock.clone(), counters.clone())
        .unwrap()
        .unwrap();
    let target = collector.local_addr();
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket
        .send_to(&MessageBuilder::new(1, 0).nat_template(256).build(), target)
        .await
        .unwrap();
    let now = clock.now();
    let started = Instant::now();
    let mut sent = 0usize;
    for m in 0..MESSAGES {
        let events: Vec<NatEvent> = (0..PER_MESSAGE)
            .map(|i| {
                let n = (m * PER_MESSAGE + i) as u32;
                NatEvent {
                    kind: NatEventKind::Allocation,
                    private: Ipv4Addr::from(0x6440_0000 | (n & 0x3f_ffff)),
                    public: Ipv4Addr::from(0xcb00_7100 | (n >> 6 & 0xff)),
                    ports_first: ((n & 63) * 1000 + 1024) as u16,
                    ports_last: ((n & 63) * 1000 + 2023) as u16,
                    time: now,
                }
            })
            .collect();
        let message = MessageBuilder::new(1, now as u32)
            .events(256, &events)
            .build();
        socket.send_to(&message, target).await.unwrap();
        sent += PER_MESSAGE;
        // Pace the sender so the kernel's socket buffer, not the collector, is not the limit.
        while (counters.snapshot().messages as usize) + 64 < m {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while counters.snapshot().messages < (MESSAGES + 1) as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let s = counters.snapshot();
    let ingested = s.allocations + s.stale;
    println!(
        "IPFIX: {sent} records sent in {MESSAGES} messages, {ingested} applied in {:.2} s: {:.0} records/s; counters {s:?}",
        elapsed.as_secs_f64(),
        ingested as f64 / elapsed.as_secs_f64()
    );
    assert!(ingested > 0);
}
