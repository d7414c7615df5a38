//! The web crate's one error type: a status, a stable code and one sentence.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use janus_core::workflow::WorkflowError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
}

/// The body of every error answer: `{"error":{"code","message"}}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// A stable code and one sentence.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: &'static str,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<WorkflowError> for ApiError {
    fn from(error: WorkflowError) -> ApiError {
        match &error {
            WorkflowError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", error.to_string())
            }
            WorkflowError::Refused(refusal) => {
                let status = if refusal.is_authorization_refusal() {
                    StatusCode::FORBIDDEN
                } else if matches!(
                    refusal,
                    janus_core::domain::DomainError::StaleState { .. }
                        | janus_core::domain::DomainError::InvalidTransition { .. }
                        | janus_core::domain::DomainError::AlreadyApproved
                        | janus_core::domain::DomainError::AlreadyLive { .. }
                ) {
                    StatusCode::CONFLICT
                } else if matches!(
                    refusal,
                    janus_core::domain::DomainError::TooManyRequestsPerHour { .. }
                        | janus_core::domain::DomainError::TooManyLiveRequests { .. }
                ) {
                    StatusCode::TOO_MANY_REQUESTS
                } else {
                    StatusCode::BAD_REQUEST
                };
                ApiError::new(status, refusal.code(), refusal.to_string())
            }
            WorkflowError::Conflict => ApiError::new(StatusCode::CONFLICT, "conflict", error.to_string()),
            WorkflowError::LeaseLost => ApiError::new(StatusCode::CONFLICT, "lease_lost", error.to_string()),
            WorkflowError::Store(source) => {
                tracing::error!(error = %source, "database error");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", error.to_string())
            }
        }
    }
}
