//! The `tessera` server from the outside: the application over HTTP, and the binary.

mod admin;
mod audit;
mod binary;
mod browser;
mod deployment;
mod engines;
mod helpers;
mod http;
mod instances;
mod observability;
