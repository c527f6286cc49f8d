//! The attributes of an Accounting-Request that bind a subscriber to addresses, read strictly:
//! a value of the wrong size, a single-valued attribute given twice (which of two
//! Calling-Station-Ids is the subscriber?), or an IPv6 prefix longer than 128 bits refuses the
//! whole packet. Attributes this server does not use are skipped after their length is checked.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;

use crate::packet::{PacketError, Request};

/// The 3GPP vendor id (TS 29.061 §16.4.7).
pub const VENDOR_3GPP: u32 = 10415;
/// Most addresses and prefixes one request may bind: bounded work per datagram.
pub const MAX_ADDRESSES: usize = 8;

// RFC 2865 §5, RFC 2866 §5, RFC 3162 §2, RFC 4818 §3, RFC 6911 §3.1.
const NAS_IP_ADDRESS: u8 = 4;
const FRAMED_IP_ADDRESS: u8 = 8;
const VENDOR_SPECIFIC: u8 = 26;
const CALLING_STATION_ID: u8 = 31;
const ACCT_STATUS_TYPE: u8 = 40;
const ACCT_DELAY_TIME: u8 = 41;
const ACCT_SESSION_ID: u8 = 44;
const ACCT_SESSION_TIME: u8 = 46;
const NAS_IPV6_ADDRESS: u8 = 95;
const FRAMED_IPV6_PREFIX: u8 = 97;
const DELEGATED_IPV6_PREFIX: u8 = 123;
const FRAMED_IPV6_ADDRESS: u8 = 168;
// 3GPP sub-attributes (TS 29.061 §16.4.7.2).
const GPP_IMSI: u8 = 1;
const GPP_IMEISV: u8 = 20;
const GPP_RAT_TYPE: u8 = 21;

/// `Acct-Status-Type` (RFC 2866 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusType {
    Start,
    Stop,
    InterimUpdate,
    AccountingOn,
    AccountingOff,
    /// Tunnel and failure types this server does not record.
    Other(u32),
}

impl From<u32> for StatusType {
    fn from(v: u32) -> Self {
        match v {
            1 => Self::Start,
            2 => Self::Stop,
            3 => Self::InterimUpdate,
            7 => Self::AccountingOn,
            8 => Self::AccountingOff,
            n => Self::Other(n),
        }
    }
}

/// The 3GPP attributes kept with a session for audit. Personal data: `Debug` masks them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Audit {
    pub imsi: Option<String>,
    pub imeisv: Option<String>,
    /// TS 29.274 §8.17 values (6 = EUTRAN, 10 = NR, …).
    pub rat_type: Option<u8>,
}

impl fmt::Debug for Audit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Audit")
            .field("imsi", &self.imsi.as_ref().map(|_| "***"))
            .field("imeisv", &self.imeisv.as_ref().map(|_| "***"))
            .field("rat_type", &self.rat_type)
            .finish()
    }
}

/// What one Accounting-Request says about a session.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Accounting {
    pub status: Option<StatusType>,
    pub session_id: Option<Vec<u8>>,
    /// As sent: 3GPP gateways send the MSISDN without `+` (TS 29.061 §16.4.7.1).
    pub calling_station_id: Option<String>,
    pub framed_ip: Option<Ipv4Addr>,
    pub framed_ipv6_prefixes: Vec<Ipv6Net>,
    pub delegated_ipv6_prefixes: Vec<Ipv6Net>,
    pub framed_ipv6_addresses: Vec<Ipv6Addr>,
    /// `NAS-IP-Address`, else `NAS-IPv6-Address`.
    pub nas_ip: Option<IpAddr>,
    /// Seconds the client has been trying to send this record (RFC 2866 §5.2).
    pub delay_time: u32,
    /// Seconds the session has lasted (RFC 2866 §5.7; Stop and Interim-Update).
    pub session_time: u32,
    pub audit: Audit,
}

impl fmt::Debug for Accounting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accounting")
            .field("status", &self.status)
            .field("session_id", &self.session_id.as_ref().map(|_| "***"))
            .field(
                "calling_station_id",
                &self.calling_station_id.as_ref().map(|_| "***"),
            )
            .field("addresses", &self.address_count())
            .field("nas_ip", &self.nas_ip)
            .field("delay_time", &self.delay_time)
            .field("session_time", &self.session_time)
            .field("audit", &self.audit)
            .finish()
    }
}

impl Accounting {
    /// Reads the attributes of an (authenticated) request.
    pub fn from_request(request: &Request<'_>) -> Result<Self, PacketError> {
        let mut a = Accounting::default();
        let mut nas_ipv4 = None;
        let mut nas_ipv6 = None;
        let mut delay_time = None;
        let mut session_time = None;
        for attribute in request.attributes() {
            let (kind, value) = attribute?;
            match kind {
                ACCT_STATUS_TYPE => set(&mut a.status, kind, u32_of(kind, value)?.into())?,
                ACCT_SESSION_ID => set(&mut a.session_id, kind, text(kind, value)?.to_vec())?,
                CALLING_STATION_ID => {
                    let s = std::str::from_utf8(text(kind, value)?)
                        .map_err(|_| PacketError::BadValue(kind))?;
                    set(&mut a.calling_station_id, kind, s.to_owned())?
                }
                FRAMED_IP_ADDRESS => {
                    let ip = Ipv4Addr::from(array::<4>(kind, value)?);
                    // RFC 2865 §5.8: 255.255.255.255 ("the NAS should select") and
                    // 255.255.255.254 ("the user may select") are instructions, not addresses.
                    let placeholder =
                        ip == Ipv4Addr::BROADCAST || ip == Ipv4Addr::new(255, 255, 255, 254);
                    if a.framed_ip.is_some() {
                        return Err(PacketError::Duplicate(kind));
                    }
                    if !placeholder {
                        a.framed_ip = Some(ip);
                    }
                }
                FRAMED_IPV6_PREFIX => a.framed_ipv6_prefixes.push(prefix(kind, value)?),
                DELEGATED_IPV6_PREFIX => a.delegated_ipv6_prefixes.push(prefix(kind, value)?),
                FRAMED_IPV6_ADDRESS => a
                    .framed_ipv6_addresses
                    .push(Ipv6Addr::from(array::<16>(kind, value)?)),
                NAS_IP_ADDRESS => set(
                    &mut nas_ipv4,
                    kind,
                    Ipv4Addr::from(array::<4>(kind, value)?),
                )?,
                NAS_IPV6_ADDRESS => set(
                    &mut nas_ipv6,
                    kind,
                    Ipv6Addr::from(array::<16>(kind, value)?),
                )?,
                ACCT_DELAY_TIME => set(&mut delay_time, kind, u32_of(kind, value)?)?,
                ACCT_SESSION_TIME => set(&mut session_time, kind, u32_of(kind, value)?)?,
                VENDOR_SPECIFIC => vendor_specific(&mut a.audit, value)?,
                _ => {}
            }
            if a.address_count() > MAX_ADDRESSES {
                return Err(PacketError::TooManyAddresses);
            }
        }
        a.nas_ip = nas_ipv4.map(IpAddr::V4).or(nas_ipv6.map(IpAddr::V6));
        a.delay_time = delay_time.unwrap_or(0);
        a.session_time = session_time.unwrap_or(0);
        Ok(a)
    }

    fn address_count(&self) -> usize {
        usize::from(self.framed_ip.is_some())
            + self.framed_ipv6_prefixes.len()
            + self.delegated_ipv6_prefixes.len()
            + self.framed_ipv6_addresses.len()
    }
}

fn set<T>(slot: &mut Option<T>, kind: u8, value: T) -> Result<(), PacketError> {
    if slot.is_some() {
        return Err(PacketError::Duplicate(kind));
    }
    *slot = Some(value);
    Ok(())
}

fn array<const N: usize>(kind: u8, value: &[u8]) -> Result<[u8; N], PacketError> {
    value.try_into().map_err(|_| PacketError::BadValue(kind))
}

fn u32_of(kind: u8, value: &[u8]) -> Result<u32, PacketError> {
    array::<4>(kind, value).map(u32::from_be_bytes)
}

/// RFC 2865 §5: a text or string attribute has at least one octet.
fn text(kind: u8, value: &[u8]) -> Result<&[u8], PacketError> {
    if value.is_empty() {
        return Err(PacketError::BadValue(kind));
    }
    Ok(value)
}

/// RFC 3162 §2.3 / RFC 8044 §3.10: Reserved, Prefix-Length (0..=128), then at least
/// ceil(length / 8) prefix octets, bits past the length zero.
fn prefix(kind: u8, value: &[u8]) -> Result<Ipv6Net, PacketError> {
    let [_reserved, len, bytes @ ..] = value else {
        return Err(PacketError::BadValue(kind));
    };
    if *len > 128 {
        return Err(PacketError::PrefixTooLong);
    }
    if bytes.len() > 16 || bytes.len() < usize::from(len.div_ceil(8)) {
        return Err(PacketError::BadValue(kind));
    }
    let mut octets = [0u8; 16];
    octets[..bytes.len()].copy_from_slice(bytes);
    let net = Ipv6Net::new(Ipv6Addr::from(octets), *len).map_err(|_| PacketError::PrefixTooLong)?;
    if net.trunc().addr() != net.addr() {
        return Err(PacketError::BadValue(kind));
    }
    Ok(net)
}

/// RFC 2865 §5.26: Vendor-Id, then (for 3GPP, TS 29.061 §16.4.7) sub-attributes in the usual
/// `type length value` form. Other vendors' attributes are skipped.
fn vendor_specific(audit: &mut Audit, value: &[u8]) -> Result<(), PacketError> {
    let Some((vendor, mut rest)) = value.split_first_chunk::<4>() else {
        return Err(PacketError::BadValue(VENDOR_SPECIFIC));
    };
    if u32::from_be_bytes(*vendor) != VENDOR_3GPP {
        return Ok(());
    }
    while let [kind, len, ..] = rest {
        let len = usize::from(*len);
        if len < 2 {
            return Err(PacketError::AttributeTooShort(VENDOR_SPECIFIC));
        }
        let Some(sub) = rest.get(2..len) else {
            return Err(PacketError::AttributeOverrun(VENDOR_SPECIFIC));
        };
        match *kind {
            GPP_IMSI => set(&mut audit.imsi, VENDOR_SPECIFIC, digits(sub, 6..=15)?)?,
            GPP_IMEISV => set(&mut audit.imeisv, VENDOR_SPECIFIC, digits(sub, 14..=16)?)?,
            GPP_RAT_TYPE => set(
                &mut audit.rat_type,
                VENDOR_SPECIFIC,
                array::<1>(VENDOR_SPECIFIC, sub)?[0],
            )?,
            _ => {}
        }
        rest = &rest[len..];
    }
    if !rest.is_empty() {
        return Err(PacketError::AttributeOverrun(VENDOR_SPECIFIC));
    }
    Ok(())
}

/// IMSI (TS 23.003 §2.2: at most 15 digits) and IMEI / IMEISV (§6.2: 14 to 16 digits), sent as
/// text (TS 29.061 §16.4.7.2).
fn digits(value: &[u8], len: std::ops::RangeInclusive<usize>) -> Result<String, PacketError> {
    if !len.contains(&value.len()) || !value.iter().all(u8::is_ascii_digit) {
        return Err(PacketError::BadValue(VENDOR_SPECIFIC));
    }
    Ok(String::from_utf8_lossy(value).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::RequestBuilder;

    const SECRET: &[u8] = b"testing123";

    fn read(b: RequestBuilder) -> Result<Accounting, PacketError> {
        let packet = b.build(SECRET);
        Accounting::from_request(&Request::parse(&packet).unwrap())
    }

    fn start() -> RequestBuilder {
        RequestBuilder::new(1)
            .u32(ACCT_STATUS_TYPE, 1)
            .string(ACCT_SESSION_ID, b"4d2a0001")
            .string(CALLING_STATION_ID, b"491701234567")
    }

    #[test]
    fn a_3gpp_start_reads_every_attribute_the_binding_needs() {
        let a = read(
            start()
                .ipv4(FRAMED_IP_ADDRESS, [100, 64, 0, 7])
                .ipv6_prefix(FRAMED_IPV6_PREFIX, "2001:db8:1:2::/64")
                .ipv6_prefix(DELEGATED_IPV6_PREFIX, "2001:db8:ff00::/56")
                .raw(
                    FRAMED_IPV6_ADDRESS,
                    &"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets(),
                )
                .ipv4(NAS_IP_ADDRESS, [10, 0, 0, 1])
                .u32(ACCT_DELAY_TIME, 3)
                .vsa_3gpp(GPP_IMSI, b"262011234567890")
                .vsa_3gpp(GPP_IMEISV, b"3534900698733301")
                .vsa_3gpp(GPP_RAT_TYPE, &[6])
                .vsa(9, &[1, 3, 0]),
        )
        .unwrap();
        assert_eq!(a.status, Some(StatusType::Start));
        assert_eq!(a.session_id.as_deref(), Some(&b"4d2a0001"[..]));
        assert_eq!(a.calling_station_id.as_deref(), Some("491701234567"));
        assert_eq!(a.framed_ip, Some(Ipv4Addr::new(100, 64, 0, 7)));
        assert_eq!(
            a.framed_ipv6_prefixes,
            vec!["2001:db8:1:2::/64".parse().unwrap()]
        );
        assert_eq!(
            a.delegated_ipv6_prefixes,
            vec!["2001:db8:ff00::/56".parse().unwrap()]
        );
        assert_eq!(
            a.framed_ipv6_addresses,
            vec!["2001:db8::7".parse::<Ipv6Addr>().unwrap()]
        );
        assert_eq!(a.nas_ip, Some(IpAddr::from([10, 0, 0, 1])));
        assert_eq!(a.delay_time, 3);
        assert_eq!(a.audit.imsi.as_deref(), Some("262011234567890"));
        assert_eq!(a.audit.imeisv.as_deref(), Some("3534900698733301"));
        assert_eq!(a.audit.rat_type, Some(6));
    }

    #[test]
    fn debug_shows_no_subscriber_data() {
        let a = read(start().vsa_3gpp(GPP_IMSI, b"262011234567890")).unwrap();
        let shown = format!("{a:?}");
        for secret in ["491701234567", "262011234567890", "4d2a0001"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn the_nas_ipv4_address_wins_over_the_ipv6_one() {
        let a = read(
            start()
                .raw(
                    NAS_IPV6_ADDRESS,
                    &"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets(),
                )
                .ipv4(NAS_IP_ADDRESS, [10, 0, 0, 1]),
        )
        .unwrap();
        assert_eq!(a.nas_ip, Some(IpAddr::from([10, 0, 0, 1])));
        let a = read(start().raw(
            NAS_IPV6_ADDRESS,
            &"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets(),
        ))
        .unwrap();
        assert_eq!(a.nas_ip, "2001:db8::1".parse().ok());
    }

    #[test]
    fn the_placeholder_framed_addresses_are_no_address() {
        for placeholder in [[255, 255, 255, 255], [255, 255, 255, 254]] {
            let a = read(start().ipv4(FRAMED_IP_ADDRESS, placeholder)).unwrap();
            assert_eq!(a.framed_ip, None);
        }
    }

    #[test]
    fn values_of_the_wrong_size_or_form_refuse_the_packet() {
        let cases: Vec<(RequestBuilder, PacketError)> = vec![
            (
                start().raw(FRAMED_IP_ADDRESS, &[1, 2, 3]),
                PacketError::BadValue(8),
            ),
            (start().u32(ACCT_STATUS_TYPE, 2), PacketError::Duplicate(40)),
            (
                start().raw(ACCT_DELAY_TIME, &[0, 1]),
                PacketError::BadValue(41),
            ),
            (
                RequestBuilder::new(1).raw(ACCT_STATUS_TYPE, &[0, 0, 1]),
                PacketError::BadValue(40),
            ),
            (
                start().raw(NAS_IP_ADDRESS, &[1; 5]),
                PacketError::BadValue(4),
            ),
            (
                start().raw(FRAMED_IPV6_ADDRESS, &[1; 15]),
                PacketError::BadValue(168),
            ),
            (
                RequestBuilder::new(1).raw(ACCT_SESSION_ID, b""),
                PacketError::BadValue(44),
            ),
            (
                RequestBuilder::new(1).raw(CALLING_STATION_ID, &[0xff, 0xfe]),
                PacketError::BadValue(31),
            ),
            (
                start().raw(FRAMED_IPV6_PREFIX, &[0, 129, 0x20, 0x01]),
                PacketError::PrefixTooLong,
            ),
            (
                start().raw(FRAMED_IPV6_PREFIX, &[0, 255]),
                PacketError::PrefixTooLong,
            ),
            // /64 with only four prefix octets.
            (
                start().raw(DELEGATED_IPV6_PREFIX, &[0, 64, 0x20, 0x01, 0x0d, 0xb8]),
                PacketError::BadValue(123),
            ),
            // Bits past the prefix length set.
            (
                start().raw(FRAMED_IPV6_PREFIX, &[0, 16, 0x20, 0x01, 0x0d]),
                PacketError::BadValue(97),
            ),
            (
                start().raw(FRAMED_IPV6_PREFIX, &[0]),
                PacketError::BadValue(97),
            ),
            (
                start().raw(
                    FRAMED_IPV6_PREFIX,
                    &[
                        0, 64, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
                    ],
                ),
                PacketError::BadValue(97),
            ),
            (
                start().string(CALLING_STATION_ID, b"1"),
                PacketError::Duplicate(31),
            ),
            (
                start().string(ACCT_SESSION_ID, b"other"),
                PacketError::Duplicate(44),
            ),
            (
                start().u32(ACCT_DELAY_TIME, 0).u32(ACCT_DELAY_TIME, 2),
                PacketError::Duplicate(41),
            ),
            (
                start()
                    .ipv4(FRAMED_IP_ADDRESS, [1, 1, 1, 1])
                    .ipv4(FRAMED_IP_ADDRESS, [1, 1, 1, 2]),
                PacketError::Duplicate(8),
            ),
            (
                start().raw(VENDOR_SPECIFIC, &[0, 0, 0x28]),
                PacketError::BadValue(26),
            ),
            (
                start().vsa_3gpp(GPP_IMSI, b"26201x"),
                PacketError::BadValue(26),
            ),
            (
                start().vsa_3gpp(GPP_IMSI, b"1234567890123456"),
                PacketError::BadValue(26),
            ),
            (
                start().vsa_3gpp(GPP_IMEISV, b"12"),
                PacketError::BadValue(26),
            ),
            (
                start().vsa_3gpp(GPP_RAT_TYPE, &[6, 6]),
                PacketError::BadValue(26),
            ),
            (
                start()
                    .vsa_3gpp(GPP_RAT_TYPE, &[6])
                    .vsa_3gpp(GPP_RAT_TYPE, &[6]),
                PacketError::Duplicate(26),
            ),
            // A 3GPP sub-attribute whose length is below 2 or runs past the attribute.
            (
                start().raw(VENDOR_SPECIFIC, &[0, 0, 0x28, 0xaf, 21, 1]),
                PacketError::AttributeTooShort(26),
            ),
            (
                start().raw(VENDOR_SPECIFIC, &[0, 0, 0x28, 0xaf, 21, 4, 6]),
                PacketError::AttributeOverrun(26),
            ),
            (
                start().raw(VENDOR_SPECIFIC, &[0, 0, 0x28, 0xaf, 21]),
                PacketError::AttributeOverrun(26),
            ),
        ];
        for (i, (builder, expected)) in cases.into_iter().enumerate() {
            assert_eq!(read(builder).err(), Some(expected), "case {i}");
        }
    }

    #[test]
    fn a_request_binds_a_bounded_number_of_addresses() {
        let mut b = start().ipv4(FRAMED_IP_ADDRESS, [100, 64, 0, 1]);
        for i in 0..MAX_ADDRESSES - 1 {
            b = b.ipv6_prefix(FRAMED_IPV6_PREFIX, &format!("2001:db8:{i}::/64"));
        }
        assert_eq!(read(b.clone()).unwrap().address_count(), MAX_ADDRESSES);
        let b = b.ipv6_prefix(DELEGATED_IPV6_PREFIX, "2001:db8:ff00::/56");
        assert_eq!(read(b).err(), Some(PacketError::TooManyAddresses));
    }

    #[test]
    fn status_types_map_to_rfc_2866_values() {
        for (v, s) in [
            (1, StatusType::Start),
            (2, StatusType::Stop),
            (3, StatusType::InterimUpdate),
            (7, StatusType::AccountingOn),
            (8, StatusType::AccountingOff),
            (15, StatusType::Other(15)),
        ] {
            assert_eq!(StatusType::from(v), s);
        }
    }

    proptest::proptest! {
        /// Whatever the octets, parsing answers (a value or an error) and never panics.
        #[test]
        fn arbitrary_datagrams_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            if let Ok(req) = Request::parse(&bytes) {
                let _ = req.is_authentic(SECRET);
                let _ = Accounting::from_request(&req);
            }
        }

        /// Well-formed headers with arbitrary attribute octets: the walk and the reading still
        /// never panic.
        #[test]
        fn arbitrary_attributes_never_panic(attrs in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let mut p = vec![4, 1, 0, 0];
            p.extend_from_slice(&[0; 16]);
            p.extend_from_slice(&attrs);
            let len = p.len() as u16;
            p[2..4].copy_from_slice(&len.to_be_bytes());
            let req = Request::parse(&p).unwrap();
            let _ = Accounting::from_request(&req);
        }
    }
}
