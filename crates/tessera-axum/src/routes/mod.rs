//! Routers an application mounts.

mod token;

pub use token::token_routes;
