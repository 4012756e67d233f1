//! The OpenAPI 3.1 document of the routes Tessera serves, generated from the views'
//! `#[utoipa::path]` annotations (never written by hand), and the routes that serve it:
//! `GET /api/schema/` (JSON, or YAML with `?format=yaml`) and `GET /api/docs/` (Swagger UI,
//! from the binary: no CDN, no inline script).
//!
//! The views are annotated at the default layout (`/token/`, `/auth/login/` … relative to
//! the API's mount point); [`openapi`] places them where [`RoutePaths`] serves them. An
//! application documents its own views with utoipa and joins them with [`openapi_with`]:
//!
//! ```
//! use axum::Router;
//! use tessera_axum::Tessera;
//! use tessera_axum::openapi::{openapi_with, schema_routes};
//! use tessera_axum::routes::{RoutePaths, api_routes_at, jwks_routes};
//! use utoipa::OpenApi;
//!
//! #[derive(OpenApi)]
//! #[openapi(info(title = "My application"))]
//! struct MyApi;
//!
//! let paths = RoutePaths::default();
//! let document = openapi_with(&paths, MyApi::openapi());
//! let app: Router<Tessera> = Router::new()
//!     .merge(api_routes_at(&paths))
//!     .merge(jwks_routes())
//!     .merge(schema_routes(&paths, document));
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::Query;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Paths};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::routes::RoutePaths;

/// DRF's error body for everything but field validation: `{"detail": "…"}`, with simplejwt's
/// and Tessera's machine-readable `code` where there is one.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"detail": "Authentication credentials were not provided.", "code": "not_authenticated"}))]
pub struct Detail {
    /// The message, as DRF words it.
    pub detail: String,
    /// The error's code (`not_authenticated`, `permission_denied`, `throttled` …).
    pub code: Option<String>,
}

/// DRF's validation errors: each field (or `non_field_errors`) with its messages.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"password": ["This field is required."]}))]
pub struct FieldErrors(pub HashMap<String, Vec<String>>);

/// simplejwt's answer to an invalid or expired token.
#[derive(Debug, ToSchema)]
#[schema(example = json!({
    "detail": "Given token not valid for any token type",
    "code": "token_not_valid",
    "messages": [{"token_class": "AccessToken", "token_type": "access", "message": "Token is expired"}]
}))]
pub struct TokenError {
    /// The message.
    pub detail: String,
    /// `token_not_valid`.
    pub code: String,
    /// One message per token class tried (empty for a refresh or verify request).
    pub messages: Option<Vec<TokenMessage>>,
}

/// One token class's reason for refusing a token.
#[derive(Debug, ToSchema)]
pub struct TokenMessage {
    /// `AccessToken`, `SlidingToken` …
    pub token_class: String,
    /// `access`, `sliding` …
    pub token_type: String,
    /// Why the token was refused.
    pub message: String,
}

/// The security schemes the views name: `bearer` (`Authorization: Bearer <access token>`),
/// `cookie` (the access token cookie) with `csrf` (the `X-CSRFToken` header matching the
/// `csrftoken` cookie, on unsafe methods) and `api_key` (`Authorization: Api-Key <key>`).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "access_token",
                "The access token cookie cookie mode sets (`auth_cookie_access_name`).",
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRFToken",
                "Django's double submit: the `csrftoken` cookie's value, on unsafe methods \
                 of cookie-authenticated requests.",
            ))),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Api-Key <prefix>.<secret>`",
            ))),
        );
    }
}

/// The document's frame: title, version, security schemes and the shared error shapes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera",
        description = "JSON Web Token authentication with Django REST Framework's and \
                       simplejwt's contract."
    ),
    components(schemas(Detail, FieldErrors, TokenError, TokenMessage)),
    modifiers(&SecuritySchemes)
)]
struct Frame;

/// The schema and docs routes, relative to the API's mount point like the views.
#[derive(OpenApi)]
#[openapi(paths(schema, docs))]
struct SchemaDoc;

/// The document of every route [`api_routes_at`](crate::routes::api_routes_at)`(paths)`,
/// [`jwks_routes`](crate::routes::jwks_routes) and [`schema_routes`] serve, at `paths`.
pub fn openapi(paths: &RoutePaths) -> Document {
    let mut document = Frame::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut api = crate::routes::documented();
    api.merge(SchemaDoc::openapi());
    api.paths = place(api.paths, paths);
    document.merge(api);
    document.merge(crate::routes::documented_at_root());
    document
}

/// [`openapi`] with an application's own document merged in: its paths (absolute, as the
/// application mounts them), schemas and tags join Tessera's.
pub fn openapi_with(paths: &RoutePaths, application: Document) -> Document {
    let mut document = openapi(paths);
    document.merge(application);
    document
}

/// Names the login's username field in `document` as `username_field` sets it (the views are
/// documented with `email`, the default): `username_field(&mut document, "username")`.
pub fn username_field(document: &mut Document, field: &str) {
    use utoipa::openapi::{RefOr, schema::Schema};
    let Some(components) = document.components.as_mut() else {
        return;
    };
    let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut("ObtainRequest") else {
        return;
    };
    if field == "email" {
        return;
    }
    if let Some(schema) = object.properties.shift_remove("email") {
        object.properties.insert(field.to_owned(), schema);
    }
    for required in &mut object.required {
        if required == "email" {
            field.clone_into(required);
        }
    }
}

/// Prefixes every operation id of `document` with `module_`: views of several modules share
/// names (`list`, `create`), and OpenAPI wants each id once.
pub(crate) fn name_operations(document: &mut Document, module: &str) {
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.options,
            &mut item.head,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            if let Some(id) = &operation.operation_id {
                operation.operation_id = Some(format!("{module}_{id}"));
            }
        }
    }
}

/// Moves the views documented at the default layout to where `paths` serves them: the six
/// token views to their own paths (left out when not served), every other path under the
/// prefix.
fn place(documented: Paths, paths: &RoutePaths) -> Paths {
    let defaults = RoutePaths {
        prefix: String::new(),
        ..RoutePaths::default()
    }
    .token_paths();
    let configured = paths.token_paths();
    let mut placed = Paths::new();
    for (path, item) in documented.paths {
        let token = defaults
            .iter()
            .zip(&configured)
            .find(|((_, default), _)| default.as_deref() == Some(path.as_str()));
        let target = match token {
            Some((_, (_, Some(target)))) => target.clone(),
            Some((_, (_, None))) => continue,
            None => paths.api_path(&path),
        };
        placed.paths.insert(target, item);
    }
    placed
}

/// The docs page's policy: Swagger UI's own script and style files only, no inline code, no
/// framing; the document fetched from this origin.
pub const DOCS_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// `?format=json|yaml`.
#[derive(Debug, Deserialize)]
struct SchemaQuery {
    format: Option<String>,
}

/// The document, as text in both formats.
struct Rendered {
    json: String,
    yaml: String,
}

/// The OpenAPI document of this API.
#[utoipa::path(
    get,
    path = "/schema/",
    tag = "schema",
    params(("format" = Option<String>, Query, description = "`json` (the default) or `yaml`")),
    responses(
        (status = 200, description = "The OpenAPI 3.1 document",
         content((Object = "application/vnd.oai.openapi+json"), (String = "application/vnd.oai.openapi"))),
        (status = 404, description = "An unknown format", body = Detail),
    )
)]
async fn schema(
    Extension(rendered): Extension<Arc<Rendered>>,
    Query(query): Query<SchemaQuery>,
) -> Response {
    let (body, kind) = match query.format.as_deref() {
        None | Some("json" | "openapi-json") => {
            (rendered.json.clone(), "application/vnd.oai.openapi+json")
        }
        Some("yaml" | "openapi") => (rendered.yaml.clone(), "application/vnd.oai.openapi"),
        Some(_) => {
            return crate::error::ApiError::NotFound.into_response();
        }
    };
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(kind))],
        body,
    )
        .into_response()
}

/// Swagger UI over the document (HTML; its scripts and styles are served from the binary).
#[utoipa::path(
    get,
    path = "/docs/",
    tag = "schema",
    responses((status = 200, description = "Swagger UI", content_type = "text/html"))
)]
#[allow(dead_code)]
fn docs() {}

/// `GET schema/` (the document; `?format=yaml` for YAML) and `GET docs/` (Swagger UI over
/// it, with its assets) under `paths`' prefix — `/api/schema/` and `/api/docs/` by default.
/// Swagger UI's page loads only its own scripts and styles, so it works offline under
/// `script-src 'self'; style-src 'self'`.
///
/// # Panics
/// When `document` cannot be serialised (utoipa's documents always can).
pub fn schema_routes<S>(paths: &RoutePaths, document: Document) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let schema_path = paths.api_path("schema/");
    let docs_path = paths.api_path("docs/");
    #[allow(clippy::expect_used)]
    let rendered = Rendered {
        json: document.to_pretty_json().expect("a document serialises"),
        yaml: document.to_yaml().expect("a document serialises"),
    };
    let ui: Router<S> = SwaggerUi::new(docs_path.trim_end_matches('/').to_owned())
        .config(Config::new([schema_path.clone()]).validator_url("none"))
        .into();
    let ui = ui.layer(SetResponseHeaderLayer::if_not_present(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_POLICY),
    ));
    Router::new()
        .route(&schema_path, get(schema))
        .layer(Extension(Arc::new(rendered)))
        .merge(ui)
}
