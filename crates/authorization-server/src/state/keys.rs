//! Store key layout (relative; the store adds the deployment prefix). Secrets are hashed before
//! they become keys, so a store dump reveals no usable code, token or assertion. What is stored
//! under them: [`super::records`].

use nv_token::jwt::ReplayMark;
use sha2::{Digest, Sha256};

fn h(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

pub fn code(code: &str) -> String {
    format!("code:{}", h(code))
}

/// What a redeemed code issued (for revocation when the code is replayed).
pub fn redeemed_code(code: &str) -> String {
    format!("code-redeemed:{}", h(code))
}

/// A client assertion's `jti`, under its client (`iss`).
pub fn assertion_jti(mark: &ReplayMark) -> String {
    mark.key("assertion-jti")
}

/// A request object's `jti`, under its client (`iss`).
pub fn request_object_jti(mark: &ReplayMark) -> String {
    mark.key("request-object-jti")
}

/// An accepted CIBA request ([`super::records::BackchannelGrant`]).
pub fn backchannel_request(auth_req_id: &str) -> String {
    format!("ciba:{}", h(auth_req_id))
}

/// Present while a CIBA request may not be polled yet: for its `interval` after the request and
/// after each poll (CIBA §7.3).
pub fn backchannel_poll(auth_req_id: &str) -> String {
    format!("ciba-poll:{}", h(auth_req_id))
}

pub fn access_token(token: &str) -> String {
    format!("at:{}", h(token))
}

pub const PLAYGROUND_PREFIX: &str = "playground:";

/// Playground numbers added through the admin API (the number itself: an admin lists them).
pub fn playground_number(n: &nv_token::PhoneNumber) -> String {
    format!("{PLAYGROUND_PREFIX}{}", n.as_str())
}
