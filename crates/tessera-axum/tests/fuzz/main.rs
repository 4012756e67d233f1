//! Fuzz targets of the HTTP layer, driven by proptest: the `Authorization` header parser,
//! DRF's body parsers (JSON, form, multipart) and the `Cookie` header reader, each called
//! directly and through an application built with `tessera_axum::testing`. Nothing panics,
//! and every refusal is a 4xx with a body in DRF's shape.
//!
//! Cases per property: a small default, or `PROPTEST_CASES` (`scripts/fuzz` runs a million).

mod auth_header;
mod common;
mod cookies;
mod payload;
