//! What the packet-core feeds (the RADIUS accounting listener, the IPFIX collector) share as UDP
//! services: binding their socket, the tasks that stop when the feed is dropped, and the periodic
//! log of their counters.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::startup::StartupError;

/// How often a feed's counters are logged (when they changed).
const REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// Binds `addr` for a feed named `what` ("RADIUS accounting listener", "IPFIX collector"). The
/// dev-mode default address taken by another process is a warning and `None`, not an error: a
/// second local server (or a FreeRADIUS) on the same machine still starts.
pub(crate) fn bind_udp(
    addr: SocketAddr,
    dev_default: bool,
    what: &str,
) -> Result<Option<(UdpSocket, SocketAddr)>, StartupError> {
    let bind_error = |source| StartupError::Bind {
        addr: format!("udp {addr}"),
        source,
    };
    let socket = match std::net::UdpSocket::bind(addr) {
        Ok(s) => s,
        Err(e) if dev_default => {
            tracing::warn!(feed.address = %addr, error.cause = %e,
                "dev mode: the address of the {what} is taken; no {what}");
            return Ok(None);
        }
        Err(source) => return Err(bind_error(source)),
    };
    socket.set_nonblocking(true).map_err(bind_error)?;
    let local_addr = socket.local_addr().map_err(bind_error)?;
    let socket = UdpSocket::from_std(socket).map_err(bind_error)?;
    Ok(Some((socket, local_addr)))
}

/// A feed's tasks, aborted when it is dropped.
pub(crate) struct Tasks(pub Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Calls `log(previous, now)` each [`REPORT_INTERVAL`] in which `snapshot()` changed.
pub(crate) async fn report_changes<S: PartialEq>(snapshot: impl Fn() -> S, log: impl Fn(&S, &S)) {
    let mut last = snapshot();
    let mut tick = tokio::time::interval(REPORT_INTERVAL);
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = snapshot();
        if now != last {
            log(&last, &now);
            last = now;
        }
    }
}
