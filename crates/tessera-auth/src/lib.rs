//! Tessera's service layer: every authentication use case as one method of [`Auth`], with
//! its own error type ([`AuthError`]) and no HTTP in it. The axum integration
//! (`tessera-axum`) and the `tessera` command line are thin adapters over these methods, so
//! the two can never drift.
//!
//! | concern | where |
//! |---|---|
//! | the service handle and its builder | [`Auth`], [`AuthBuilder`] |
//! | logging in, lockout, hashing queue | [`Auth::check_credentials`], [`guard`] |
//! | tokens: issue, refresh and rotate, blacklist, verify, sliding | [`Auth::issue_pair`], [`Auth::refresh`] … |
//! | the obtain routes: configured claims and answers, code hooks | [`obtain`], [`Auth::obtain_pair`] |
//! | authenticating a token | [`Auth::validate_token`], [`Auth::user_for_token`] |
//! | revocation at memory speed: ended sessions, users and API keys held in memory, fed by the change log | [`revocation`], [`Auth::revocation_status`] |
//! | sessions | [`Auth::live_sessions`], [`Auth::log_out_everywhere`] … |
//! | accounts: register, profile, password, staff actions | [`accounts`], [`Auth::register`] … |
//! | groups and permissions, Django's model: checks, superusers' group management, token claims | [`Auth::has_perm`], [`Auth::permissions_of`], [`accounts::GroupInput`] |
//! | the audit log | [`audit`] |
//! | signing keys | [`keys`] |
//! | mail: SMTP transport and the account mails' texts | [`mail`] |
//! | account flows by e-mail: password reset, verification, e-mail change, login by code, the outbox sender | [`email_flows`], [`Auth::request_password_reset`] … |
//! | moving from Django: importing its users and tokens, the simplejwt cut-over | [`Auth::import_django`], [`django_import`] |
//! | API keys and service-to-service tokens (client credentials) | [`api_keys`], [`Auth::create_api_key`], [`Auth::authenticate_api_key`], [`Auth::issue_client_token`] |
//! | passkeys (WebAuthn): registration, second factor, passwordless sign-in | [`passkeys`], [`Auth::begin_passkey_registration`], [`Auth::finish_passkey_login`] |
//! | multi-factor authentication: TOTP, recovery codes, the login's second step | [`mfa`], [`Auth::second_factor`], [`Auth::verify_mfa`] |
//! | social login: OpenID Connect providers and GitHub, identities, pending links | [`social`], [`Auth::start_social`], [`Auth::finish_social`], [`Auth::exchange_social_code`] |
//! | WebSocket tickets: single use, 30 s | [`Auth::issue_ws_ticket`], [`Auth::redeem_ws_ticket`] |
//! | upkeep: expired sessions, stale throttle rows, old audit events | [`Auth::flush_expired`], [`Auth::prune_audit`], [`Auth::upkeep`] |

pub mod accounts;
mod actor;
pub mod api_keys;
pub mod audit;
mod authentication;
mod client;
mod cutover;
pub mod datetime;
pub mod django_import;
pub mod email_flows;
mod error;
pub mod form;
pub mod guard;
pub mod keys;
mod login;
pub mod mail;
pub mod mfa;
pub mod obtain;
pub mod passkeys;
mod rehash;
pub mod revocation;
pub mod rules;
mod secret;
mod service;
mod sessions;
mod signing_keys;
pub mod social;
pub mod tokens;
mod upkeep;
mod ws_tickets;

pub use actor::Actor;
pub use client::{ClientInfo, MAX_USER_AGENT};
pub use error::{AuthError, KindRejection};
pub use login::MAX_LOGIN_NAME_CHARS;
pub use service::{Auth, AuthBuilder};
pub use tokens::{LoginMethod, Refreshed, SESSION_CLAIM, TokenPair};
pub use upkeep::{Flushed, UPKEEP_INTERVAL};
pub use ws_tickets::{WS_TICKET_LIFETIME, WS_TICKET_THROTTLE_SCOPE, WsTicket};
