//! Notes: a user-scoped resource in the application's own table, as DRF's `ModelViewSet`
//! with `get_queryset` filtered by the user and an owner-only object permission. Another
//! user's note is 404 — it does not exist for them.
//!
//! `GET|POST notes/`, `GET|PUT|PATCH|DELETE notes/{id}/`, relative to the API's mount point.

use axum::extract::{FromRef, FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::SqlitePool;
use tessera_auth::form::{FieldErrors, Fields, Trim};
use tessera_axum::{ApiError, AuthUser, IsAuthenticated, Payload, Permission, Require};

use crate::state::AppState;

/// DRF's `max_length` for a title.
const TITLE_MAX_LENGTH: usize = 200;

/// A note, as stored and as answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Note {
    /// The note's id.
    pub id: i64,
    /// Its owner's user id (Tessera's user).
    #[serde(skip)]
    pub owner_id: i64,
    /// The title: required, at most 200 characters.
    pub title: String,
    /// The text; may be blank.
    pub body: String,
}

/// The notes table, in the application's own database.
#[derive(Debug, Clone)]
pub struct Notes(SqlitePool);

impl Notes {
    /// The notes of the application's database `pool`, whose table it creates.
    ///
    /// # Errors
    /// The database's.
    pub async fn open(pool: SqlitePool) -> sqlx::Result<Self> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS notes (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                owner_id INTEGER NOT NULL,
                title TEXT NOT NULL,
                body TEXT NOT NULL DEFAULT ''
            )",
        )
        .execute(&pool)
        .await?;
        sqlx::query("CREATE INDEX IF NOT EXISTS notes_owner ON notes (owner_id, id)")
            .execute(&pool)
            .await?;
        Ok(Self(pool))
    }

    async fn of(&self, owner: i64) -> sqlx::Result<Vec<Note>> {
        sqlx::query_as("SELECT id, owner_id, title, body FROM notes WHERE owner_id = ? ORDER BY id")
            .bind(owner)
            .fetch_all(&self.0)
            .await
    }

    async fn find(&self, id: i64, owner: i64) -> sqlx::Result<Option<Note>> {
        sqlx::query_as("SELECT id, owner_id, title, body FROM notes WHERE id = ? AND owner_id = ?")
            .bind(id)
            .bind(owner)
            .fetch_optional(&self.0)
            .await
    }

    async fn insert(&self, owner: i64, title: &str, body: &str) -> sqlx::Result<Note> {
        sqlx::query_as(
            "INSERT INTO notes (owner_id, title, body) VALUES (?, ?, ?)
             RETURNING id, owner_id, title, body",
        )
        .bind(owner)
        .bind(title)
        .bind(body)
        .fetch_one(&self.0)
        .await
    }

    async fn update(&self, note: &Note) -> sqlx::Result<Option<Note>> {
        sqlx::query_as(
            "UPDATE notes SET title = ?, body = ? WHERE id = ? AND owner_id = ?
             RETURNING id, owner_id, title, body",
        )
        .bind(&note.title)
        .bind(&note.body)
        .bind(note.id)
        .bind(note.owner_id)
        .fetch_optional(&self.0)
        .await
    }

    async fn delete(&self, note: &Note) -> sqlx::Result<bool> {
        let done = sqlx::query("DELETE FROM notes WHERE id = ? AND owner_id = ?")
            .bind(note.id)
            .bind(note.owner_id)
            .execute(&self.0)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// A database failure: logged, answered as DRF's 500.
pub(crate) fn failed(error: sqlx::Error) -> ApiError {
    ApiError::Internal(error.to_string())
}

/// The owner-only object permission: the note in the path exists and is the user's. It
/// hands the note to the handler as a request extension.
#[derive(Debug)]
pub struct IsOwner;

impl Permission<AppState> for IsOwner {
    async fn has_permission(
        user: &AuthUser,
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<bool, ApiError> {
        // A path that names no note (`/notes/abc/`) is a note that does not exist.
        let Path(id) = Path::<i64>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        let notes = Notes::from_ref(state);
        let note = notes
            .find(id, user.user.id)
            .await
            .map_err(failed)?
            .ok_or(ApiError::NotFound)?;
        parts.extensions.insert(note);
        Ok(true)
    }
}

/// The notes routes (see the module docs).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/notes/", get(list).post(create))
        .route(
            "/notes/{id}/",
            get(retrieve).put(replace).patch(update).delete(destroy),
        )
}

/// Reads `title` (required unless `partial`; at most 200 characters) and `body`.
pub(crate) fn read(
    data: &Map<String, Value>,
    partial: bool,
) -> Result<(Option<String>, Option<String>), ApiError> {
    let mut fields = Fields::new(data);
    let title = if partial {
        fields.optional("title", Trim::Yes).filter(|t| {
            if t.is_empty() {
                fields.fail("title", "This field may not be blank.");
            }
            !t.is_empty()
        })
    } else {
        fields.required("title", Trim::Yes)
    };
    if let Some(title) = &title
        && title.chars().count() > TITLE_MAX_LENGTH
    {
        fields.fail(
            "title",
            format!("Ensure this field has no more than {TITLE_MAX_LENGTH} characters."),
        );
    }
    let body = fields.optional("body", Trim::No);
    fields
        .finish()
        .map_err(|errors: FieldErrors| ApiError::Validation(errors))?;
    Ok((title, body))
}

async fn list(
    user: Require<IsAuthenticated>,
    State(notes): State<Notes>,
) -> Result<Json<Vec<Note>>, ApiError> {
    Ok(Json(notes.of(user.user.id).await.map_err(failed)?))
}

async fn create(
    user: Require<IsAuthenticated>,
    State(notes): State<Notes>,
    data: Payload,
) -> Result<(StatusCode, Json<Note>), ApiError> {
    let (title, body) = read(&data.0, false)?;
    let note = notes
        .insert(
            user.user.id,
            &title.unwrap_or_default(),
            &body.unwrap_or_default(),
        )
        .await
        .map_err(failed)?;
    Ok((StatusCode::CREATED, Json(note)))
}

async fn retrieve(_: Require<IsOwner>, Extension(note): Extension<Note>) -> Json<Note> {
    Json(note)
}

async fn save(
    notes: &Notes,
    mut note: Note,
    data: &Payload,
    partial: bool,
) -> Result<Json<Note>, ApiError> {
    let (title, body) = read(&data.0, partial)?;
    if let Some(title) = title {
        note.title = title;
    }
    match body {
        Some(body) => note.body = body,
        None if !partial => note.body.clear(),
        None => {}
    }
    let saved = notes
        .update(&note)
        .await
        .map_err(failed)?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(saved))
}

async fn replace(
    _: Require<IsOwner>,
    State(notes): State<Notes>,
    Extension(note): Extension<Note>,
    data: Payload,
) -> Result<Json<Note>, ApiError> {
    save(&notes, note, &data, false).await
}

async fn update(
    _: Require<IsOwner>,
    State(notes): State<Notes>,
    Extension(note): Extension<Note>,
    data: Payload,
) -> Result<Json<Note>, ApiError> {
    save(&notes, note, &data, true).await
}

async fn destroy(
    _: Require<IsOwner>,
    State(notes): State<Notes>,
    Extension(note): Extension<Note>,
) -> Result<StatusCode, ApiError> {
    notes.delete(&note).await.map_err(failed)?;
    Ok(StatusCode::NO_CONTENT)
}
