//! TLS client settings shared by the backends that reach a server (LDAP,
//! PostgreSQL): rustls with ring, the CA of a PEM file or the public roots.

use std::path::Path;
use std::sync::Arc;

/// A client configuration trusting the CAs of `ca_file` (PEM), or the
/// public web roots without one.
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let roots = match ca_file {
        Some(path) => roots_of(path)?,
        None => {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            roots
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The CAs of a PEM file.
fn roots_of(path: &Path) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| e.to_string())? {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    if roots.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(roots)
}

/// Which CAs a verified connection trusts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Roots<'a> {
    /// The CAs of a PEM file.
    File(&'a Path),
    /// The machine's trust store (`/etc/ssl/certs`).
    System,
}

/// A client configuration that checks the server's certificate against
/// `roots` and for `server_name` (when given: the name the certificate
/// must hold, whatever address is dialled), and says in words an operator
/// can act on why a certificate is not valid for the name. `setting` names
/// the key that gives `server_name` (e.g. `ldap.tls_server_name`).
pub(crate) fn verified_client_config(
    roots: Roots<'_>,
    server_name: Option<&str>,
    setting: &'static str,
) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::ServerName;
    let store = match roots {
        Roots::File(path) => roots_of(path)?,
        Roots::System => {
            let mut store = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // A certificate of the store rustls cannot read is skipped, as
                // the LDAP client does with its own store.
                let _ = store.add(cert);
            }
            store
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(store),
        provider.clone(),
    )
    .build()
    .map_err(|e| e.to_string())?;
    let name = match server_name {
        Some(name) => Some(
            ServerName::try_from(name.to_owned())
                .map_err(|e| format!("{setting}: {name:?} is not a host name: {e}"))?,
        ),
        None => None,
    };
    let verifier = Arc::new(NamedVerifier { inner, name });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// webpki's checks, for a configured name instead of the dialled one when
/// there is one.
#[derive(Debug)]
struct NamedVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    name: Option<rustls::pki_types::ServerName<'static>>,
}

/// What a failed TLS handshake means, in words an operator can act on,
/// when it is a certificate that does not hold the expected name (found
/// among the causes of `e`; `setting` is the key that names the server).
pub(crate) fn explain_tls_failure(
    e: &(dyn std::error::Error + 'static),
    setting: &str,
) -> Option<String> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = next {
        let inner = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        for candidate in [Some(error), inner].into_iter().flatten() {
            if let Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext {
                    expected,
                    presented,
                },
            )) = candidate.downcast_ref::<rustls::Error>()
            {
                return Some(explain_name_mismatch(
                    &expected.to_str(),
                    presented,
                    setting,
                ));
            }
        }
        next = inner.and_then(|i| i.source()).or_else(|| error.source());
    }
    None
}

/// The explanation of a name mismatch (`expected` dialled or configured,
/// `presented` the certificate's subjectAltName entries).
fn explain_name_mismatch(expected: &str, presented: &[String], setting: &str) -> String {
    if presented.is_empty() {
        format!(
            "the server's certificate has no subjectAltName for {expected} (it has none at all; \
             names in the subject's CN do not count): issue it with a subjectAltName for \
             {expected}, or set {setting} to a name it holds"
        )
    } else {
        format!(
            "the server's certificate is for {} (its subjectAltName), not for {expected}: \
             connect by one of those names, or set {setting} to one of them",
            presented.join(", ")
        )
    }
}

impl rustls::client::danger::ServerCertVerifier for NamedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let name = self.name.as_ref().unwrap_or(server_name);
        self.inner
            .verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_mismatch_says_what_to_do() {
        let none = explain_name_mismatch("127.0.0.1", &[], "ldap.tls_server_name");
        assert!(
            none.contains("has no subjectAltName for 127.0.0.1")
                && none.contains("ldap.tls_server_name"),
            "{none}"
        );
        let other = explain_name_mismatch(
            "dc9.example.test",
            &["localhost".into(), "127.0.0.1".into()],
            "ldap.tls_server_name",
        );
        assert!(
            other.contains("is for localhost, 127.0.0.1") && other.contains("not for dc9"),
            "{other}"
        );
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
                expected: rustls::pki_types::ServerName::try_from("dc1.ad.test").unwrap(),
                presented: Vec::new(),
            }),
        );
        let explained = explain_tls_failure(&io, "ldap.tls_server_name").unwrap();
        assert!(
            explained.contains("no subjectAltName for dc1.ad.test"),
            "{explained}"
        );
        let unrelated = std::io::Error::other("connection reset");
        assert_eq!(explain_tls_failure(&unrelated, "x"), None);
    }
}
