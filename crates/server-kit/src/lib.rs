//! What the authorization server and the Number Verification server share as HTTP servers —
//! never protocol logic: the strict JSON body parser ([`json`]) and the cache of fetched key
//! documents ([`remote`]).

pub mod json;
pub mod remote;
