//! The API's error: an HTTP status and a message naming the field at fault, sent as
//! `{"error": "..."}`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;
use thiserror::Error;

/// An error answered to a request.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The request is malformed or out of range (HTTP 400); the message names the field.
    #[error("{0}")]
    BadRequest(String),
    /// No such resource (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// A failure on our side (HTTP 500), e.g. a computation that panicked.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 error with this message.
    pub fn bad(message: impl Into<String>) -> Self {
        ApiError::BadRequest(message.into())
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), Json(json!({ "error": self.to_string() }))).into_response()
    }
}

/// Parses a JSON request body into `T`. A body over the size limit, malformed JSON, a missing or
/// unknown field, or a value of the wrong type is a 400 whose message names the field's path
/// (`methods[1].hyper`).
pub fn parse_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::bad(format!(
                "request body larger than {} bytes",
                crate::server::BODY_LIMIT
            ))
        } else {
            ApiError::bad(format!("cannot read the request body: {e}"))
        }
    })?;
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad(
            "malformed request: the body must be a JSON object `{...}`",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    let value: T = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let at_root = matches!(path.as_str(), "" | "." | "?");
        let syntax = inner.classify() != serde_json::error::Category::Data;
        ApiError::bad(match (syntax, at_root) {
            (true, true) => format!("malformed JSON: {inner}"),
            (true, false) => format!("malformed JSON at `{path}`: {inner}"),
            (false, true) => format!("malformed request: {inner}"),
            (false, false) => format!("`{path}`: {inner}"),
        })
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Req {
        steps: u32,
        methods: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        lr: f64,
    }

    fn err(body: &str) -> String {
        match parse_body::<Req>(Ok(Bytes::from(body.to_string()))) {
            Ok(r) => panic!("accepted {body}: {r:?}"),
            Err(e) => {
                assert_eq!(e.status(), StatusCode::BAD_REQUEST);
                e.to_string()
            }
        }
    }

    #[test]
    fn errors_name_the_field() {
        let e = err(r#"{"steps": 3, "methods": [{"lr": "fast"}]}"#);
        assert!(e.starts_with("`methods[0].lr`"), "{e}");
        let e = err(r#"{"steps": -1, "methods": []}"#);
        assert!(e.starts_with("`steps`"), "{e}");
        let e = err(r#"{"steps": 1, "methods": [], "x": 1}"#);
        assert!(e.contains("unknown field `x`"), "{e}");
        let e = err(r#"{"steps": 1"#);
        assert!(e.contains("malformed"), "{e}");
        let e = err(r#"{"steps": 1e999, "methods": []}"#);
        assert!(e.contains("`steps`"), "{e}");
    }
}
