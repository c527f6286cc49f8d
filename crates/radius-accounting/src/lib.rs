//! RADIUS accounting (RFC 2866) as a packet core reports data sessions: a strict codec, no I/O.
//!
//! - [`Request::parse`] checks the header of a datagram (sizes, the Length field, the code);
//!   [`Request::is_authentic`] checks the Request Authenticator with the client's shared secret
//!   (constant time); [`Request::response`] builds the Accounting-Response.
//! - [`Accounting::from_request`] reads the attributes a session binding needs: status type,
//!   session id, the subscriber's addresses (IPv4, IPv6 prefix, delegated prefix, IPv6 address),
//!   Calling-Station-Id, the NAS address, the delay and session times, and the 3GPP
//!   vendor-specific attributes kept for audit (IMSI, IMEISV, RAT type; TS 29.061 §16.4.7).
//!
//! Why not a RADIUS crate: docs/decisions/0010-radius-accounting-codec.md.

mod attributes;
mod packet;
#[cfg(feature = "testing")]
pub mod testing;

pub use attributes::{Accounting, Audit, StatusType, MAX_ADDRESSES, VENDOR_3GPP};
pub use packet::{
    request_authenticator, Attributes, PacketError, Request, ACCOUNTING_REQUEST,
    ACCOUNTING_RESPONSE, HEADER_LEN, MAX_PACKET_LEN,
};
