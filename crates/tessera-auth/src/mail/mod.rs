//! Mail: the transport (SMTP through lettre with rustls, the log, or `.eml` files) and the
//! texts of the account mails (password reset, e-mail verification, e-mail change, sign-in
//! code).
//!
//! This module only sends what it is given. The account flows queue a row in the outbox;
//! the outbox sender mints the token when it sends, renders the kind's [`Templates`] and
//! hands the [`Email`] to a [`Mailer`], so no secret ever waits in the outbox.
//!
//! | setting | Django | default |
//! |---|---|---|
//! | `email_backend` | `EMAIL_BACKEND` | `console` |
//! | `smtp_url` | `EMAIL_HOST`, `EMAIL_PORT`, `EMAIL_HOST_USER`, `EMAIL_HOST_PASSWORD`, `EMAIL_USE_TLS`, `EMAIL_USE_SSL` | none |
//! | `email_from` | `DEFAULT_FROM_EMAIL` | `webmaster@localhost` |
//! | `email_file_path` | `EMAIL_FILE_PATH` | none |
//! | `email_timeout` | `EMAIL_TIMEOUT` | 10 s (connect; a whole send: 4×) |
//! | `email_templates_dir` | (template overrides) | none |
//! | `email_subject_prefix` | `EMAIL_SUBJECT_PREFIX` | empty |

mod kind;
mod settings;
mod templates;
mod transport;

pub use kind::{MailKind, UnknownMailKind};
pub use settings::{EmailBackend, MailSettings};
pub use templates::Templates;
pub use transport::{Email, MailError, Mailer};
