//! `GET reports/` (relative to the API's mount point): a route for the users who hold one
//! Django permission, `reports.view_report` — themselves or through a group, and every
//! superuser — as Django's `permission_required` guards a view. Staff without it are 403.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera_axum::{ApiError, HasPerm, Require, perm};

use crate::articles::Articles;
use crate::notes::failed;
use crate::state::AppState;

perm!(
    /// Django's `reports.view_report`.
    pub ViewReport = "reports.view_report"
);

/// How many articles there are and how many users wrote them.
async fn report(
    _: Require<HasPerm<ViewReport>>,
    State(articles): State<Articles>,
) -> Result<Json<Value>, ApiError> {
    let (count, authors) = articles.counts().await.map_err(failed)?;
    Ok(Json(json!({"articles": count, "authors": authors})))
}

/// The reports route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/reports/", get(report))
}
