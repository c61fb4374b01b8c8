//! svc-pharmacy's own settings, the `[pharmacy]` section, checked before any port is bound.

use std::time::Duration;

use serde::Deserialize;
use svc_kit::{
    Settings,
    config::{ConfigError, SectionConfig},
};

use crate::app::Rules;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PharmacyConfig {
    pub stock_cache_ttl_ms: u64,
    pub default_validity_days: u32,
    pub max_validity_days: u32,
    pub sweep_interval_ms: u64,
    pub expiring_soon_days: u32,
    pub idempotency_retention_hours: u32,
}

impl SectionConfig for PharmacyConfig {
    const SECTION: &'static str = "pharmacy";
    const DEFAULTS: &'static str = include_str!("defaults.toml");

    fn validate(&self, _settings: &Settings) -> Result<(), ConfigError> {
        let checks = [
            (
                "pharmacy.stock_cache_ttl_ms",
                (1..=3_600_000).contains(&self.stock_cache_ttl_ms),
            ),
            (
                "pharmacy.max_validity_days",
                (1..=730).contains(&self.max_validity_days),
            ),
            (
                "pharmacy.default_validity_days",
                (1..=self.max_validity_days).contains(&self.default_validity_days),
            ),
            ("pharmacy.sweep_interval_ms", self.sweep_interval_ms >= 10),
            (
                "pharmacy.idempotency_retention_hours",
                self.idempotency_retention_hours >= 1,
            ),
            (
                "pharmacy.expiring_soon_days",
                (1..=730).contains(&self.expiring_soon_days),
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

impl PharmacyConfig {
    pub fn rules(&self) -> Rules {
        Rules {
            stock_ttl: Duration::from_millis(self.stock_cache_ttl_ms),
            default_validity: chrono::Duration::days(i64::from(self.default_validity_days)),
            max_validity: chrono::Duration::days(i64::from(self.max_validity_days)),
            expiring_soon: chrono::Duration::days(i64::from(self.expiring_soon_days)),
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
    fn pharmacy_checks_its_own_keys() {
        let check = |figment: Figment| {
            Settings::from_figment(figment)
                .unwrap()
                .section::<PharmacyConfig>()
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let base = || Figment::from(Toml::string(DEFAULTS_TOML));
        assert!(check(base()).is_ok());
        let err = check(base().merge(("pharmacy.default_validity_days", 400))).unwrap_err();
        assert!(err.contains("pharmacy.default_validity_days"), "{err}");
        let err = check(base().merge(("pharmacy.stock_cache_ttl_ms", 0))).unwrap_err();
        assert!(err.contains("pharmacy.stock_cache_ttl_ms"), "{err}");
    }
}
