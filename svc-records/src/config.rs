//! svc-records' own settings, the `[records]` section, checked before any port is bound.

use std::{collections::BTreeMap, fmt, sync::Arc};

use serde::Deserialize;
use svc_kit::{
    Settings,
    config::{ConfigError, Mode, SectionConfig},
    seal::Keyring,
};

use crate::app::Rules;

/// The key the defaults carry, for development only.
const DEV_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsConfig {
    pub active_key: String,
    pub keys: BTreeMap<String, String>,
    pub break_glass_minutes: u32,
    pub max_grant_days: u32,
    pub retention_years: u32,
    pub sweep_interval_ms: u64,
    pub rotation_batch: u64,
    pub idempotency_retention_hours: u32,
    /// Benchmarks only (feature `bench`): no sealing, no access log.
    #[cfg(feature = "bench")]
    #[serde(default)]
    pub unprotected: bool,
}

impl fmt::Debug for RecordsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Key ids only, never the keys.
        f.debug_struct("RecordsConfig")
            .field("active_key", &self.active_key)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("break_glass_minutes", &self.break_glass_minutes)
            .field("max_grant_days", &self.max_grant_days)
            .field("retention_years", &self.retention_years)
            .finish_non_exhaustive()
    }
}

impl SectionConfig for RecordsConfig {
    const SECTION: &'static str = "records";
    const DEFAULTS: &'static str = include_str!("defaults.toml");

    fn validate(&self, settings: &Settings) -> Result<(), ConfigError> {
        self.keyring()
            .map_err(|e| ConfigError::key("records.keys", e.to_string()))?;
        let active_is_public = self
            .keys
            .get(&self.active_key)
            .is_some_and(|k| k.trim() == DEV_KEY);
        if settings.mode == Mode::Production && active_is_public {
            return Err(ConfigError::key(
                "records.active_key",
                "names the public development key; production seals with a key of its own",
            ));
        }
        #[cfg(feature = "bench")]
        if self.unprotected && settings.mode == Mode::Production {
            return Err(ConfigError::key(
                "records.unprotected",
                "is for benchmarks; production seals and logs",
            ));
        }
        let checks = [
            (
                "records.break_glass_minutes",
                (1..=24 * 60).contains(&self.break_glass_minutes),
            ),
            (
                "records.max_grant_days",
                (1..=3650).contains(&self.max_grant_days),
            ),
            (
                "records.retention_years",
                (1..=100).contains(&self.retention_years),
            ),
            ("records.sweep_interval_ms", self.sweep_interval_ms >= 10),
            (
                "records.rotation_batch",
                (1..=10_000).contains(&self.rotation_batch),
            ),
            (
                "records.idempotency_retention_hours",
                self.idempotency_retention_hours >= 1,
            ),
        ];
        if let Some((key, _)) = checks.iter().find(|(_, ok)| !ok) {
            return Err(ConfigError::key(
                key,
                "is out of range (see docs/configuration.md)",
            ));
        }
        Ok(())
    }
}

impl RecordsConfig {
    pub fn keyring(&self) -> Result<Arc<Keyring>, svc_kit::seal::SealError> {
        Keyring::from_base64(&self.active_key, &self.keys).map(Arc::new)
    }

    /// Whether content is sealed and reads are logged: always.
    #[cfg(not(feature = "bench"))]
    pub fn protect(&self) -> bool {
        true
    }

    /// Whether content is sealed and reads are logged: always, except in a benchmark build
    /// told otherwise.
    #[cfg(feature = "bench")]
    pub fn protect(&self) -> bool {
        !self.unprotected
    }

    pub fn rules(&self) -> Rules {
        Rules {
            break_glass: chrono::Duration::minutes(i64::from(self.break_glass_minutes)),
            max_grant: chrono::Duration::days(i64::from(self.max_grant_days)),
            retention: chrono::Duration::days(365 * i64::from(self.retention_years)),
        }
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
    fn records_checks_its_own_keys() {
        let check = |figment: Figment| {
            Settings::from_figment(figment)
                .unwrap()
                .section::<RecordsConfig>()
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let base = || Figment::from(Toml::string(DEFAULTS_TOML));
        assert!(check(base()).is_ok());
        let err = check(base().merge(("records.active_key", "nope"))).unwrap_err();
        assert!(err.contains("records.keys"), "{err}");
        let err = check(base().merge(("records.keys.k2", "c2hvcnQ="))).unwrap_err();
        assert!(err.contains("records.keys"), "{err}");
        let err = check(base().merge(("records.break_glass_minutes", 0))).unwrap_err();
        assert!(err.contains("records.break_glass_minutes"), "{err}");
        // The printed configuration names keys, never their values.
        let config = Settings::from_figment(base())
            .unwrap()
            .section::<RecordsConfig>()
            .unwrap();
        assert!(!format!("{config:?}").contains(DEV_KEY));
    }
}
