//! Revocation at memory speed: what authentication needs to know about sessions, users and
//! API keys, held in memory and kept current from the store's change log, so that checking
//! a token costs no database round trip — on every instance, not only the one that made the
//! change.
//!
//! # What is held
//! - **Ended sessions**: every session revoked or deleted within the *window* — the longest
//!   lifetime of a token authentication accepts, plus `leeway` and a minute for clocks that
//!   disagree. A token is always issued before its session ends, so a session that ended
//!   before the window can only have tokens that expired; the window is small and bounded by
//!   construction (and by `revocation_window_capacity`, beyond which authentication reads
//!   the database until the surplus has aged out).
//! - **User records, the owners of live sessions, and API keys**, as authentication loads
//!   them, until a change to the row (any update or delete) removes them; at most
//!   `revocation_cache_capacity` of each. A session's owner never changes; its end is in
//!   the window.
//!
//! # How it stays current
//! The store's triggers write a sequence-numbered row to the `change_log` table for every
//! change that matters (see `tessera_store::Change`), in the transaction that makes it — so
//! every writer feeds it: this server, another instance, the `tessera` command line, a
//! script. A background *feed* reads the rows after the last one applied: on PostgreSQL when
//! a `NOTIFY` says one was committed, and every `revocation_poll_interval` in any case (the
//! only way on SQLite). A change this process makes applies before its answer is sent: the
//! store counts its own writes, and a request that sees the count move catches up first.
//!
//! On PostgreSQL, sequence numbers are handed out before commit, so a row can appear after
//! rows with higher numbers. A number skipped is a *hole*: the feed asks for it again on
//! every round until it appears, or until [`HOLE_TIMEOUT`] has passed (a rolled-back write
//! leaves a hole forever). A feed that was away so long that the rows it missed were pruned
//! starts over: it drops what it cached and loads the window again.
//!
//! # When memory is not trusted
//! Authentication decides from memory only while the feed has read the whole log within
//! `revocation_max_staleness` (1 s by default), and only for tokens issued inside the
//! window held. Otherwise — the database unreachable by the feed, a feed behind, a token
//! older than what was loaded at start-up — it reads the database as it would without this
//! module. It never serves from state it cannot vouch for.

mod feed;
mod settings;
mod state;

pub use settings::RevocationSettings;
pub(crate) use state::{EndedSession, Revocations, SessionLookup};
pub use state::{LOG_RETENTION, RevocationStatus};

use std::time::Duration;

/// How long a hole in PostgreSQL's sequence is asked for again before it is taken for a
/// rolled-back write. Longer than any of Tessera's write transactions.
pub const HOLE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the window adds to the longest token lifetime for clocks that disagree (the
/// database's, this instance's and the one that issued the token).
pub const CLOCK_MARGIN: Duration = Duration::from_secs(60);
