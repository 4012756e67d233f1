//! Fault tests: the `tessera` binary, started as a process on a random port, through the
//! failures a deployment meets — the process killed mid-write, its PostgreSQL restarted
//! under load, its disk full — and what each must never cost: an acknowledged write, a
//! consistent database, an answer in DRF's shape, a server that comes back by itself.

// The server tests' helpers (`Server`, `tessera`, …), shared rather than copied; this
// binary uses only some of them.
#[allow(dead_code)]
#[path = "../server/helpers.rs"]
mod helpers;

mod disk_full;
mod killed;
mod postgres_restart;
mod support;
