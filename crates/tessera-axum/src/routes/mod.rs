//! Routers an application mounts.

mod profile;
mod token;

pub use profile::profile_routes;
pub use token::token_routes;
