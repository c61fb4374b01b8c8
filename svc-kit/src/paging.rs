//! Paged listings, the same in every service: `page_size` (0: the default, capped at the
//! maximum) and an opaque `page_token` that carries the last item's sort key.

//!
//! Errors are [`ApiError`]s, so a use case returns them as they are and a handler's `?` turns
//! them into a `tonic::Status`.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::api_error::ApiError;

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 200;

/// The page size a request asks for, as the listing will use it.
pub fn page_size(requested: i32) -> Result<u64, ApiError> {
    match requested {
        n if n < 0 => Err(ApiError::field("page_size", "must not be negative")),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok((n as u64).min(MAX_PAGE_SIZE)),
    }
}

/// The answer to a page token no listing returned.
pub fn bad_page_token() -> ApiError {
    ApiError::field("page_token", "is not a token this listing returned")
}

/// Trims a fetch of `limit + 1` items to `limit` and returns the token of the page after it,
/// empty on the last page.
pub fn next_page<T>(items: &mut Vec<T>, limit: u64, cursor: impl Fn(&T) -> String) -> String {
    if items.len() as u64 <= limit {
        return String::new();
    }
    items.truncate(limit as usize);
    items
        .last()
        .map(|item| URL_SAFE_NO_PAD.encode(cursor(item)))
        .unwrap_or_default()
}

/// The sort key a page token carries; `None` for the first page.
pub fn decode_token(token: &str) -> Result<Option<String>, ApiError> {
    if token.is_empty() {
        return Ok(None);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad_page_token())?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| bad_page_token())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_carries_the_last_items_key() {
        let mut items: Vec<u32> = (1..=4).collect();
        let token = next_page(&mut items, 3, |i| i.to_string());
        assert_eq!(items, [1, 2, 3]);
        assert_eq!(decode_token(&token).unwrap().as_deref(), Some("3"));
        let mut last: Vec<u32> = vec![4];
        assert_eq!(next_page(&mut last, 3, |i| i.to_string()), "");
        assert!(decode_token("%%%").is_err());
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(10_000).unwrap(), MAX_PAGE_SIZE);
        assert!(page_size(-1).is_err());
    }
}
