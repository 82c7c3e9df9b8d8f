//! Sesame: a token broker for Unified Communication platforms.
//!
//! Data flows one way: an HTTP handler ([`http`]) hands a credential to the
//! login broker ([`login`]), which has it checked (passwords by [`auth`]
//! and the `sesame-backends` crate, external proofs by the
//! `sesame-federation` crate), maps the identity to a local user, and has
//! the token service ([`token`]) issue a token, kept in a store ([`store`]).
//! A token check goes from its handler to the token service directly.
//! `docs/architecture.md` draws both paths.

pub mod access_log;
pub mod audit;
pub mod auth;
pub mod browser_state;
pub mod cli;
pub mod clock;
pub mod config;
pub mod fsutil;
pub mod gateway;
pub mod http;
pub mod login;
pub mod metrics;
pub mod oauth;
pub mod request_id;
pub mod server;
pub mod store;
pub mod tenants;
pub mod throttle;
pub mod tls;
pub mod token;
pub mod upstreams;
pub mod users;
