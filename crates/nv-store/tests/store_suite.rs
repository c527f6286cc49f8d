//! One behavioural suite, run against every backend (`memory_store::…`, `redis_store::…` on one
//! Redis node and `redis_cluster::…` on a three-master Redis Cluster), plus the Redis-only
//! properties: key layout, prefixes, expiry on every key, outages and recovery.
//!
//! The Redis tests start their own `redis-server`s (see `nv_store::testing`); without them they
//! skip with a printed reason, unless `REQUIRE_REDIS_TESTS=1`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nv_store::testing::{RedisCluster, RedisServer};
use nv_store::{FakeClock, MemoryStore, RedisOptions, RedisStore, Store, StoreError};
use tokio::task::JoinSet;

/// Long enough never to expire during a test.
const LONG: Duration = Duration::from_secs(60);
/// Short enough to wait out on a real Redis without slowing the suite down.
const SHORT: Duration = Duration::from_millis(100);
/// What `Subject::pass` waits (or advances) to outlive `SHORT`.
const AFTER_SHORT: Duration = Duration::from_millis(250);
const RACERS: usize = 200;

/// How time passes for a backend: the memory store follows a fake clock, Redis its own clock.
enum Time {
    Fake(FakeClock),
    Real,
}

struct Subject {
    store: Arc<dyn Store>,
    time: Time,
    /// Keeps the servers alive for the test's duration.
    _redis: Option<Servers>,
}

#[allow(dead_code)] // held only to be dropped at the end of the test
enum Servers {
    Node(RedisServer),
    Cluster(RedisCluster),
}

impl Subject {
    fn memory() -> Self {
        let clock = FakeClock::starting_now();
        Self {
            store: Arc::new(MemoryStore::new(Arc::new(clock.clone()))),
            time: Time::Fake(clock),
            _redis: None,
        }
    }

    async fn redis() -> Option<Self> {
        let redis = RedisServer::start_or_skip()?;
        Some(Self {
            store: Arc::new(redis.store("suite:").await),
            time: Time::Real,
            _redis: Some(Servers::Node(redis)),
        })
    }

    async fn cluster() -> Option<Self> {
        let cluster = RedisCluster::start_or_skip()?;
        Some(Self {
            store: Arc::new(cluster.store("suite:").await),
            time: Time::Real,
            _redis: Some(Servers::Cluster(cluster)),
        })
    }

    async fn pass(&self, d: Duration) {
        match &self.time {
            // The fake clock counts whole seconds: round up so `d` has fully passed.
            Time::Fake(clock) => {
                clock.advance(d.as_secs() as i64 + i64::from(d.subsec_nanos() > 0));
            }
            Time::Real => tokio::time::sleep(d).await,
        }
    }
}

/// Generates `memory_store::<case>`, `redis_store::<case>` and `redis_cluster::<case>` for every
/// case of the shared suite.
macro_rules! shared_suite {
    ($($case:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Subject::memory()).await;
                }
            )*
        }
        mod redis_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(subject) = super::Subject::redis().await else { return };
                    super::$case(subject).await;
                }
            )*
        }
        mod redis_cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(subject) = super::Subject::cluster().await else { return };
                    super::$case(subject).await;
                }
            )*
        }
    };
}

shared_suite!(
    put_if_absent_stores_only_the_first_use,
    put_if_absent_succeeds_again_once_the_mark_expired,
    put_replaces_the_value_and_get_reads_it,
    values_expire_after_their_ttl_and_not_before,
    take_returns_the_value_exactly_once,
    concurrent_takes_give_the_value_to_exactly_one_caller,
    concurrent_put_if_absent_admits_exactly_one_caller,
    delete_reports_whether_something_was_removed,
    scan_prefix_lists_live_entries_under_the_prefix_in_key_order,
    scan_prefix_treats_glob_characters_literally,
    binary_and_empty_values_round_trip,
    ping_answers,
    map_fields_are_set_replaced_and_removed_one_by_one,
    map_fields_expire_on_their_own_and_the_map_with_its_last,
    concurrent_map_puts_of_one_key_lose_no_field,
    map_scan_prefix_lists_live_maps_and_skips_plain_values,
);

async fn put_if_absent_stores_only_the_first_use(s: Subject) {
    assert!(s
        .store
        .put_if_absent("jti:1", b"first", LONG)
        .await
        .unwrap());
    assert!(!s
        .store
        .put_if_absent("jti:1", b"second", LONG)
        .await
        .unwrap());
    assert_eq!(
        s.store.get("jti:1").await.unwrap().as_deref(),
        Some(&b"first"[..])
    );
    assert!(s
        .store
        .put_if_absent("jti:2", b"other", LONG)
        .await
        .unwrap());
}

async fn put_if_absent_succeeds_again_once_the_mark_expired(s: Subject) {
    assert!(s
        .store
        .put_if_absent("jti:short", b"1", SHORT)
        .await
        .unwrap());
    assert!(s.store.put_if_absent("jti:long", b"1", LONG).await.unwrap());
    s.pass(AFTER_SHORT).await;
    assert!(s
        .store
        .put_if_absent("jti:short", b"2", SHORT)
        .await
        .unwrap());
    assert!(!s.store.put_if_absent("jti:long", b"2", LONG).await.unwrap());
}

async fn put_replaces_the_value_and_get_reads_it(s: Subject) {
    assert_eq!(s.store.get("session").await.unwrap(), None);
    s.store.put("session", b"v1", LONG).await.unwrap();
    s.store.put("session", b"v2", LONG).await.unwrap();
    assert_eq!(
        s.store.get("session").await.unwrap().as_deref(),
        Some(&b"v2"[..])
    );
}

async fn values_expire_after_their_ttl_and_not_before(s: Subject) {
    s.store.put("short", b"v", SHORT).await.unwrap();
    s.store.put("long", b"v", LONG).await.unwrap();
    s.store.put("code", b"v", SHORT).await.unwrap();
    s.store.put("gone", b"v", SHORT).await.unwrap();
    s.pass(AFTER_SHORT).await;
    assert_eq!(s.store.get("short").await.unwrap(), None);
    assert_eq!(s.store.take("code").await.unwrap(), None);
    assert!(!s.store.delete("gone").await.unwrap());
    assert_eq!(
        s.store.get("long").await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
    let listed: Vec<String> = s
        .store
        .scan_prefix("")
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(listed, ["long"]);
}

async fn take_returns_the_value_exactly_once(s: Subject) {
    s.store.put("code:abc", b"grant", LONG).await.unwrap();
    assert_eq!(
        s.store.take("code:abc").await.unwrap().as_deref(),
        Some(&b"grant"[..])
    );
    assert_eq!(s.store.take("code:abc").await.unwrap(), None);
    assert_eq!(s.store.get("code:abc").await.unwrap(), None);
    assert_eq!(s.store.take("code:never").await.unwrap(), None);
}

async fn concurrent_takes_give_the_value_to_exactly_one_caller(s: Subject) {
    s.store.put("code:race", b"grant", LONG).await.unwrap();
    let mut racers = JoinSet::new();
    for _ in 0..RACERS {
        let store = Arc::clone(&s.store);
        racers.spawn(async move { store.take("code:race").await });
    }
    let winners = racers
        .join_all()
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .filter(Option::is_some)
        .count();
    assert_eq!(winners, 1);
}

async fn concurrent_put_if_absent_admits_exactly_one_caller(s: Subject) {
    let mut racers = JoinSet::new();
    for i in 0..RACERS {
        let store = Arc::clone(&s.store);
        racers.spawn(async move {
            store
                .put_if_absent("jti:race", i.to_string().as_bytes(), LONG)
                .await
        });
    }
    let firsts = racers
        .join_all()
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(firsts, 1);
}

async fn delete_reports_whether_something_was_removed(s: Subject) {
    s.store.put("revoked", b"1", LONG).await.unwrap();
    assert!(s.store.delete("revoked").await.unwrap());
    assert!(!s.store.delete("revoked").await.unwrap());
    assert_eq!(s.store.get("revoked").await.unwrap(), None);
}

async fn scan_prefix_lists_live_entries_under_the_prefix_in_key_order(s: Subject) {
    s.store.put("ip:10.0.0.2", b"b", LONG).await.unwrap();
    s.store.put("ip:10.0.0.1", b"a", LONG).await.unwrap();
    s.store.put("ip:expired", b"x", SHORT).await.unwrap();
    s.store.put("ipx", b"no", LONG).await.unwrap();
    s.store.put("number:+990", b"no", LONG).await.unwrap();
    s.pass(AFTER_SHORT).await;
    assert_eq!(
        s.store.scan_prefix("ip:").await.unwrap(),
        [
            ("ip:10.0.0.1".to_owned(), b"a".to_vec()),
            ("ip:10.0.0.2".to_owned(), b"b".to_vec()),
        ]
    );
    assert!(s.store.scan_prefix("none:").await.unwrap().is_empty());

    // More than one SCAN page.
    for i in 0..250 {
        s.store
            .put(&format!("many:{i:03}"), b"v", LONG)
            .await
            .unwrap();
    }
    let many = s.store.scan_prefix("many:").await.unwrap();
    assert_eq!(many.len(), 250);
    assert_eq!(many[0].0, "many:000");
    assert_eq!(many[249].0, "many:249");
}

async fn scan_prefix_treats_glob_characters_literally(s: Subject) {
    s.store.put("a*[b]?:1", b"literal", LONG).await.unwrap();
    s.store
        .put("aX[b]?:2", b"glob match only", LONG)
        .await
        .unwrap();
    s.store
        .put("a*b?:3", b"class match only", LONG)
        .await
        .unwrap();
    let listed = s.store.scan_prefix("a*[b]?").await.unwrap();
    assert_eq!(listed, [("a*[b]?:1".to_owned(), b"literal".to_vec())]);
}

async fn binary_and_empty_values_round_trip(s: Subject) {
    let binary = [0u8, 255, 10, 13, 0xc3, 0x28];
    s.store.put("bin", &binary, LONG).await.unwrap();
    assert_eq!(
        s.store.get("bin").await.unwrap().as_deref(),
        Some(&binary[..])
    );
    s.store.put("empty", b"", LONG).await.unwrap();
    assert_eq!(
        s.store.take("empty").await.unwrap().as_deref(),
        Some(&b""[..])
    );
    assert_eq!(s.store.take("empty").await.unwrap(), None);
}

async fn ping_answers(s: Subject) {
    s.store.ping().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Redis only
// ---------------------------------------------------------------------------------------------

/// Outage bound asserted below: the default 500 ms operation timeout plus scheduling slack.
const OUTAGE_BOUND: Duration = Duration::from_secs(2);

async fn map_fields_are_set_replaced_and_removed_one_by_one(s: Subject) {
    let m = &s.store;
    assert!(m.map_get("map:a").await.unwrap().is_empty());
    m.map_put("map:a", "1-2", b"one", LONG).await.unwrap();
    m.map_put("map:a", "*", b"", LONG).await.unwrap();
    m.map_put("map:a", "1-2", b"two|with\0binary", LONG)
        .await
        .unwrap();
    assert_eq!(
        m.map_get("map:a").await.unwrap(),
        vec![
            ("*".to_owned(), b"".to_vec()),
            ("1-2".to_owned(), b"two|with\0binary".to_vec())
        ]
    );
    assert!(m.map_remove("map:a", "1-2").await.unwrap());
    assert!(!m.map_remove("map:a", "1-2").await.unwrap());
    assert!(!m.map_remove("map:absent", "1-2").await.unwrap());
    assert_eq!(m.map_get("map:a").await.unwrap().len(), 1);
    assert!(m.map_remove("map:a", "*").await.unwrap());
    assert!(m.map_get("map:a").await.unwrap().is_empty());
}

async fn map_fields_expire_on_their_own_and_the_map_with_its_last(s: Subject) {
    let m = &s.store;
    m.map_put("map:t", "short", b"s", SHORT).await.unwrap();
    m.map_put("map:t", "long", b"l", LONG).await.unwrap();
    m.map_put("map:u", "short", b"s", SHORT).await.unwrap();
    s.pass(AFTER_SHORT).await;
    assert_eq!(
        m.map_get("map:t").await.unwrap(),
        vec![("long".to_owned(), b"l".to_vec())]
    );
    assert!(m.map_get("map:u").await.unwrap().is_empty());
    assert!(
        !m.map_remove("map:t", "short").await.unwrap(),
        "an expired field is not removed"
    );
    // A write to another field does not revive an expired one.
    m.map_put("map:u", "other", b"o", LONG).await.unwrap();
    assert_eq!(
        m.map_get("map:u").await.unwrap(),
        vec![("other".to_owned(), b"o".to_vec())]
    );
}

/// The lost-update race of a read-modify-write: every concurrent writer of another field of one
/// key must find its field stored.
async fn concurrent_map_puts_of_one_key_lose_no_field(s: Subject) {
    let mut set = JoinSet::new();
    for i in 0..RACERS {
        let store = s.store.clone();
        set.spawn(async move {
            store
                .map_put("map:race", &format!("f{i:03}"), b"v", LONG)
                .await
                .unwrap();
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    assert_eq!(s.store.map_get("map:race").await.unwrap().len(), RACERS);
}

async fn map_scan_prefix_lists_live_maps_and_skips_plain_values(s: Subject) {
    let m = &s.store;
    m.map_put("ms:b", "x", b"1", LONG).await.unwrap();
    m.map_put("ms:a", "y", b"2", LONG).await.unwrap();
    m.map_put("ms:gone", "y", b"2", SHORT).await.unwrap();
    m.put("ms:plain", b"v", LONG).await.unwrap();
    m.map_put("other:c", "z", b"3", LONG).await.unwrap();
    s.pass(AFTER_SHORT).await;
    assert_eq!(
        m.map_scan_prefix("ms:").await.unwrap(),
        vec![
            ("ms:a".to_owned(), vec![("y".to_owned(), b"2".to_vec())]),
            ("ms:b".to_owned(), vec![("x".to_owned(), b"1".to_vec())]),
        ]
    );
    // And the plain listing does not trip over maps.
    assert_eq!(
        m.scan_prefix("ms:").await.unwrap(),
        vec![("ms:plain".to_owned(), b"v".to_vec())]
    );
}

async fn raw(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Awaits `op`, which must fail within [`OUTAGE_BOUND`] with an error that quotes no key; how long
/// it took goes to `timings`.
macro_rules! must_fail_in_bound {
    ($timings:expr, $op:expr) => {
        $timings.push(fails_within_bound(stringify!($op), $op).await)
    };
}

async fn fails_within_bound<T: std::fmt::Debug>(
    what: &str,
    op: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Duration {
    let started = Instant::now();
    let result = op.await;
    let took = started.elapsed();
    let Err(err) = result else {
        panic!("{what} succeeded while Redis was down: {result:?}");
    };
    assert!(took < OUTAGE_BOUND, "{what} took {took:?}");
    // Keys hold hashed identifiers: errors (which get logged) must not quote them.
    let message = err.to_string();
    assert!(
        !message.contains("jti") && !message.contains("code"),
        "{message}"
    );
    took
}

/// Retries `ping` until it succeeds; returns how long recovery took.
async fn wait_until_answering(store: &dyn Store, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if store.ping().await.is_ok() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "the store did not recover within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn redis_keys_carry_the_deployment_prefix_and_always_an_expiry() {
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    let store = redis.store("deploy-a:").await;
    let mut raw = raw(&redis).await;

    store.put("code:1", b"v", LONG).await.unwrap();
    assert!(store
        .put_if_absent("jti:1", b"v", Duration::from_millis(1500))
        .await
        .unwrap());
    // Sub-millisecond and zero TTLs still get an expiry (1 ms), never a persistent key.
    store.put("zero", b"v", Duration::ZERO).await.unwrap();
    store
        .put("tiny", b"v", Duration::from_micros(1))
        .await
        .unwrap();

    let value: Option<Vec<u8>> = redis::cmd("GET")
        .arg("deploy-a:code:1")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some(&b"v"[..]));

    let pttl = |key: &'static str| {
        let mut raw = raw.clone();
        async move {
            let ms: i64 = redis::cmd("PTTL")
                .arg(key)
                .query_async(&mut raw)
                .await
                .unwrap();
            ms
        }
    };
    let code = pttl("deploy-a:code:1").await;
    assert!(code > 55_000 && code <= 60_000, "PTTL {code}");
    let jti = pttl("deploy-a:jti:1").await;
    assert!(jti > 0 && jti <= 1500, "PTTL {jti}");
    // -2: already expired and gone; -1 would be a key without expiry.
    for key in ["deploy-a:zero", "deploy-a:tiny"] {
        let ms = pttl(key).await;
        assert!(ms == -2 || (0..=1).contains(&ms), "{key}: PTTL {ms}");
    }
    // A map lives as long as its longest-lived field.
    store
        .map_put("session:x", "a", b"v", Duration::from_secs(5))
        .await
        .unwrap();
    store.map_put("session:x", "b", b"v", LONG).await.unwrap();
    store
        .map_put("session:x", "c", b"v", Duration::from_secs(2))
        .await
        .unwrap();
    let map = pttl("deploy-a:session:x").await;
    assert!(map > 55_000 && map <= 60_000, "PTTL {map}");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut raw)
        .await
        .unwrap();
    for key in keys {
        assert!(key.starts_with("deploy-a:"), "{key}");
        let ms: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_ne!(ms, -1, "{key} has no expiry");
    }
}

#[tokio::test]
async fn redis_stores_with_different_prefixes_do_not_see_each_other() {
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    prefixes_keep_deployments_apart(
        redis.store("deploy-a:").await,
        redis.store("deploy-b:").await,
    )
    .await;
}

async fn prefixes_keep_deployments_apart(a: RedisStore, b: RedisStore) {
    a.put("code:1", b"a", LONG).await.unwrap();
    assert!(a.put_if_absent("jti:1", b"a", LONG).await.unwrap());

    assert_eq!(b.get("code:1").await.unwrap(), None);
    assert_eq!(b.take("code:1").await.unwrap(), None);
    assert!(!b.delete("code:1").await.unwrap());
    assert!(b.scan_prefix("").await.unwrap().is_empty());
    assert!(b.put_if_absent("jti:1", b"b", LONG).await.unwrap());

    assert_eq!(a.get("code:1").await.unwrap().as_deref(), Some(&b"a"[..]));
    let listed: Vec<String> = a
        .scan_prefix("")
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(listed, ["code:1", "jti:1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_map_puts_raced_from_two_replicas_lose_no_field_and_survive_a_script_flush() {
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    let replicas = [redis.store("nv:").await, redis.store("nv:").await];
    map_puts_raced_from_two_replicas(replicas, &[&redis]).await;
}

/// Two stores = two connections, as two server replicas would have; the scripts are flushed on
/// every node in between.
async fn map_puts_raced_from_two_replicas(replicas: [RedisStore; 2], nodes: &[&RedisServer]) {
    let replicas = replicas.map(|r| Arc::new(r) as Arc<dyn Store>);
    for round in 0..2 {
        let mut racers = JoinSet::new();
        for i in 0..RACERS {
            let store = Arc::clone(&replicas[i % 2]);
            racers.spawn(async move {
                store
                    .map_put("session:r", &format!("{round}-{i:03}"), b"v", LONG)
                    .await
            });
        }
        for r in racers.join_all().await {
            r.unwrap();
        }
        // A restarted or failed-over Redis has no scripts: the next call loads them again.
        for node in nodes {
            let _: () = redis::cmd("SCRIPT")
                .arg("FLUSH")
                .query_async(&mut raw(node).await)
                .await
                .unwrap();
        }
    }
    assert_eq!(
        replicas[1].map_get("session:r").await.unwrap().len(),
        2 * RACERS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_take_raced_from_two_replicas_succeeds_exactly_once() {
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    take_raced_from_two_replicas([redis.store("nv:").await, redis.store("nv:").await]).await;
}

/// Two stores = two connections, as two server replicas would have.
async fn take_raced_from_two_replicas(replicas: [RedisStore; 2]) {
    let replicas = replicas.map(|r| Arc::new(r) as Arc<dyn Store>);
    replicas[0].put("code:x", b"grant", LONG).await.unwrap();
    let mut racers = JoinSet::new();
    for i in 0..RACERS {
        let store = Arc::clone(&replicas[i % 2]);
        racers.spawn(async move { store.take("code:x").await });
    }
    let winners = racers
        .join_all()
        .await
        .into_iter()
        .filter(|r| r.as_ref().unwrap().is_some())
        .count();
    assert_eq!(winners, 1);
}

#[tokio::test]
async fn redis_outage_gives_errors_within_the_bound_and_service_resumes_after_restart() {
    let Some(mut redis) = RedisServer::start_or_skip() else {
        return;
    };
    let store = redis.store("nv:").await;
    assert!(store.put_if_absent("jti:before", b"1", LONG).await.unwrap());

    redis.stop();
    let mut timings = Vec::new();
    // Twice: once while the reconnection is first attempted, once while it backs off.
    for _ in 0..2 {
        must_fail_in_bound!(timings, store.put_if_absent("jti:during", b"1", LONG));
        must_fail_in_bound!(timings, store.take("code:1"));
    }
    must_fail_in_bound!(timings, store.get("code:1"));
    must_fail_in_bound!(timings, store.put("code:1", b"1", LONG));
    must_fail_in_bound!(timings, store.delete("code:1"));
    must_fail_in_bound!(timings, store.scan_prefix("code:"));
    must_fail_in_bound!(timings, store.ping());
    eprintln!(
        "measured: operations while Redis was stopped failed after {:?} .. {:?}",
        timings.iter().min().unwrap(),
        timings.iter().max().unwrap()
    );

    redis.start_again();
    let recovery = wait_until_answering(&store, Duration::from_secs(10)).await;
    eprintln!("measured: recovery after restart (same store, no reconnect by hand): {recovery:?}");
    // A fresh server has no data (nothing persisted in tests): the mark is gone, new ones work.
    assert!(store.put_if_absent("jti:after", b"1", LONG).await.unwrap());
    assert!(!store.put_if_absent("jti:after", b"1", LONG).await.unwrap());
    store.put("code:after", b"v", LONG).await.unwrap();
    assert_eq!(
        store.take("code:after").await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
}

#[tokio::test]
async fn redis_that_stops_answering_times_out_instead_of_hanging() {
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    let options = RedisOptions {
        prefix: "nv:".to_owned(),
        op_timeout: Duration::from_millis(300),
        ..RedisOptions::default()
    };
    let store = RedisStore::connect(&redis.url(), options).await.unwrap();
    store.ping().await.unwrap();

    redis.freeze();
    let started = Instant::now();
    let result = store.put_if_absent("jti:frozen", b"1", LONG).await;
    let took = started.elapsed();
    let take = store.take("code:frozen").await;
    redis.thaw();
    eprintln!("measured: put_if_absent against a frozen Redis (op_timeout 300 ms): {took:?}");
    assert!(
        matches!(result, Err(StoreError::Timeout(_))),
        "put_if_absent while frozen: {result:?}"
    );
    assert!(matches!(take, Err(StoreError::Timeout(_))), "{take:?}");
    assert!(
        took >= Duration::from_millis(290) && took < OUTAGE_BOUND,
        "{took:?}"
    );

    wait_until_answering(&store, Duration::from_secs(10)).await;
    // The timed-out SET NX may have been applied once Redis resumed: the outcome of an Err is
    // unknown, and a later attempt at worst sees the mark (a refused first use, never a replay).
    assert!(store.put_if_absent("jti:thawed", b"1", LONG).await.unwrap());
}

#[tokio::test]
async fn redis_down_at_start_up_gives_a_store_that_connects_once_redis_is_up() {
    let Some(mut redis) = RedisServer::start_or_skip() else {
        return;
    };
    redis.stop();

    let started = Instant::now();
    let store = nv_store::connect_store(&redis.url(), "nv:", Arc::new(FakeClock::starting_now()))
        .await
        .unwrap();
    let took = started.elapsed();
    eprintln!("measured: connect_store with Redis down: {took:?}");
    assert!(took < OUTAGE_BOUND, "{took:?}");
    let started = Instant::now();
    assert!(store.put_if_absent("jti:1", b"1", LONG).await.is_err());
    assert!(started.elapsed() < OUTAGE_BOUND);
    assert!(store.ping().await.is_err());

    redis.start_again();
    let recovery = wait_until_answering(store.as_ref(), Duration::from_secs(10)).await;
    eprintln!("measured: first successful ping after Redis came up: {recovery:?}");
    assert!(store.put_if_absent("jti:1", b"1", LONG).await.unwrap());
}

#[tokio::test]
async fn redis_test_server_restarts_on_the_same_port() {
    let Some(mut redis) = RedisServer::start_or_skip() else {
        return;
    };
    let url = redis.url();
    assert!(redis.is_running());
    redis.stop();
    redis.stop(); // idempotent
    assert!(!redis.is_running());
    redis.start_again();
    assert_eq!(redis.url(), url);
    let store = redis.store("nv:").await;
    store.ping().await.unwrap();
}

#[tokio::test]
async fn redis_store_recovers_from_a_failed_connection_handshake() {
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    let mut admin = raw(&redis).await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("old-password")
        .query_async(&mut admin)
        .await
        .unwrap();

    // The operator rotates the password: the store already uses the new one, the server not yet.
    // Unlike a refused connection, this failure is not an I/O error.
    let url = format!("redis://:new-password@127.0.0.1:{}", redis.port());
    let store = RedisStore::connect(&url, RedisOptions::default())
        .await
        .unwrap();
    assert!(store.ping().await.is_err());
    // Wait until the connection attempts gave up with the handshake error (rather than a
    // timeout): that is the state the connection manager alone never left.
    let started = Instant::now();
    loop {
        match store.ping().await {
            Err(StoreError::Unavailable(message)) => {
                assert!(message.contains("authentication"), "{message}");
                break;
            }
            Err(StoreError::Timeout(_)) => {}
            Ok(()) => panic!("authenticated with the wrong password"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no handshake error"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("new-password")
        .query_async(&mut admin)
        .await
        .unwrap();
    let recovery = wait_until_answering(&store, Duration::from_secs(15)).await;
    eprintln!("measured: recovery after a failed handshake was fixed on the server: {recovery:?}");
    assert!(store.put_if_absent("jti:1", b"1", LONG).await.unwrap());
}

// ---------------------------------------------------------------------------------------------
// Redis Cluster only
// ---------------------------------------------------------------------------------------------

/// Every key on one master of the cluster, relative (`<prefix>{<tag>}` stripped).
async fn keys_on(node: &RedisServer, prefix: &str) -> BTreeSet<String> {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut raw(node).await)
        .await
        .unwrap();
    keys.into_iter()
        .map(|key| {
            let tagged = key
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{key} lacks the prefix"));
            let (_tag, relative) = tagged
                .strip_prefix('{')
                .and_then(|t| t.split_once('}'))
                .unwrap_or_else(|| panic!("{key} has no hash tag in front"));
            relative.to_owned()
        })
        .collect()
}

async fn slot_of(node: &RedisServer, key: &str) -> i64 {
    redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(&mut raw(node).await)
        .await
        .unwrap()
}

/// The keys the servers write, each kind several times (`state::keys`, `sessions.rs`,
/// `spent_token_key`), with made-up identifiers.
async fn write_every_kind(store: &dyn Store, count: usize) {
    for i in 0..count {
        let h = format!("{:064x}", i * 7919 + 1);
        store
            .put(&format!("code:{h}"), b"grant", LONG)
            .await
            .unwrap();
        store
            .put(&format!("code-redeemed:{h}"), b"jti", LONG)
            .await
            .unwrap();
        assert!(store
            .put_if_absent(&format!("assertion-jti:{h}:{i}"), b"1", LONG)
            .await
            .unwrap());
        store
            .put(&format!("at:{h}"), b"record", LONG)
            .await
            .unwrap();
        assert!(store
            .put_if_absent(&format!("at-used:jti-{i}"), b"1", LONG)
            .await
            .unwrap());
        store
            .put(&format!("playground:+9905550{i:04}"), b"1", LONG)
            .await
            .unwrap();
        store
            .put(&format!("nas-flush:10.20.0.{i}"), b"1700000000", LONG)
            .await
            .unwrap();
        store
            .map_put(&format!("lease:100.64.0.{i}/32"), "*", b"lease", LONG)
            .await
            .unwrap();
        store
            .map_put(
                &format!("lease:2001:db8:{i:x}::/64"),
                "1024-2047",
                b"lease",
                LONG,
            )
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_keys_spread_over_every_master_related_keys_share_a_slot_and_every_operation_works()
{
    let Some(cluster) = RedisCluster::start_or_skip() else {
        return;
    };
    let store = cluster.store("deploy-a:").await;
    const EACH: usize = 30;
    write_every_kind(&store, EACH).await;

    // Every master holds keys of every kind; every key is hash-tagged and expires.
    let mut everywhere = BTreeSet::new();
    for node in cluster.nodes() {
        let keys = keys_on(node, "deploy-a:").await;
        for kind in [
            "code:",
            "code-redeemed:",
            "assertion-jti:",
            "at:",
            "at-used:",
            "playground:",
            "nas-flush:",
            "lease:",
        ] {
            assert!(
                keys.iter().any(|k| k.starts_with(kind)),
                "no {kind} key on {}",
                node.url()
            );
        }
        let raw_keys: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut raw(node).await)
            .await
            .unwrap();
        for key in raw_keys {
            let ms: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query_async(&mut raw(node).await)
                .await
                .unwrap();
            assert!(ms > 0, "{key}: PTTL {ms}");
        }
        everywhere.extend(keys);
    }
    assert_eq!(
        everywhere.len(),
        9 * EACH,
        "a key is missing or on two masters"
    );

    // A code and its redemption record share a slot: a script over both would stay on one
    // master. Different codes do not all share one.
    let h = format!("{:064x}", 1);
    let node = &cluster.nodes()[0];
    let code_slot = slot_of(node, &format!("deploy-a:{{{h}}}code:{h}")).await;
    assert_eq!(
        code_slot,
        slot_of(node, &format!("deploy-a:{{{h}}}code-redeemed:{h}")).await
    );
    let other = format!("{:064x}", 7919 + 1);
    assert_ne!(
        code_slot,
        slot_of(node, &format!("deploy-a:{{{other}}}code:{other}")).await
    );

    // Listings visit every master and come back in key order.
    let codes = store.scan_prefix("code:").await.unwrap();
    assert_eq!(codes.len(), EACH);
    assert!(codes.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(store.scan_prefix("").await.unwrap().len(), 7 * EACH);
    let leases = store.map_scan_prefix("lease:").await.unwrap();
    assert_eq!(leases.len(), 2 * EACH);
    assert!(leases.iter().all(|(_, fields)| fields.len() == 1));
    assert_eq!(
        store.map_scan_prefix("lease:2001:").await.unwrap().len(),
        EACH
    );

    // Single-key operations reach the key's master wherever it is.
    for (key, value) in &codes {
        assert_eq!(value, b"grant");
        assert_eq!(
            store.take(key).await.unwrap().as_deref(),
            Some(&b"grant"[..])
        );
        assert_eq!(store.take(key).await.unwrap(), None);
    }
    for i in 0..EACH {
        assert!(!store
            .put_if_absent(&format!("at-used:jti-{i}"), b"1", LONG)
            .await
            .unwrap());
        assert!(store
            .map_remove(&format!("lease:100.64.0.{i}/32"), "*")
            .await
            .unwrap());
    }
    assert_eq!(store.map_scan_prefix("lease:").await.unwrap().len(), EACH);
}

#[tokio::test]
async fn cluster_stores_with_different_prefixes_do_not_see_each_other() {
    let Some(cluster) = RedisCluster::start_or_skip() else {
        return;
    };
    prefixes_keep_deployments_apart(
        cluster.store("deploy-a:").await,
        cluster.store("deploy-b:").await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_map_puts_raced_from_two_replicas_lose_no_field_and_survive_a_script_flush() {
    let Some(cluster) = RedisCluster::start_or_skip() else {
        return;
    };
    let replicas = [cluster.store("nv:").await, cluster.store("nv:").await];
    let nodes: Vec<&RedisServer> = cluster.nodes().iter().collect();
    map_puts_raced_from_two_replicas(replicas, &nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_take_raced_from_two_replicas_succeeds_exactly_once() {
    let Some(cluster) = RedisCluster::start_or_skip() else {
        return;
    };
    take_raced_from_two_replicas([cluster.store("nv:").await, cluster.store("nv:").await]).await;
}

/// Codes `code:<i>` written to the cluster, split into those on the first master and the rest.
async fn codes_on_the_first_master_and_elsewhere(
    cluster: &RedisCluster,
    store: &dyn Store,
) -> (Vec<String>, Vec<String>) {
    for i in 0..60 {
        store.put(&format!("code:{i}"), b"v", LONG).await.unwrap();
    }
    let first = keys_on(&cluster.nodes()[0], "nv:").await;
    let (on_first, elsewhere): (Vec<String>, Vec<String>) = (0..60)
        .map(|i| format!("code:{i}"))
        .partition(|k| first.contains(k));
    assert!(!on_first.is_empty() && !elsewhere.is_empty());
    (on_first, elsewhere)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_master_outage_fails_only_its_slots_within_the_bound_and_the_same_store_recovers() {
    let Some(mut cluster) = RedisCluster::start_or_skip() else {
        return;
    };
    let store = cluster.store("nv:").await;
    let (down, up) = codes_on_the_first_master_and_elsewhere(&cluster, &store).await;
    let id = |key: &str| key.trim_start_matches("code:").to_owned();

    cluster.node_mut(0).stop();
    let mut timings = Vec::new();
    // Twice: once while the reconnection is first attempted, once while it backs off. Keys of
    // other kinds about the same identifier share the slot, so they are down too.
    for _ in 0..2 {
        let k = &down[0];
        must_fail_in_bound!(timings, store.take(k));
        must_fail_in_bound!(
            timings,
            store.put_if_absent(&format!("code-redeemed:{}", id(k)), b"1", LONG)
        );
        must_fail_in_bound!(
            timings,
            store.map_put(&format!("lease:{}", id(k)), "*", b"1", LONG)
        );
    }
    must_fail_in_bound!(timings, store.get(&down[0]));
    must_fail_in_bound!(timings, store.delete(&down[0]));
    // A listing without one master's keys would be wrong, and readiness says the store is down.
    must_fail_in_bound!(timings, store.scan_prefix("code:"));
    must_fail_in_bound!(timings, store.ping());
    eprintln!(
        "measured: cluster operations on a stopped master's slots failed after {:?} .. {:?}",
        timings.iter().min().unwrap(),
        timings.iter().max().unwrap()
    );
    // The other masters keep serving their slots meanwhile.
    for k in &up {
        assert_eq!(
            store.get(k).await.unwrap().as_deref(),
            Some(&b"v"[..]),
            "{k}"
        );
    }
    assert_eq!(
        store.take(&up[0]).await.unwrap().as_deref(),
        Some(&b"v"[..])
    );

    cluster.restart_node(0);
    let recovery = wait_until_answering(&store, Duration::from_secs(15)).await;
    eprintln!("measured: cluster recovery after a master restart (same store): {recovery:?}");
    // The restarted master has no data (nothing persisted in tests); it serves its slots again.
    assert_eq!(store.take(&down[0]).await.unwrap(), None);
    store.put(&down[0], b"again", LONG).await.unwrap();
    assert_eq!(
        store.take(&down[0]).await.unwrap().as_deref(),
        Some(&b"again"[..])
    );
    assert!(store
        .put_if_absent(&format!("code-redeemed:{}", id(&down[0])), b"1", LONG)
        .await
        .unwrap());
    assert_eq!(
        store.scan_prefix("code:").await.unwrap().len(),
        up.len() - 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_master_that_stops_answering_times_out_instead_of_hanging() {
    let Some(cluster) = RedisCluster::start_or_skip() else {
        return;
    };
    let options = RedisOptions {
        prefix: "nv:".to_owned(),
        op_timeout: Duration::from_millis(300),
        ..RedisOptions::default()
    };
    let store = RedisStore::connect(&cluster.url(), options).await.unwrap();
    let (down, up) = codes_on_the_first_master_and_elsewhere(&cluster, &store).await;

    cluster.nodes()[0].freeze();
    let started = Instant::now();
    let result = store.take(&down[0]).await;
    let took = started.elapsed();
    let other = store.get(&up[0]).await;
    cluster.nodes()[0].thaw();
    eprintln!("measured: take on a frozen cluster master (op_timeout 300 ms): {took:?}");
    assert!(matches!(result, Err(StoreError::Timeout(_))), "{result:?}");
    assert!(
        took >= Duration::from_millis(290) && took < OUTAGE_BOUND,
        "{took:?}"
    );
    assert_eq!(other.unwrap().as_deref(), Some(&b"v"[..]));

    wait_until_answering(&store, Duration::from_secs(10)).await;
    // The timed-out GETDEL may have been applied once the master resumed: either way the code
    // is gone now, never handed out twice.
    assert_eq!(store.take(&down[0]).await.unwrap(), None);
}

#[tokio::test]
async fn cluster_down_at_start_up_gives_a_store_that_connects_once_the_cluster_is_up() {
    let Some(mut cluster) = RedisCluster::start_or_skip() else {
        return;
    };
    cluster.stop();

    let started = Instant::now();
    let store = nv_store::connect_store(&cluster.url(), "nv:", Arc::new(FakeClock::starting_now()))
        .await
        .unwrap();
    let took = started.elapsed();
    eprintln!("measured: connect_store with the cluster down: {took:?}");
    assert!(took < OUTAGE_BOUND, "{took:?}");
    let started = Instant::now();
    assert!(store.put_if_absent("jti:1", b"1", LONG).await.is_err());
    assert!(started.elapsed() < OUTAGE_BOUND);
    assert!(store.ping().await.is_err());

    cluster.start_again();
    let recovery = wait_until_answering(store.as_ref(), Duration::from_secs(15)).await;
    eprintln!("measured: first successful ping after the cluster came up: {recovery:?}");
    assert!(store.put_if_absent("jti:1", b"1", LONG).await.unwrap());
    assert!(!store.put_if_absent("jti:1", b"1", LONG).await.unwrap());
}

#[tokio::test]
async fn cluster_store_recovers_from_a_failed_connection_handshake() {
    let Some(cluster) = RedisCluster::start_or_skip() else {
        return;
    };
    // CONFIG SET requirepass on every master, over a connection that knows the current one.
    let set_password = |current: Option<&'static str>, new: &'static str| {
        let ports: Vec<u16> = cluster.nodes().iter().map(RedisServer::port).collect();
        async move {
            for port in ports {
                let auth = current.map(|p| format!(":{p}@")).unwrap_or_default();
                let mut admin = redis::Client::open(format!("redis://{auth}127.0.0.1:{port}"))
                    .unwrap()
                    .get_multiplexed_async_connection()
                    .await
                    .unwrap();
                let _: () = redis::cmd("CONFIG")
                    .arg("SET")
                    .arg("requirepass")
                    .arg(new)
                    .query_async(&mut admin)
                    .await
                    .unwrap();
            }
        }
    };
    // The operator rotates the password: the store already uses the new one, the cluster not yet.
    set_password(None, "old-password").await;
    let url = cluster
        .url()
        .replace("redis+cluster://", "redis+cluster://:new-password@");
    let store = RedisStore::connect(&url, RedisOptions::default())
        .await
        .unwrap();
    assert!(store.ping().await.is_err());
    assert!(store.put_if_absent("jti:1", b"1", LONG).await.is_err());

    set_password(Some("old-password"), "new-password").await;
    let recovery = wait_until_answering(&store, Duration::from_secs(15)).await;
    eprintln!(
        "measured: cluster recovery after a failed handshake was fixed on the servers: {recovery:?}"
    );
    assert!(store.put_if_absent("jti:1", b"1", LONG).await.unwrap());
}
