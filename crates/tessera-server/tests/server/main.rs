//! The `tessera` server from the outside: the application over HTTP, and the binary.

mod admin;
mod audit;
mod binary;
mod browser;
mod deployment;
mod engines;
mod first_hour;
mod helpers;
mod http;
mod instances;
mod observability;
