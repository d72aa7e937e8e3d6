//! rustls client configurations for SSL_GET.
//!
//! As keepalived, SSL_GET does not verify the server's certificate unless
//! `verify_cert` is set: a health check asks "does the service answer", and real
//! servers are often reached by address with self-signed certificates. The
//! handshake signature is still checked, so the probe talks TLS for real. With
//! `verify_cert`, the chain is verified against the configured CA file or the
//! system roots, and the name against the SNI name (or the address).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::ProbeError;

/// The configurations in use, built lazily and shared.
#[derive(Debug, Default)]
pub struct TlsConfigs {
    insecure: OnceLock<Arc<ClientConfig>>,
    verified: Mutex<HashMap<Option<String>, Arc<ClientConfig>>>,
}

impl TlsConfigs {
    /// The configuration for a checker: unverified, or verified against
    /// `ca_file` (system roots when `None`).
    pub fn get(
        &self,
        verify: bool,
        ca_file: Option<&str>,
    ) -> Result<Arc<ClientConfig>, ProbeError> {
        if !verify {
            return Ok(self.insecure.get_or_init(insecure_config).clone());
        }
        let key = ca_file.map(str::to_owned);
        let mut map = self
            .verified
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(c) = map.get(&key) {
            return Ok(c.clone());
        }
        let c = verified_config(ca_file)?;
        map.insert(key, c.clone());
        Ok(c)
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn insecure_config() -> Arc<ClientConfig> {
    let provider = provider();
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoCertificateVerification(provider)))
        .with_no_client_auth();
    Arc::new(config)
}

fn verified_config(ca_file: Option<&str>) -> Result<Arc<ClientConfig>, ProbeError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| ProbeError::Tls(format!("cannot read CA file {path}: {e}")))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| ProbeError::Tls(format!("bad certificate in {path}: {e}")))?;
                roots.add(cert).map_err(|e| {
                    ProbeError::Tls(format!("unusable CA certificate in {path}: {e}"))
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // Skip the odd unparsable system certificate, as browsers do.
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err(ProbeError::Tls(match ca_file {
            Some(p) => format!("no CA certificate in {p}"),
            None => "verify_cert is set but the system has no CA certificates \
                     (install ca-certificates or give a CA file)"
                .into(),
        }));
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts any certificate chain, but still checks that the server holds the
/// key of the certificate it sent (handshake signatures).
#[derive(Debug)]
struct NoCertificateVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCertificateVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
