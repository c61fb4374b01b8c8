//! svc-scheduling's own settings, the `[scheduling]` section: holds, waitlist offers, the
//! free-slot cache, the sweeper, and where confirmations are kept. Read by svc-kit's loader and
//! checked here, before any port is bound.

use std::{path::PathBuf, time::Duration};

use secrecy::SecretString;
use serde::Deserialize;
use svc_kit::{
    Settings,
    config::{ConfigError, SectionConfig},
};

use crate::{
    app::{PatientCaps, Rules},
    documents,
};

/// How scheduling treats holds, waitlist offers and its free-slot cache.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulingConfig {
    pub hold_minutes: u32,
    pub waitlist_offer_minutes: u32,
    pub sweep_interval_ms: u64,
    pub slots_cache_ttl_ms: u64,
    pub max_slot_range_days: u32,
    pub idempotency_retention_hours: u32,
    pub patient_max_live_holds: u32,
    pub patient_max_upcoming: u32,
    pub patient_max_upcoming_per_doctor: u32,
    pub documents: DocumentConfig,
}

/// Where generated documents (appointment confirmations) are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentConfig {
    pub backend: DocumentBackend,
    /// The directory for `filesystem`; defaults to `<data_dir>/documents`.
    pub directory: Option<PathBuf>,
    pub s3: S3Config,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocumentBackend {
    Filesystem,
    S3,
}

/// An S3-compatible bucket (AWS S3, MinIO, Ceph), addressed path-style.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub endpoint: Option<String>,
    pub bucket: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
}

impl SectionConfig for SchedulingConfig {
    const SECTION: &'static str = "scheduling";
    const DEFAULTS: &'static str = include_str!("defaults.toml");

    fn validate(&self, settings: &Settings) -> Result<(), ConfigError> {
        let checks = [
            (
                "scheduling.hold_minutes",
                (1..=120).contains(&self.hold_minutes),
            ),
            (
                "scheduling.waitlist_offer_minutes",
                (1..=1440).contains(&self.waitlist_offer_minutes),
            ),
            ("scheduling.sweep_interval_ms", self.sweep_interval_ms >= 10),
            (
                "scheduling.max_slot_range_days",
                (1..=366).contains(&self.max_slot_range_days),
            ),
            (
                "scheduling.idempotency_retention_hours",
                self.idempotency_retention_hours >= 1,
            ),
            (
                "scheduling.patient_max_live_holds",
                self.patient_max_live_holds >= 1,
            ),
            (
                "scheduling.patient_max_upcoming",
                self.patient_max_upcoming >= 1,
            ),
            (
                "scheduling.patient_max_upcoming_per_doctor",
                (1..=self.patient_max_upcoming.max(1))
                    .contains(&self.patient_max_upcoming_per_doctor),
            ),
        ];
        if let Some((key, _)) = checks.iter().find(|(_, ok)| !ok) {
            return Err(ConfigError::key(
                key,
                "is out of range (see docs/configuration.md)",
            ));
        }
        if self.documents.backend == DocumentBackend::S3 {
            let s3 = &self.documents.s3;
            let missing = [
                ("scheduling.documents.s3.endpoint", s3.endpoint.is_none()),
                ("scheduling.documents.s3.bucket", s3.bucket.is_none()),
                (
                    "scheduling.documents.s3.access_key_id",
                    s3.access_key_id.is_none(),
                ),
                (
                    "scheduling.documents.s3.secret_access_key",
                    s3.secret_access_key.is_none(),
                ),
            ];
            if let Some((key, _)) = missing.iter().find(|(_, missing)| *missing) {
                return Err(ConfigError::key(
                    key,
                    "is required when scheduling.documents.backend = \"s3\"",
                ));
            }
            // Confirmations name patients: production sends them to the object store over
            // HTTPS unless the network itself is encrypted.
            if settings.mode == svc_kit::config::Mode::Production
                && !settings
                    .tls
                    .allows_plaintext(svc_kit::tls::Plaintext::ObjectStore)
                && s3
                    .endpoint
                    .as_deref()
                    .is_some_and(svc_kit::tls::is_plaintext_to_another_host)
            {
                return Err(ConfigError::key(
                    "scheduling.documents.s3.endpoint",
                    "is plain http:// to another host: production speaks HTTPS to the object \
                     store unless tls.allow_plaintext names \"object_store\" because the \
                     network itself is encrypted",
                ));
            }
        }
        Ok(())
    }
}

impl SchedulingConfig {
    /// How long holds and offers last, and the free-slot limits.
    pub fn rules(&self) -> Rules {
        Rules {
            hold: chrono::Duration::minutes(i64::from(self.hold_minutes)),
            offer: chrono::Duration::minutes(i64::from(self.waitlist_offer_minutes)),
            max_range: chrono::Duration::days(i64::from(self.max_slot_range_days)),
            slots_ttl: Duration::from_millis(self.slots_cache_ttl_ms),
            caps: PatientCaps {
                live_holds: i64::from(self.patient_max_live_holds),
                upcoming: i64::from(self.patient_max_upcoming),
                upcoming_per_doctor: i64::from(self.patient_max_upcoming_per_doctor),
            },
        }
    }

    /// The document store this names (checked by `validate`: an S3 store has every key).
    pub fn document_store(
        &self,
        settings: &Settings,
    ) -> Result<documents::DocumentStore, ConfigError> {
        let d = &self.documents;
        Ok(match (d.backend, &d.s3) {
            (DocumentBackend::Filesystem, _) => documents::DocumentStore::Directory(
                d.directory
                    .clone()
                    .unwrap_or_else(|| settings.data_dir.join("documents")),
            ),
            (
                DocumentBackend::S3,
                S3Config {
                    endpoint: Some(endpoint),
                    bucket: Some(bucket),
                    region,
                    access_key_id: Some(access_key_id),
                    secret_access_key: Some(secret),
                },
            ) => documents::DocumentStore::S3(documents::S3Bucket::new(
                endpoint,
                bucket,
                region,
                access_key_id,
                secret.clone(),
            )),
            (DocumentBackend::S3, _) => {
                return Err(ConfigError::key(
                    "scheduling.documents.s3",
                    "is incomplete (see docs/configuration.md)",
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use figment::{
        Figment,
        providers::{Format, Toml},
    };
    use svc_kit::config::DEFAULTS_TOML;

    use super::*;

    #[test]
    fn scheduling_checks_its_own_keys() {
        let check = |figment: Figment| {
            Settings::from_figment(figment)
                .unwrap()
                .section::<SchedulingConfig>()
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let base = || Figment::from(Toml::string(DEFAULTS_TOML));
        assert!(check(base()).is_ok());
        let s3 = base()
            .merge(("scheduling.documents.backend", "s3"))
            .merge(("scheduling.documents.s3.endpoint", "https://s3.example.org"));
        let err = check(s3).unwrap_err();
        assert!(err.contains("`scheduling.documents.s3.bucket`"), "{err}");
        let err = check(base().merge(("scheduling.hold_minutes", 0))).unwrap_err();
        assert!(err.contains("`scheduling.hold_minutes`"), "{err}");
        let err = check(base().merge(("scheduling.hold_minutes", "ten"))).unwrap_err();
        assert!(err.contains("`scheduling.hold_minutes`"), "{err}");
        let err = check(base().merge(("scheduling.hold_minuts", 5))).unwrap_err();
        assert!(err.contains("hold_minuts"), "{err}");
    }
}
