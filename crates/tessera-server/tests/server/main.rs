//! The `tessera` server from the outside: the application over HTTP, and the binary.

mod binary;
mod helpers;
mod http;
