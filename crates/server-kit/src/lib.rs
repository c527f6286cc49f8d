//! What the authorization server and the Number Verification server share as HTTP servers —
//! never protocol logic: today the strict JSON body parser ([`json`]).

pub mod json;
