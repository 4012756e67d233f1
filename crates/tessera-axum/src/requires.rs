//! Authentication before method dispatch, as DRF orders them: a view authenticates the
//! request and checks its permissions (`APIView.initial`) before it looks for a handler of
//! the method, so an anonymous `POST` to a `GET`-only view that requires a user gets 401,
//! and only an authenticated one gets 405.
//!
//! axum answers a method a route does not serve with 405 before any extractor runs. A route
//! that requires authentication registers its extractor as the route's fallback with
//! [`Requires::requires`]; the fallback runs it first — its rejection (401 with
//! `WWW-Authenticate`, or 403) is the answer — and only then says 405 (to which the
//! conventions add DRF's body and `Allow`, as for every 405). `OPTIONS` is answered as on
//! every route (200 with `Allow`), without authentication.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

/// Routes whose every method requires what the extractor `E` checks — even a method they do
/// not serve: an anonymous `POST` to a `GET`-only route that requires a user gets 401 (with
/// `WWW-Authenticate`), and only a caller `E` accepts gets 405, as DRF orders them.
/// `OPTIONS` is answered as on every route, without authentication.
///
/// ```
/// use axum::Router;
/// use axum::routing::get;
/// use tessera_axum::{AuthUser, Requires, Tessera};
///
/// async fn me(user: AuthUser) -> String {
///     user.user.email
/// }
///
/// let app: Router<Tessera> = Router::new().route("/me/", get(me).requires::<AuthUser>());
/// ```
pub trait Requires<S> {
    /// This route, answering the methods it does not serve only once `E` has accepted the
    /// request: `E`'s rejection first (401/403), then 405.
    #[must_use]
    fn requires<E>(self) -> Self
    where
        E: FromRequestParts<S> + Send + 'static;
}

impl<S> Requires<S> for MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    fn requires<E>(self) -> Self
    where
        E: FromRequestParts<S> + Send + 'static,
    {
        self.fallback(method_not_allowed::<E, S>)
    }
}

/// The fallback of a route that requires `E`: `E`'s rejection, else a bare 405 (the
/// conventions give it its body; axum adds `Allow`).
async fn method_not_allowed<E, S>(State(state): State<S>, request: Request) -> Response
where
    E: FromRequestParts<S> + Send + 'static,
    S: Clone + Send + Sync + 'static,
{
    let (mut parts, _body) = request.into_parts();
    if parts.method != Method::OPTIONS
        && let Err(rejection) = E::from_request_parts(&mut parts, &state).await
    {
        return rejection.into_response();
    }
    StatusCode::METHOD_NOT_ALLOWED.into_response()
}
