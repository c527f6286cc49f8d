//! The seed-004 profile (Telefónica Open Gateway, CAMARA commonalities 0.4):
//! `POST /number-verification/verify` (`{"phoneNumber"}` required, `device` optional) and
//! `POST /number-verification/share` (body optional) → `{"phoneNumber": "+…"}`, with scopes
//! `number-verification:verify` and `number-verification:read`.
//!
//! Both accept a `device` object in the schema. Every token here is 3-legged and already
//! identifies the device, and it carries the phone number only, so:
//! - `device.phoneNumber` is compared with the token's number once the token is consumed: the
//!   same number is accepted, another one is 403 `INVALID_TOKEN_CONTEXT` (the request speaks of
//!   a device the token is not for);
//! - a `device` with only identifiers the token does not carry (`networkAccessIdentifier`,
//!   `ipv4Address`, `ipv6Address`) cannot be matched: the CAMARA commonalities 422
//!   `UNNECESSARY_IDENTIFIER`, checked after the schema, before the token is consumed;
//! - an empty `device` names nothing and is as if absent.

use actix_web::http::header;
use actix_web::HttpResponse;
use nv_token::{ApiScope, PhoneNumber};
use serde_json::{json, Map, Value};

use super::camara::{parse_phone, BAD_PHONE};
use crate::body::{JsonObject, OptionalJsonObject};
use crate::error::{ApiError, ApiVersion};
use crate::extractor::{Operation, VerifiedAccessToken};

/// `POST /number-verification/verify`.
pub struct Seed004Verify;
impl Operation for Seed004Verify {
    const API: ApiVersion = ApiVersion::Seed004;
    const SCOPE: ApiScope = ApiScope::Verify;
}

/// `POST /number-verification/share`.
pub struct Seed004Share;
impl Operation for Seed004Share {
    const API: ApiVersion = ApiVersion::Seed004;
    const SCOPE: ApiScope = ApiScope::Seed004Read;
}

/// What a `device` object names.
enum Device {
    /// Absent, or empty.
    None,
    /// A phone number, compared with the token's (other identifiers beside it are not carried
    /// by the token and cannot be compared).
    PhoneNumber(PhoneNumber),
    /// Only identifiers the token does not carry.
    Unmatchable,
}

/// `device` must be an object when present (schema `Device`), its members of the schema's
/// types.
fn take_device(body: &mut Map<String, Value>) -> Result<Device, ApiError> {
    let device = match body.remove("device") {
        None => return Ok(Device::None),
        Some(Value::Object(device)) => device,
        Some(_) => return Err(ApiError::invalid("`device` must be a JSON object.")),
    };
    let mut phone = None;
    for (name, value) in &device {
        match (name.as_str(), value) {
            ("phoneNumber", v) => {
                phone = Some(parse_phone(v).map_err(|_| {
                    ApiError::invalid("`device.phoneNumber` must be an E.164 number with a leading '+'.")
                })?)
            }
            ("networkAccessIdentifier" | "ipv6Address", Value::String(_)) => {}
            ("ipv4Address", Value::Object(_)) => {}
            ("networkAccessIdentifier" | "ipv6Address" | "ipv4Address", _) => {
                return Err(ApiError::invalid(
                    "`device` members must have the types of the `Device` schema.",
                ))
            }
            _ => {
                return Err(ApiError::invalid(
                    "`device` accepts only phoneNumber, networkAccessIdentifier, ipv4Address and ipv6Address.",
                ))
            }
        }
    }
    Ok(match phone {
        Some(p) => Device::PhoneNumber(p),
        None if device.is_empty() => Device::None,
        None => Device::Unmatchable,
    })
}

/// After consumption: a `device.phoneNumber` must be the token's.
fn check_device(device: &Device, subscriber: &PhoneNumber) -> Result<(), ApiError> {
    match device {
        Device::PhoneNumber(p) if p != subscriber => Err(ApiError::DeviceMismatch),
        _ => Ok(()),
    }
}

pub async fn verify(
    token: VerifiedAccessToken<Seed004Verify>,
    body: Result<JsonObject, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let mut body = body?.0;
    let device = take_device(&mut body)?;
    let phone = body
        .remove("phoneNumber")
        .ok_or_else(|| ApiError::invalid("The request body must contain `phoneNumber`."))?;
    if !body.is_empty() {
        return Err(ApiError::invalid(
            "The request body accepts only `phoneNumber` and `device`.",
        ));
    }
    let claimed = parse_phone(&phone).map_err(|_| ApiError::invalid(BAD_PHONE))?;
    if matches!(device, Device::Unmatchable) {
        return Err(ApiError::UnnecessaryIdentifier);
    }
    let subscriber = token.consume().await?;
    check_device(&device, &subscriber.phone_number)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "devicePhoneNumberVerified": claimed == subscriber.phone_number })))
}

pub async fn share(
    token: VerifiedAccessToken<Seed004Share>,
    body: Result<OptionalJsonObject, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let mut body = body?.0;
    let device = take_device(&mut body)?;
    if !body.is_empty() {
        return Err(ApiError::invalid("The request body accepts only `device`."));
    }
    if matches!(device, Device::Unmatchable) {
        return Err(ApiError::UnnecessaryIdentifier);
    }
    let subscriber = token.consume().await?;
    check_device(&device, &subscriber.phone_number)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "phoneNumber": subscriber.phone_number.as_str() })))
}
