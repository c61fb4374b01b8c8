//! Every GraphQL error carries a stable `extensions.code` and, when a service answered it,
//! `extensions.service`. Internal details never reach the client.

use async_graphql::{Error, ErrorExtensions};
use svc_kit::ServiceName;
use tonic::Code;

/// The stable error codes clients can branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    BadUserInput,
    NotFound,
    Conflict,
    Unavailable,
    /// Over the caller's request rate (HTTP 429 with Retry-After).
    RateLimited,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    /// The GraphQL code for a gRPC status. Exhaustive on purpose: a new code is a decision.
    pub fn from_grpc(code: Code) -> ErrorCode {
        match code {
            Code::Unauthenticated => ErrorCode::Unauthenticated,
            Code::PermissionDenied => ErrorCode::Forbidden,
            Code::InvalidArgument | Code::OutOfRange => ErrorCode::BadUserInput,
            Code::NotFound => ErrorCode::NotFound,
            Code::AlreadyExists | Code::Aborted | Code::FailedPrecondition => ErrorCode::Conflict,
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Cancelled => ErrorCode::Unavailable,
            Code::Ok | Code::Unknown | Code::Internal | Code::Unimplemented | Code::DataLoss => {
                ErrorCode::Internal
            }
        }
    }
}

/// The GraphQL error for a failed call to `service`. Client-facing codes keep the service's
/// message (it was written for clients); internal ones are replaced by a generic message.
pub fn upstream_error(service: ServiceName, status: &tonic::Status) -> Error {
    let code = ErrorCode::from_grpc(status.code());
    let message = match code {
        ErrorCode::Internal => "internal error".to_string(),
        ErrorCode::Unavailable => format!("the {service} service is unavailable"),
        _ => status.message().to_string(),
    };
    let fields: Vec<async_graphql::Value> = svc_kit::error::field_violations(status)
        .into_iter()
        .map(|v| {
            let mut field = async_graphql::indexmap::IndexMap::new();
            field.insert(
                async_graphql::Name::new("field"),
                async_graphql::Value::from(camel_case(&v.field)),
            );
            field.insert(
                async_graphql::Name::new("description"),
                async_graphql::Value::from(v.description),
            );
            async_graphql::Value::Object(field)
        })
        .collect();
    Error::new(message).extend_with(|_, e| {
        e.set("code", code.as_str());
        e.set("service", service.as_str());
        if !fields.is_empty() {
            e.set("fields", async_graphql::Value::List(fields.clone()));
        }
    })
}

/// An error the gateway raises itself, with its code.
pub fn gateway_error(code: ErrorCode, message: impl Into<String>) -> Error {
    Error::new(message).extend_with(|_, e| {
        e.set("code", code.as_str());
        e.set("service", "gateway");
    })
}

/// A service's field path (`profile.given_name`) as the graph names it (`profile.givenName`).
fn camel_case(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut upper = false;
    for c in path.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_stay_inside() {
        let status = tonic::Status::internal("relation \"outbox\" does not exist");
        let error = upstream_error(ServiceName::Scheduling, &status);
        assert_eq!(error.message, "internal error");
        let gql = error.into_server_error(async_graphql::Pos::default());
        let ext = serde_json::to_value(&gql.extensions).unwrap();
        assert_eq!(ext["code"], "INTERNAL");
        assert_eq!(ext["service"], "scheduling");
    }

    #[test]
    fn field_violations_are_named_as_the_graph_names_them() {
        let status = svc_kit::error::invalid_argument(&[svc_kit::error::FieldViolation::new(
            "given_name",
            "must not be empty",
        )]);
        let gql = upstream_error(ServiceName::Accounts, &status)
            .into_server_error(async_graphql::Pos::default());
        let ext = serde_json::to_value(&gql.extensions).unwrap();
        assert_eq!(ext["code"], "BAD_USER_INPUT");
        assert_eq!(ext["fields"][0]["field"], "givenName");
        assert_eq!(ext["fields"][0]["description"], "must not be empty");
    }

    #[test]
    fn invalid_argument_is_bad_user_input() {
        let status = tonic::Status::invalid_argument("invalid email: is not an email address");
        let error = upstream_error(ServiceName::Accounts, &status);
        assert_eq!(error.message, "invalid email: is not an email address");
        let gql = error.into_server_error(async_graphql::Pos::default());
        let ext = serde_json::to_value(&gql.extensions).unwrap();
        assert_eq!(ext["code"], "BAD_USER_INPUT");
    }
}
