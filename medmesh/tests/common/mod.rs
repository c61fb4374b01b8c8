//! Shared by the platform tests.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;

use serde_json::{Value, json};
use svc_kit::{ServiceName, Settings};

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

/// POSTs `query` with `variables`, as the holder of `token` (or anonymously).
pub async fn graphql_as(url: &str, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut request = reqwest::Client::new()
        .post(url)
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .send()
        .await
        .expect("the gateway answers")
        .json()
        .await
        .expect("the gateway answers JSON")
}

/// Signs in at an OIDC token endpoint with the password grant, as the web client does.
pub async fn sign_in(issuer_url: &str, username: &str, password: &str) -> Option<String> {
    let response: Value = reqwest::Client::new()
        .post(format!("{issuer_url}/protocol/openid-connect/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", "medmesh-web"),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    response["access_token"].as_str().map(str::to_string)
}

/// `medmesh dev` settings on free ports, with its data under `data_dir`.
pub fn dev_settings(data_dir: &Path) -> Settings {
    Settings::from_figment(dev_figment(data_dir)).unwrap()
}

/// The layers of [`dev_settings`], for a test to merge its own keys over.
pub fn dev_figment(data_dir: &Path) -> figment::Figment {
    let mut figment = Settings::figment(None)
        .merge(("mode", "dev"))
        .merge(("data_dir", data_dir.display().to_string()))
        .merge(("admin.port", 0))
        .merge(("gateway.port", 0))
        .merge(("dev_issuer.port", 0))
        .merge(("shutdown_grace_ms", 2000));
    for service in ServiceName::ALL {
        figment = figment.merge((format!("services.{service}.port"), 0));
    }
    figment
}

/// The next weekday at least `days` ahead (the demo doctor works Monday to Friday).
pub fn weekday_after(days: i64) -> chrono::NaiveDate {
    let mut day = chrono::Utc::now().date_naive() + chrono::Duration::days(days);
    while matches!(
        chrono::Datelike::weekday(&day),
        chrono::Weekday::Sat | chrono::Weekday::Sun
    ) {
        day += chrono::Duration::days(1);
    }
    day
}
