//! The Keycloak realm we deploy matches what the token validator and the dev issuer expect.

use serde_json::Value;
use svc_kit::{
    Settings,
    auth::dev_issuer::{AUDIENCE, DEMO_USERS, REALM, SERVICE_CLIENTS, WEB_CLIENT},
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
fn realm_has_our_roles_and_patient_is_the_default() {
    let realm = realm();
    assert_eq!(realm["realm"], REALM);
    let roles: Vec<&str> = realm["roles"]["realm"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for role in DEMO_USERS {
        assert!(roles.contains(&role), "role {role}");
    }
    let default = &realm["defaultRole"];
    assert_eq!(
        default["name"],
        format!("default-roles-{REALM}"),
        "the composite Keycloak tokens carry"
    );
    let granted: Vec<&str> = default["composites"]["realm"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(granted.contains(&"patient"), "new users are patients");
    for privileged in ["admin", "doctor", "nurse", "pharmacist", "service"] {
        assert!(
            !granted.contains(&privileged),
            "self-registration never grants {privileged}"
        );
    }
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
