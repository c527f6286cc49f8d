//! What the server keeps in the store, each under its key of [`super::keys`] and for as long as
//! the key's TTL. Replicas read each other's records, so these types are the format.

use nv_token::{Amr, Audience, PhoneNumber};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::protocol::{CodeChallenge, ScopeSet};

/// What a code stands for, under [`super::keys::code`] until redeemed (≤ 60 s). Stored sealed
/// under the code ([`crate::sealed`]): a store dump shows neither the code nor the number.
#[derive(Debug, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: ScopeSet,
    pub nonce: Option<String>,
    pub code_challenge: Option<CodeChallenge>,
    pub phone_number: PhoneNumber,
    pub amr: Vec<Amr>,
    pub auth_time: i64,
    pub expires_at: i64,
}

/// A record stored sealed under the secret it stands for (a code, an `auth_req_id`), filed
/// under the secret's hash: a store dump shows neither the secret nor the number, and a record
/// moved under another key does not open.
pub trait SealedRecord: Serialize + DeserializeOwned {
    /// The stored form: the JSON record sealed under `secret`.
    fn seal(&self, secret: &str) -> Result<Vec<u8>, String> {
        let json = serde_json::to_vec(self).map_err(|e| e.to_string())?;
        crate::sealed::seal(secret, &json)
    }

    /// The record stored as `sealed`, if it was sealed under `secret` and reads as one.
    fn open(secret: &str, sealed: &[u8]) -> Option<Self> {
        let json = crate::sealed::open(secret, sealed)?;
        serde_json::from_slice(&json).ok()
    }
}

impl SealedRecord for CodeGrant {}

/// An accepted CIBA authentication request, under [`super::keys::backchannel_request`] sealed
/// under its `auth_req_id` until redeemed or expired. The subscriber is decided when the request
/// is accepted (an operator token, a network address), so a poll finds it approved.
#[derive(Debug, Serialize, Deserialize)]
pub struct BackchannelGrant {
    pub client_id: String,
    pub scope: ScopeSet,
    pub phone_number: PhoneNumber,
    pub amr: Vec<Amr>,
    pub auth_time: i64,
    /// Unix seconds; a poll after it is `expired_token`. The record outlives it a little, so
    /// the client learns that rather than `invalid_grant`.
    pub expires_at: i64,
}

impl SealedRecord for BackchannelGrant {}

/// What a redeemed code issued, under [`super::keys::redeemed_code`] for the token's lifetime, so
/// that a replay of the code can revoke it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Redemption {
    pub jti: String,
    /// The [`super::keys::access_token`] of the token issued.
    pub access_token_key: String,
    pub exp: i64,
}

/// What `/userinfo` needs about an issued token, under [`super::keys::access_token`] for the
/// token's lifetime.
#[derive(Debug, Serialize, Deserialize)]
pub struct IssuedToken {
    pub sub: String,
    pub client_id: String,
    pub scope: ScopeSet,
    pub exp: i64,
    /// The token's audience: `/userinfo` answers only for tokens that name this server.
    pub aud: Audience,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> CodeGrant {
        CodeGrant {
            client_id: "c".into(),
            redirect_uri: "https://rp.example/cb".into(),
            scope: ScopeSet::parse(
                "openid dpv:FraudPreventionAndDetection number-verification:verify",
            )
            .unwrap(),
            nonce: Some("n".into()),
            code_challenge: None,
            phone_number: "+99012345678".parse().unwrap(),
            amr: vec![Amr::Network],
            auth_time: 1,
            expires_at: 61,
        }
    }

    #[test]
    fn a_code_grant_opens_with_its_code_only() {
        let sealed = grant().seal("the-code").unwrap();
        let opened = CodeGrant::open("the-code", &sealed).unwrap();
        assert_eq!(opened.scope, grant().scope);
        assert_eq!(opened.phone_number, grant().phone_number);
        assert!(CodeGrant::open("another-code", &sealed).is_none());
    }

    /// The stored JSON is what replicas of the previous build read and write.
    #[test]
    fn an_issued_token_record_keeps_its_json_form() {
        let record: IssuedToken = serde_json::from_str(
            r#"{"sub":"s","client_id":"c","scope":"openid number-verification:verify dpv:X",
                "exp":5,"aud":["https://nv.example","https://as.example"]}"#,
        )
        .unwrap();
        assert!(record.scope.openid && record.aud.contains("https://as.example"));
        assert_eq!(
            serde_json::to_value(&record).unwrap()["scope"],
            "openid dpv:X number-verification:verify"
        );
    }
}
