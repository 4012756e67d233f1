//! Tessera's HTTP contract (API.md §1–§4), checked over real HTTP against the token routes
//! and three protected routes.

mod authentication;
mod concurrency;
mod conventions;
mod helpers;
mod obtain;
mod refresh;
mod sliding;
mod verify_blacklist;
