//! Turning bad input into `INVALID_ARGUMENT` with google.rpc `BadRequest` field violations.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> FieldViolation {
        FieldViolation {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// `INVALID_ARGUMENT` carrying every violation as a google.rpc `BadRequest` detail.
pub fn invalid_argument(violations: &[FieldViolation]) -> Status {
    let mut details = ErrorDetails::new();
    for violation in violations {
        details.add_bad_request_violation(violation.field.clone(), violation.description.clone());
    }
    let message = match violations {
        [one] => format!("invalid {}: {}", one.field, one.description),
        _ => format!("{} invalid fields", violations.len()),
    };
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// The field violations carried by a status, if any.
pub fn field_violations(status: &Status) -> Vec<FieldViolation> {
    status
        .get_details_bad_request()
        .map(|bad| {
            bad.field_violations
                .into_iter()
                .map(|v| FieldViolation {
                    field: v.field,
                    description: v.description,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_round_trip_through_status_details() {
        let status = invalid_argument(&[FieldViolation::new("email", "is not an email address")]);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "invalid email: is not an email address");
        let back = field_violations(&status);
        assert_eq!(
            back,
            vec![FieldViolation::new("email", "is not an email address")]
        );
    }
}
