//! Routers an application mounts.

mod account;
mod admin;
mod audit;
mod cookie;
mod jwks;
mod keys;
mod sessions;
mod token;

pub use account::account_routes;
pub use admin::admin_routes;
pub use cookie::cookie_routes;
pub use jwks::jwks_routes;
pub use keys::key_routes;
pub use sessions::session_routes;
pub use token::token_routes;
