//! Articles: a shared resource with DRF's classic `IsOwnerOrReadOnly` — every signed-in
//! user (by token or API key) reads every article; only its author changes it. Creating
//! one needs the `articles:write` scope (any login token has it; an API key only when it is
//! unlimited or lists it), and deleting one is for its author or for a moderator holding
//! `articles.delete_article`.
//!
//! `GET|POST articles/`, `GET|PUT|PATCH|DELETE articles/{id}/`, relative to the API's mount
//! point.

use axum::extract::{FromRef, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Serialize;
use sqlx::SqlitePool;
use tessera_axum::{
    ApiError, AuthUser, HasPerm, HasScope, Payload, Permission, Require, Scope, perm,
};

use crate::notes::{failed, read};
use crate::state::AppState;

/// An article, as stored and as answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Article {
    /// The article's id.
    pub id: i64,
    /// Its author's user id (Tessera's user), set from the request's user on creation.
    pub author: i64,
    /// The title: required, at most 200 characters.
    pub title: String,
    /// The text; may be blank.
    pub body: String,
}

/// The articles table, in the application's own database.
#[derive(Debug, Clone)]
pub struct Articles(SqlitePool);

impl Articles {
    /// The articles of the application's database `pool`, whose table it creates.
    ///
    /// # Errors
    /// The database's.
    pub async fn open(pool: SqlitePool) -> sqlx::Result<Self> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS articles (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                author INTEGER NOT NULL,
                title TEXT NOT NULL,
                body TEXT NOT NULL DEFAULT ''
            )",
        )
        .execute(&pool)
        .await?;
        Ok(Self(pool))
    }

    async fn all(&self) -> sqlx::Result<Vec<Article>> {
        sqlx::query_as("SELECT id, author, title, body FROM articles ORDER BY id")
            .fetch_all(&self.0)
            .await
    }

    async fn find(&self, id: i64) -> sqlx::Result<Option<Article>> {
        sqlx::query_as("SELECT id, author, title, body FROM articles WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.0)
            .await
    }

    async fn insert(&self, author: i64, title: &str, body: &str) -> sqlx::Result<Article> {
        sqlx::query_as(
            "INSERT INTO articles (author, title, body) VALUES (?, ?, ?)
             RETURNING id, author, title, body",
        )
        .bind(author)
        .bind(title)
        .bind(body)
        .fetch_one(&self.0)
        .await
    }

    async fn update(&self, article: &Article) -> sqlx::Result<Option<Article>> {
        sqlx::query_as(
            "UPDATE articles SET title = ?, body = ? WHERE id = ?
             RETURNING id, author, title, body",
        )
        .bind(&article.title)
        .bind(&article.body)
        .bind(article.id)
        .fetch_optional(&self.0)
        .await
    }

    async fn delete(&self, id: i64) -> sqlx::Result<bool> {
        let done = sqlx::query("DELETE FROM articles WHERE id = ?")
            .bind(id)
            .execute(&self.0)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// How many articles there are, and how many users wrote them.
    ///
    /// # Errors
    /// The database's.
    pub async fn counts(&self) -> sqlx::Result<(i64, i64)> {
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT author) FROM articles")
            .fetch_one(&self.0)
            .await
    }
}

/// The article named by the request's path: 404 when there is none (or the path names
/// none, `/articles/abc/`).
async fn article_in_path(parts: &mut Parts, state: &AppState) -> Result<Article, ApiError> {
    let Path(id) = Path::<i64>::from_request_parts(parts, state)
        .await
        .map_err(|_| ApiError::NotFound)?;
    Articles::from_ref(state)
        .find(id)
        .await
        .map_err(failed)?
        .ok_or(ApiError::NotFound)
}

/// DRF's `SAFE_METHODS`.
const SAFE_METHODS: [Method; 3] = [Method::GET, Method::HEAD, Method::OPTIONS];

/// DRF's `IsOwnerOrReadOnly`: anyone may read the article in the path, only its author may
/// change it. The article rides to the handler as a request extension.
#[derive(Debug)]
pub struct IsOwnerOrReadOnly;

impl Permission<AppState> for IsOwnerOrReadOnly {
    async fn has_permission(
        user: &AuthUser,
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<bool, ApiError> {
        let article = article_in_path(parts, state).await?;
        let allowed = SAFE_METHODS.contains(&parts.method) || article.author == user.user.id;
        parts.extensions.insert(article);
        Ok(allowed)
    }
}

perm!(
    /// Django's `articles.delete_article`: moderators delete any article.
    pub DeleteArticle = "articles.delete_article"
);

/// The article's author, or a user holding `articles.delete_article` (DRF's
/// `IsOwner | DjangoModelPermissions`), read from the store on each request.
#[derive(Debug)]
pub struct IsAuthorOrModerator;

impl Permission<AppState> for IsAuthorOrModerator {
    async fn has_permission(
        user: &AuthUser,
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<bool, ApiError> {
        let article = article_in_path(parts, state).await?;
        let allowed = article.author == user.user.id
            || HasPerm::<DeleteArticle>::has_permission(user, parts, state).await?;
        parts.extensions.insert(article);
        Ok(allowed)
    }
}

/// The scope an API key needs to write articles.
#[derive(Debug)]
pub struct WriteArticles;

impl Scope for WriteArticles {
    const NAME: &'static str = "articles:write";
}

/// A credential limited to other scopes may not write: 403.
fn require_write_scope(user: &AuthUser) -> Result<(), ApiError> {
    if user.has_scope(WriteArticles::NAME) {
        Ok(())
    } else {
        Err(ApiError::PermissionDenied)
    }
}

/// The articles routes (see the module docs).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/articles/", get(list).post(create))
        .route(
            "/articles/{id}/",
            get(retrieve).put(replace).patch(update).delete(destroy),
        )
}

async fn list(
    _: AuthUser,
    State(articles): State<Articles>,
) -> Result<Json<Vec<Article>>, ApiError> {
    Ok(Json(articles.all().await.map_err(failed)?))
}

/// DRF's `perform_create(serializer.save(author=request.user))`.
async fn create(
    user: Require<HasScope<WriteArticles>>,
    State(articles): State<Articles>,
    data: Payload,
) -> Result<(StatusCode, Json<Article>), ApiError> {
    let (title, body) = read(&data.0, false)?;
    let article = articles
        .insert(
            user.user.id,
            &title.unwrap_or_default(),
            &body.unwrap_or_default(),
        )
        .await
        .map_err(failed)?;
    Ok((StatusCode::CREATED, Json(article)))
}

async fn retrieve(
    _: Require<IsOwnerOrReadOnly>,
    Extension(article): Extension<Article>,
) -> Json<Article> {
    Json(article)
}

async fn save(
    articles: &Articles,
    mut article: Article,
    data: &Payload,
    partial: bool,
) -> Result<Json<Article>, ApiError> {
    let (title, body) = read(&data.0, partial)?;
    if let Some(title) = title {
        article.title = title;
    }
    match body {
        Some(body) => article.body = body,
        None if !partial => article.body.clear(),
        None => {}
    }
    let saved = articles
        .update(&article)
        .await
        .map_err(failed)?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(saved))
}

async fn replace(
    user: Require<IsOwnerOrReadOnly>,
    State(articles): State<Articles>,
    Extension(article): Extension<Article>,
    data: Payload,
) -> Result<Json<Article>, ApiError> {
    require_write_scope(&user)?;
    save(&articles, article, &data, false).await
}

async fn update(
    user: Require<IsOwnerOrReadOnly>,
    State(articles): State<Articles>,
    Extension(article): Extension<Article>,
    data: Payload,
) -> Result<Json<Article>, ApiError> {
    require_write_scope(&user)?;
    save(&articles, article, &data, true).await
}

async fn destroy(
    user: Require<IsAuthorOrModerator>,
    State(articles): State<Articles>,
    Extension(article): Extension<Article>,
) -> Result<StatusCode, ApiError> {
    require_write_scope(&user)?;
    if articles.delete(article.id).await.map_err(failed)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
