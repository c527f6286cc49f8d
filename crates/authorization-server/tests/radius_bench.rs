//! Measurements of the RADIUS feed, ignored by default (figures in docs/performance.md):
//!
//! ```sh
//! cargo test --release -p authorization-server --test radius_bench -- --ignored --nocapture
//! ```
//!
//! They print figures and assert only that the work was done, never how fast.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authorization_server::config::{NasClient, Secret};
use authorization_server::network::radius::RadiusFeed;
use authorization_server::network::sessions::{put_session, Lease, Origin, SessionKey};
use authorization_server::network::{ClientAddr, IdentityResolver, SessionResolver};
use nv_store::testing::{RedisCluster, RedisServer};
use nv_store::{Clock, MemoryStore, Store, SystemClock};
use radius_accounting::testing::RequestBuilder;

const SECRET: &[u8] = b"bench-secret";
/// Concurrent senders, each with one request outstanding (a NAS waits for its answer).
const SENDERS: usize = 64;
const DURATION: Duration = Duration::from_secs(5);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn accounting_updates_per_second_the_listener_sustains() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(Arc::new(SystemClock)));
    accounting_updates(store, "memory store").await;
}

/// The production store: each update is a store write round trip before the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn accounting_updates_per_second_the_listener_sustains_on_redis() {
    let redis = RedisServer::start();
    let store: Arc<dyn Store> = Arc::new(redis.store("bench:").await);
    accounting_updates(store, "Redis").await;
}

async fn accounting_updates(store: Arc<dyn Store>, label: &str) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut settings = authorization_server::Settings::default();
    settings.radius.listen = Some("127.0.0.1:0".parse().unwrap());
    settings.radius.clients = vec![NasClient {
        network: "127.0.0.1/32".parse().unwrap(),
        secret: Secret::new(String::from_utf8_lossy(SECRET)),
    }];
    let feed = RadiusFeed::start(&settings, store, clock).unwrap().unwrap();
    let target = feed.local_addr();
    let running = Arc::new(AtomicBool::new(true));
    let answered = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        let (running, answered) = (running.clone(), answered.clone());
        senders.push(tokio::spawn(async move {
            let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            socket.connect(target).await.unwrap();
            let mut buf = [0u8; 64];
            let mut n: u32 = 0;
            while running.load(Ordering::Relaxed) {
                n = n.wrapping_add(1);
                // Interim-Updates of 1000 sessions per sender, each its own address.
                let session = (s as u32) * 1000 + n % 1000;
                let packet = RequestBuilder::new(n as u8)
                    .u32(40, 3)
                    .string(44, format!("bench-{session}").as_bytes())
                    .string(31, format!("49151{session:08}").as_bytes())
                    .ipv4(
                        8,
                        [
                            100,
                            64 + (session >> 16) as u8,
                            (session >> 8) as u8,
                            session as u8,
                        ],
                    )
                    .u32(46, n)
                    .vsa_3gpp(1, b"262011234567890")
                    .vsa_3gpp(21, &[6])
                    .build(SECRET);
                socket.send(&packet).await.unwrap();
                if let Ok(Ok(_)) =
                    tokio::time::timeout(Duration::from_secs(1), socket.recv(&mut buf)).await
                {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let from = answered.load(Ordering::Relaxed);
    let t = Instant::now();
    tokio::time::sleep(DURATION).await;
    let done = answered.load(Ordering::Relaxed) - from;
    let secs = t.elapsed().as_secs_f64();
    running.store(false, Ordering::Relaxed);
    for s in senders {
        s.await.unwrap();
    }
    let counters = feed.counters().snapshot();
    println!(
        "RADIUS accounting, {label}, {SENDERS} senders, max_in_flight {}: {:.0} updates/s \
         answered ({done} in {secs:.1} s); dropped {}",
        settings.radius.max_in_flight,
        done as f64 / secs,
        counters.dropped_total()
    );
    assert!(done > 0);
}

const SESSIONS: u32 = 1_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn lookup_latency_with_a_million_sessions_in_the_memory_store() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(Arc::new(SystemClock)));
    lookup_latency(store, "memory store", 200_000).await;
}

/// The production store: one Redis node on loopback, so each lookup pays a round trip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn lookup_latency_with_a_million_sessions_in_redis() {
    let redis = RedisServer::start();
    let store: Arc<dyn Store> = Arc::new(redis.store("bench:").await);
    lookup_latency(store, "Redis", 50_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn lookup_latency_with_a_million_sessions_in_a_redis_cluster() {
    let cluster = RedisCluster::start_or_skip().expect("redis-server and redis-cli are installed");
    let store: Arc<dyn Store> = Arc::new(cluster.store("bench:").await);
    lookup_latency(store, "Redis Cluster, 3 masters", 50_000).await;
}

/// Fills `store` with [`SESSIONS`] RADIUS sessions (64 writers), then times `lookups` resolver
/// lookups one at a time, one in ten of an address nobody holds.
async fn lookup_latency(store: Arc<dyn Store>, label: &str, lookups: u32) {
    const WRITERS: u32 = 64;
    let now = SystemClock.now();
    let address = |i: u32| IpAddr::from([100, 64 + (i >> 16) as u8, (i >> 8) as u8, i as u8]);
    let t = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let nas: IpAddr = "10.0.0.1".parse().unwrap();
                let origin = Origin {
                    nas,
                    session_id: String::new(),
                    imsi: Some("262011234567890".into()),
                    imeisv: None,
                    rat_type: Some(6),
                };
                for i in (w..SESSIONS).step_by(WRITERS as usize) {
                    let lease = Lease {
                        msisdn: format!("+49151{i:08}").parse().unwrap(),
                        valid_until: now + 3600,
                    };
                    let key = SessionKey::new(nas, &i.to_be_bytes());
                    let net = ipnet::IpNet::from(address(i));
                    put_session(&*store, &net, &key, &lease, now, &origin, now)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    println!(
        "{label}: filled {SESSIONS} sessions in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // The baseline in the same run: one store operation of the same kind (a map read of a key
    // nobody wrote), so the figure reads as "lookups cost N store round trips".
    let mut baseline = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let t = Instant::now();
        store.map_get("bench-baseline").await.unwrap();
        baseline.push(t.elapsed());
    }
    baseline.sort();
    let baseline = percentile(&baseline, 0.5);
    let resolver = SessionResolver::new(store.clone());
    let mut times = Vec::with_capacity(lookups as usize);
    let mut hits = 0;
    for j in 0..lookups {
        // Spread over the table; every 10th address is one nobody holds.
        let i = j.wrapping_mul(2_654_435_761) % SESSIONS;
        let ip = if j % 10 == 0 {
            IpAddr::from([198, 51, 100, j as u8])
        } else {
            address(i)
        };
        let t = Instant::now();
        let found = resolver
            .resolve(&ClientAddr { ip, port: None }, now)
            .await
            .unwrap();
        times.push(t.elapsed());
        hits += u32::from(found.is_some());
    }
    times.sort();
    let p50 = percentile(&times, 0.5);
    println!(
        "lookup with {SESSIONS} sessions ({label}): p50 {p50:?} ({:.2}x one map read, \
         {baseline:?}), p99 {:?}, max {:?} over {lookups} lookups ({hits} hits)",
        p50.as_secs_f64() / baseline.as_secs_f64(),
        percentile(&times, 0.99),
        times[times.len() - 1]
    );
    assert_eq!(hits, lookups - lookups / 10);
}
