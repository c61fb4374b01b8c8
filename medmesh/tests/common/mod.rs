//! Shared by the platform tests.

#![allow(dead_code, unreachable_pub)]

use serde_json::{Value, json};

/// POSTs `query` to the GraphQL endpoint at `url` and returns the JSON answer.
pub async fn graphql(url: &str, query: &str) -> Value {
    reqwest::Client::new()
        .post(url)
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("the gateway answers")
        .json()
        .await
        .expect("the gateway answers JSON")
}
