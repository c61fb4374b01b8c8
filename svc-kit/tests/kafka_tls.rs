//! Kafka over TLS and SASL, against a real Kafka-protocol broker (tansu) reached through a
//! TLS-terminating front with the test's own certificate authority: events go out and come
//! back over TLS, mutual TLS presents the process's certificate, SASL SCRAM authenticates; a
//! broker of another authority, a client without a certificate, a client in the clear and a
//! client with wrong or no credentials all fail to publish.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use secrecy::SecretString;
use svc_kit::{
    config::{KafkaSettings, SaslMechanism},
    events::{EventSource, Follower, KafkaPublisher, Publisher},
    testing::{Broker, BrokerOptions, TestCa, thing_changed},
};
use tokio_util::sync::CancellationToken;

fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

/// Settings speaking TLS to `broker`, trusting `ca` and presenting a certificate it issued for
/// `name`.
fn tls_settings(broker: &Broker, dir: &Path, ca: &TestCa, name: &str) -> KafkaSettings {
    let (cert, key) = ca.issue(&[name]);
    KafkaSettings {
        message_timeout_ms: 3000,
        tls: true,
        ca_file: Some(write(dir, &format!("{name}-ca.pem"), &ca.pem())),
        cert_file: Some(write(dir, &format!("{name}-cert.pem"), &cert)),
        key_file: Some(write(dir, &format!("{name}-key.pem"), &key)),
        ..KafkaSettings::plaintext(broker.brokers())
    }
}

/// Publishes probes until a follower on `settings` hears one (joining takes a moment), then
/// returns the topic (created with `settings`) and what the follower heard.
async fn round_trip(broker: &Broker, settings: &KafkaSettings) -> (String, Vec<String>) {
    let topic = format!("medmesh.test-{}.v1", uuid::Uuid::new_v4().simple());
    let publisher = KafkaPublisher::new(&broker.brokers(), settings).unwrap();
    publisher
        .prepare(std::slice::from_ref(&topic))
        .await
        .unwrap();
    let heard: Arc<Mutex<Vec<String>>> = Arc::default();
    let token = CancellationToken::new();
    let follower = Follower::new("test-tls", vec![topic.clone()]);
    let source = EventSource::Kafka {
        brokers: broker.brokers(),
        settings: settings.clone(),
    };
    {
        let (heard, token) = (heard.clone(), token.clone());
        tokio::spawn(async move {
            follower
                .run(source, token, move |envelope| {
                    heard.lock().unwrap().push(envelope.id)
                })
                .await
        });
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut probe = 0;
    while heard.lock().unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the follower never heard an event"
        );
        probe += 1;
        let outcome = publisher
            .publish(&[thing_changed(&topic, &format!("probe-{probe}"))])
            .await;
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    token.cancel();
    let heard = heard.lock().unwrap().clone();
    (topic, heard)
}

/// Whether one event published to `topic` (which exists) with `settings` is acknowledged.
async fn delivered(broker: &Broker, settings: &KafkaSettings, topic: &str) -> bool {
    let publisher = KafkaPublisher::new(&broker.brokers(), settings).unwrap();
    let outcome = publisher.publish(&[thing_changed(topic, "one")]).await;
    match outcome.error {
        None => outcome.delivered == 1,
        Some(_) => {
            assert_eq!(outcome.delivered, 0);
            false
        }
    }
}

#[tokio::test]
async fn kafka_speaks_tls_to_the_platforms_authority_and_presents_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("MedMesh test CA");
    let broker = Broker::start_with(BrokerOptions {
        tls: Some(&ca),
        client_auth: true,
        ..BrokerOptions::default()
    });
    let settings = tls_settings(&broker, dir.path(), &ca, "svc-scheduling");
    assert_eq!(settings.security_protocol(), "ssl");
    let (topic, heard) = round_trip(&broker, &settings).await;
    assert!(heard[0].starts_with("probe-"), "{heard:?}");
    assert!(delivered(&broker, &settings, &topic).await);

    // A broker whose certificate another authority signed is not trusted.
    let stranger = TestCa::new("Someone else's CA");
    let trusting_another = KafkaSettings {
        ca_file: Some(write(dir.path(), "stranger-ca.pem", &stranger.pem())),
        ..settings.clone()
    };
    assert!(!delivered(&broker, &trusting_another, &topic).await);

    // Mutual TLS: a client without a certificate, or with another authority's, is refused.
    let without_certificate = KafkaSettings {
        cert_file: None,
        key_file: None,
        ..settings.clone()
    };
    assert!(!delivered(&broker, &without_certificate, &topic).await);
    let strangers_certificate = tls_settings(&broker, dir.path(), &stranger, "svc-notify");
    let strangers_certificate = KafkaSettings {
        ca_file: settings.ca_file.clone(),
        ..strangers_certificate
    };
    assert!(!delivered(&broker, &strangers_certificate, &topic).await);

    // A client in the clear does not get through a TLS listener.
    let plain = KafkaSettings {
        message_timeout_ms: 3000,
        ..KafkaSettings::plaintext(broker.brokers())
    };
    assert!(!delivered(&broker, &plain, &topic).await);
    // The broker itself still answers the right client: the refusals were the settings'.
    assert!(delivered(&broker, &settings, &topic).await);
}

#[tokio::test]
async fn kafka_authenticates_with_scram_over_tls_and_refuses_wrong_or_no_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("MedMesh test CA");
    let broker = Broker::start_with(BrokerOptions {
        tls: Some(&ca),
        scram_users: &[("svc-pharmacy", "pharmacy-kafka-pässword")],
        ..BrokerOptions::default()
    });
    let scram = KafkaSettings {
        cert_file: None,
        key_file: None,
        sasl_mechanism: Some(SaslMechanism::ScramSha512),
        sasl_username: Some("svc-pharmacy".into()),
        sasl_password: Some(SecretString::from("pharmacy-kafka-pässword")),
        ..tls_settings(&broker, dir.path(), &ca, "svc-pharmacy")
    };
    let (topic, heard) = round_trip(&broker, &scram).await;
    assert!(heard[0].starts_with("probe-"), "{heard:?}");
    assert!(delivered(&broker, &scram, &topic).await);

    let wrong_password = KafkaSettings {
        sasl_password: Some(SecretString::from("pharmacy-kafka-password")),
        ..scram.clone()
    };
    assert!(!delivered(&broker, &wrong_password, &topic).await);
    let unknown_user = KafkaSettings {
        sasl_username: Some("svc-records".into()),
        ..scram.clone()
    };
    assert!(!delivered(&broker, &unknown_user, &topic).await);
    let other_mechanism = KafkaSettings {
        sasl_mechanism: Some(SaslMechanism::ScramSha256),
        ..scram.clone()
    };
    assert!(
        !delivered(&broker, &other_mechanism, &topic).await,
        "the credentials stored are SCRAM-SHA-512's"
    );
    // Without credentials the broker answers nothing past the handshake.
    let anonymous = KafkaSettings {
        sasl_mechanism: None,
        sasl_username: None,
        sasl_password: None,
        ..scram.clone()
    };
    assert_eq!(anonymous.security_protocol(), "ssl");
    assert!(!delivered(&broker, &anonymous, &topic).await);
    // The broker itself still answers the right credentials: the refusals were theirs.
    assert!(delivered(&broker, &scram, &topic).await);
}
