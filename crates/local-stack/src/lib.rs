//! The developer's local stack: both servers in one process with the dev defaults, and the demo
//! relying party ([`demo`]) that runs the complete flow against them and prints every exchange.

pub mod demo;
