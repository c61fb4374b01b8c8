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
    pub send_timeout_ms: u64,
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
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    pub secret: String,
}

/// A URL as it may be printed: without credentials or query (which can carry API keys).
fn printable(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or_default();
    match without_query.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => without_query.to_string(),
        },
        None => without_query.to_string(),
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("url", &printable(&self.url))
            .field("username", &self.username)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &printable(&self.url))
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
            .field("smtp", &self.smtp)
            .field("sms", &self.sms)
            .field("push", &self.push)
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
        // Messages name medications and appointments: production sends them encrypted.
        let smtp = self.smtp.url.trim();
        // (A relay on the same host, over loopback, is the one exception.)
        let loopback = ["smtp://127.0.0.1", "smtp://localhost", "smtp://[::1]"]
            .iter()
            .any(|l| smtp.starts_with(l));
        if production
            && !smtp.is_empty()
            && !(smtp.starts_with("smtps://") || smtp.contains("tls=required") || loopback)
        {
            return Err(ConfigError::key(
                "notify.smtp.url",
                "must use TLS in production: smtps://host:465, or smtp://host:587?tls=required (STARTTLS); plain SMTP only to a relay on loopback",
            ));
        }
        for (key, hook) in [
            ("notify.sms.url", &self.sms),
            ("notify.push.url", &self.push),
        ] {
            if production && hook.url.trim().starts_with("http://") {
                return Err(ConfigError::key(key, "must be https:// in production"));
            }
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
            (
                "notify.send_timeout_ms",
                (100..=600_000).contains(&self.send_timeout_ms),
            ),
            (
                // A claim outlives three sends: a send never starts unless two fit in what is
                // left of it, so no live replica's send is taken over by another.
                "notify.lease_seconds",
                u64::from(self.lease_seconds) * 1000 >= 3 * self.send_timeout_ms,
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
        // Plain SMTP and plain HTTP providers carry messages in clear: refused.
        own.smtp.url = "smtp://mail.example.org:25".into();
        let err = own.validate(&production).unwrap_err().to_string();
        assert!(err.contains("must use TLS"), "{err}");
        own.smtp.url = "smtp://127.0.0.1:25".into();
        assert!(own.validate(&production).is_ok(), "a relay on loopback");
        own.smtp.url = "smtp://mail.example.org:587?tls=required".into();
        assert!(own.validate(&production).is_ok());
        own.sms.url = "http://sms.example.org/send".into();
        own.sms.secret = "0123456789abcdef0123".into();
        let err = own.validate(&production).unwrap_err().to_string();
        assert!(err.contains("notify.sms.url"), "{err}");
        own.sms.url = "https://sms.example.org/send".into();
        assert!(own.validate(&production).is_ok());
        // The lease outlives three sends.
        let mut short = own.clone();
        short.lease_seconds = 20;
        let err = short.validate(&production).unwrap_err().to_string();
        assert!(err.contains("notify.lease_seconds"), "{err}");
        own.clock_offset_seconds = 60;
        let err = own.validate(&production).unwrap_err().to_string();
        assert!(err.contains("notify.clock_offset_seconds"), "{err}");
        // The printed configuration names no secret.
        let mut secret = config.clone();
        secret.smtp.password = "hunter2-smtp-password".into();
        secret.smtp.url = "smtps://relay:hunter2-in-url@mail.example.org:465".into();
        secret.push.url = "https://push.example.org/v1?api_key=hunter2-key".into();
        secret.push.secret = "hunter2-signing-secret".into();
        assert!(!format!("{secret:?}").contains("hunter2"), "{secret:?}");
        assert!(format!("{secret:?}").contains("mail.example.org:465"));
        assert!(!format!("{secret:?}").contains(DEV_KEY));
    }
}
