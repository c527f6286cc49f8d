//! The RADIUS packet (RFC 2865 §3) as far as accounting needs it: the header, the Request and
//! Response Authenticators of RFC 2866 §3, and the walk over the attributes (RFC 2865 §5). Every
//! length is checked before it is used; nothing here allocates per attribute.

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// Code, Identifier, Length, Authenticator.
pub const HEADER_LEN: usize = 20;
/// RFC 2865 §3: "The maximum length is 4096."
pub const MAX_PACKET_LEN: usize = 4096;
/// RFC 2866 §3.
pub const ACCOUNTING_REQUEST: u8 = 4;
pub const ACCOUNTING_RESPONSE: u8 = 5;

/// Why a datagram is not an Accounting-Request this server will look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("shorter than the 20-octet header")]
    TooShort,
    #[error("larger than 4096 octets")]
    Oversized,
    #[error("the Length field is below the header size or above 4096")]
    BadLength,
    #[error("the Length field says more than the datagram holds")]
    Truncated,
    #[error("code {0} is not an Accounting-Request")]
    WrongCode(u8),
    #[error("attribute {0} has a length below 2")]
    AttributeTooShort(u8),
    #[error("attribute {0} runs past the end of the packet")]
    AttributeOverrun(u8),
    #[error("attribute {0} has a value of the wrong size or form")]
    BadValue(u8),
    #[error("attribute {0} appears more than once")]
    Duplicate(u8),
    #[error("an IPv6 prefix is longer than 128 bits")]
    PrefixTooLong,
    #[error("more addresses than one session holds")]
    TooManyAddresses,
}

/// An Accounting-Request whose header has been checked; the authenticator is not yet.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// Exactly the octets the Length field covers; what follows in the datagram is padding
    /// (RFC 2865 §3: "Octets outside the range of the Length field MUST be treated as padding
    /// and ignored on reception").
    packet: &'a [u8],
}

impl<'a> Request<'a> {
    /// Checks the header of a received datagram. The lengths are checked before the code, so
    /// the counters tell a truncated packet from a packet of another kind.
    pub fn parse(datagram: &'a [u8]) -> Result<Self, PacketError> {
        if datagram.len() > MAX_PACKET_LEN {
            return Err(PacketError::Oversized);
        }
        if datagram.len() < HEADER_LEN {
            return Err(PacketError::TooShort);
        }
        let length = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
        if !(HEADER_LEN..=MAX_PACKET_LEN).contains(&length) {
            return Err(PacketError::BadLength);
        }
        // RFC 2865 §3: a packet shorter than its Length field "MUST be silently discarded".
        let packet = datagram.get(..length).ok_or(PacketError::Truncated)?;
        if packet[0] != ACCOUNTING_REQUEST {
            return Err(PacketError::WrongCode(packet[0]));
        }
        Ok(Self { packet })
    }

    pub fn identifier(&self) -> u8 {
        self.packet[1]
    }

    pub fn authenticator(&self) -> [u8; 16] {
        let mut a = [0; 16];
        a.copy_from_slice(&self.packet[4..HEADER_LEN]);
        a
    }

    /// The packet as the Length field delimits it.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.packet
    }

    /// RFC 2866 §3: Request Authenticator = MD5(Code + Identifier + Length + 16 zero octets +
    /// request attributes + shared secret). Compared in constant time, so the answer time does
    /// not tell a forger how many octets of a guess were right.
    pub fn is_authentic(&self, secret: &[u8]) -> bool {
        let expected = request_authenticator(self.packet, secret);
        bool::from(expected.ct_eq(&self.packet[4..HEADER_LEN]))
    }

    /// The Accounting-Response to this request: no attributes, Response Authenticator =
    /// MD5(Code + Identifier + Length + Request Authenticator + attributes + secret) (RFC 2866 §3).
    pub fn response(&self, secret: &[u8]) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = ACCOUNTING_RESPONSE;
        out[1] = self.identifier();
        out[2..4].copy_from_slice(&(HEADER_LEN as u16).to_be_bytes());
        out[4..].copy_from_slice(&self.packet[4..HEADER_LEN]);
        let digest: [u8; 16] = Md5::new()
            .chain_update(out)
            .chain_update(secret)
            .finalize()
            .into();
        out[4..].copy_from_slice(&digest);
        out
    }

    /// The attributes, in order.
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes {
            rest: &self.packet[HEADER_LEN..],
        }
    }
}

/// The Request Authenticator of `packet` (its own authenticator octets are taken as zeros).
pub fn request_authenticator(packet: &[u8], secret: &[u8]) -> [u8; 16] {
    Md5::new()
        .chain_update(&packet[..4])
        .chain_update([0u8; 16])
        .chain_update(&packet[HEADER_LEN..])
        .chain_update(secret)
        .finalize()
        .into()
}

/// Walks `Type Length Value…` (RFC 2865 §5). A length below 2 or past the end is an error, and
/// the walk stops there: what follows a broken length cannot be told from garbage.
pub struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<(u8, &'a [u8]), PacketError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&kind, after) = self.rest.split_first()?;
        let Some(&len) = after.first() else {
            self.rest = &[];
            return Some(Err(PacketError::AttributeOverrun(kind)));
        };
        let len = usize::from(len);
        if len < 2 {
            self.rest = &[];
            return Some(Err(PacketError::AttributeTooShort(kind)));
        }
        let Some(value) = self.rest.get(2..len) else {
            self.rest = &[];
            return Some(Err(PacketError::AttributeOverrun(kind)));
        };
        self.rest = &self.rest[len..];
        Some(Ok((kind, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::RequestBuilder;

    const SECRET: &[u8] = b"testing123";

    fn valid() -> Vec<u8> {
        RequestBuilder::new(7)
            .u32(40, 1)
            .string(44, b"session-1")
            .build(SECRET)
    }

    #[test]
    fn a_request_signed_with_the_secret_is_authentic_and_no_other_is() {
        let packet = valid();
        let req = Request::parse(&packet).unwrap();
        assert_eq!(req.identifier(), 7);
        assert!(req.is_authentic(SECRET));
        assert!(!req.is_authentic(b"testing124"));
        assert!(!req.is_authentic(b""));
        // Any flipped bit in the attributes breaks it.
        let mut tampered = packet.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(!Request::parse(&tampered).unwrap().is_authentic(SECRET));
    }

    /// RFC 2866 §3 spelled out independently of `response`: MD5 over the response with the
    /// request's authenticator in place, then the secret.
    #[test]
    fn the_response_authenticator_covers_the_request_authenticator_and_the_secret() {
        let packet = valid();
        let req = Request::parse(&packet).unwrap();
        let resp = req.response(SECRET);
        assert_eq!(&resp[..4], &[5, 7, 0, 20]);
        let mut input = vec![5, 7, 0, 20];
        input.extend_from_slice(&packet[4..20]);
        input.extend_from_slice(SECRET);
        let expected: [u8; 16] = Md5::digest(&input).into();
        assert_eq!(&resp[4..], &expected);
        assert_ne!(req.response(b"other")[4..], resp[4..]);
    }

    #[test]
    fn octets_beyond_the_length_field_are_padding() {
        let mut packet = valid();
        packet.extend_from_slice(&[0xde, 0xad]);
        let req = Request::parse(&packet).unwrap();
        assert!(req.is_authentic(SECRET));
        assert_eq!(req.as_bytes().len(), packet.len() - 2);
    }

    #[test]
    fn headers_that_lie_or_do_not_fit_are_refused() {
        let packet = valid();
        assert_eq!(
            Request::parse(&packet[..19]).err(),
            Some(PacketError::TooShort)
        );
        assert_eq!(Request::parse(&[]).err(), Some(PacketError::TooShort));
        assert_eq!(
            Request::parse(&vec![4; 4097]).err(),
            Some(PacketError::Oversized)
        );
        let with_length = |len: u16| {
            let mut p = packet.clone();
            p[2..4].copy_from_slice(&len.to_be_bytes());
            Request::parse(&p).err()
        };
        assert_eq!(with_length(19), Some(PacketError::BadLength));
        assert_eq!(with_length(0), Some(PacketError::BadLength));
        assert_eq!(with_length(4097), Some(PacketError::BadLength));
        assert_eq!(
            with_length(packet.len() as u16 + 1),
            Some(PacketError::Truncated)
        );
        for code in [1, 2, 3, 5, 11, 12, 40, 255] {
            let mut p = packet.clone();
            p[0] = code;
            assert_eq!(Request::parse(&p).err(), Some(PacketError::WrongCode(code)));
        }
    }

    #[test]
    fn attribute_lengths_below_two_or_past_the_end_stop_the_walk() {
        let walk = |attrs: &[u8]| {
            let mut p = vec![4, 1, 0, 0];
            p.extend_from_slice(&[0; 16]);
            p.extend_from_slice(attrs);
            let len = p.len() as u16;
            p[2..4].copy_from_slice(&len.to_be_bytes());
            Request::parse(&p)
                .unwrap()
                .attributes()
                .collect::<Vec<_>>()
                .into_iter()
                .map(|r| r.map(|(t, v)| (t, v.to_vec())))
                .collect::<Vec<_>>()
        };
        assert_eq!(walk(&[40, 6, 0, 0, 0, 1]), vec![Ok((40, vec![0, 0, 0, 1]))]);
        assert_eq!(walk(&[40, 2]), vec![Ok((40, vec![]))]);
        assert_eq!(
            walk(&[40, 1, 0, 0]),
            vec![Err(PacketError::AttributeTooShort(40))]
        );
        assert_eq!(
            walk(&[40, 0]),
            vec![Err(PacketError::AttributeTooShort(40))]
        );
        assert_eq!(
            walk(&[40, 7, 0, 0, 0, 1]),
            vec![Err(PacketError::AttributeOverrun(40))]
        );
        assert_eq!(walk(&[40]), vec![Err(PacketError::AttributeOverrun(40))]);
        assert_eq!(
            walk(&[44, 3, b'x', 40, 9, 1]),
            vec![
                Ok((44, b"x".to_vec())),
                Err(PacketError::AttributeOverrun(40))
            ]
        );
    }
}
