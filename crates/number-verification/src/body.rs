//! The JSON request body as an extractor that fails with CAMARA errors.
//!
//! Bodies are read as a JSON object and then checked field by field by each operation (see
//! [`crate::routes::camara`]), rather than deserialised straight into a struct: serde's messages
//! quote the offending value, which may be a phone number, and would then reach the caller and
//! the log. Here every message names the field and the rule, never the value.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use serde_json::{Map, Value};
use server_kit::json::JsonError;

use crate::error::ApiError;

/// A request body that must be a JSON object (`Content-Type: application/json`).
pub struct JsonObject(pub Map<String, Value>);

/// A body that may be absent (seed-004 `share`: `requestBody.required: false`); when present it
/// must be a JSON object. Absent reads as `{}`.
pub struct OptionalJsonObject(pub Map<String, Value>);

/// Property names only: the values may be phone numbers.
fn keys_only(map: &Map<String, Value>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.debug_set().entries(map.keys()).finish()
}

impl std::fmt::Debug for JsonObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        keys_only(&self.0, f)
    }
}

impl std::fmt::Debug for OptionalJsonObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        keys_only(&self.0, f)
    }
}

impl FromRequest for JsonObject {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read_object(req, payload, true);
        Box::pin(async move { read.await.map(JsonObject) })
    }
}

impl FromRequest for OptionalJsonObject {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read_object(req, payload, false);
        Box::pin(async move { read.await.map(OptionalJsonObject) })
    }
}

fn read_object(
    req: &HttpRequest,
    payload: &mut Payload,
    required: bool,
) -> impl Future<Output = Result<Map<String, Value>, ApiError>> {
    let json_content_type = match req.mime_type() {
        Ok(Some(mime)) => {
            mime.type_() == "application"
                && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
        }
        _ => false,
    };
    // Reads at most `PayloadConfig::limit` bytes (server.max_body_bytes).
    let bytes = web::Bytes::from_request(req, payload);
    async move {
        let bytes = bytes.await.map_err(|e| match e.as_error::<PayloadError>() {
            Some(PayloadError::Overflow) => ApiError::invalid(
                "The request body is too large for this operation; send a JSON object with one property.",
            ),
            _ => ApiError::invalid("The request body could not be read."),
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return if required {
                Err(ApiError::invalid(
                    "The request body is missing: send a JSON object, e.g. {\"phoneNumber\": \"+123456789\"}.",
                ))
            } else {
                Ok(Map::new())
            };
        }
        if !json_content_type {
            return Err(ApiError::invalid(
                "The request body must be JSON: set `Content-Type: application/json`.",
            ));
        }
        // Duplicate members are refused at any depth: a gateway that kept the first of two
        // `phoneNumber`s while this server kept the last would check another number than the one
        // answered (server_kit::json).
        match server_kit::json::parse_object(&bytes) {
            Ok(map) => Ok(map),
            Err(JsonError::NotAnObject) => {
                Err(ApiError::invalid("The request body must be a JSON object."))
            }
            Err(JsonError::DuplicateMember) => Err(ApiError::invalid(
                "The request body names a property twice in one object.",
            )),
            Err(JsonError::Syntax) => Err(ApiError::invalid("The request body is not valid JSON.")),
        }
    }
}
