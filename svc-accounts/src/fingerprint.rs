//! What a registration is recognised by, without its password being kept anywhere.
//!
//! A retried registration must repeat every field, the password included, to count as the same
//! request. The password enters the request's fingerprint only as an HMAC-SHA256 keyed by a
//! secret of this deployment and salted with the request's id and username: someone who reads
//! the database (or the identity provider's user attributes) can neither reverse it nor try
//! guessed passwords against it, and two people with the same password do not share a value.
//! The plain password lives in memory for the duration of the call (a `SecretString`, wiped on
//! drop), goes to the identity provider, and nowhere else.

use std::{fmt, net::IpAddr};

use hmac::{Hmac, Mac};
use medmesh_proto::accounts::v1 as pb;
use prost::Message;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Names the key derived from the client secret, so it serves this purpose and no other.
const KEY_PURPOSE: &[u8] = b"medmesh.accounts.registration-fingerprint.v1";

/// The keyed hash of registrations. Its key is derived from svc-accounts' client secret: one per
/// deployment, never stored. Rotating that secret only makes a registration retried across the
/// rotation count as a new request.
#[derive(Clone)]
pub(crate) struct RegistrationHasher {
    mac: HmacSha256,
}

impl fmt::Debug for RegistrationHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.write_str("RegistrationHasher { .. }")
    }
}

/// A registration as it is remembered.
#[derive(Debug, Clone)]
pub(crate) struct RegistrationFingerprint {
    /// The request with its password replaced by the password's keyed, salted hash: what the
    /// idempotency key's fingerprint (a SHA-256 of it) is taken over.
    pub(crate) request: pb::RegisterPatientRequest,
    /// The keyed hash of all of `request`: set on the user the registration creates at the
    /// identity provider, so that only a retry of this very request adopts that user.
    pub(crate) tag: String,
}

impl RegistrationHasher {
    pub(crate) fn new(client_secret: &SecretString) -> RegistrationHasher {
        let key = HmacSha256::new_from_slice(client_secret.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length")
            .chain_update(KEY_PURPOSE)
            .finalize()
            .into_bytes();
        RegistrationHasher {
            mac: HmacSha256::new_from_slice(&key).expect("HMAC takes a key of any length"),
        }
    }

    /// The fingerprint of `request`, whose password was taken out of it into `password`.
    pub(crate) fn registration(
        &self,
        request: &pb::RegisterPatientRequest,
        password: &SecretString,
    ) -> RegistrationFingerprint {
        let password = self.digest(
            "password",
            &[
                request.request_id.trim().as_bytes(),
                request.username.as_bytes(),
                password.expose_secret().as_bytes(),
            ],
        );
        let request = pb::RegisterPatientRequest {
            password,
            ..request.clone()
        };
        let tag = self.digest("registration", &[request.encode_to_vec().as_slice()]);
        RegistrationFingerprint { request, tag }
    }

    /// A client address as an idempotency scope names it: keyed, so the table keeps no
    /// visitor's address.
    pub(crate) fn client_address(&self, address: IpAddr) -> String {
        self.digest("client-address", &[address.to_string().as_bytes()])
    }

    /// The hex HMAC of `parts` for `purpose`, each part length-prefixed so that no two
    /// different lists of parts hash alike.
    fn digest(&self, purpose: &str, parts: &[&[u8]]) -> String {
        let mut mac = self.mac.clone();
        mac.update(purpose.as_bytes());
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> pb::RegisterPatientRequest {
        pb::RegisterPatientRequest {
            request_id: "reg-1".into(),
            username: "ann.smith".into(),
            email: "ann@example.org".into(),
            given_name: "Ann".into(),
            family_name: "Smith".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_password_counts_but_is_not_kept() {
        let hasher = RegistrationHasher::new(&SecretString::from("deployment secret"));
        let password = SecretString::from("correct horse battery staple");
        let first = hasher.registration(&request(), &password);
        let again = hasher.registration(&request(), &password);
        assert_eq!(first.request, again.request);
        assert_eq!(first.tag, again.tag);
        assert!(!first.request.password.contains("horse"));
        assert_eq!(first.request.password.len(), 64);

        let other = hasher.registration(&request(), &SecretString::from("another password"));
        assert_ne!(other.request.password, first.request.password);
        assert_ne!(other.tag, first.tag);

        // Salted: the same password in another request hashes differently.
        let mut later = request();
        later.request_id = "reg-2".into();
        assert_ne!(
            hasher.registration(&later, &password).request.password,
            first.request.password
        );
        // Keyed: another deployment's hashes differ.
        let elsewhere = RegistrationHasher::new(&SecretString::from("another secret"));
        assert_ne!(elsewhere.registration(&request(), &password).tag, first.tag);
    }

    #[test]
    fn client_addresses_are_kept_hashed() {
        let hasher = RegistrationHasher::new(&SecretString::from("deployment secret"));
        let address: IpAddr = "203.0.113.7".parse().unwrap();
        let scope = hasher.client_address(address);
        assert!(!scope.contains("203.0.113.7"));
        assert_eq!(scope, hasher.client_address(address));
        assert_ne!(scope, hasher.client_address("203.0.113.8".parse().unwrap()));
    }
}
