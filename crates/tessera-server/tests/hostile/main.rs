//! The HTTP property suite: the real `tessera` binary, on SQLite and on PostgreSQL, gets
//! hostile requests on every route it serves — malformed bodies (truncated, huge and deeply
//! nested JSON, wrong content types, invalid UTF-8, NUL, huge strings, numbers where strings
//! go, broken forms and multipart), odd methods, odd and duplicate headers, bad encodings —
//! with and without valid tokens. For each request: an answer within the deadline, never a
//! 5xx, a JSON error body in DRF's shape, and — when it is refused — no change to the
//! database's users, sessions, signing keys and login failures.
//!
//! Size: a pass over every route as each caller, a pass over every field of every route with
//! each hostile value, then `TESSERA_HOSTILE_CASES` random requests per engine (default 600);
//! `scripts/fuzz` does not run this suite, a long run sets the variable.

mod cases;
mod server;
mod snapshot;
mod suite;
