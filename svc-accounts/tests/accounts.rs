//! svc-accounts end to end over gRPC, on PostgreSQL and on SQLite, with a real OIDC issuer
//! that also serves Keycloak's admin API.

mod common;

use common::{Harness, code, fields, from_address, mask, registration, start, with};
use futures::StreamExt;
use medmesh_proto::accounts::v1 as pb;
use serde_json::Value;
use svc_kit::{backend_test, testing::TestDb};
use tonic::Code;

backend_test!(first_sign_in_creates_the_profile_once, first_sign_in);
async fn first_sign_in(db: TestDb) {
    let h = start(db).await;
    let me = h.me("patient").await;
    assert_eq!(me.username, "patient");
    assert_eq!(me.email, "patient@medmesh.dev", "from the token's claims");
    assert_eq!(me.given_name, "Demo");
    assert_eq!(me.roles, vec![pb::Role::Patient as i32]);
    assert!(me.active);
    assert_eq!(me.version, 1);
    let again = h.me("patient").await;
    assert_eq!(again.user_id, me.user_id, "the same account on every call");
    assert_eq!(h.count("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(
        h.events("created").await,
        1,
        "one event for the new account"
    );
}

backend_test!(
    profile_updates_are_validated_versioned_and_idempotent,
    updates
);
async fn updates(db: TestDb) {
    let h = start(db).await;
    let me = h.me("patient").await;
    let token = h.token("patient");
    let update = |request_id: &str, phone: &str, version: i64| pb::UpdateProfileRequest {
        request_id: request_id.to_string(),
        profile: Some(pb::Profile {
            phone: phone.to_string(),
            time_zone: "America/New_York".to_string(),
            preferred_language: "en_us".to_string(),
            version,
            ..Default::default()
        }),
        update_mask: mask(&["phone", "time_zone", "preferred_language"]),
    };
    let updated = h
        .client()
        .update_profile(with(update("u-1", "+1 (212) 555-0100", 1), &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.phone, "+12125550100", "normalized to E.164");
    assert_eq!(updated.time_zone, "America/New_York");
    assert_eq!(updated.preferred_language, "en-US");
    assert_eq!(updated.version, 2);
    assert_eq!(updated.email, me.email, "fields outside the mask are kept");

    let retried = h
        .client()
        .update_profile(with(update("u-1", "+1 (212) 555-0100", 1), &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried, updated, "a retry returns the first answer");
    assert_eq!(h.count("SELECT COUNT(*) FROM audit_log").await, 1);

    let reused = h
        .client()
        .update_profile(with(update("u-1", "+12125550199", 2), &token))
        .await;
    assert_eq!(
        fields(reused),
        vec!["request_id"],
        "a key reused for other data"
    );

    let stale = h
        .client()
        .update_profile(with(update("u-2", "+12125550199", 1), &token))
        .await;
    assert_eq!(code(&stale), Code::Aborted, "version 1 is stale");
    assert_eq!(
        h.me("patient").await.phone,
        "+12125550100",
        "nothing changed"
    );
}

backend_test!(
    bad_input_is_refused_field_by_field_and_writes_nothing,
    bad_input
);
async fn bad_input(db: TestDb) {
    let h = start(db).await;
    let before = h.me("patient").await;
    let token = h.token("patient");
    let cases: Vec<(pb::Profile, Vec<&str>, &str)> = vec![
        (
            pb::Profile {
                email: "not-an-email".into(),
                ..Default::default()
            },
            vec!["email"],
            "email",
        ),
        (
            pb::Profile {
                given_name: "x".repeat(101),
                ..Default::default()
            },
            vec!["given_name"],
            "given_name",
        ),
        (
            pb::Profile {
                phone: "12345".into(),
                ..Default::default()
            },
            vec!["phone"],
            "phone",
        ),
        (
            pb::Profile {
                time_zone: "Mars/Olympus_Mons".into(),
                ..Default::default()
            },
            vec!["time_zone"],
            "time_zone",
        ),
        (
            pb::Profile {
                preferred_language: "klingon-language".into(),
                ..Default::default()
            },
            vec!["preferred_language"],
            "preferred_language",
        ),
        (pb::Profile::default(), vec!["roles"], "update_mask"),
        (pb::Profile::default(), vec![], "update_mask"),
    ];
    for (i, (profile, paths, field)) in cases.into_iter().enumerate() {
        let result = h
            .client()
            .update_profile(with(
                pb::UpdateProfileRequest {
                    request_id: format!("bad-{i}"),
                    profile: Some(profile),
                    update_mask: mask(&paths),
                },
                &token,
            ))
            .await;
        assert_eq!(fields(result), vec![field.to_string()], "case {i}");
    }
    let no_key = h
        .client()
        .update_profile(with(
            pb::UpdateProfileRequest {
                request_id: String::new(),
                profile: Some(pb::Profile {
                    phone: "+12125550100".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["phone"]),
            },
            &token,
        ))
        .await;
    assert_eq!(fields(no_key), vec!["request_id"]);

    // Registration names every bad field at once and creates no one anywhere.
    let mut bad = registration("x", "r-bad");
    bad.email = "nope".into();
    bad.password = "short".into();
    bad.time_zone = "Nowhere/Land".into();
    let result = h
        .client()
        .register_patient(with(bad, &h.client_token("medmesh-gateway")))
        .await;
    let mut named = fields(result);
    named.sort();
    assert_eq!(named, vec!["email", "password", "time_zone", "username"]);
    assert!(h.issuer.directory.by_username("x").is_none());

    // An unknown role is bad input too.
    let admin = h.token("admin");
    let result = h
        .client()
        .set_roles(with(
            pb::SetRolesRequest {
                request_id: "r-1".into(),
                user_id: before.user_id.clone(),
                roles: vec![42],
            },
            &admin,
        ))
        .await;
    assert_eq!(fields(result), vec!["roles"]);

    let after = h.me("patient").await;
    assert_eq!(after, before, "nothing was written");
    assert_eq!(h.count("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(h.count("SELECT COUNT(*) FROM audit_log").await, 0);
    assert_eq!(h.count("SELECT COUNT(*) FROM idempotency_keys").await, 0);
}

backend_test!(
    registration_grants_only_patient_and_acts_once,
    registration_once
);
async fn registration_once(db: TestDb) {
    let h = start(db).await;
    let first = h.register("ann.smith", "reg-1").await.unwrap();
    assert_eq!(first.roles, vec![pb::Role::Patient as i32]);
    assert_eq!(first.email, "ann.smith@example.org");
    let again = h.register("ann.smith", "reg-1").await.unwrap();
    assert_eq!(
        again.user_id, first.user_id,
        "the retry returns the same account"
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(h.events("registered").await, 1, "one event");
    assert_eq!(h.count("SELECT COUNT(*) FROM audit_log").await, 1);

    // The user exists at the identity provider, signs in, and is the same account.
    let idp = h.issuer.directory.by_username("ann.smith").unwrap();
    assert_eq!(idp.id, first.subject);
    assert_eq!(
        idp.realm_roles.iter().cloned().collect::<Vec<_>>(),
        vec!["patient"]
    );
    let token = h
        .issuer
        .password_grant("ann.smith", "correct horse battery staple", "medmesh-web")
        .expect("the registered patient signs in");
    let me = h
        .client()
        .get_my_profile(with(pb::GetMyProfileRequest {}, &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.user_id, first.user_id);
    assert_eq!(h.count("SELECT COUNT(*) FROM users").await, 1);

    // Another registration for the same username is a conflict.
    let taken = h.register("ann.smith", "reg-2").await;
    assert_eq!(code(&taken), Code::AlreadyExists);
    // A partner may register; a signed-in patient may not register others.
    assert_eq!(
        code(
            &h.client()
                .register_patient(with(
                    registration("bob.jones", "p-1"),
                    &h.client_token("partner-demo")
                ))
                .await
        ),
        Code::Ok
    );
    assert_eq!(
        code(
            &h.client()
                .register_patient(with(registration("eve.doe", "p-2"), &h.token("patient")))
                .await
        ),
        Code::PermissionDenied
    );
    assert!(h.issuer.directory.by_username("eve.doe").is_none());
}

backend_test!(
    many_patients_register_at_once_and_every_one_gets_an_account,
    registration_storm
);
async fn registration_storm(db: TestDb) {
    let h = std::sync::Arc::new(start(db).await);
    // 60 people filling in the form at once, 32 in flight: a busy database (SQLite's single
    // writer) is waited out and retried, never answered as an error.
    let outcomes = futures::stream::iter(0..60)
        .map(|n| {
            let h = h.clone();
            async move {
                let username = format!("patient.{n:02}");
                (
                    username.clone(),
                    h.register(&username, &format!("storm-{n}")).await,
                )
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    for (username, outcome) in &outcomes {
        let profile = outcome
            .as_ref()
            .unwrap_or_else(|status| panic!("{username}: {status:?}"));
        assert_eq!(&profile.username, username);
        let idp = h.issuer.directory.by_username(username).unwrap();
        assert_eq!(idp.id, profile.subject);
    }
    assert_eq!(h.count("SELECT COUNT(*) FROM users").await, 60);
    assert_eq!(h.events("registered").await, 60);
    assert_eq!(h.count("SELECT COUNT(*) FROM audit_log").await, 60);
    assert_eq!(h.count("SELECT COUNT(*) FROM idempotency_keys").await, 60);
}

backend_test!(
    names_in_romanian_and_cyrillic_are_found_however_they_are_typed,
    unicode_search
);
async fn unicode_search(db: TestDb) {
    let h = start(db).await;
    for (username, given, family) in [
        ("stefan.t", "Ștefan", "Țurcanu"),
        ("olena.k", "Олена", "Коваленко"),
        ("maryana.p", "Мар’яна", "Петренко"),
        ("ann.s", "Ann", "Smith"),
    ] {
        let mut request = registration(username, &format!("reg-{username}"));
        request.given_name = given.to_string();
        request.family_name = family.to_string();
        h.client()
            .register_patient(with(request, &h.client_token("medmesh-gateway")))
            .await
            .unwrap();
    }
    let admin = h.token("admin");
    let found = |query: &str| {
        let client = h.client();
        let admin = admin.clone();
        let query = query.to_string();
        async move {
            let mut client = client;
            let mut names: Vec<String> = client
                .list_users(with(
                    pb::ListUsersRequest {
                        query,
                        ..Default::default()
                    },
                    &admin,
                ))
                .await
                .unwrap()
                .into_inner()
                .users
                .into_iter()
                .map(|u| format!("{} {}", u.given_name, u.family_name))
                .collect();
            names.sort();
            names
        }
    };
    // The names print as they were written...
    assert_eq!(found("turcanu").await, vec!["Ștefan Țurcanu"]);
    // ...and are found with or without diacritics, in the cedilla forms, in any case.
    for query in ["Ștefan", "stefan", "ŞTEFAN", "ţurc", "Stefan Turcanu"] {
        assert_eq!(found(query).await, vec!["Ștefan Țurcanu"], "{query}");
    }
    for query in ["КОВАЛЕНКО", "олена", "Олена Коваленко"] {
        assert_eq!(found(query).await, vec!["Олена Коваленко"], "{query}");
    }
    for query in ["Мар'яна", "мар’яна", "МАРʼЯНА"] {
        assert_eq!(found(query).await, vec!["Мар’яна Петренко"], "{query}");
    }
    assert!(found("Țurcanu Ann").await.is_empty());
}

backend_test!(
    a_registration_that_fails_leaves_nothing_behind,
    failed_registration
);
async fn failed_registration(db: TestDb) {
    let h = start(db).await;
    // The local write fails after the identity provider created the user (here: the audit
    // table is gone for a moment).
    svc_kit::testing::execute(&h.db, "ALTER TABLE audit_log RENAME TO audit_log_away").await;
    let failed = h.register("dana.popescu", "form-1").await;
    assert_eq!(code(&failed), Code::Internal);
    assert!(
        h.issuer.directory.by_username("dana.popescu").is_none(),
        "the user created at the identity provider was deleted again"
    );
    svc_kit::testing::execute(&h.db, "ALTER TABLE audit_log_away RENAME TO audit_log").await;
    assert_eq!(h.count("SELECT COUNT(*) FROM users").await, 0);
    assert_eq!(h.count("SELECT COUNT(*) FROM idempotency_keys").await, 0);
    assert_eq!(h.events("registered").await, 0);

    // The person fills in the form again (a new request id): their username is still theirs.
    let profile = h.register("dana.popescu", "form-2").await.unwrap();
    assert_eq!(
        h.issuer.directory.by_username("dana.popescu").unwrap().id,
        profile.subject
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM users").await, 1);
}

backend_test!(
    a_retried_registration_adopts_the_user_its_first_attempt_created,
    adopt
);
async fn adopt(db: TestDb) {
    let h = start(db).await;
    // The first attempt created the user at the identity provider, then its answer was lost
    // before svc-accounts committed: here, the user exists there (not yet a patient) and
    // nowhere else.
    let first = h.register("carol", "reg-7").await.unwrap();
    for table in ["idempotency_keys", "outbox", "audit_log", "users"] {
        svc_kit::testing::execute(&h.db, &format!("DELETE FROM {table}")).await;
    }
    h.issuer
        .directory
        .update(&first.subject, |user| user.realm_roles.clear());

    // Someone else's request for the username is refused, and so is this request id with
    // another password: the user is not theirs, and stays as it is.
    assert_eq!(
        code(&h.register("carol", "reg-8").await),
        Code::AlreadyExists
    );
    let mut guess = registration("carol", "reg-7");
    guess.password = "a guessed horse battery staple".to_string();
    assert_eq!(
        code(
            &h.client()
                .register_patient(with(guess, &h.client_token("medmesh-gateway")))
                .await
        ),
        Code::AlreadyExists
    );
    let idp = h.issuer.directory.get(&first.subject).unwrap();
    assert!(idp.realm_roles.is_empty(), "nothing granted to them");
    assert_eq!(h.count("SELECT COUNT(*) FROM users").await, 0);

    // The retry of the very request (every field, the same password) finishes it.
    let profile = h.register("carol", "reg-7").await.unwrap();
    assert_eq!(
        profile.subject, first.subject,
        "adopted, not refused as a taken username"
    );
    assert_eq!(
        h.issuer
            .directory
            .get(&first.subject)
            .unwrap()
            .realm_roles
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["patient".to_string()]
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(h.events("registered").await, 1);
}

backend_test!(
    a_retry_must_repeat_every_field_and_the_password_is_kept_nowhere,
    fingerprint
);
async fn fingerprint(db: TestDb) {
    let h = start(db).await;
    let password = "correct horse battery staple";
    let first = h.register("ann.smith", "reg-1").await.unwrap();
    let again = h.register("ann.smith", "reg-1").await.unwrap();
    assert_eq!(again, first, "the same answer");
    assert_eq!(h.count("SELECT COUNT(*) FROM users").await, 1);

    // The same request id with another password is another request: refused as a reused key,
    // and nothing changes, at the identity provider least of all.
    let mut other = registration("ann.smith", "reg-1");
    other.password = "another horse battery staple".to_string();
    let refused = h
        .client()
        .register_patient(with(other, &h.client_token("medmesh-gateway")))
        .await;
    assert_eq!(fields(refused), vec!["request_id"]);
    assert_eq!(h.count("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(h.events("registered").await, 1);
    assert_eq!(h.count("SELECT COUNT(*) FROM audit_log").await, 1);
    assert!(h.issuer.directory.sign_in("ann.smith", password).is_some());
    assert!(
        h.issuer
            .directory
            .sign_in("ann.smith", "another horse battery staple")
            .is_none()
    );

    // What is kept is a digest of the request; neither the password nor any part of it.
    let records = h.idempotency_records().await;
    assert_eq!(records.len(), 1);
    for record in &records {
        assert!(!record.contains(password), "{record}");
        assert!(!record.contains("horse"), "{record}");
    }
    assert_eq!(
        h.count("SELECT COUNT(*) FROM audit_log WHERE after_json LIKE '%horse%'")
            .await,
        0
    );
}

backend_test!(
    a_registration_never_takes_over_an_existing_account,
    takeover
);
async fn takeover(db: TestDb) {
    let h = start(db).await;
    let admin = h.token("admin");
    let ann = h.register("ann.smith", "reg-1").await.unwrap();
    // Ann is later made a doctor too...
    let promoted = h
        .client()
        .set_roles(with(
            pb::SetRolesRequest {
                request_id: "roles-1".to_string(),
                user_id: ann.user_id.clone(),
                roles: vec![pb::Role::Patient as i32, pb::Role::Doctor as i32],
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    // ...and her registration's record is past its retention.
    svc_kit::testing::execute(&h.db, "DELETE FROM idempotency_keys").await;
    let audited = h.count("SELECT COUNT(*) FROM audit_log").await;

    // Her very registration again (same id, fields and password), from the gateway's scope or
    // a visitor's, or anyone's new one for her username: taken, and she is left as she is.
    let attempts = [
        h.register("ann.smith", "reg-1").await,
        h.register_visitor(registration("ann.smith", "reg-1"), "198.51.100.4")
            .await,
        h.register("ann.smith", "reg-2").await,
    ];
    for attempt in &attempts {
        assert_eq!(code(attempt), Code::AlreadyExists, "{attempt:?}");
    }
    let idp = h.issuer.directory.get(&ann.subject).unwrap();
    assert_eq!(
        idp.realm_roles.into_iter().collect::<Vec<_>>(),
        vec!["doctor".to_string(), "patient".to_string()],
        "her roles at the identity provider are untouched"
    );
    let now = h
        .client()
        .get_profile(with(
            pb::GetProfileRequest {
                user_id: ann.user_id.clone(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now, promoted, "her account here is untouched");
    assert!(
        h.issuer
            .directory
            .sign_in("ann.smith", "correct horse battery staple")
            .is_some()
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM audit_log").await, audited);
    assert_eq!(h.events("registered").await, 1);

    // A staff member's username is taken the same way.
    let doctor = h.me("doctor").await;
    assert_eq!(
        code(&h.register("doctor", "reg-3").await),
        Code::AlreadyExists
    );
    assert_eq!(
        h.issuer
            .directory
            .get(&doctor.subject)
            .unwrap()
            .realm_roles
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["doctor".to_string()]
    );
    assert_eq!(h.me("doctor").await, doctor);
}

backend_test!(
    visitors_at_different_addresses_have_request_ids_of_their_own,
    visitor_scopes
);
async fn visitor_scopes(db: TestDb) {
    let h = start(db).await;
    // Two visitors whose forms happen to use the same request id both get their own account.
    let ann = h
        .register_visitor(registration("ann.smith", "form-1"), "203.0.113.7")
        .await
        .unwrap();
    let bob = h
        .register_visitor(registration("bob.jones", "form-1"), "2001:db8::1")
        .await
        .unwrap();
    assert_ne!(ann.user_id, bob.user_id);
    assert_eq!(bob.username, "bob.jones");
    // Each one's retry is answered from their own record.
    assert_eq!(
        h.register_visitor(registration("ann.smith", "form-1"), "203.0.113.7")
            .await
            .unwrap(),
        ann
    );
    // One visitor reusing a request id for something else is refused as before.
    let reused = h
        .register_visitor(registration("eve.doe", "form-1"), "203.0.113.7")
        .await;
    assert_eq!(fields(reused), vec!["request_id"]);
    assert!(h.issuer.directory.by_username("eve.doe").is_none());
    // An address that is not one is refused, not taken for the gateway's own scope.
    let garbled = h
        .register_visitor(registration("fay.doe", "form-2"), "not an address")
        .await;
    assert_eq!(fields(garbled), vec!["x-medmesh-client-address"]);

    // A partner naming an address is not believed: it cannot pick another caller's scope.
    let partner = h.client_token("partner-demo");
    let as_partner = |username: &str, address: &str| {
        from_address(with(registration(username, "p-1"), &partner), address)
    };
    h.client()
        .register_patient(as_partner("carl.pol", "203.0.113.9"))
        .await
        .unwrap();
    let elsewhere = h
        .client()
        .register_patient(as_partner("dora.pol", "198.51.100.1"))
        .await;
    assert_eq!(
        fields(elsewhere),
        vec!["request_id"],
        "one scope, the partner's"
    );

    assert_eq!(h.count("SELECT COUNT(*) FROM users").await, 3);
    // The table keeps a keyed hash of each address, not the address.
    for record in h.idempotency_records().await {
        for address in ["203.0.113.7", "2001:db8::1"] {
            assert!(!record.contains(address), "{record}");
        }
    }
}

backend_test!(
    role_changes_reach_the_identity_provider_and_act_once,
    role_change
);
async fn role_change(db: TestDb) {
    let h = start(db).await;
    let admin = h.token("admin");
    let admin_me = h.me("admin").await;
    let nurse = h.me("nurse").await;
    let set = |request_id: &str, user_id: &str, roles: Vec<pb::Role>| pb::SetRolesRequest {
        request_id: request_id.to_string(),
        user_id: user_id.to_string(),
        roles: roles.into_iter().map(|r| r as i32).collect(),
    };
    for _ in 0..2 {
        let changed = h
            .client()
            .set_roles(with(
                set(
                    "roles-1",
                    &nurse.user_id,
                    vec![pb::Role::Nurse, pb::Role::Doctor],
                ),
                &admin,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            changed.roles,
            vec![pb::Role::Doctor as i32, pb::Role::Nurse as i32]
        );
    }
    assert_eq!(h.events("roles_changed").await, 1, "the retry acted once");
    assert_eq!(
        h.count("SELECT COUNT(*) FROM audit_log WHERE action = 'roles.set'")
            .await,
        1
    );
    let idp = h.issuer.directory.get(&nurse.subject).unwrap();
    assert!(idp.realm_roles.contains("doctor") && idp.realm_roles.contains("nurse"));
    // The next token carries the new role, and the profile follows it.
    assert_eq!(h.me("nurse").await.roles.len(), 2);

    let demote_self = h
        .client()
        .set_roles(with(
            set("roles-2", &admin_me.user_id, vec![pb::Role::Doctor]),
            &admin,
        ))
        .await;
    assert_eq!(code(&demote_self), Code::FailedPrecondition);
    assert!(
        h.issuer
            .directory
            .get(&admin_me.subject)
            .unwrap()
            .realm_roles
            .contains("admin")
    );
}

backend_test!(admins_manage_users_and_every_change_is_audited, admin_work);
async fn admin_work(db: TestDb) {
    let h = start(db).await;
    let admin = h.token("admin");
    for user in ["admin", "doctor", "nurse", "pharmacist", "patient"] {
        h.me(user).await;
    }
    for i in 0..3 {
        h.register(&format!("walk.in{i}"), &format!("reg-{i}"))
            .await
            .unwrap();
    }
    // Paging: pages of 3 cover all 8 users exactly once.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = h
            .client()
            .list_users(with(
                pb::ListUsersRequest {
                    page_size: 3,
                    page_token: token.clone(),
                    ..Default::default()
                },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(page.users.len() <= 3);
        seen.extend(page.users.into_iter().map(|u| u.username));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 8, "{seen:?}");
    assert_eq!(seen.len(), 8, "no user twice: {seen:?}");
    let search = |query: &str, role: pb::Role| pb::ListUsersRequest {
        query: query.to_string(),
        role: role as i32,
        ..Default::default()
    };
    let found = h
        .client()
        .list_users(with(search("WALK.IN", pb::Role::Unspecified), &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        found.users.len(),
        3,
        "case-insensitive search on the username"
    );
    let found = h
        .client()
        .list_users(with(search("", pb::Role::Pharmacist), &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        found
            .users
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        vec!["pharmacist"]
    );
    let found = h
        .client()
        .list_users(with(search("100%_", pb::Role::Unspecified), &admin))
        .await
        .unwrap()
        .into_inner();
    assert!(
        found.users.is_empty(),
        "LIKE wildcards in a query are literal"
    );
    let bad_token = h
        .client()
        .list_users(with(
            pb::ListUsersRequest {
                page_token: "garbage!".into(),
                ..Default::default()
            },
            &admin,
        ))
        .await;
    assert_eq!(fields(bad_token), vec!["page_token"]);

    // Contact data edited by an admin, audited with before and after.
    let patient = h.me("patient").await;
    let edited = h
        .client()
        .update_profile(with(
            pb::UpdateProfileRequest {
                request_id: "edit-1".into(),
                profile: Some(pb::Profile {
                    user_id: patient.user_id.clone(),
                    phone: "+380501112233".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["phone"]),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(edited.phone, "+380501112233");

    // Affiliations: a doctor at a clinic in a specialization, a pharmacist at a pharmacy.
    let doctor = h.me("doctor").await;
    let affiliate = |request_id: &str,
                     user_id: &str,
                     kind: pb::AffiliationKind,
                     clinic: &str,
                     spec: &str,
                     pharmacy: &str| {
        pb::AddAffiliationRequest {
            request_id: request_id.into(),
            user_id: user_id.into(),
            kind: kind as i32,
            clinic_id: clinic.into(),
            specialization: spec.into(),
            pharmacy_id: pharmacy.into(),
        }
    };
    let with_clinic = h
        .client()
        .add_affiliation(with(
            affiliate(
                "aff-1",
                &doctor.user_id,
                pb::AffiliationKind::Doctor,
                "clinic-1",
                "Cardiology",
                "",
            ),
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(with_clinic.affiliations.len(), 1);
    assert_eq!(with_clinic.affiliations[0].specialization, "Cardiology");
    let not_a_doctor = h
        .client()
        .add_affiliation(with(
            affiliate(
                "aff-2",
                &patient.user_id,
                pb::AffiliationKind::Doctor,
                "clinic-1",
                "Cardiology",
                "",
            ),
            &admin,
        ))
        .await;
    assert_eq!(code(&not_a_doctor), Code::FailedPrecondition);
    let mixed = h
        .client()
        .add_affiliation(with(
            affiliate(
                "aff-3",
                &doctor.user_id,
                pb::AffiliationKind::Doctor,
                "clinic-1",
                "",
                "pharmacy-9",
            ),
            &admin,
        ))
        .await;
    let mut named = fields(mixed);
    named.sort();
    assert_eq!(named, vec!["pharmacy_id", "specialization"]);
    let pharmacist = h.me("pharmacist").await;
    let at_pharmacy = h
        .client()
        .add_affiliation(with(
            affiliate(
                "aff-4",
                &pharmacist.user_id,
                pb::AffiliationKind::Pharmacist,
                "",
                "",
                "pharmacy-9",
            ),
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(at_pharmacy.affiliations[0].pharmacy_id, "pharmacy-9");
    let removed = h
        .client()
        .remove_affiliation(with(
            pb::RemoveAffiliationRequest {
                request_id: "rm-1".into(),
                user_id: doctor.user_id.clone(),
                affiliation_id: with_clinic.affiliations[0].affiliation_id.clone(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(removed.affiliations.is_empty());
    // Each change of where someone works is an event carrying their affiliations (ids only):
    // the doctor's clinic added and removed, the pharmacist's pharmacy added.
    assert_eq!(h.events("affiliations_changed").await, 3);

    // Deactivation: the user can no longer act, nor sign in.
    let patient_token = h.token("patient");
    let deactivated = h
        .client()
        .deactivate_user(with(
            pb::DeactivateUserRequest {
                request_id: "off-1".into(),
                user_id: patient.user_id.clone(),
                reason: "left the clinic".into(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!deactivated.active);
    assert_eq!(deactivated.deactivation_reason, "left the clinic");
    let refused = h
        .client()
        .get_my_profile(with(pb::GetMyProfileRequest {}, &patient_token))
        .await;
    assert_eq!(
        code(&refused),
        Code::PermissionDenied,
        "their unexpired token no longer works"
    );
    assert!(
        h.issuer
            .password_grant("patient", "patient", "medmesh-web")
            .is_none()
    );
    assert_eq!(h.events("deactivated").await, 1);
    let listed = h
        .client()
        .list_users(with(pb::ListUsersRequest::default(), &admin))
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed.users.iter().all(|u| u.username != "patient"),
        "inactive users are left out by default"
    );

    // The trail: who, what, when, before and after.
    let trail = h
        .client()
        .list_audit_events(with(
            pb::ListAuditEventsRequest {
                user_id: patient.user_id.clone(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let actions: Vec<&str> = trail.events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        vec!["user.deactivated", "profile.updated"],
        "newest first"
    );
    let edit = &trail.events[1];
    assert_eq!(edit.actor_username, "admin");
    let before: Value = serde_json::from_str(&edit.before_json).unwrap();
    let after: Value = serde_json::from_str(&edit.after_json).unwrap();
    assert_eq!(before["phone"], "");
    assert_eq!(after["phone"], "+380501112233");
    assert_eq!(trail.events[0].reason, "left the clinic");
    assert!(edit.at.is_some());
}

backend_test!(export_and_erase, export_erase);
async fn export_erase(db: TestDb) {
    let h = start(db).await;
    let me = h.me("patient").await;
    let token = h.token("patient");
    h.client()
        .update_profile(with(
            pb::UpdateProfileRequest {
                request_id: "u-1".into(),
                profile: Some(pb::Profile {
                    phone: "+380441234567".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["phone"]),
            },
            &token,
        ))
        .await
        .unwrap();
    let export = h
        .client()
        .export_my_data(with(pb::ExportMyDataRequest {}, &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(export.content_type, "application/json");
    let document: Value = serde_json::from_slice(&export.document).unwrap();
    assert_eq!(document["profile"]["user_id"], me.user_id.as_str());
    assert_eq!(document["profile"]["phone"], "+380441234567");
    assert_eq!(document["account_history"][0]["action"], "profile.updated");
    assert_eq!(document["account_history"][0]["by"], "you");

    let erase = pb::EraseMyAccountRequest {
        request_id: "erase-1".into(),
    };
    let erased = h
        .client()
        .erase_my_account(with(erase.clone(), &token))
        .await
        .unwrap()
        .into_inner();
    assert!(erased.erased_at.is_some());
    assert_eq!(
        h.count(&format!(
            "SELECT COUNT(*) FROM users WHERE user_id = '{}' AND email = '' AND phone = '' \
             AND given_name = '' AND family_name = '' AND erased_at IS NOT NULL",
            me.user_id
        ))
        .await,
        1,
        "personal data is gone"
    );
    assert_eq!(
        h.count(
            "SELECT COUNT(*) FROM audit_log WHERE before_json IS NOT NULL OR after_json IS NOT NULL"
        )
        .await,
        0,
        "the trail keeps who did what, not the data"
    );
    assert_eq!(h.events("erased").await, 1, "other services are told");
    assert!(
        h.issuer.directory.by_username("patient").is_none(),
        "gone from the identity provider"
    );

    // A retry answers the same; the still-valid token reaches nothing and recreates nothing.
    let again = h
        .client()
        .erase_my_account(with(erase, &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, erased);
    let after = h
        .client()
        .get_my_profile(with(pb::GetMyProfileRequest {}, &token))
        .await;
    assert_eq!(code(&after), Code::PermissionDenied);
    assert_eq!(h.count("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(h.events("erased").await, 1);
}

/// What each caller may do; everything else must be PERMISSION_DENIED.
fn allowed(caller: &str, operation: &str) -> bool {
    let person = ["admin", "doctor", "nurse", "pharmacist", "patient"].contains(&caller);
    match operation {
        "GetMyProfile" | "ExportMyData" | "EraseMyAccount" => person,
        // Notify reads contact data, scheduling names; no other service reads profiles.
        "GetProfile" => person || ["svc-notify", "svc-scheduling"].contains(&caller),
        "UpdateProfile" => person,
        "RegisterPatient" => ["admin", "svc-gateway", "partner"].contains(&caller),
        _ => caller == "admin",
    }
}

backend_test!(role_by_operation_matrix, matrix);
async fn matrix(db: TestDb) {
    let h = start(db).await;
    // A target for the admin operations: the pharmacist's account.
    let target = h.me("pharmacist").await.user_id;
    let callers = [
        ("admin", h.token("admin")),
        ("doctor", h.token("doctor")),
        ("nurse", h.token("nurse")),
        ("pharmacist", h.token("pharmacist")),
        ("patient", h.token("patient")),
        ("svc-notify", h.client_token("svc-notify")),
        ("svc-scheduling", h.client_token("svc-scheduling")),
        ("svc-gateway", h.client_token("medmesh-gateway")),
        ("svc-records", h.client_token("svc-records")),
        ("svc-pharmacy", h.client_token("svc-pharmacy")),
        ("partner", h.client_token("partner-demo")),
    ];
    for (caller, token) in &callers {
        let c = h.client();
        let t = token.as_str();
        let id = || target.clone();
        let key = |op: &str| format!("{caller}-{op}");
        let results: Vec<(&str, Code)> = vec![
            (
                "GetMyProfile",
                code(
                    &c.clone()
                        .get_my_profile(with(pb::GetMyProfileRequest {}, t))
                        .await,
                ),
            ),
            (
                "GetProfile",
                code(
                    &c.clone()
                        .get_profile(with(pb::GetProfileRequest { user_id: id() }, t))
                        .await,
                ),
            ),
            (
                "UpdateProfile",
                code(
                    &c.clone()
                        .update_profile(with(
                            pb::UpdateProfileRequest {
                                request_id: key("u"),
                                profile: Some(pb::Profile {
                                    time_zone: "Europe/Kyiv".into(),
                                    ..Default::default()
                                }),
                                update_mask: mask(&["time_zone"]),
                            },
                            t,
                        ))
                        .await,
                ),
            ),
            (
                "RegisterPatient",
                code(
                    &c.clone()
                        .register_patient(with(
                            registration(&format!("new.{caller}"), &key("r")),
                            t,
                        ))
                        .await,
                ),
            ),
            (
                "ListUsers",
                code(
                    &c.clone()
                        .list_users(with(pb::ListUsersRequest::default(), t))
                        .await,
                ),
            ),
            (
                "SetRoles",
                code(
                    &c.clone()
                        .set_roles(with(
                            pb::SetRolesRequest {
                                request_id: key("s"),
                                user_id: id(),
                                roles: vec![pb::Role::Pharmacist as i32],
                            },
                            t,
                        ))
                        .await,
                ),
            ),
            (
                "AddAffiliation",
                code(
                    &c.clone()
                        .add_affiliation(with(
                            pb::AddAffiliationRequest {
                                request_id: key("a"),
                                user_id: id(),
                                kind: pb::AffiliationKind::Pharmacist as i32,
                                pharmacy_id: "pharmacy-1".into(),
                                ..Default::default()
                            },
                            t,
                        ))
                        .await,
                ),
            ),
            (
                "ListAuditEvents",
                code(
                    &c.clone()
                        .list_audit_events(with(pb::ListAuditEventsRequest::default(), t))
                        .await,
                ),
            ),
            (
                "ExportMyData",
                code(
                    &c.clone()
                        .export_my_data(with(pb::ExportMyDataRequest {}, t))
                        .await,
                ),
            ),
        ];
        for (operation, code) in results {
            if allowed(caller, operation) {
                assert!(
                    !matches!(
                        code,
                        Code::PermissionDenied | Code::Unauthenticated | Code::Internal
                    ),
                    "{caller} may call {operation}, got {code:?}"
                );
            } else {
                assert_eq!(
                    code,
                    Code::PermissionDenied,
                    "{caller} must not call {operation}"
                );
            }
        }
    }
    // Deactivation and erasure are checked last: they end an account.
    for (caller, token) in &callers {
        let result = h
            .client()
            .deactivate_user(with(
                pb::DeactivateUserRequest {
                    request_id: format!("{caller}-d"),
                    user_id: target.clone(),
                    reason: "matrix".into(),
                },
                token,
            ))
            .await;
        if *caller == "admin" {
            assert_eq!(code(&result), Code::Ok);
        } else {
            assert_eq!(
                code(&result),
                Code::PermissionDenied,
                "{caller} deactivating"
            );
        }
    }
    for caller in ["svc-notify", "svc-gateway", "partner"] {
        let token = &callers.iter().find(|c| c.0 == caller).unwrap().1;
        let result = h
            .client()
            .erase_my_account(with(
                pb::EraseMyAccountRequest {
                    request_id: "e".into(),
                },
                token,
            ))
            .await;
        assert_eq!(code(&result), Code::PermissionDenied, "{caller} erasing");
    }
    // Scheduling reads a name for a confirmation and nothing else of the profile; notify reads
    // the contact data it delivers to.
    let as_client = async |caller: &str| {
        let token = &callers.iter().find(|c| c.0 == caller).unwrap().1;
        h.client()
            .get_profile(with(
                pb::GetProfileRequest {
                    user_id: target.clone(),
                },
                token,
            ))
            .await
            .unwrap()
            .into_inner()
    };
    let named = as_client("svc-scheduling").await;
    let full = as_client("svc-notify").await;
    assert!(!full.email.is_empty() && !full.roles.is_empty(), "{full:?}");
    assert_eq!(
        (named.given_name.as_str(), named.family_name.as_str()),
        (full.given_name.as_str(), full.family_name.as_str())
    );
    assert_eq!(named.user_id, full.user_id);
    assert!(
        named.email.is_empty()
            && named.phone.is_empty()
            && named.subject.is_empty()
            && named.roles.is_empty()
            && named.affiliations.is_empty(),
        "{named:?}"
    );
}

backend_test!(cross_user_probes_find_nothing, cross_user);
async fn cross_user(db: TestDb) {
    let h = start(db).await;
    let victim = h.register("victim", "reg-v").await.unwrap();
    let attackers = ["patient", "doctor", "nurse", "pharmacist"];
    for attacker in attackers {
        h.me(attacker).await;
        let token = h.token(attacker);
        let read = h
            .client()
            .get_profile(with(
                pb::GetProfileRequest {
                    user_id: victim.user_id.clone(),
                },
                &token,
            ))
            .await;
        assert_eq!(code(&read), Code::NotFound, "{attacker} reading the victim");
        let write = h
            .client()
            .update_profile(with(
                pb::UpdateProfileRequest {
                    request_id: format!("{attacker}-x"),
                    profile: Some(pb::Profile {
                        user_id: victim.user_id.clone(),
                        email: "attacker@example.org".into(),
                        ..Default::default()
                    }),
                    update_mask: mask(&["email"]),
                },
                &token,
            ))
            .await;
        assert_eq!(
            code(&write),
            Code::NotFound,
            "{attacker} writing the victim"
        );
        // An id that exists and one that doesn't answer alike.
        let unknown = h
            .client()
            .get_profile(with(
                pb::GetProfileRequest {
                    user_id: uuid::Uuid::new_v4().to_string(),
                },
                &token,
            ))
            .await;
        assert_eq!(code(&unknown), Code::NotFound);
        let export = h
            .client()
            .export_my_data(with(pb::ExportMyDataRequest {}, &token))
            .await
            .unwrap()
            .into_inner();
        let text = String::from_utf8(export.document).unwrap();
        assert!(
            !text.contains(&victim.user_id) && !text.contains("victim@"),
            "{attacker}'s export"
        );
        for admin_only in [
            code(
                &h.client()
                    .deactivate_user(with(
                        pb::DeactivateUserRequest {
                            request_id: "d".into(),
                            user_id: victim.user_id.clone(),
                            reason: "x".into(),
                        },
                        &token,
                    ))
                    .await,
            ),
            code(
                &h.client()
                    .set_roles(with(
                        pb::SetRolesRequest {
                            request_id: "s".into(),
                            user_id: victim.user_id.clone(),
                            roles: vec![pb::Role::Admin as i32],
                        },
                        &token,
                    ))
                    .await,
            ),
            code(
                &h.client()
                    .list_audit_events(with(
                        pb::ListAuditEventsRequest {
                            user_id: victim.user_id.clone(),
                            ..Default::default()
                        },
                        &token,
                    ))
                    .await,
            ),
        ] {
            assert_eq!(admin_only, Code::PermissionDenied, "{attacker}");
        }
    }
    let victim_now = h
        .client()
        .get_profile(with(
            pb::GetProfileRequest {
                user_id: victim.user_id.clone(),
            },
            &h.token("admin"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(victim_now, victim, "the victim's account is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused_on_the_grpc_port_and_touch_no_data() {
    let h: Harness = start(TestDb::postgres().await).await;
    let claims = h.issuer.claims(
        &svc_kit::auth::dev_issuer::DevIssuer::demo_subject("patient").unwrap(),
        "patient",
        &["patient"],
        "medmesh-web",
    );
    let mut tokens: Vec<(&str, Option<String>)> = vec![("no token", None)];
    tokens.extend(
        svc_kit::testing::forged_tokens(&h.issuer, &claims)
            .into_iter()
            .map(|(what, token)| (what, Some(token))),
    );
    for (what, token) in &tokens {
        let request = |message| {
            let mut request = tonic::Request::new(message);
            if let Some(token) = token {
                request
                    .metadata_mut()
                    .insert("authorization", format!("Bearer {token}").parse().unwrap());
            }
            request
        };
        let me = h
            .client()
            .get_my_profile(request(pb::GetMyProfileRequest {}))
            .await;
        assert_eq!(code(&me), Code::Unauthenticated, "{what}");
        let mut c = h.client();
        let mut register = tonic::Request::new(registration("forger", "f-1"));
        if let Some(token) = token {
            register
                .metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        assert_eq!(
            code(&c.register_patient(register).await),
            Code::Unauthenticated,
            "{what}"
        );
    }
    assert_eq!(
        h.count("SELECT COUNT(*) FROM users").await,
        0,
        "no data touched"
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM outbox").await, 0);
    assert!(h.issuer.directory.by_username("forger").is_none());

    // A key withdrawn from the JWKS stops working, even for a token that worked before.
    let old = h.issuer.sign(&claims);
    let ok = h
        .client()
        .get_my_profile(with(pb::GetMyProfileRequest {}, &old))
        .await;
    assert_eq!(code(&ok), Code::Ok);
    h.issuer.rotate_key();
    let fresh = h.token("patient");
    assert_eq!(
        code(
            &h.client()
                .get_my_profile(with(pb::GetMyProfileRequest {}, &fresh))
                .await
        ),
        Code::Ok,
        "a token of the new key is fetched and accepted"
    );
    assert_eq!(
        code(
            &h.client()
                .get_my_profile(with(pb::GetMyProfileRequest {}, &old))
                .await
        ),
        Code::Unauthenticated,
        "the rotated-out key no longer verifies"
    );
}
