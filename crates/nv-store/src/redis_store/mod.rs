//! The shared store on Redis — one node or a Redis Cluster — for several replicas behind a load
//! balancer. One implementation of the commands for both; what differs is the connection
//! (`connection.rs`) and the key layout (`layout.rs`).
//!
//! # Connection and outages
//!
//! One connection per store: on one node a [`redis::aio::ConnectionManager`], on a cluster a
//! [`redis::cluster_async::ClusterConnection`] (one multiplexed connection per node, routing each
//! command to the master of its key's slot, following `MOVED`/`ASK` and refreshing the slot map
//! itself). Either way all requests of a process share the sockets, and a broken socket is
//! replaced. The connection is created *lazily*: [`RedisStore::connect`] checks the URL, then
//! tries one `PING` bounded by [`RedisOptions::connect_timeout`]. If Redis does not answer, the
//! store is still returned (and a warning logged) — it starts disconnected and connects on the
//! next operation. Failing start-up instead would turn a short Redis outage during a rolling
//! deploy into crash-looping servers, and a server that starts disconnected reports it through
//! readiness ([`Store::ping`]) anyway. Once Redis is back, the next operation after the reconnect
//! back-off (at most [`RECONNECT_MAX_DELAY`]) succeeds: no restart is needed.
//!
//! The manager only reconnects by itself after *I/O* errors. When setting up a connection fails
//! otherwise — a refused password (e.g. during a password rotation), a failed TLS handshake — it
//! keeps answering that error forever (checked against redis 1.8: the store never recovered in
//! the test `redis_store_recovers_from_a_failed_connection_handshake` without this). So the store
//! replaces its connection after any error that is neither I/O nor a timeout, at most once per
//! [`RECONNECT_MAX_DELAY`] so a persistent server-side error (e.g. `OOM`) cannot cause a
//! reconnection storm. The cluster client reconnects to its seed nodes by itself after a failed
//! handshake (`cluster_store_recovers_from_a_failed_connection_handshake`), and after the
//! topology errors it handles (`MOVED`, `CLUSTERDOWN`, a node without connection) the store
//! leaves it alone.
//!
//! Every operation is bounded by [`RedisOptions::op_timeout`] (→ [`StoreError::Timeout`]), so a
//! black-holed connection cannot hold a request for longer than that. An `Err` means *the outcome
//! is unknown* (the command may still have been applied, e.g. a `SET NX` or `GETDEL` that reached
//! Redis just before the timeout). Callers treat it as failure, which is always the safe direction:
//! a code or single-use mark is at worst lost, never accepted twice.
//!
//! # Key layout
//!
//! Keys given to the [`Store`] trait are relative; the store prepends [`RedisOptions::prefix`]
//! (`nv:` by default), so several deployments can share one Redis. Every key is written with a
//! millisecond expiry (`PX`, at least 1 ms): nothing in Redis outlives its protocol window.
//!
//! On a cluster every key also carries a hash tag, `<prefix>{<group>}<key>`: keys of one group
//! (the key's own `{tag}`, else what follows its first `:`, else the whole key) share a slot, so a
//! script or multi-key command over them stays on one master, and different groups spread over
//! the cluster (rules and reasons: `layout.rs`). Every operation of the trait is on one key, so
//! none spans slots today.
//!
//! Expiry follows the Redis server's clock, not the injected [`crate::Clock`]; the tests use short
//! real TTLs for this backend.
//!
//! # Maps
//!
//! A map is a Redis hash; each field's value is stored as `<expiry ms>|<value>` and every
//! operation is one Lua script (atomic in Redis, and on one key, so it runs on the key's master
//! of a cluster) that compares the expiries with the server's `TIME`. Redis 7.0 has no per-field
//! TTL, so [`MAP_PUT`] also drops expired fields and sets the key's expiry to its longest-lived
//! field.
//!
//! # Listings and readiness on a cluster
//!
//! A `SCAN` cursor walks one node's keys only, so listings walk every master. Readiness `PING`s
//! every master too. Both fail unless every master the cluster names (`CLUSTER SLOTS`) answered:
//! the cluster client quietly leaves out the masters it has no connection to.

mod connection;
mod layout;
mod target;

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::{ErrorKind, FromRedisValue, RedisError, Value};

use self::connection::Connection;
use self::layout::KeyLayout;
use self::target::Target;
pub(crate) use self::target::URL_FORMS;
use crate::{MapEntries, Store, StoreError};

/// Longest pause between two reconnection attempts. Short, so service resumes within about a
/// second of Redis coming back; each attempt is one TCP connect, cheap for Redis.
pub const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(1);

/// Connection attempts per reconnection before the manager reports the failure. Few, so a
/// failure that only a new manager can fix (see the module documentation) surfaces quickly; an
/// I/O failure starts the next reconnection on the next operation anyway.
const RECONNECT_ATTEMPTS: usize = 3;

/// How long a `SCAN` listing may take in total, in multiples of the per-operation timeout. A
/// listing is several round trips (one per `SCAN` page and one `MGET` per page).
const SCAN_TIMEOUT_FACTOR: u32 = 10;

/// Keys per `SCAN` step: the hint Redis uses to size each page of a cursor walk.
const SCAN_COUNT: usize = 100;

/// Redis refuses expiries that overflow its millisecond clock; a century is far beyond any
/// protocol window and far below that limit.
const MAX_TTL_MS: u64 = 100 * 365 * 24 * 60 * 60 * 1000;

/// `KEYS[1]` map, `ARGV` field, value, TTL in ms. Sets one field, drops the expired ones and
/// keeps the key until its last field expires.
const MAP_PUT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local exp = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', exp) .. '|' .. ARGV[2])
local last = exp
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local e = tonumber(string.match(all[i + 1], '^(%d+)|'))
  if e == nil or e <= now then
    redis.call('HDEL', KEYS[1], all[i])
  elseif e > last then
    last = e
  end
end
redis.call('PEXPIREAT', KEYS[1], string.format('%d', last))
return 1
";

/// `KEYS[1]` map, `ARGV[1]` field. 1 if a live field was removed.
const MAP_REMOVE: &str = r"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local e = tonumber(string.match(v, '^(%d+)|'))
if e ~= nil and e > now then return 1 end
return 0
";

/// `KEYS[1]` map. The live fields and values (expiry stripped), flattened.
const MAP_GET: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local e, rest = string.match(all[i + 1], '^(%d+)|(.*)$')
  if e ~= nil and tonumber(e) > now then
    out[#out + 1] = all[i]
    out[#out + 1] = rest
  end
end
return out
";

/// Settings of a [`RedisStore`]; every field has a sensible default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// Prepended to every key (default `nv:`), so deployments sharing one Redis cannot see each
    /// other's codes or replay marks. Must not be empty.
    pub prefix: String,
    /// Bound on every operation, including waiting for a reconnection (default 500 ms).
    pub op_timeout: Duration,
    /// Bound on the start-up connection check and on each connection attempt (default 1 s).
    pub connect_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "nv:".to_owned(),
            op_timeout: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(1),
        }
    }
}

/// The [`Store`] on Redis. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct RedisStore {
    conn: Arc<Connection>,
    scripts: Arc<Scripts>,
    prefix: String,
    layout: KeyLayout,
    op_timeout: Duration,
    /// `host:port` (on a cluster, the seed nodes' list) only: the URL may carry a password, so it
    /// is never kept for display.
    addr: String,
}

/// The map scripts, hashed once.
struct Scripts {
    map_put: redis::Script,
    map_remove: redis::Script,
    map_get: redis::Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            map_put: redis::Script::new(MAP_PUT),
            map_remove: redis::Script::new(MAP_REMOVE),
            map_get: redis::Script::new(MAP_GET),
        }
    }
}

/// `NOSCRIPT`: the server does not have the script (yet); not a connection problem.
fn is_noscript(e: &RedisError) -> bool {
    e.kind() == ErrorKind::Server(redis::ServerErrorKind::NoScript)
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("addr", &self.addr)
            .field("prefix", &self.prefix)
            .field("layout", &self.layout)
            .field("op_timeout", &self.op_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Opens a store on `url`: one node (`redis://[user:password@]host[:port][/db]`, or
    /// `rediss://` for TLS) or a cluster (`redis+cluster://[user:password@]host:port[,host:port…]`,
    /// or `rediss+cluster://`; any reachable nodes, the client finds the others). Returns within
    /// about `connect_timeout`: an invalid URL or prefix is an error, an unreachable Redis is not
    /// (the store starts disconnected and reconnects on demand; see the module documentation for
    /// why).
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        if options.prefix.is_empty() {
            return Err(StoreError::Unavailable(
                "the Redis key prefix must not be empty (several deployments may share one \
                 Redis; use e.g. `nv:`)"
                    .to_owned(),
            ));
        }
        let (target, addr) = Target::parse(url)?;
        let layout = match target {
            Target::Node(_) => KeyLayout::Plain,
            Target::Cluster(_) => KeyLayout::HashTagged,
        };
        // A brace in the prefix would be the hash tag of every key: the whole deployment in one
        // slot, on one master.
        if layout == KeyLayout::HashTagged && options.prefix.contains(['{', '}']) {
            return Err(StoreError::Unavailable(
                "the Redis key prefix must not contain `{` or `}` on a cluster (it would put \
                 every key in one slot)"
                    .to_owned(),
            ));
        }
        let conn = Connection::new(target, &options)?;
        let store = Self {
            conn: Arc::new(conn),
            scripts: Arc::new(Scripts::new()),
            prefix: options.prefix,
            layout,
            op_timeout: options.op_timeout,
            addr,
        };

        let check = store.with_timeout(options.connect_timeout, store.ping_once());
        match check.await {
            Ok(()) => tracing::info!(redis.addr = %store.addr, "connected to Redis"),
            Err(e) => tracing::warn!(
                redis.addr = %store.addr,
                error = %e,
                "Redis is not reachable at start-up; starting disconnected, will reconnect on demand"
            ),
        }
        Ok(store)
    }

    /// The absolute key in Redis for a relative key of the trait.
    fn key(&self, key: &str) -> String {
        self.layout.absolute(&self.prefix, key)
    }

    async fn with_timeout<T>(
        &self,
        limit: Duration,
        op: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(limit, op).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) if e.is_timeout() => Err(StoreError::Timeout(limit)),
            Ok(Err(e)) => Err(StoreError::Unavailable(describe(&e))),
            Err(_elapsed) => Err(StoreError::Timeout(limit)),
        }
    }

    async fn run<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        self.with_timeout(self.op_timeout, self.conn.query(cmd))
            .await
    }

    /// Runs a Lua script by its hash, loading it on `NOSCRIPT` (after a Redis restart or on
    /// another node): the body travels once per server, not with every call.
    async fn eval<T: FromRedisValue>(
        &self,
        script: &redis::Script,
        source: &str,
        key: &str,
        args: &[&[u8]],
    ) -> Result<T, StoreError> {
        let build = |verb: &str, head: &str| {
            let mut cmd = redis::cmd(verb);
            cmd.arg(head).arg(1).arg(self.key(key));
            for a in args {
                cmd.arg(*a);
            }
            cmd
        };
        let by_hash = build("EVALSHA", script.get_hash());
        let first = tokio::time::timeout(self.op_timeout, self.conn.query(&by_hash)).await;
        match first {
            Ok(Err(e)) if is_noscript(&e) => self.run(&build("EVAL", source)).await,
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) if e.is_timeout() => Err(StoreError::Timeout(self.op_timeout)),
            Ok(Err(e)) => Err(StoreError::Unavailable(describe(&e))),
            Err(_elapsed) => Err(StoreError::Timeout(self.op_timeout)),
        }
    }

    async fn map_entries(&self, key: &str) -> Result<MapEntries, StoreError> {
        let flat: Vec<Vec<u8>> = self.eval(&self.scripts.map_get, MAP_GET, key, &[]).await?;
        let mut out = Vec::with_capacity(flat.len() / 2);
        let mut it = flat.into_iter();
        while let (Some(field), Some(value)) = (it.next(), it.next()) {
            // Fields are written from `&str`: anything else is not ours.
            if let Ok(field) = String::from_utf8(field) {
                out.push((field, value));
            }
        }
        out.sort();
        Ok(out)
    }

    /// `PING`; on a cluster, to every master, and every master must answer.
    async fn ping_once(&self) -> Result<(), RedisError> {
        for (_, reply) in self.conn.on_every_master(&redis::cmd("PING")).await? {
            let _: String = FromRedisValue::from_redis_value(reply)?;
        }
        Ok(())
    }

    /// The relative keys under `key_prefix` of every key of Redis type `kind` (`string`,
    /// `hash`), in key order, once each (`SCAN` may return a key twice). A cursor walk on each
    /// master of a cluster, since each master has only its own slots' keys.
    async fn scan_keys(&self, key_prefix: &str, kind: &str) -> Result<Vec<String>, StoreError> {
        let pattern = self.layout.scan_pattern(&self.prefix, key_prefix);
        let page = |cursor: u64| {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT)
                .arg("TYPE")
                .arg(kind);
            cmd
        };
        let mut found = BTreeSet::new();
        let mut keep = |keys: Vec<Vec<u8>>| {
            for key in keys.into_iter().filter_map(|k| String::from_utf8(k).ok()) {
                if let Some(relative) = self.layout.relative(&self.prefix, &key) {
                    if relative.starts_with(key_prefix) {
                        found.insert(relative.to_owned());
                    }
                }
            }
        };
        let first_pages = self
            .with_timeout(self.op_timeout, self.conn.on_every_master(&page(0)))
            .await?;
        for (node, reply) in first_pages {
            let (mut cursor, keys): (u64, Vec<Vec<u8>>) = FromRedisValue::from_redis_value(reply)
                .map_err(|_| {
                StoreError::Unavailable("unexpected reply from Redis to SCAN".to_owned())
            })?;
            keep(keys);
            while cursor != 0 {
                let (next, keys): (u64, Vec<Vec<u8>>) = self
                    .with_timeout(self.op_timeout, self.conn.query_on(&node, &page(cursor)))
                    .await?;
                keep(keys);
                cursor = next;
            }
        }
        Ok(found.into_iter().collect())
    }

    async fn scan_all(&self, key_prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let keys = self.scan_keys(key_prefix, "string").await?;
        let mut found = Vec::with_capacity(keys.len());
        for page in keys.chunks(SCAN_COUNT) {
            // Keys may expire between SCAN and MGET: their values come back nil and are skipped.
            // On a cluster the client splits the MGET by slot.
            let absolute: Vec<String> = page.iter().map(|k| self.key(k)).collect();
            let values: Vec<Option<Vec<u8>>> = self.run(redis::cmd("MGET").arg(absolute)).await?;
            for (key, value) in page.iter().zip(values) {
                if let Some(value) = value {
                    found.push((key.clone(), value));
                }
            }
        }
        Ok(found)
    }

    /// Bounds a listing (several round trips) by [`SCAN_TIMEOUT_FACTOR`] operation timeouts.
    async fn listing<T>(
        &self,
        walk: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let limit = self.op_timeout * SCAN_TIMEOUT_FACTOR;
        match tokio::time::timeout(limit, walk).await {
            Ok(result) => result,
            Err(_elapsed) => Err(StoreError::Timeout(limit)),
        }
    }
}

/// `PX` argument: at least 1 ms, because `PX 0` is an error and a key without expiry must never
/// exist; capped below Redis's overflow limit.
fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_TTL_MS)
}

/// A description of a Redis failure for logs and errors. Built from the error's category only:
/// the crate's own messages can quote the command, i.e. key names (hashed identifiers).
fn describe(e: &RedisError) -> String {
    if e.is_connection_refusal() {
        "connection refused".to_owned()
    } else if e.is_connection_dropped() {
        "connection lost".to_owned()
    } else if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_io_error() {
        "I/O error".to_owned()
    } else if let Some(code) = e.code() {
        // Server error codes are fixed words such as `NOAUTH`, `WRONGPASS`, `LOADING`, `OOM`.
        format!("Redis error {code}")
    } else {
        match e.kind() {
            ErrorKind::AuthenticationFailed => "authentication failed".to_owned(),
            ErrorKind::ClusterConnectionNotFound => "a cluster node is not connected".to_owned(),
            ErrorKind::Parse | ErrorKind::UnexpectedReturnType => {
                "unexpected reply from Redis".to_owned()
            }
            kind => format!("Redis client error ({kind:?})"),
        }
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        // One command: the existence check and the write cannot interleave with another
        // replica's, so of racing first uses exactly one wins.
        let reply: Value = self
            .run(
                redis::cmd("SET")
                    .arg(self.key(key))
                    .arg(value)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms(ttl)),
            )
            .await?;
        match reply {
            Value::Okay => Ok(true),
            Value::Nil => Ok(false),
            // Anything else is not a "no": refusing keeps a replay from slipping through.
            _ => Err(StoreError::Unavailable(
                "unexpected reply from Redis to SET NX".to_owned(),
            )),
        }
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        // GETDEL (Redis ≥ 6.2) reads and deletes in one step: two racing redemptions of one
        // authorization code cannot both get it.
        self.run(redis::cmd("GETDEL").arg(self.key(key))).await
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.run(
            redis::cmd("SET")
                .arg(self.key(key))
                .arg(value)
                .arg("PX")
                .arg(ttl_ms(ttl)),
        )
        .await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(redis::cmd("GET").arg(self.key(key))).await
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let removed: u64 = self.run(redis::cmd("DEL").arg(self.key(key))).await?;
        Ok(removed > 0)
    }

    /// Walks `SCAN MATCH <prefix>*` (on every master of a cluster); each round trip is bounded
    /// by the operation timeout and the whole listing by ten times it.
    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.listing(self.scan_all(prefix)).await
    }

    async fn map_put(
        &self,
        key: &str,
        field: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let ttl = ttl_ms(ttl).to_string();
        let _: i64 = self
            .eval(
                &self.scripts.map_put,
                MAP_PUT,
                key,
                &[field.as_bytes(), value, ttl.as_bytes()],
            )
            .await?;
        Ok(())
    }

    async fn map_remove(&self, key: &str, field: &str) -> Result<bool, StoreError> {
        let removed: i64 = self
            .eval(
                &self.scripts.map_remove,
                MAP_REMOVE,
                key,
                &[field.as_bytes()],
            )
            .await?;
        Ok(removed == 1)
    }

    async fn map_get(&self, key: &str) -> Result<MapEntries, StoreError> {
        self.map_entries(key).await
    }

    async fn map_scan_prefix(&self, prefix: &str) -> Result<Vec<(String, MapEntries)>, StoreError> {
        let walk = async {
            let mut out = Vec::new();
            for key in self.scan_keys(prefix, "hash").await? {
                let entries = self.map_entries(&key).await?;
                if !entries.is_empty() {
                    out.push((key, entries));
                }
            }
            Ok(out)
        };
        self.listing(walk).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.with_timeout(self.op_timeout, self.ping_once()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_at_least_one_millisecond() {
        assert_eq!(ttl_ms(Duration::ZERO), 1);
        assert_eq!(ttl_ms(Duration::from_micros(10)), 1);
        assert_eq!(ttl_ms(Duration::from_millis(1500)), 1500);
    }

    #[test]
    fn ttl_is_capped_below_redis_overflow() {
        assert_eq!(ttl_ms(Duration::MAX), MAX_TTL_MS);
    }

    #[tokio::test]
    async fn an_invalid_url_is_refused_without_echoing_it() {
        let err = RedisStore::connect("redis://:s3cret@[::1", RedisOptions::default())
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("invalid Redis URL"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }

    #[tokio::test]
    async fn an_empty_prefix_is_refused() {
        let options = RedisOptions {
            prefix: String::new(),
            ..RedisOptions::default()
        };
        let err = RedisStore::connect("redis://127.0.0.1:1", options)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("prefix"), "{err}");
    }

    #[tokio::test]
    async fn a_prefix_with_braces_is_refused_on_a_cluster_only() {
        let options = || RedisOptions {
            prefix: "nv{a}:".to_owned(),
            connect_timeout: Duration::from_millis(100),
            ..RedisOptions::default()
        };
        let err = RedisStore::connect("redis+cluster://127.0.0.1:1", options())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("one slot"), "{err}");
        // On one node a brace is just a character.
        RedisStore::connect("redis://127.0.0.1:1", options())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_unreachable_redis_at_start_up_gives_a_disconnected_store_in_bounded_time() {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let started = std::time::Instant::now();
        let options = RedisOptions {
            connect_timeout: Duration::from_millis(300),
            ..RedisOptions::default()
        };
        let store = RedisStore::connect("redis://127.0.0.1:1", options)
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(store.ping().await.is_err());
        assert!(store
            .put_if_absent("k", b"v", Duration::from_secs(1))
            .await
            .is_err());
    }

    #[tokio::test]
    async fn debug_output_shows_the_address_but_not_the_password() {
        let store = RedisStore::connect(
            "redis://user:s3cret@127.0.0.1:1/0",
            RedisOptions {
                connect_timeout: Duration::from_millis(100),
                ..RedisOptions::default()
            },
        )
        .await
        .unwrap();
        let debug = format!("{store:?}");
        assert!(debug.contains("127.0.0.1:1"), "{debug}");
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[tokio::test]
    async fn debug_output_of_a_cluster_store_shows_the_seed_nodes_but_not_the_password() {
        let store = RedisStore::connect(
            "redis+cluster://user:s3cret@127.0.0.1:1,127.0.0.1:2",
            RedisOptions {
                connect_timeout: Duration::from_millis(100),
                ..RedisOptions::default()
            },
        )
        .await
        .unwrap();
        let debug = format!("{store:?}");
        assert!(debug.contains("127.0.0.1:1,127.0.0.1:2"), "{debug}");
        assert!(debug.contains("HashTagged"), "{debug}");
        assert!(!debug.contains("s3cret"), "{debug}");
    }
}
