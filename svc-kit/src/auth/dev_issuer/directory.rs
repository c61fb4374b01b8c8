//! The dev issuer's users: the demo users, plus whoever registers. Kept in memory and, when the
//! issuer has a data directory, in a file beside its key (passwords salted and hashed), so a
//! registered user can still sign in after `medmesh dev` restarts.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    sync::RwLock,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{DEMO_USERS, DevIssuer};

/// Realm roles the dev realm knows, as the Keycloak realm export defines them.
pub const REALM_ROLES: [&str; 14] = [
    "admin",
    "doctor",
    "nurse",
    "pharmacist",
    "patient",
    "partner",
    "svc-gateway",
    "svc-accounts",
    "svc-scheduling",
    "svc-pharmacy",
    "svc-records",
    "svc-notify",
    "offline_access",
    "uma_authorization",
];

/// The composite every user holds (Keycloak's `default-roles-<realm>`), and what it expands to.
pub const DEFAULT_ROLES: &str = "default-roles-medmesh";
pub const DEFAULT_ROLE_COMPOSITES: [&str; 2] = ["offline_access", "uma_authorization"];

/// One user, in Keycloak's terms.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevUser {
    pub id: String,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub enabled: bool,
    /// Direct realm-role mappings (the default composite is implied).
    pub realm_roles: BTreeSet<String>,
    pub attributes: BTreeMap<String, Vec<String>>,
    salt: String,
    password_sha256: String,
}

fn hash_password(salt: &str, password: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{salt}:{password}").as_bytes()))
}

fn new_salt() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl DevUser {
    pub fn set_password(&mut self, password: &str) {
        self.salt = new_salt();
        self.password_sha256 = hash_password(&self.salt, password);
    }

    fn password_is(&self, password: &str) -> bool {
        !self.password_sha256.is_empty()
            && hash_password(&self.salt, password) == self.password_sha256
    }
}

/// Why a user could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    Username,
    Email,
}

/// The user store.
#[derive(Debug)]
pub struct Directory {
    users: RwLock<BTreeMap<String, DevUser>>,
    file: Option<PathBuf>,
}

impl Directory {
    /// The demo users, plus those kept in `file` if it exists.
    pub fn open(file: Option<PathBuf>) -> Directory {
        let mut users: BTreeMap<String, DevUser> = file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        for name in DEMO_USERS {
            let id = DevIssuer::demo_subject(name).expect("a demo user");
            users.entry(id.clone()).or_insert_with(|| {
                let mut user = DevUser {
                    id,
                    username: name.to_string(),
                    email: format!("{name}@medmesh.dev"),
                    first_name: "Demo".to_string(),
                    last_name: name.to_string(),
                    enabled: true,
                    realm_roles: [name.to_string()].into(),
                    attributes: BTreeMap::new(),
                    salt: String::new(),
                    password_sha256: String::new(),
                };
                user.set_password(name);
                user
            });
        }
        Directory {
            users: RwLock::new(users),
            file,
        }
    }

    fn save(&self, users: &BTreeMap<String, DevUser>) {
        let Some(file) = &self.file else { return };
        let Ok(json) = serde_json::to_vec_pretty(users) else {
            return;
        };
        let tmp = file.with_extension("tmp");
        let _ = std::fs::remove_file(&tmp);
        if super::write_private(&tmp, &json).is_ok() {
            let _ = std::fs::rename(&tmp, file);
        }
    }

    pub fn get(&self, id: &str) -> Option<DevUser> {
        self.users.read().expect("not poisoned").get(id).cloned()
    }

    pub fn by_username(&self, username: &str) -> Option<DevUser> {
        let username = username.to_lowercase();
        self.users
            .read()
            .expect("not poisoned")
            .values()
            .find(|u| u.username == username)
            .cloned()
    }

    /// The enabled user with these credentials.
    pub fn sign_in(&self, username: &str, password: &str) -> Option<DevUser> {
        self.by_username(username)
            .filter(|u| u.enabled && u.password_is(password))
    }

    /// Creates `user` (its id is assigned here); usernames are lower-cased and, like emails,
    /// unique.
    pub fn create(&self, mut user: DevUser, password: Option<&str>) -> Result<String, Conflict> {
        let mut users = self.users.write().expect("not poisoned");
        user.username = user.username.to_lowercase();
        if users.values().any(|u| u.username == user.username) {
            return Err(Conflict::Username);
        }
        if !user.email.is_empty()
            && users
                .values()
                .any(|u| u.email.eq_ignore_ascii_case(&user.email))
        {
            return Err(Conflict::Email);
        }
        user.id = uuid::Uuid::new_v4().to_string();
        match password {
            Some(password) => user.set_password(password),
            None => user.password_sha256.clear(),
        }
        let id = user.id.clone();
        users.insert(id.clone(), user);
        self.save(&users);
        Ok(id)
    }

    /// Applies `change` to the user `id`; false if there is none.
    pub fn update(&self, id: &str, change: impl FnOnce(&mut DevUser)) -> bool {
        let mut users = self.users.write().expect("not poisoned");
        let Some(user) = users.get_mut(id) else {
            return false;
        };
        change(user);
        self.save(&users);
        true
    }

    pub fn delete(&self, id: &str) -> bool {
        let mut users = self.users.write().expect("not poisoned");
        let removed = users.remove(id).is_some();
        if removed {
            self.save(&users);
        }
        removed
    }

    /// A new, empty user record for [`Directory::create`].
    pub fn blank(username: &str) -> DevUser {
        DevUser {
            id: String::new(),
            username: username.to_string(),
            email: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            enabled: true,
            realm_roles: BTreeSet::new(),
            attributes: BTreeMap::new(),
            salt: String::new(),
            password_sha256: String::new(),
        }
    }
}
