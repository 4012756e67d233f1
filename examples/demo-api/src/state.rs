//! The application's state: Tessera's next to its own.

use axum::extract::FromRef;
use tessera_axum::Tessera;

use crate::notes::Notes;

/// Everything the handlers share. Tessera's extractors find [`Tessera`] in it through
/// `FromRef`; the notes handlers find [`Notes`].
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    /// Tessera: users, tokens, sessions.
    pub tessera: Tessera,
    /// The application's own table.
    pub notes: Notes,
}
