//! With mutual TLS, a MedMesh service's token is accepted only from that service's certificate:
//! its client secret alone, leaked, is not enough to act as the service. The certificate must
//! be valid, as a TLS client would check a server's, for the service's workload name
//! (`svc-scheduling`, `svc-gateway`: the role [`ClientRole::as_str`] gives) or for the host name
//! the deployments give the service (`scheduling`, `gateway`), which its server certificate
//! carries anyway.
//!
//! Only MedMesh's own service clients are bound. People's tokens reach the services through the
//! gateway (whose certificate is the gateway's, not theirs), and partners connect with
//! certificates of their own, whose names MedMesh does not choose: neither is checked here.
//! Nor is a call without a client certificate (plain TCP, TLS without client auth):
//! `client_auth = "required"` is what makes certificates mandatory.

use http::Request;
use rustls_pki_types::{CertificateDer, ServerName};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use super::{ClientRole, Principal};

/// Whether `cert` (a leaf certificate, DER) is valid for the DNS name `service`: one of its
/// subject alternative names matches. A certificate that does not parse names nothing.
pub(crate) fn certificate_names_service(cert: &CertificateDer<'_>, service: &str) -> bool {
    let Ok(name) = ServerName::try_from(service) else {
        return false;
    };
    webpki::EndEntityCert::try_from(cert)
        .is_ok_and(|leaf| leaf.verify_is_valid_for_subject_name(&name).is_ok())
}

/// The service name the client certificate of `request` should carry and does not: `Some` only
/// when `principal` is one of MedMesh's service clients, the call came over TLS with a client
/// certificate, and that certificate's leaf does not name the service.
pub(crate) fn service_name_the_certificate_lacks<B>(
    request: &Request<B>,
    principal: &Principal,
) -> Option<&'static str> {
    let service = ClientRole::of_service_client(&principal.client_id)?.as_str();
    let certs = request
        .extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()?
        .peer_certs()?;
    let leaf = certs.first()?;
    (!certificate_names_workload(leaf, service)).then_some(service)
}

/// Whether `cert` names the workload whose role is `role` (`svc-scheduling`): by that name or
/// by its host name in the deployments (`scheduling`).
pub(crate) fn certificate_names_workload(cert: &CertificateDer<'_>, role: &str) -> bool {
    let host = role.strip_prefix("svc-").unwrap_or(role);
    [role, host]
        .into_iter()
        .any(|name| certificate_names_service(cert, name))
}

#[cfg(test)]
mod tests {
    use rustls_pki_types::{CertificateDer, pem::PemObject};

    use super::certificate_names_service;
    use crate::testing::TestCa;

    fn leaf(ca: &TestCa, names: &[&str]) -> CertificateDer<'static> {
        let (pem, _key) = ca.issue(names);
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    #[test]
    fn a_certificate_names_the_services_it_was_issued_for_and_no_other() {
        let ca = TestCa::new("MedMesh test CA");
        let scheduling = leaf(&ca, &["svc-scheduling", "scheduling"]);
        assert!(certificate_names_service(&scheduling, "svc-scheduling"));
        assert!(!certificate_names_service(&scheduling, "svc-notify"));
        assert!(
            !certificate_names_service(&scheduling, "svc-scheduling.evil.example"),
            "a name with the service's as a prefix is another name"
        );
        let shared = leaf(&ca, &["127.0.0.1", "svc-gateway", "svc-notify"]);
        assert!(certificate_names_service(&shared, "svc-gateway"));
        assert!(certificate_names_service(&shared, "svc-notify"));
        assert!(!certificate_names_service(&shared, "svc-records"));
        assert!(!certificate_names_service(&shared, "not a dns name"));
        let garbage = CertificateDer::from(b"not a certificate".to_vec());
        assert!(!certificate_names_service(&garbage, "svc-scheduling"));
    }
}
