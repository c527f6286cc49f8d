//! CAMARA Number Verification `phoneNumberVerify` and `phoneNumberShare`, for 2.1.0 (`/v2`),
//! 1.0.0 (`/v1`) and 0.3.1 (`/v0`). The versions differ in scope names, in what the body
//! accepts, and in one error code; the handlers are shared and generic over the operation.

use actix_web::http::header;
use actix_web::HttpResponse;
use nv_token::{ApiScope, HashedPhoneNumber, PhoneNumber};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::body::JsonObject;
use crate::error::{ApiError, ApiVersion};
use crate::extractor::{Operation, VerifiedAccessToken};

const VERIFY: ApiScope = ApiScope::Verify;
const SHARE: ApiScope = ApiScope::DevicePhoneNumberRead;
/// 0.3.1 scope names (the 1.0+ names are accepted there too, and these at 1.0+:
/// [`ApiScope::grants`]).
const V0_VERIFY: ApiScope = ApiScope::V0VerifyRead;
const V0_SHARE: ApiScope = ApiScope::V0ShareRead;

macro_rules! operation {
    ($(#[$doc:meta])* $name:ident, $api:expr, $scope:expr) => {
        $(#[$doc])*
        pub struct $name;
        impl Operation for $name {
            const API: ApiVersion = $api;
            const SCOPE: ApiScope = $scope;
        }
    };
}

operation!(
    /// 2.1.0 `POST /verify`.
    V2Verify, ApiVersion::V2, VERIFY
);
operation!(
    /// 2.1.0 `GET /device-phone-number`.
    V2Share, ApiVersion::V2, SHARE
);
operation!(
    /// 1.0.0 `POST /verify`.
    V1Verify, ApiVersion::V1, VERIFY
);
operation!(
    /// 1.0.0 `GET /device-phone-number`.
    V1Share, ApiVersion::V1, SHARE
);
operation!(
    /// 0.3.1 `POST /verify`.
    V0Verify, ApiVersion::V0, V0_VERIFY
);
operation!(
    /// 0.3.1 `GET /device-phone-number`.
    V0Share, ApiVersion::V0, V0_SHARE
);

/// What the caller claims the subscriber's number is. `Debug` never shows it (a hash of a phone
/// number is reversible by enumeration).
pub enum Claimed {
    Plain(PhoneNumber),
    /// SHA-256 of the E.164 string with '+', compared in constant time, hex case-insensitive.
    Hashed(HashedPhoneNumber),
    /// 0.3.1: SHA-256 of the E.164 number "optionally prefixed with '+'": either form matches.
    HashedEitherForm([u8; 32]),
}

impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Claimed::Plain(p) => write!(f, "Plain({p:?})"),
            Claimed::Hashed(_) => f.write_str("Hashed(..)"),
            Claimed::HashedEitherForm(_) => f.write_str("HashedEitherForm(..)"),
        }
    }
}

impl Claimed {
    pub fn matches(&self, number: &PhoneNumber) -> bool {
        match self {
            Claimed::Plain(p) => p == number,
            Claimed::Hashed(h) => h.matches(number),
            Claimed::HashedEitherForm(digest) => {
                let with_plus: [u8; 32] = Sha256::digest(number.as_str().as_bytes()).into();
                let digits = number.as_str().trim_start_matches('+');
                let without: [u8; 32] = Sha256::digest(digits.as_bytes()).into();
                (digest.ct_eq(&with_plus) | digest.ct_eq(&without)).into()
            }
        }
    }
}

/// The body rules of one version's `/verify`.
pub trait VerifyOperation: Operation {
    fn parse(body: Map<String, Value>) -> Result<Claimed, ApiError>;
}

const ONE_OF: &str =
    "The request body must contain exactly one of `phoneNumber` or `hashedPhoneNumber`.";
const BOTH: &str = "Send either `phoneNumber` or `hashedPhoneNumber`, not both.";
const UNKNOWN: &str =
    "The request body accepts only one property: `phoneNumber` or `hashedPhoneNumber`.";
pub(crate) const BAD_PHONE: &str =
    "`phoneNumber` must be an E.164 number with a leading '+' (pattern ^\\+[1-9][0-9]{4,14}$), e.g. \"+123456789\".";
const BAD_HASH: &str =
    "`hashedPhoneNumber` must be the SHA-256 of the E.164 number (with '+') as 64 hexadecimal characters.";

/// The two mutually exclusive properties, after rejecting anything else (NV 1.0.0 / 2.1.0
/// `NumberVerificationRequestBody`: `minProperties: 1`, `maxProperties: 1`).
fn one_property(mut body: Map<String, Value>) -> Result<(Option<Value>, Option<Value>), ApiError> {
    let phone = body.remove("phoneNumber");
    let hashed = body.remove("hashedPhoneNumber");
    if !body.is_empty() {
        return Err(ApiError::invalid(UNKNOWN));
    }
    match (&phone, &hashed) {
        (None, None) => Err(ApiError::invalid(ONE_OF)),
        (Some(_), Some(_)) => Err(ApiError::invalid(BOTH)),
        _ => Ok((phone, hashed)),
    }
}

pub(crate) fn parse_phone(value: &Value) -> Result<PhoneNumber, ApiError> {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::invalid(BAD_PHONE))
}

/// 1.0.0 and 2.1.0: '+' required, hash of the '+' form (2.1.0 `^[a-fA-F0-9]{64}$`; 1.0.0 has no
/// pattern but describes the same SHA-256 hex, so anything else could never match).
fn parse_current(body: Map<String, Value>) -> Result<Claimed, ApiError> {
    match one_property(body)? {
        (Some(phone), _) => parse_phone(&phone).map(Claimed::Plain),
        (_, Some(hashed)) => hashed
            .as_str()
            .and_then(|s| s.parse().ok())
            .map(Claimed::Hashed)
            .ok_or_else(|| ApiError::invalid(BAD_HASH)),
        (None, None) => Err(ApiError::invalid(ONE_OF)),
    }
}

impl VerifyOperation for V2Verify {
    fn parse(body: Map<String, Value>) -> Result<Claimed, ApiError> {
        parse_current(body)
    }
}

impl VerifyOperation for V1Verify {
    fn parse(body: Map<String, Value>) -> Result<Claimed, ApiError> {
        parse_current(body)
    }
}

impl VerifyOperation for V0Verify {
    /// 0.3.1: "E.164 format (starting with country code). Optionally prefixed with '+'", for
    /// the number and for the hashed number.
    fn parse(body: Map<String, Value>) -> Result<Claimed, ApiError> {
        match one_property(body)? {
            (Some(phone), _) => {
                let s = phone
                    .as_str()
                    .ok_or_else(|| ApiError::invalid(V0_BAD_PHONE))?;
                let with_plus = if s.starts_with('+') {
                    s.to_owned()
                } else {
                    format!("+{s}")
                };
                with_plus
                    .parse()
                    .map(Claimed::Plain)
                    .map_err(|_| ApiError::invalid(V0_BAD_PHONE))
            }
            (_, Some(hashed)) => {
                let mut digest = [0u8; 32];
                match hashed.as_str() {
                    Some(s) if s.len() == 64 && hex::decode_to_slice(s, &mut digest).is_ok() => {
                        Ok(Claimed::HashedEitherForm(digest))
                    }
                    _ => Err(ApiError::invalid(BAD_HASH)),
                }
            }
            (None, None) => Err(ApiError::invalid(ONE_OF)),
        }
    }
}

const V0_BAD_PHONE: &str =
    "`phoneNumber` must be an E.164 number starting with the country code, optionally prefixed with '+', e.g. \"+346661113334\".";

/// `POST …/verify`: token checks (extractor) → body → single use → answer.
pub async fn verify<Op: VerifyOperation>(
    token: VerifiedAccessToken<Op>,
    body: Result<JsonObject, ApiError>,
) -> Result<HttpResponse, ApiError> {
    // The body is checked before the token is consumed: a 400 leaves the token usable.
    let claimed = Op::parse(body?.0)?;
    let subscriber = token.consume().await?;
    let verified = claimed.matches(&subscriber.phone_number);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "devicePhoneNumberVerified": verified })))
}

/// `GET …/device-phone-number`.
pub async fn device_phone_number<Op: Operation>(
    token: VerifiedAccessToken<Op>,
) -> Result<HttpResponse, ApiError> {
    let subscriber = token.consume().await?;
    Ok(HttpResponse::Ok()
        // Personal data: no shared cache may keep it (RFC 9111 §5.2.2.5).
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "devicePhoneNumber": subscriber.phone_number.as_str() })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test bodies are objects"),
        }
    }

    fn number() -> PhoneNumber {
        "+99012345678".parse().unwrap()
    }

    #[test]
    fn exactly_one_known_property_is_accepted() {
        let ok = V2Verify::parse(body(json!({"phoneNumber": "+99012345678"}))).unwrap();
        assert!(ok.matches(&number()));
        for bad in [
            json!({}),
            json!({"additional_property": "foo_value"}),
            json!({"phoneNumber": "+99012345678", "hashedPhoneNumber": number().sha256_hex()}),
            json!({"phoneNumber": "+99012345678", "x": 1}),
            json!({"phoneNumber": "99012345678"}),
            json!({"phoneNumber": 99012345678u64}),
            json!({"phoneNumber": null}),
            json!({"hashedPhoneNumber": "abc"}),
        ] {
            let err = V2Verify::parse(body(bad.clone())).unwrap_err();
            assert!(matches!(err, ApiError::InvalidArgument(_)), "{bad}");
            assert!(!err.to_string().contains("99012345678"), "{err}");
        }
    }

    #[test]
    fn hashes_compare_case_insensitively() {
        let upper = number().sha256_hex().to_uppercase();
        let c = V2Verify::parse(body(json!({ "hashedPhoneNumber": upper }))).unwrap();
        assert!(c.matches(&number()));
        assert!(!c.matches(&"+99012345679".parse().unwrap()));
    }

    #[test]
    fn v0_takes_numbers_and_hashes_with_or_without_plus() {
        let c = V0Verify::parse(body(json!({"phoneNumber": "99012345678"}))).unwrap();
        assert!(c.matches(&number()));
        let plain_digits = hex::encode(Sha256::digest(b"99012345678"));
        let c = V0Verify::parse(body(json!({ "hashedPhoneNumber": plain_digits }))).unwrap();
        assert!(c.matches(&number()));
        let c =
            V0Verify::parse(body(json!({ "hashedPhoneNumber": number().sha256_hex() }))).unwrap();
        assert!(c.matches(&number()));
        assert!(!c.matches(&"+99012345679".parse().unwrap()));
        assert!(V0Verify::parse(body(json!({"phoneNumber": "0123"}))).is_err());
    }
}
