//! svc-notify's own settings, the `[notify]` section, checked before any port is bound.

use std::{collections::BTreeMap, fmt, sync::Arc, time::Duration};

use serde::Deserialize;
use svc_kit::{
    Settings,
    config::{ConfigError, Mode, SectionConfig},
    seal::Keyring,
};

/// The key the defaults carry, for development only.
const DEV_KEY: &str = "ZGV2ZWxvcG1lbnQga2V5IGZvciBub3RpZnkgb25seSE=";

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    pub active_key: String,
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    pub max_attempts: u32,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub poll_interval_ms: u64,
    pub batch: u32,
    pub concurrency: u32,
    pub lease_seconds: u32,
    pub per_recipient_per_hour: u32,
    pub app_url: String,
    pub clock_offset_seconds: i64,
    pub smtp: SmtpConfig,
    pub sms: WebhookConfig,
    pub push: WebhookConfig,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub url: String,
    pub username: String,
    pub password: String,
    pub from: String,
    pub timeout_ms: u64,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    pub secret: String,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Key ids and endpoints only, never keys, passwords or signing secrets.
        f.debug_struct("NotifyConfig")
            .field("active_key", &self.active_key)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("max_attempts", &self.max_attempts)
            .field("smtp", &self.smtp.url)
            .field("sms", &self.sms.url)
            .field("push", &self.push.url)
            .finish_non_exhaustive()
    }
}

impl SectionConfig for NotifyConfig {
    const SECTION: &'static str = "notify";
    const DEFAULTS: &'static str = include_str!("defaults.toml");

    fn validate(&self, settings: &Settings) -> Result<(), ConfigError> {
        let production = settings.mode == Mode::Production;
        if production && self.keys.values().any(|k| k.trim() == DEV_KEY) {
            return Err(ConfigError::key(
                "notify.keys",
                "holds the public development key; production seals with keys of its own",
            ));
        }
        self.keyring(settings.mode)
            .map_err(|e| ConfigError::key("notify.keys", e.to_string()))?;
        if production && self.smtp.url.trim().is_empty() {
            return Err(ConfigError::key(
                "notify.smtp.url",
                "is empty; the development mailbox is for dev mode, production mails through a server",
            ));
        }
        if !self.smtp.url.trim().is_empty()
            && !["smtp://", "smtps://"]
                .iter()
                .any(|s| self.smtp.url.starts_with(s))
        {
            return Err(ConfigError::key(
                "notify.smtp.url",
                "must start with smtp:// or smtps://",
            ));
        }
        if production && self.clock_offset_seconds != 0 {
            return Err(ConfigError::key(
                "notify.clock_offset_seconds",
                "is for tests and drills; production keeps the real time",
            ));
        }
        for (key, hook) in [("notify.sms", &self.sms), ("notify.push", &self.push)] {
            let url = hook.url.trim();
            if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::key(
                    &format!("{key}.url"),
                    "must be an http:// or https:// address",
                ));
            }
            if !url.is_empty() && hook.secret.len() < 16 {
                return Err(ConfigError::key(
                    &format!("{key}.secret"),
                    "must be at least 16 characters: the provider checks each request's signature with it",
                ));
            }
        }
        if self.smtp.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::key(
                "notify.smtp.from",
                "is not a mailbox such as \"MedMesh <no-reply@example.org>\"",
            ));
        }
        let checks = [
            ("notify.max_attempts", (1..=50).contains(&self.max_attempts)),
            ("notify.retry_base_ms", self.retry_base_ms >= 10),
            (
                "notify.retry_max_ms",
                self.retry_max_ms >= self.retry_base_ms,
            ),
            ("notify.poll_interval_ms", self.poll_interval_ms >= 10),
            ("notify.batch", (1..=1000).contains(&self.batch)),
            ("notify.concurrency", (1..=256).contains(&self.concurrency)),
            (
                "notify.lease_seconds",
                (1..=3600).contains(&self.lease_seconds),
            ),
            (
                "notify.per_recipient_per_hour",
                self.per_recipient_per_hour >= 1,
            ),
            ("notify.smtp.timeout_ms", self.smtp.timeout_ms >= 100),
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

impl NotifyConfig {
    /// The keys, with the public development key as `dev` in dev mode.
    pub fn keyring(&self, mode: Mode) -> Result<Arc<Keyring>, svc_kit::seal::SealError> {
        let mut keys = self.keys.clone();
        if mode == Mode::Dev {
            keys.entry("dev".to_string())
                .or_insert_with(|| DEV_KEY.to_string());
        }
        Keyring::from_base64(&self.active_key, &keys).map(Arc::new)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
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
    fn notify_checks_its_settings() {
        let check = |figment: Figment| {
            Settings::from_figment(figment)
                .unwrap()
                .section::<NotifyConfig>()
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let base = || Figment::from(Toml::string(DEFAULTS_TOML));
        assert!(check(base()).is_ok());
        let err = check(base().merge(("notify.smtp.url", "http://mail"))).unwrap_err();
        assert!(err.contains("notify.smtp.url"), "{err}");
        let err = check(base().merge(("notify.sms.url", "http://127.0.0.1:9/sms"))).unwrap_err();
        assert!(err.contains("notify.sms.secret"), "{err}");
        let err = check(base().merge(("notify.smtp.from", "not a mailbox"))).unwrap_err();
        assert!(err.contains("notify.smtp.from"), "{err}");
        let err = check(base().merge(("notify.batch", 0))).unwrap_err();
        assert!(err.contains("notify.batch"), "{err}");
        // Production: its own key, a mail server, the real time.
        let dev = Settings::from_figment(base()).unwrap();
        let mut production = dev.clone();
        production.mode = Mode::Production;
        let config = dev.section::<NotifyConfig>().unwrap();
        let err = config.validate(&production).unwrap_err().to_string();
        assert!(err.contains("notify.keys"), "{err}");
        let mut own = config.clone();
        own.active_key = "k1".into();
        own.keys = [(
            "k1".to_string(),
            "a2V5IG51bWJlciB0d28gZm9yIHJvdGF0aW9uIHRlc3Q=".to_string(),
        )]
        .into();
        let err = own.validate(&production).unwrap_err().to_string();
        assert!(err.contains("notify.smtp.url"), "{err}");
        own.smtp.url = "smtp://mail.example.org:587?tls=required".into();
        assert!(own.validate(&production).is_ok());
        own.clock_offset_seconds = 60;
        let err = own.validate(&production).unwrap_err().to_string();
        assert!(err.contains("notify.clock_offset_seconds"), "{err}");
        // The printed configuration names no secret.
        let mut secret = config.clone();
        secret.smtp.password = "hunter2-smtp-password".into();
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(!format!("{secret:?}").contains(DEV_KEY));
    }
}
