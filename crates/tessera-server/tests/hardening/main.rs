//! The server process and its configuration under hostile input: slow and idle clients,
//! forged request ids, `/metrics` behind proxies, keys of the wrong family, keys stored
//! unencrypted, and configuration errors that must not echo secrets.

#[allow(dead_code)]
#[path = "../server/helpers.rs"]
mod helpers;

mod config;
mod connections;
mod keys;
mod requests;
