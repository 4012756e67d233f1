//! What the tests share, over the one harness — `tessera_axum::testing`: the applications
//! they build ([`apps`]), the calls they make ([`api`], [`cookies`]), what they look up in
//! the store ([`records`]), the bodies they expect ([`bodies`]), what they read in tokens
//! ([`tokens`]), and a metrics recorder ([`metrics`]).

mod api;
mod apps;
mod bodies;
mod cookies;
mod metrics;
mod records;
mod tokens;

pub use api::Api;
pub use apps::{accounts_app, audit_app, browser_app, rotating, throttled_app, token_app};
pub use bodies::*;
pub use cookies::{BrowserCookies, CookieApi, cookie_header};
pub use metrics::MetricsProbe;
pub use records::Records;
pub use tessera_axum::testing::{NOW, SIGNING_KEY, SetCookie, TestApp, TestResponse as Reply};

/// [`NOW`] in whole seconds, as token claims count it.
pub const NOW_SECS: i64 = NOW.as_secs();
pub use tokens::*;

/// The password of users made with `create_user` unless a test says otherwise.
pub const PASSWORD: &str = "correct horse battery staple";
/// The password of users registered through the account routes unless a test says
/// otherwise: long, uncommon, and unlike any name used in the tests.
pub const ACCOUNT_PASSWORD: &str = "analytical engine 1843";
