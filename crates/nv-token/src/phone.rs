//! E.164 phone numbers (MSISDNs) and their SHA-256 hashes.
//!
//! A phone number is personal data: [`PhoneNumber`] has no `Display` and a masked `Debug`, so it
//! cannot end up in a log line by accident. Use [`PhoneNumber::as_str`] where the number itself is
//! the answer (the `device-phone-number` response, the sealed token).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why a string is not an E.164 number or a SHA-256 hex hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    #[error("a phone number must start with '+' and a country code (E.164, e.g. +33612345678)")]
    MissingPlus,
    #[error("a phone number has 5 to 15 digits after '+', the first not 0")]
    BadDigits,
    #[error("a hashed phone number is 64 hexadecimal characters (SHA-256)")]
    BadHash,
}

/// An E.164 number: `+`, a non-zero digit, then 4 to 14 digits — the CAMARA pattern
/// `^\+[1-9][0-9]{4,14}$`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// The number as sent on the wire (`+` and digits).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Lower-case hex SHA-256 of the E.164 string including '+' (CAMARA `hashedPhoneNumber`).
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256())
    }

    /// Raw SHA-256 of the E.164 string.
    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// A form that is safe to log: country-code-ish prefix and the last two digits.
    pub fn masked(&self) -> String {
        let s = &self.0;
        let tail = &s[s.len() - 2..];
        format!("{}…{}", &s[..3], tail)
    }

    /// Whether `self` is a test number of the unassigned country code +990 (the playground).
    pub fn is_test_number(&self) -> bool {
        self.0.starts_with("+990")
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl FromStr for PhoneNumber {
    type Err = PhoneNumberError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix('+').ok_or(PhoneNumberError::MissingPlus)?;
        let ok = (5..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(PhoneNumberError::BadDigits)
        }
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = PhoneNumberError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A SHA-256 digest given as 64 hex characters (either case, as CAMARA allows).
#[derive(Clone, PartialEq, Eq)]
pub struct HashedPhoneNumber([u8; 32]);

impl HashedPhoneNumber {
    /// Whether this is the hash of `number`, compared in constant time.
    pub fn matches(&self, number: &PhoneNumber) -> bool {
        self.0.ct_eq(&number.sha256()).into()
    }
}

impl fmt::Debug for HashedPhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashedPhoneNumber(..)")
    }
}

impl FromStr for HashedPhoneNumber {
    type Err = PhoneNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 {
            return Err(PhoneNumberError::BadHash);
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| PhoneNumberError::BadHash)?;
        Ok(Self(out))
    }
}

impl<'de> Deserialize<'de> for HashedPhoneNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_camara_examples() {
        for ok in [
            "+123456789",
            "+99012345678",
            "+33612345678",
            "+12345",
            "+123456789012345",
        ] {
            assert!(ok.parse::<PhoneNumber>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_what_the_camara_pattern_rejects() {
        for bad in [
            "",
            "+",
            "123456789",
            "+0123456",
            "+1234",
            "+1234567890123456",
            "+12 345678",
            "+1234a678",
            "tel:+123456",
        ] {
            assert!(bad.parse::<PhoneNumber>().is_err(), "{bad}");
        }
    }

    #[test]
    fn hash_is_sha256_of_the_e164_string_with_plus() {
        // Reference value computed independently: python3 -c "hashlib.sha256(b'+123456789')".
        let n: PhoneNumber = "+123456789".parse().unwrap();
        assert_eq!(
            n.sha256_hex(),
            "b49f9168e8a886ffd61a090b51a26e117717f5f6fa804af49ea67043a2bfa4f0"
        );
        let h: HashedPhoneNumber = n.sha256_hex().to_uppercase().parse().unwrap();
        assert!(h.matches(&n));
        assert!(!h.matches(&"+123456780".parse().unwrap()));
    }

    #[test]
    fn debug_never_shows_the_whole_number() {
        let n: PhoneNumber = "+99012345678".parse().unwrap();
        let dbg = format!("{n:?}");
        assert!(!dbg.contains("99012345678"), "{dbg}");
        assert!(dbg.contains("78"));
    }

    #[test]
    fn hash_rejects_wrong_length_and_non_hex() {
        assert!("abc".parse::<HashedPhoneNumber>().is_err());
        assert!("g".repeat(64).parse::<HashedPhoneNumber>().is_err());
        assert!("a".repeat(65).parse::<HashedPhoneNumber>().is_err());
    }

    proptest! {
        #[test]
        fn parser_agrees_with_the_camara_regex(s in "\\+?[0-9a-z ]{0,18}") {
            let by_spec = s.len() >= 6 && s.len() <= 16 && s.starts_with('+')
                && s[1..].bytes().all(|b| b.is_ascii_digit()) && !s[1..].starts_with('0');
            prop_assert_eq!(s.parse::<PhoneNumber>().is_ok(), by_spec);
        }

        #[test]
        fn every_valid_number_round_trips_through_json_and_its_hash(d in "[1-9][0-9]{4,14}") {
            let n: PhoneNumber = format!("+{d}").parse().unwrap();
            let json = serde_json::to_string(&n).unwrap();
            let back: PhoneNumber = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&back, &n);
            let h: HashedPhoneNumber = n.sha256_hex().parse().unwrap();
            prop_assert!(h.matches(&n));
        }
    }
}
