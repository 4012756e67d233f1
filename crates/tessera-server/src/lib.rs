//! The `tessera` server: configuration, command line and wiring of the Tessera library.

pub mod account_page;
pub mod admin_page;
pub mod cli;
pub mod commands;
pub mod config;
pub mod observability;
pub mod serve;
pub mod startup;
pub mod telemetry;
