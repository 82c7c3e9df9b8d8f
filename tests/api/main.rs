//! Integration tests: the real `sesame` binary, driven over HTTP.
//! One test binary for all of them (link time matters on small machines).
// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod cli;
mod federation;
mod harness;
mod lifecycle;
mod metrics;
mod oauth;
mod openapi;
mod redis_store;
mod schema;
mod slow_clients;
mod sql;
mod standins;
mod tenants;
mod throttle;
mod token_api;
mod token_cap;
mod uc_api;
mod wazo;
mod wazo_sessions;
