//! The `tessera` server from the outside: the application over HTTP, and the binary.

mod admin;
mod api_keys;
mod audit;
mod binary;
mod browser;
mod deployment;
mod email_flows;
mod engines;
mod first_hour;
mod helpers;
mod http;
mod instances;
mod link_logs;
mod mail_off;
mod observability;
mod passkeys;
mod second_factors;
mod sendtestemail;
