//! Signing keys over HTTP: the JWKS endpoint, rotation across instances, the admin API, a
//! remote JWKS (`jwk_url`) served by a local issuer, and the stand-alone verifier.

mod admin;
mod helpers;
mod jwks;
mod remote;
mod rotation;
mod verifier;
