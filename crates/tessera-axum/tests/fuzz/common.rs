//! What the targets share: the runner that counts cases, and DRF's error shape.

use axum::response::Response;
use proptest::test_runner::TestCaseError;
use serde_json::Value;

#[path = "../../../tessera-core/tests/support/fuzz.rs"]
mod runner;
pub use runner::fuzz;

/// A runtime for driving async code from a property (proptest's runner is synchronous).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Whether `body` is one of DRF's error bodies: `{"detail": "…", …}`, or an object of
/// fields each holding a list of messages (or, for nested fields, such an object) — or the
/// `{"error": "…"}` of the account and cookie routes (docs/API.md).
pub fn is_drf_error(body: &Value) -> bool {
    let Value::Object(map) = body else {
        return false;
    };
    if let Some(detail) = map.get("detail") {
        return detail.is_string();
    }
    if map.len() == 1
        && let Some(error) = map.get("error")
    {
        return error.is_string();
    }
    !map.is_empty()
        && map.values().all(|v| match v {
            Value::Array(list) => !list.is_empty() && list.iter().all(Value::is_string),
            Value::Object(_) => is_drf_error(v),
            _ => false,
        })
}

/// Fails unless a refusal is a 4xx in DRF's shape; returns the status.
pub fn check_refusal(status: u16, body: &[u8], what: &str) -> Result<u16, TestCaseError> {
    if !(400..500).contains(&status) {
        return Err(TestCaseError::fail(format!(
            "{what}: status {status}, body {:?}",
            String::from_utf8_lossy(body)
        )));
    }
    let json: Value = serde_json::from_slice(body).map_err(|_| {
        TestCaseError::fail(format!(
            "{what}: {status} with a body that is not JSON: {:?}",
            String::from_utf8_lossy(body)
        ))
    })?;
    if !is_drf_error(&json) {
        return Err(TestCaseError::fail(format!(
            "{what}: {status} with a body not in DRF's shape: {json}"
        )));
    }
    Ok(status)
}

/// A response's status and whole body.
pub async fn read(response: Response) -> (u16, Vec<u8>) {
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, bytes.to_vec())
}
