//! `GET admin/audit/`: the audit log for staff, newest first, filtered, in DRF's page-number
//! pagination.

use axum::extract::{FromRef, OriginalUri, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera_store::{AuditEvent, AuditFilter, AuditOutcome};

use crate::error::ApiError;
use crate::permission::AdminUser;
use crate::requires::Requires;
use crate::routes::pagination::{Page, RequestHost};
use crate::state::Tessera;
use tessera_auth::datetime::{DATETIME_FORMAT_ERROR, drf_datetime, parse_drf_datetime};
use tessera_auth::form::{FieldErrors, check_line};

/// The largest `page_size` a client may ask for (DRF's `max_page_size`).
pub(crate) const MAX_PAGE_SIZE: i64 = 100;
/// The longest `event` filter (no event name is longer).
const MAX_EVENT_CHARS: usize = 64;

/// `GET admin/audit/`, for staff only, relative to the API's mount point (`/api`).
pub fn audit_routes<S>() -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new().route("/admin/audit/", get(list).requires::<AdminUser>())
}

/// Staff only. Query parameters, each optional: `user` (an id), `event` (a name, or a
/// prefix ending in `.` such as `login.`), `outcome` (`success` / `failure`), `ip`,
/// `since` and `until` (ISO 8601 times, both included), `page`, `page_size` (at most 100;
/// the `page_size` setting by default). Bad values are 400 with DRF's field errors.
///
/// Events still queued are written first, so staff see what they just did.
#[utoipa::path(
    get,
    path = "/admin/audit/",
    tag = "admin",
    summary = "The audit log (staff)",
    params(("user" = Option<i64>, Query, description = "Events of this user"), ("event" = Option<String>, Query, description = "An event name, or a prefix ending in `.`"), ("outcome" = Option<String>, Query, description = "`success` or `failure`"), ("ip" = Option<String>, Query, description = "The client address"), ("since" = Option<String>, Query, description = "ISO 8601, included"), ("until" = Option<String>, Query, description = "ISO 8601, included"), ("page" = Option<u64>, Query, description = "The page (DRF page-number pagination)"), ("page_size" = Option<u64>, Query, description = "At most 100")),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "`{\"count\", \"next\", \"previous\", \"results\"}`", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed (staff only, or a privilege rule)", body = crate::openapi::Detail),
        (status = 404, description = "Not found, or `Invalid page.`", body = crate::openapi::Detail),
    )
)]
async fn list(
    State(tessera): State<Tessera>,
    _admin: AdminUser,
    OriginalUri(uri): OriginalUri,
    host: RequestHost,
) -> Result<Json<Value>, ApiError> {
    let params: Vec<(String, String)> = uri
        .query()
        .map(|q| serde_urlencoded::from_str(q).unwrap_or_default())
        .unwrap_or_default();
    // Django's `QueryDict.get`: the last value of a repeated parameter; blank is absent.
    let param = |name: &str| {
        params
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
    };
    let filter = read_filter(&param)?;
    let default_size = i64::try_from(tessera.auth().accounts().page_size).unwrap_or(20);
    let page = Page::read(param("page"), page_size(param("page_size"), default_size))?;
    let (count, events) = tessera
        .auth()
        .audit_log()
        .events(&filter, page.size(), page.offset())
        .await?;
    page.body(
        count,
        &host,
        &uri,
        events.iter().map(event_object).collect(),
    )
}

/// The filters, or DRF's field errors for every bad one, in parameter order.
fn read_filter<'a>(param: &impl Fn(&str) -> Option<&'a str>) -> Result<AuditFilter, ApiError> {
    let mut errors = FieldErrors::default();
    let mut filter = AuditFilter::default();
    if let Some(user) = param("user") {
        match user.parse() {
            Ok(id) => filter.user_id = Some(id),
            Err(_) => errors.add("user", "A valid integer is required."),
        }
    }
    if let Some(name) = param("event") {
        match check_line(name, MAX_EVENT_CHARS) {
            Some(message) => errors.add("event", message),
            None => filter.event = Some(name.to_owned()),
        }
    }
    if let Some(outcome) = param("outcome") {
        match AuditOutcome::parse(outcome) {
            Some(outcome) => filter.outcome = Some(outcome),
            None => errors.add("outcome", format!("\"{outcome}\" is not a valid choice.")),
        }
    }
    if let Some(ip) = param("ip") {
        // The canonical text, as addresses are recorded.
        match ip.parse::<std::net::IpAddr>() {
            Ok(ip) => filter.ip = Some(ip.to_string()),
            Err(_) => errors.add("ip", "Enter a valid IPv4 or IPv6 address."),
        }
    }
    for (name, bound) in [("since", &mut filter.since), ("until", &mut filter.until)] {
        if let Some(text) = param(name) {
            match parse_drf_datetime(text) {
                Some(at) => *bound = Some(at),
                None => errors.add(name, DATETIME_FORMAT_ERROR),
            }
        }
    }
    errors.into_result()?;
    Ok(filter)
}

/// DRF's `get_page_size`: a positive integer, capped at [`MAX_PAGE_SIZE`]; anything else
/// is the default.
fn page_size(param: Option<&str>, default: i64) -> i64 {
    param
        .and_then(|text| text.parse::<i64>().ok())
        .filter(|size| *size > 0)
        .map_or(default, |size| size.min(MAX_PAGE_SIZE))
}

/// One event as the API shows it.
fn event_object(event: &AuditEvent) -> Value {
    json!({
        "id": event.id,
        "at": drf_datetime(event.at),
        "event": event.event,
        "outcome": event.outcome,
        "user": event.user_id,
        "actor": event.actor_id,
        "username": event.username,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "session": event.session_id,
        "detail": event.detail_json(),
    })
}

/// This module's routes in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list))]
pub(super) struct Doc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_fall_back_and_are_capped_like_drfs() {
        assert_eq!(page_size(None, 20), 20);
        assert_eq!(page_size(Some("5"), 20), 5);
        assert_eq!(page_size(Some("1000"), 20), MAX_PAGE_SIZE);
        for bad in ["0", "-3", "x", "2.5"] {
            assert_eq!(page_size(Some(bad), 20), 20, "{bad}");
        }
    }

    #[test]
    fn every_bad_filter_is_reported_in_order() {
        let params = [
            ("user", "ada"),
            ("outcome", "maybe"),
            ("ip", "localhost"),
            ("since", "yesterday"),
            ("until", "2026-01-01T00:00Z"),
        ];
        let param = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let Err(ApiError::Validation(errors)) = read_filter(&param) else {
            panic!("bad filters accepted");
        };
        assert_eq!(
            errors.to_json(),
            json!({
                "user": ["A valid integer is required."],
                "outcome": ["\"maybe\" is not a valid choice."],
                "ip": ["Enter a valid IPv4 or IPv6 address."],
                "since": [DATETIME_FORMAT_ERROR],
            })
        );
    }

    #[test]
    fn good_filters_become_the_store_filter() {
        let params = [
            ("user", "7"),
            ("event", "login."),
            ("outcome", "failure"),
            ("ip", "::ffff:10.0.0.1"),
            ("since", "2026-01-01"),
        ];
        let param = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let filter = read_filter(&param).unwrap();
        assert_eq!(
            filter,
            AuditFilter {
                user_id: Some(7),
                event: Some("login.".into()),
                outcome: Some(AuditOutcome::Failure),
                ip: Some("::ffff:10.0.0.1".into()),
                since: Some(tessera_core::Timestamp::from_secs(1_767_225_600)),
                until: None,
            }
        );
    }
}
