//! A strict IPFIX decoder for what a carrier-grade NAT exports about port blocks.
//!
//! - [`message`]: the message header and its sets (RFC 7011 §3.1, §3.3), every length checked.
//! - [`template`]: template and options template records, withdrawals, and the
//!   [`Templates`] an exporter's transport session holds per observation domain (RFC 7011 §8).
//! - [`nat`]: data records decoded through their template into [`NatEvent`]s: `natEvent`
//!   port-block allocation / de-allocation (RFC 8158 §4, IANA "natEvent" values 16 and 17) with
//!   `sourceIPv4Address` (8), `postNATSourceIPv4Address` (225), `portRangeStart` (361),
//!   `portRangeEnd` (362) and `observationTimeMilliseconds` (323) or the export time.
//!
//! No I/O: the collector owns the socket and feeds datagrams to a [`Decoder`].

pub mod message;
pub mod nat;
pub mod template;
#[cfg(feature = "testing")]
pub mod testing;

pub use message::{Message, MessageError, Set};
pub use nat::{Decoded, Decoder, NatEvent, NatEventKind, SetDrop};
pub use template::{Field, Template, TemplateError, Templates};
