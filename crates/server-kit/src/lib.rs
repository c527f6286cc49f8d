//! What the authorization server and the Number Verification server share as HTTP servers —
//! never protocol logic (decision 0014): the layered settings loader and the sections both trees
//! have ([`config`]), the start-up pieces ([`startup`]), the command line and `main` ([`cli`]),
//! logging and the request span ([`telemetry`]), the strict JSON body parser ([`json`]), key
//! files ([`key_files`]), the cache of fetched key documents ([`remote`]) and, with feature
//! `testing`, the test helpers of both servers' suites and the end-to-end tests ([`testing`]).

pub mod cli;
pub mod config;
pub mod json;
pub mod key_files;
pub mod remote;
pub mod startup;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
