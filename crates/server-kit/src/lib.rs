//! What the authorization server and the Number Verification server share as HTTP servers —
//! never protocol logic: the strict JSON body parser ([`json`]), the cache of fetched key
//! documents ([`remote`]) and logging ([`telemetry`]).

pub mod json;
pub mod remote;
pub mod telemetry;
