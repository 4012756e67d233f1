//! The application's state: Tessera's next to its own.

use axum::extract::FromRef;
use tessera_axum::Tessera;

use crate::articles::Articles;
use crate::notes::Notes;

/// Everything the handlers share. Tessera's extractors find [`Tessera`] in it through
/// `FromRef`; the notes and articles handlers find [`Notes`] and [`Articles`].
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    /// Tessera: users, tokens, sessions.
    pub tessera: Tessera,
    /// The users' own notes.
    pub notes: Notes,
    /// The articles everyone reads.
    pub articles: Articles,
}
