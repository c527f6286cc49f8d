//! The feed's counters, in one struct an exporter can read ([`FeedCounters::snapshot`]). The
//! listener logs a snapshot every minute in which something changed.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use radius_accounting::{PacketError, StatusType};
use serde::Serialize;

/// Why a datagram was dropped (never answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// From an address that is no configured NAS client.
    UnknownNas,
    /// Shorter than the header, or than its Length field.
    Truncated,
    /// Over 4096 octets.
    Oversized,
    /// A Length field below 20 or above 4096.
    BadLength,
    /// Not an Accounting-Request.
    WrongCode,
    /// Not signed with the client's secret.
    BadAuthenticator,
    /// An attribute of the wrong length or form, given twice, or an IPv6 prefix over /128.
    BadAttribute,
    /// No status type; a Start or Interim-Update without a session id, an address or an MSISDN;
    /// a Stop without a session id or an address.
    MissingAttribute,
    /// A Calling-Station-Id that is not an E.164 number.
    BadMsisdn,
    /// An address the resolver could never look up, or a trusted proxy's.
    UnbindableAddress,
    /// A status type this server does not record (tunnel, failed).
    UnsupportedStatus,
    /// The shared store failed: not recorded, so not answered (RFC 2866 §2); the NAS retries.
    StoreError,
}

impl DropReason {
    pub const ALL: [DropReason; 12] = [
        DropReason::UnknownNas,
        DropReason::Truncated,
        DropReason::Oversized,
        DropReason::BadLength,
        DropReason::WrongCode,
        DropReason::BadAuthenticator,
        DropReason::BadAttribute,
        DropReason::MissingAttribute,
        DropReason::BadMsisdn,
        DropReason::UnbindableAddress,
        DropReason::UnsupportedStatus,
        DropReason::StoreError,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropReason::UnknownNas => "unknown_nas",
            DropReason::Truncated => "truncated",
            DropReason::Oversized => "oversized",
            DropReason::BadLength => "bad_length",
            DropReason::WrongCode => "wrong_code",
            DropReason::BadAuthenticator => "bad_authenticator",
            DropReason::BadAttribute => "bad_attribute",
            DropReason::MissingAttribute => "missing_attribute",
            DropReason::BadMsisdn => "bad_msisdn",
            DropReason::UnbindableAddress => "unbindable_address",
            DropReason::UnsupportedStatus => "unsupported_status",
            DropReason::StoreError => "store_error",
        }
    }

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|r| *r == self)
            .expect("every reason is in ALL")
    }
}

impl From<PacketError> for DropReason {
    fn from(e: PacketError) -> Self {
        match e {
            PacketError::TooShort | PacketError::Truncated => DropReason::Truncated,
            PacketError::Oversized => DropReason::Oversized,
            PacketError::BadLength => DropReason::BadLength,
            PacketError::WrongCode(_) => DropReason::WrongCode,
            PacketError::AttributeTooShort(_)
            | PacketError::AttributeOverrun(_)
            | PacketError::BadValue(_)
            | PacketError::Duplicate(_)
            | PacketError::PrefixTooLong
            | PacketError::TooManyAddresses => DropReason::BadAttribute,
        }
    }
}

/// The status types recorded.
const ACCEPTED: [&str; 5] = [
    "start",
    "interim_update",
    "stop",
    "accounting_on",
    "accounting_off",
];

/// At most this many NAS addresses are tracked for the active-session estimate (NAS-IP-Address
/// comes from the packet: a proxy could name many).
const MAX_TRACKED_NAS: usize = 4096;

#[derive(Default)]
pub struct FeedCounters {
    accepted: [AtomicU64; ACCEPTED.len()],
    retransmissions: AtomicU64,
    dropped: [AtomicU64; DropReason::ALL.len()],
    /// Starts minus Stops per NAS, zeroed by its Accounting-On/Off.
    active: Mutex<HashMap<IpAddr, u64>>,
    lookups_hit: AtomicU64,
    lookups_miss: AtomicU64,
}

/// What the counters say at one instant (logged as JSON; a metrics exporter reads the same).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CountersSnapshot {
    /// Requests recorded and answered, by status type.
    pub accepted: BTreeMap<&'static str, u64>,
    /// Retransmissions answered (or ignored while the first copy was being recorded) without
    /// applying them again.
    pub retransmissions: u64,
    /// Datagrams dropped unanswered, by reason.
    pub dropped: BTreeMap<&'static str, u64>,
    /// Sessions started and not stopped as this listener saw them, NAS flushes subtracted: an
    /// estimate of this replica's share (sessions that time out without a Stop stay counted
    /// until their NAS restarts).
    pub active_sessions: u64,
    /// Session lookups of `/authorize` that found a subscriber, and that did not.
    pub lookups_hit: u64,
    pub lookups_miss: u64,
}

impl FeedCounters {
    pub fn accepted(&self, status: StatusType) {
        let i = match status {
            StatusType::Start => 0,
            StatusType::InterimUpdate => 1,
            StatusType::Stop => 2,
            StatusType::AccountingOn => 3,
            StatusType::AccountingOff => 4,
            StatusType::Other(_) => return,
        };
        self.accepted[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn retransmission(&self) {
        self.retransmissions.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dropped(&self, reason: DropReason) {
        self.dropped[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn dropped_for(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()].load(Ordering::Relaxed)
    }

    pub fn session_started(&self, nas: IpAddr) {
        let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        if active.len() < MAX_TRACKED_NAS || active.contains_key(&nas) {
            *active.entry(nas).or_default() += 1;
        }
    }

    pub fn session_stopped(&self, nas: IpAddr) {
        let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = active.get_mut(&nas) {
            *n = n.saturating_sub(1);
        }
    }

    pub fn nas_flushed(&self, nas: IpAddr) {
        let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        active.remove(&nas);
    }

    pub fn lookup(&self, hit: bool) {
        let c = if hit {
            &self.lookups_hit
        } else {
            &self.lookups_miss
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CountersSnapshot {
        let active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        CountersSnapshot {
            accepted: ACCEPTED
                .iter()
                .zip(&self.accepted)
                .map(|(name, c)| (*name, c.load(Ordering::Relaxed)))
                .collect(),
            retransmissions: self.retransmissions.load(Ordering::Relaxed),
            dropped: DropReason::ALL
                .iter()
                .zip(&self.dropped)
                .map(|(r, c)| (r.name(), c.load(Ordering::Relaxed)))
                .collect(),
            active_sessions: active.values().sum(),
            lookups_hit: self.lookups_hit.load(Ordering::Relaxed),
            lookups_miss: self.lookups_miss.load(Ordering::Relaxed),
        }
    }
}

impl CountersSnapshot {
    /// Datagrams dropped for every reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_active_estimate_follows_starts_stops_and_flushes_per_nas() {
        let c = FeedCounters::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        c.session_started(a);
        c.session_started(a);
        c.session_started(b);
        c.session_stopped(a);
        c.session_stopped(b);
        c.session_stopped(b);
        assert_eq!(c.snapshot().active_sessions, 1);
        c.nas_flushed(a);
        assert_eq!(c.snapshot().active_sessions, 0);
    }

    #[test]
    fn every_drop_reason_has_its_own_counter() {
        let c = FeedCounters::default();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            for _ in 0..=i {
                c.dropped(*r);
            }
        }
        let s = c.snapshot();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(s.dropped[r.name()], i as u64 + 1);
        }
    }
}
