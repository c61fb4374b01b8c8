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
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    #[serde(default)]
    pub retired_keys: Vec<String>,
    pub break_glass_minutes: u32,
    pub max_grant_days: u32,
    pub retention_years: u32,
    pub sweep_interval_ms: u64,
    pub rotation_batch: u64,
    pub idempotency_retention_hours: u32,
    /// How often each replica walks the whole access log (0: never; `medmesh
    /// verify-access-log` and the admin RPC still do on demand).
    pub verify_interval_minutes: u32,
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
            .field("retired_keys", &self.retired_keys)
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
        if settings.mode == Mode::Production && self.keys.values().any(|k| k.trim() == DEV_KEY) {
            return Err(ConfigError::key(
                "records.keys",
                "holds the public development key; production opens and seals with keys of its own",
            ));
        }
        self.keyring(settings.mode)
            .map_err(|e| ConfigError::key("records.keys", e.to_string()))?;
        if self.retired_keys.contains(&self.active_key) {
            return Err(ConfigError::key(
                "records.retired_keys",
                "names the active key; retire a key after another one is active",
            ));
        }
        if let Some(unknown) = self
            .retired_keys
            .iter()
            .find(|k| !(self.keys.contains_key(*k) || (settings.mode == Mode::Dev && *k == "dev")))
        {
            return Err(ConfigError::key(
                "records.retired_keys",
                format!(
                    "names {unknown:?}, which is not in records.keys (it is needed to open its values)"
                ),
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
            (
                "records.verify_interval_minutes",
                self.verify_interval_minutes <= 7 * 24 * 60,
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
    /// The keys, with the public development key as `dev` in dev mode.
    pub fn keyring(&self, mode: Mode) -> Result<Arc<Keyring>, svc_kit::seal::SealError> {
        let mut keys = self.keys.clone();
        if mode == Mode::Dev {
            keys.entry("dev".to_string())
                .or_insert_with(|| DEV_KEY.to_string());
        }
        Keyring::from_base64(&self.active_key, &keys).map(Arc::new)
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
        let err = check(base().merge(("records.retired_keys", vec!["dev"]))).unwrap_err();
        assert!(err.contains("records.retired_keys"), "{err}");
        // Production knows no development key, and refuses its value under any name.
        let dev = Settings::from_figment(base()).unwrap();
        let mut production = dev.clone();
        production.mode = Mode::Production;
        let own = RecordsConfig {
            active_key: "k1".into(),
            keys: [(
                "k1".to_string(),
                "a2V5IG51bWJlciB0d28gZm9yIHJvdGF0aW9uIHRlc3Q=".to_string(),
            )]
            .into(),
            ..dev.section::<RecordsConfig>().unwrap()
        };
        assert!(own.validate(&production).is_ok());
        let mut old = own.clone();
        old.keys.insert("old".into(), DEV_KEY.into());
        let err = old.validate(&production).unwrap_err().to_string();
        assert!(err.contains("public development key"), "{err}");
        let mut none = own.clone();
        none.active_key = "dev".into();
        let err = none.validate(&production).unwrap_err().to_string();
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
