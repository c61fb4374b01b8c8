//! The Keycloak realm we deploy matches what the token validator and the dev issuer expect.

use serde_json::Value;
use svc_kit::{
    Settings,
    auth::{
        ClientRole,
        dev_issuer::{AUDIENCE, REALM, SERVICE_CLIENTS, WEB_CLIENT},
    },
};

fn realm() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../k8s/keycloak/medmesh-realm.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn client<'a>(realm: &'a Value, id: &str) -> &'a Value {
    realm["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["clientId"] == id)
        .unwrap_or_else(|| panic!("client {id}"))
}

#[test]
fn realm_has_our_roles_and_the_default_grants_no_platform_role() {
    let realm = realm();
    assert_eq!(realm["realm"], REALM);
    let roles: Vec<&str> = realm["roles"]["realm"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for role in svc_kit::auth::dev_issuer::directory::REALM_ROLES {
        assert!(
            roles.contains(&role),
            "role {role}, as the dev issuer knows it"
        );
    }
    let default = &realm["defaultRole"];
    assert_eq!(
        default["name"],
        svc_kit::auth::dev_issuer::directory::DEFAULT_ROLES,
        "the composite Keycloak tokens carry"
    );
    let granted: Vec<&str> = default["composites"]["realm"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    // Platform roles are direct mappings, so svc-accounts can both grant patient at
    // registration and take it away on a role change (a composite can't be unmapped per user).
    assert_eq!(
        granted,
        svc_kit::auth::dev_issuer::directory::DEFAULT_ROLE_COMPOSITES.to_vec()
    );
    let service_accounts = realm["users"].as_array().unwrap();
    let account = |client: &str| {
        service_accounts
            .iter()
            .find(|u| u["serviceAccountClientId"] == client)
            .unwrap_or_else(|| panic!("a service account for {client}"))
    };
    assert_eq!(
        account("svc-accounts")["clientRoles"]["realm-management"],
        serde_json::json!(["manage-users", "view-users", "query-users"]),
        "svc-accounts administers users, and is the only one that does"
    );
    for user in service_accounts {
        if user["serviceAccountClientId"] != "svc-accounts" {
            assert!(user["clientRoles"].is_null(), "{user}");
        }
    }
    assert_eq!(
        account("partner-demo")["realmRoles"],
        serde_json::json!(["partner"])
    );
    // Each of our services holds its own role and no other: no role reads for every service.
    assert!(!roles.contains(&"service"), "no shared service role");
    for client in SERVICE_CLIENTS {
        if client == svc_kit::auth::dev_issuer::PARTNER_CLIENT {
            continue;
        }
        let role = ClientRole::of_service_client(client)
            .unwrap_or_else(|| panic!("{client} has a role of its own"));
        assert_eq!(
            account(client)["realmRoles"],
            serde_json::json!([role.as_str()]),
            "{client}"
        );
    }
    let mut held: Vec<&Value> = service_accounts.iter().map(|u| &u["realmRoles"]).collect();
    held.sort_by_key(|r| r.to_string());
    held.dedup();
    assert_eq!(
        held.len(),
        service_accounts.len(),
        "no two clients share a role"
    );
    assert_eq!(
        realm["accessTokenLifespan"], 300,
        "access tokens live minutes"
    );
}

#[test]
fn every_client_the_platform_accepts_exists_and_adds_our_audience() {
    let realm = realm();
    let settings = Settings::from_figment(Settings::figment(None)).unwrap();
    for id in settings
        .auth
        .allowed_clients
        .iter()
        .map(String::as_str)
        .chain(SERVICE_CLIENTS)
    {
        let client = client(&realm, id);
        let audience = client["protocolMappers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| {
                m["protocolMapper"] == "oidc-audience-mapper"
                    && m["config"]["included.custom.audience"] == AUDIENCE
            });
        assert!(audience, "{id} puts {AUDIENCE} in aud");
    }
}

#[test]
fn the_web_client_is_public_with_pkce_and_no_password_grant() {
    let realm = realm();
    let web = client(&realm, WEB_CLIENT);
    assert_eq!(web["publicClient"], true);
    assert_eq!(web["attributes"]["pkce.code.challenge.method"], "S256");
    assert_eq!(web["directAccessGrantsEnabled"], false);
    assert_eq!(web["implicitFlowEnabled"], false);
}

#[test]
fn service_clients_are_confidential_and_no_secret_is_committed() {
    let realm = realm();
    for id in SERVICE_CLIENTS {
        let c = client(&realm, id);
        assert_eq!(c["publicClient"], false, "{id}");
        assert_eq!(c["serviceAccountsEnabled"], true, "{id}");
        assert_eq!(
            c["secret"], "**********",
            "{id}: secrets are set at deployment"
        );
    }
}
