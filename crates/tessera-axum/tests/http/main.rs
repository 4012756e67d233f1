//! Tessera's HTTP contract (docs/API.md §1–§6 and the sessions routes), checked through
//! `tessera_axum::testing` — requests in process, as HTTP carries them — against the token
//! routes, three protected routes, the account and session routes, and the cookie routes with
//! CSRF protection and CORS.

mod accounts_custom_fields;
mod accounts_login_logout;
mod accounts_password;
mod accounts_profile;
mod accounts_register;
mod accounts_revocation;
mod accounts_sessions;
mod api_keys;
mod audit;
mod authentication;
mod concurrency;
mod conventions;
mod cookie_mode;
mod cors;
mod csrf;
mod deployment;
mod django_hashes;
mod edge_security;
mod email_flows;
mod email_switches;
mod groups;
mod harness;
mod helpers;
mod input_validation;
mod limits;
mod lockout;
mod mfa;
mod obtain;
mod obtain_shapes;
mod openapi;
mod passkeys;
mod refresh;
mod seed_answers;
mod simplejwt_cutover;
mod sliding;
mod surface;
mod throttling;
mod username_mode;
mod verify_blacklist;
mod ws_ticket;
