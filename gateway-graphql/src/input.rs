//! Checks the gateway makes on arguments before anything is asked of a service. A refused
//! argument answers `BAD_USER_INPUT` naming the argument and what it must be, so the client
//! learns what to change (the generic validators name neither).

use async_graphql::{CustomValidator, ErrorExtensions, InputValueError};
use base64::Engine;

use crate::errors::{ErrorCode, gateway_error};

/// An integer argument that must lie between `min` and `max`, both included. It checks `i32`
/// arguments and the `i64` ones that carry a service's 64-bit counts, which the graph takes
/// within GraphQL's `Int` range.
#[derive(Debug, Clone, Copy)]
pub struct Within {
    pub argument: &'static str,
    pub min: i64,
    pub max: i64,
}

/// `pageSize` of every list: at most a page of 200.
pub const PAGE_SIZE: Within = Within {
    argument: "pageSize",
    min: 1,
    max: 200,
};

/// What a list costs of a request's complexity budget besides what it selects: one for each
/// ten items it asks for (the services' default page when it names no size). A page of 200
/// costs 20, so a request cannot ask for many of the largest pages at once.
pub fn page_cost(page_size: Option<i32>) -> usize {
    let size = match page_size {
        Some(size) => i64::from(size).clamp(PAGE_SIZE.min, PAGE_SIZE.max),
        None => svc_kit::paging::DEFAULT_PAGE_SIZE as i64,
    };
    (size as usize).div_ceil(10)
}

/// `intervalSeconds` of the health subscription: between a second and five minutes.
pub const INTERVAL_SECONDS: Within = Within {
    argument: "intervalSeconds",
    min: 1,
    max: 300,
};

/// A quantity of units (received, prescribed, dispensed): at least one.
pub const QUANTITY: Within = Within {
    argument: "quantity",
    min: 1,
    max: INT_MAX,
};

/// `criticalThreshold` of a stock line: none (0) or more.
pub const CRITICAL_THRESHOLD: Within = Within {
    argument: "criticalThreshold",
    min: 0,
    max: INT_MAX,
};

/// `delta` of a stock adjustment: signed, within `Int` either way (zero is the service's to
/// refuse).
pub const DELTA: Within = Within {
    argument: "delta",
    min: -INT_MAX,
    max: INT_MAX,
};

/// The largest GraphQL `Int`.
const INT_MAX: i64 = i32::MAX as i64;

impl Within {
    fn check_value<T: async_graphql::InputType>(
        &self,
        value: i64,
    ) -> Result<(), InputValueError<T>> {
        if (self.min..=self.max).contains(&value) {
            return Ok(());
        }
        Err(refused(
            self.argument,
            format!(
                "{} must be between {} and {}, not {value}",
                self.argument, self.min, self.max
            ),
        ))
    }
}

impl CustomValidator<i32> for Within {
    fn check(&self, value: &i32) -> Result<(), InputValueError<i32>> {
        self.check_value(i64::from(*value))
    }
}

impl CustomValidator<i64> for Within {
    fn check(&self, value: &i64) -> Result<(), InputValueError<i64>> {
        self.check_value(*value)
    }
}

/// Bytes a client sends as text, base64-encoded (standard alphabet, padded), decoded. Text that
/// is not base64 answers `BAD_USER_INPUT` naming `argument` and, in `extensions.fields`, the
/// `field` within it as a service would name it (so a client reads both refusals alike).
pub(crate) fn base64_bytes(
    argument: &str,
    field: &str,
    text: &str,
) -> async_graphql::Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| {
            refused_field(
                argument,
                field,
                "must be base64 (standard alphabet, padded)",
            )
        })
}

/// The error for a field of an input object the gateway refuses: `BAD_USER_INPUT` naming
/// `argument` and, in `extensions.fields`, the `field` within it as a service would name it,
/// with `description` saying what it must be.
pub(crate) fn refused_field(
    argument: &str,
    field: &str,
    description: &str,
) -> async_graphql::Error {
    gateway_error(ErrorCode::BadUserInput, format!("{field} {description}")).extend_with(|_, e| {
        let mut violation = async_graphql::indexmap::IndexMap::new();
        violation.insert(async_graphql::Name::new("field"), field.into());
        violation.insert(async_graphql::Name::new("description"), description.into());
        e.set("argument", argument);
        e.set(
            "fields",
            async_graphql::Value::List(vec![async_graphql::Value::Object(violation)]),
        );
    })
}

/// The error for a refused argument: the client's input is at fault, and the message says why.
fn refused<T: async_graphql::InputType>(argument: &str, message: String) -> InputValueError<T> {
    InputValueError::custom(message)
        .with_extension("code", ErrorCode::BadUserInput.as_str())
        .with_extension("service", "gateway")
        .with_extension("argument", argument)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_outside_the_limits_names_the_argument_and_the_limits() {
        assert!(PAGE_SIZE.check(&1).is_ok());
        assert!(PAGE_SIZE.check(&200).is_ok());
        for bad in [0, -3, 201, 500] {
            let error = PAGE_SIZE
                .check(&bad)
                .unwrap_err()
                .into_server_error(async_graphql::Pos::default());
            assert!(
                error
                    .message
                    .contains(&format!("pageSize must be between 1 and 200, not {bad}")),
                "{}",
                error.message
            );
            let ext = serde_json::to_value(&error.extensions).unwrap();
            assert_eq!(ext["code"], "BAD_USER_INPUT");
            assert_eq!(ext["argument"], "pageSize");
        }
    }

    #[test]
    fn text_that_is_not_base64_names_the_argument_and_the_field() {
        assert_eq!(base64_bytes("input", "f", "JVBERg==").unwrap(), b"%PDF");
        assert_eq!(base64_bytes("input", "f", "").unwrap(), b"");
        for bad in [
            "not base64!",
            "JVBERg",
            "JVBE Rg==",
            "data:application/pdf;base64,JVBE",
        ] {
            let error = base64_bytes("input", "content.document.content", bad)
                .unwrap_err()
                .into_server_error(async_graphql::Pos::default());
            assert!(
                error.message.contains("content.document.content"),
                "{}",
                error.message
            );
            let ext = serde_json::to_value(&error.extensions).unwrap();
            assert_eq!(ext["code"], "BAD_USER_INPUT", "{bad}");
            assert_eq!(ext["service"], "gateway");
            assert_eq!(ext["argument"], "input");
            assert_eq!(ext["fields"][0]["field"], "content.document.content");
        }
    }

    #[test]
    fn counts_are_taken_within_graphql_int() {
        assert!(QUANTITY.check(&1_i64).is_ok());
        assert!(QUANTITY.check(&i64::from(i32::MAX)).is_ok());
        assert!(CRITICAL_THRESHOLD.check(&0_i64).is_ok());
        assert!(DELTA.check(&-5_i64).is_ok());
        for (limit, bad) in [
            (QUANTITY, 0),
            (QUANTITY, -4),
            (QUANTITY, i64::from(i32::MAX) + 1),
            (CRITICAL_THRESHOLD, -1),
            (DELTA, i64::from(i32::MIN)),
        ] {
            let error = limit
                .check(&bad)
                .unwrap_err()
                .into_server_error(async_graphql::Pos::default());
            assert!(error.message.contains(limit.argument), "{}", error.message);
            let ext = serde_json::to_value(&error.extensions).unwrap();
            assert_eq!(ext["code"], "BAD_USER_INPUT");
        }
    }
}
