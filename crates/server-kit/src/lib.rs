//! What the authorization server and the Number Verification server share as HTTP servers —
//! never protocol logic: the layered settings loader ([`config`]), the strict JSON body parser
//! ([`json`]), key files ([`key_files`]), the cache of fetched key documents ([`remote`]) and
//! logging ([`telemetry`]).

pub mod cli;
pub mod config;
pub mod json;
pub mod key_files;
pub mod remote;
pub mod startup;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
