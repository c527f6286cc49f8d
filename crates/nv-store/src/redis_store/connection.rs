//! The one connection of a [`super::RedisStore`]: a node's `ConnectionManager` or a cluster's
//! `ClusterConnection` (both multiplexed, both reconnecting after I/O errors), replaced when it
//! cannot recover by itself (module documentation of [`super`]).

use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, SingleNodeRoutingInfo};
use redis::{
    Client, Cmd, ErrorKind, FromRedisValue, RedisError, RedisResult, ServerErrorKind, Value,
};

use super::target::Target;
use super::{describe, is_noscript, RedisOptions, RECONNECT_ATTEMPTS, RECONNECT_MAX_DELAY};
use crate::StoreError;

/// Bounds of the cluster client's pause before retrying a command (after a reconnection, a
/// `TRYAGAIN` or `CLUSTERDOWN`), in ms. Its default minimum (1.28 s) is longer than a whole
/// operation may take; these leave room for several attempts within the operation timeout.
const CLUSTER_RETRY_WAIT_MS: (u64, u64) = (10, 100);

/// Where a command of a walk over every node goes.
#[derive(Debug)]
pub(super) enum Node {
    /// The only node.
    Only,
    /// One master of a cluster.
    Master { host: String, port: u16 },
}

/// Makes connections.
enum Opener {
    Node {
        client: Client,
        config: ConnectionManagerConfig,
    },
    Cluster {
        client: ClusterClient,
        config: ClusterConfig,
    },
}

/// A connection: cheap handles (`Arc`s) around one multiplexed connection per node.
#[derive(Clone)]
enum Handle {
    Node(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Opener {
    fn new(target: Target, options: &RedisOptions) -> Result<Self, StoreError> {
        Ok(match target {
            Target::Node(client) => Self::Node {
                client: *client,
                config: ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(options.connect_timeout))
                    .set_response_timeout(Some(options.op_timeout))
                    .set_number_of_retries(RECONNECT_ATTEMPTS)
                    .set_max_delay(RECONNECT_MAX_DELAY),
            },
            Target::Cluster(nodes) => {
                let (min_wait, max_wait) = CLUSTER_RETRY_WAIT_MS;
                let client = ClusterClientBuilder::new(nodes)
                    .connection_timeout(options.connect_timeout)
                    .response_timeout(options.op_timeout)
                    .min_retry_wait(min_wait)
                    .max_retry_wait(max_wait)
                    .build()
                    .map_err(|e| StoreError::Unavailable(describe(&e)))?;
                // Applied per connection: without it the response timeout would be unset.
                let config = ClusterConfig::new()
                    .set_connection_timeout(options.connect_timeout)
                    .set_response_timeout(options.op_timeout);
                Self::Cluster { client, config }
            }
        })
    }

    /// A lazy connection: nothing is connected until the first command.
    fn open(&self) -> RedisResult<Handle> {
        match self {
            Self::Node { client, config } => {
                ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
                    .map(Handle::Node)
            }
            Self::Cluster { client, config } => Ok(Handle::Cluster(
                client.get_pending_async_connection_with_config(config.clone()),
            )),
        }
    }

    /// Whether the connection gets over `e` by itself, so replacing it would not help.
    fn recovers_from(&self, e: &RedisError) -> bool {
        if e.is_io_error() || e.is_timeout() || is_noscript(e) {
            return true;
        }
        // The cluster client follows redirections, refreshes its slot map and reconnects to
        // the seed nodes after these itself.
        matches!(self, Self::Cluster { .. })
            && matches!(
                e.kind(),
                ErrorKind::ClusterConnectionNotFound
                    | ErrorKind::Server(
                        ServerErrorKind::Moved
                            | ServerErrorKind::Ask
                            | ServerErrorKind::TryAgain
                            | ServerErrorKind::ClusterDown
                            | ServerErrorKind::MasterDown
                    )
            )
    }
}

impl Handle {
    async fn query<T: FromRedisValue>(&mut self, cmd: &Cmd) -> RedisResult<T> {
        match self {
            Self::Node(manager) => cmd.query_async(manager).await,
            Self::Cluster(cluster) => cmd.query_async(cluster).await,
        }
    }

    async fn query_on<T: FromRedisValue>(&mut self, node: &Node, cmd: &Cmd) -> RedisResult<T> {
        match (self, node) {
            (Self::Cluster(cluster), Node::Master { host, port }) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                let value = cluster.route_command(cmd.clone(), routing).await?;
                Ok(T::from_redis_value(value.extract_error()?)?)
            }
            (handle, _) => handle.query(cmd).await,
        }
    }

    async fn on_every_master(&mut self, cmd: &Cmd) -> RedisResult<Vec<(Node, Value)>> {
        let Self::Cluster(cluster) = self else {
            return Ok(vec![(Node::Only, self.query(cmd).await?)]);
        };
        // No response policy: one reply per master, keyed by its `host:port`.
        let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
        let Value::Map(replies) = cluster.route_command(cmd.clone(), routing).await? else {
            return Err(unexpected_reply());
        };
        let mut answered = Vec::with_capacity(replies.len());
        for (addr, reply) in replies {
            let addr = String::from_redis_value(addr)?;
            let (host, port) = addr.rsplit_once(':').ok_or_else(unexpected_reply)?;
            let port = port.parse().map_err(|_| unexpected_reply())?;
            answered.push(((host.to_owned(), port), reply.extract_error()?));
        }
        // The client sends a fan-out only to the masters it is connected to, and says nothing
        // of the others (checked against redis 1.8: a listing with one master down came back
        // without that master's keys). So the masters the cluster itself names must all have
        // answered; an incomplete listing or readiness check is an error.
        let Some(((host, port), _)) = answered.first() else {
            return Err(no_master_answered());
        };
        let slots = cluster
            .route_command(
                redis::cmd("CLUSTER").arg("SLOTS").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                }),
            )
            .await?;
        let masters = slot_masters(slots, host)?;
        if masters
            .iter()
            .any(|m| !answered.iter().any(|(node, _)| node == m))
        {
            return Err(no_master_answered());
        }
        Ok(answered
            .into_iter()
            .filter(|(node, _)| masters.contains(node))
            .map(|((host, port), reply)| (Node::Master { host, port }, reply))
            .collect())
    }
}

/// The `(host, port)` of every master that serves slots, from a `CLUSTER SLOTS` reply (each
/// entry: first slot, last slot, then the master as `[host, port, id, …]`). An empty host means
/// the answering node's own, `asked_host` (as the cluster client reads it too).
fn slot_masters(reply: Value, asked_host: &str) -> RedisResult<Vec<(String, u16)>> {
    let mut masters = Vec::new();
    for range in Vec::<Vec<Value>>::from_redis_value(reply)? {
        let master = range.into_iter().nth(2).ok_or_else(unexpected_reply)?;
        let mut fields = Vec::<Value>::from_redis_value(master)?.into_iter();
        let (Some(host), Some(port)) = (fields.next(), fields.next()) else {
            return Err(unexpected_reply());
        };
        let host = String::from_redis_value(host)?;
        let host = if host.is_empty() {
            asked_host.to_owned()
        } else {
            host
        };
        let node = (host, u16::from_redis_value(port)?);
        if !masters.contains(&node) {
            masters.push(node);
        }
    }
    Ok(masters)
}

fn no_master_answered() -> RedisError {
    RedisError::from((
        ErrorKind::ClusterConnectionNotFound,
        "a master of the cluster did not answer",
    ))
}

fn unexpected_reply() -> RedisError {
    RedisError::from((
        ErrorKind::UnexpectedReturnType,
        "unexpected reply to a command sent to every master",
    ))
}

/// The current connection, replaced when it cannot recover by itself.
pub(super) struct Connection {
    opener: Opener,
    current: Mutex<Current>,
}

struct Current {
    handle: Handle,
    generation: u64,
    created: Instant,
}

impl Connection {
    pub(super) fn new(target: Target, options: &RedisOptions) -> Result<Self, StoreError> {
        let opener = Opener::new(target, options)?;
        let handle = opener
            .open()
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        Ok(Self {
            opener,
            current: Mutex::new(Current {
                handle,
                generation: 0,
                created: Instant::now(),
            }),
        })
    }

    /// A command routed by its key (on a cluster: to the master of the key's slot).
    pub(super) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> RedisResult<T> {
        self.with_handle(|mut handle| async move { handle.query(cmd).await })
            .await
    }

    /// A command for one node of [`on_every_master`](Self::on_every_master).
    pub(super) async fn query_on<T: FromRedisValue>(
        &self,
        node: &Node,
        cmd: &Cmd,
    ) -> RedisResult<T> {
        self.with_handle(|mut handle| async move { handle.query_on(node, cmd).await })
            .await
    }

    /// `cmd` on the only node, or on every master of a cluster: each node's reply.
    pub(super) async fn on_every_master(&self, cmd: &Cmd) -> RedisResult<Vec<(Node, Value)>> {
        self.with_handle(|mut handle| async move { handle.on_every_master(cmd).await })
            .await
    }

    fn lock(&self) -> MutexGuard<'_, Current> {
        // Only whole-value assignments happen under the lock: a poisoned one is still consistent.
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn with_handle<T, F, Fut>(&self, op: F) -> RedisResult<T>
    where
        F: FnOnce(Handle) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        // The handle is cheap to clone; cloning it keeps the lock short.
        let (handle, generation) = {
            let current = self.lock();
            (current.handle.clone(), current.generation)
        };
        let result = op(handle).await;
        if let Err(e) = &result {
            if !self.opener.recovers_from(e) {
                self.replace(generation);
            }
        }
        result
    }

    /// Starts a fresh (lazy) connection unless another caller already did or the current one is
    /// younger than [`RECONNECT_MAX_DELAY`].
    fn replace(&self, failed_generation: u64) {
        let mut current = self.lock();
        if current.generation != failed_generation
            || current.created.elapsed() < RECONNECT_MAX_DELAY
        {
            return;
        }
        match self.opener.open() {
            Ok(handle) => {
                tracing::info!("replacing the Redis connection after a non-I/O failure");
                *current = Current {
                    handle,
                    generation: failed_generation + 1,
                    created: Instant::now(),
                };
            }
            // Only fails for configurations rejected up front in `Connection::new`.
            Err(e) => tracing::warn!(error = %describe(&e), "cannot replace the Redis connection"),
        }
    }
}
