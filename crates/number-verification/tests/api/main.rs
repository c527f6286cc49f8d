//! Integration tests: the real server on port 0, spoken to over HTTP. One test binary.

mod helpers;
mod scenarios;

mod aliases;
mod camara;
mod errors;
mod operations;
mod seed004;
mod startup;
mod tokens;
