//! Sesame: a token broker for Unified Communication platforms.
//!
//! Data flows one way: an HTTP handler ([`http`]) hands credentials to the
//! credential check ([`auth`], backed by the `sesame-backends` and
//! `sesame-federation` crates), which yields an [`auth::Identity`]; the token
//! service ([`token`]) issues a token for it and keeps it in a store
//! ([`store`]).

pub mod access_log;
pub mod audit;
pub mod auth;
pub mod browser_state;
pub mod cli;
pub mod clock;
pub mod config;
pub mod federated;
pub mod fsutil;
pub mod gateway;
pub mod http;
pub mod metrics;
pub mod oauth;
pub mod request_id;
pub mod server;
pub mod store;
pub mod throttle;
pub mod tls;
pub mod token;
pub mod upstreams;
pub mod users;
