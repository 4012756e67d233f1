//! `tessera import django`: moving a Django project to Tessera without logging anyone out.
//!
//! * `import` — [`Auth::import_django`](crate::Auth::import_django): a Django project's
//!   users and simplejwt outstanding tokens, taken over with their ids.
//! * `grants` — its groups, and its users' memberships and direct permissions.
//! * `report` — the [`ImportReport`] and how it reads.

mod grants;
mod import;
mod report;

pub use import::ImportOptions;
pub use report::{ImportNote, ImportReport, TableCounts};
