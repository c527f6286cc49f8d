//! The seed-004 profile (Telefónica Open Gateway, CAMARA commonalities 0.4):
//! `POST /number-verification/verify` (`{"phoneNumber"}` required, `device` optional) and
//! `POST /number-verification/share` (body optional) → `{"phoneNumber": "+…"}`, with scopes
//! `number-verification:verify` and `number-verification:read`.
//!
//! Both accept a `device` object in the schema, but every token here is 3-legged and already
//! identifies the device, so a `device` is refused with the CAMARA commonalities 422
//! `UNNECESSARY_IDENTIFIER` (checked after the schema, before the token is consumed).

use actix_web::http::header;
use actix_web::HttpResponse;
use nv_token::ApiScope;
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

/// `device` must be an object when present (schema `Device`).
fn take_device(body: &mut Map<String, Value>) -> Result<bool, ApiError> {
    match body.remove("device") {
        None => Ok(false),
        Some(Value::Object(_)) => Ok(true),
        Some(_) => Err(ApiError::invalid("`device` must be a JSON object.")),
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
            "The request body accepts only `phoneNumber` (and `device`, which a 3-legged token makes unnecessary).",
        ));
    }
    let claimed = parse_phone(&phone).map_err(|_| ApiError::invalid(BAD_PHONE))?;
    if device {
        return Err(ApiError::UnnecessaryIdentifier);
    }
    let subscriber = token.consume().await?;
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
        return Err(ApiError::invalid(
            "The request body accepts only `device`, which a 3-legged token makes unnecessary; send no body.",
        ));
    }
    if device {
        return Err(ApiError::UnnecessaryIdentifier);
    }
    let subscriber = token.consume().await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "phoneNumber": subscriber.phone_number.as_str() })))
}
