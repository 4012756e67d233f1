//! DRF's `PageNumberPagination` for the admin lists: which page of how many results, and the
//! `{"count","next","previous","results"}` body with absolute links.

use axum::Json;
use axum::http::request::Parts;
use axum::http::{Uri, header};
use serde_json::{Value, json};

use crate::deployment::RequestOrigin;
use crate::error::ApiError;

/// DRF's `PageNumberPagination` for one request: which page, of how many results.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page {
    number: i64,
    size: i64,
    offset: i64,
}

fn invalid_page() -> ApiError {
    ApiError::NotFoundDetail("Invalid page.".into())
}

impl Page {
    /// The `page` parameter as DRF reads it: absent or blank is page 1; anything but a
    /// positive integer is 404 `Invalid page.`. `size` is at least 1.
    pub(crate) fn read(page: Option<&str>, size: i64) -> Result<Self, ApiError> {
        let number: i64 = match page.map(str::trim) {
            None | Some("") => 1,
            Some(text) => text
                .parse()
                .ok()
                .filter(|p| *p >= 1)
                .ok_or_else(invalid_page)?,
        };
        let size = size.max(1);
        let offset = (number - 1).checked_mul(size).ok_or_else(invalid_page)?;
        Ok(Self {
            number,
            size,
            offset,
        })
    }

    /// How many results a page holds (the query's `LIMIT`).
    pub(crate) fn size(&self) -> i64 {
        self.size
    }

    /// How many results come before this page (the query's `OFFSET`).
    pub(crate) fn offset(&self) -> i64 {
        self.offset
    }

    /// `{"count","next","previous","results"}` with absolute links to the neighbouring
    /// pages; 404 `Invalid page.` past the last page (page 1 always exists).
    pub(crate) fn body(
        &self,
        count: i64,
        host: &RequestHost,
        uri: &Uri,
        results: Vec<Value>,
    ) -> Result<Json<Value>, ApiError> {
        let (page, size) = (self.number, self.size);
        let pages = ((count + size - 1) / size).max(1);
        if page > pages {
            return Err(invalid_page());
        }
        let link = |target: i64| page_link(&host.0, uri, target);
        Ok(Json(json!({
            "count": count,
            "next": (page < pages).then(|| link(page + 1)),
            "previous": (page > 1).then(|| link(page - 1)),
            "results": results,
        })))
    }
}

/// The absolute URL of another page on `origin` (`http://host`), other query parameters
/// kept (page 1 has no `page`).
fn page_link(origin: &str, uri: &Uri, page: i64) -> String {
    let mut pairs: Vec<(String, String)> = uri
        .query()
        .map(|q| serde_urlencoded::from_str(q).unwrap_or_default())
        .unwrap_or_default();
    pairs.retain(|(k, _)| k != "page");
    if page > 1 {
        pairs.push(("page".into(), page.to_string()));
    }
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    let path = uri.path();
    if query.is_empty() {
        format!("{origin}{path}")
    } else {
        format!("{origin}{path}?{query}")
    }
}

/// The request's scheme and host (`http://host`), for DRF's absolute pagination links: as
/// the middleware found them (HTTPS behind `secure_proxy_ssl_header`, `X-Forwarded-Host`
/// with `use_x_forwarded_host`), else plain HTTP to `Host`.
pub(crate) struct RequestHost(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestHost {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(origin) = parts.extensions.get::<RequestOrigin>() {
            return Ok(Self(origin.0.clone()));
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
            })
            .unwrap_or("localhost");
        Ok(Self(format!("http://{host}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_keep_other_parameters_and_drop_page_one() {
        let uri: Uri = "/api/admin/users/?search=ada&page=2".parse().unwrap();
        assert_eq!(
            page_link("http://h:8000", &uri, 3),
            "http://h:8000/api/admin/users/?search=ada&page=3"
        );
        assert_eq!(
            page_link("http://h:8000", &uri, 1),
            "http://h:8000/api/admin/users/?search=ada"
        );
        let bare: Uri = "/api/admin/users/".parse().unwrap();
        assert_eq!(
            page_link("http://h", &bare, 2),
            "http://h/api/admin/users/?page=2"
        );
    }
}
