//! The use cases: the intake of other services' events ([`intake`]), the delivery worker that
//! fires reminders, writes doctors' agendas and sends ([`delivery`], through [`transport`]), and
//! what people and admins ask of the service ([`manage`]).

pub mod delivery;
pub mod intake;
pub mod manage;
pub mod transport;

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, Utc};
use svc_kit::seal::{Keyring, Sealed};

use crate::error::NotifyError;

/// What a notification is made from: placeholder values, and ids the delivery resolves
/// (`patient_id`, `doctor_id`) and instants it writes in the recipient's zone and language
/// (`start`, `previous_start`, `deadline`, `at`, RFC 3339).
pub type Values = BTreeMap<String, String>;

/// What the use cases work with.
#[derive(Clone)]
pub struct App {
    pub db: sea_orm::DatabaseConnection,
    pub keys: Arc<Keyring>,
    /// Tests and drills: how far notify's clock runs ahead.
    pub clock_offset: chrono::Duration,
    pub app_url: String,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

impl App {
    /// Notify's now (the real time, unless a test moved it).
    pub fn now(&self) -> DateTime<Utc> {
        svc_kit::write::now() + self.clock_offset
    }

    /// Seals `value` for its place (`what` names the table and row).
    pub fn seal<T: serde::Serialize>(&self, what: &str, value: &T) -> (String, Vec<u8>) {
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        let sealed = self.keys.seal(&aad(what), &bytes);
        (sealed.key_id, sealed.bytes)
    }

    /// Opens what [`App::seal`] sealed for the same place.
    pub fn open<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        key_id: &str,
        bytes: &[u8],
    ) -> Result<T, NotifyError> {
        let plain = self.keys.open(
            &aad(what),
            &Sealed {
                key_id: key_id.to_string(),
                bytes: bytes.to_vec(),
            },
        )?;
        serde_json::from_slice(&plain).map_err(|_| NotifyError::Unreadable)
    }
}

fn aad(what: &str) -> String {
    format!("medmesh.notify/{what}")
}

/// Where a notification's values are sealed.
pub fn context_place(notification_id: &str) -> String {
    format!("notifications/{notification_id}/context")
}

/// Where a notification's rendered message is sealed.
pub fn content_place(notification_id: &str) -> String {
    format!("notifications/{notification_id}/content")
}

/// Where an appointment's values are sealed.
pub fn appointment_place(appointment_id: &str) -> String {
    format!("appointments/{appointment_id}")
}

/// A rendered message, as the history shows it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Content {
    pub subject: String,
    pub body: String,
    pub language: String,
    /// The address, masked.
    pub to: String,
}

/// An address with most of it hidden: "a***@example.org", "+373***45".
pub fn mask(address: &str) -> String {
    if let Some((local, domain)) = address.split_once('@') {
        let first: String = local.chars().take(1).collect();
        return format!("{first}***@{domain}");
    }
    let chars: Vec<char> = address.chars().collect();
    if chars.len() <= 6 {
        return "***".to_string();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}***{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked() {
        assert_eq!(mask("ana.popescu@example.org"), "a***@example.org");
        assert_eq!(mask("+37369123456"), "+373***56");
        assert_eq!(mask("123"), "***");
        assert_eq!(mask("ștefan@exemplu.md"), "ș***@exemplu.md");
    }
}
