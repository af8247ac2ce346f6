//! Trust on first use for the daemon's self-signed TLS certificate.
//!
//! The first successful connection to a `host:port` pins the SHA-256 of the server's
//! certificate in `known_servers.json`; later connections must present the same one.
//! The TLS handshake signatures are still verified, so a server must hold the pinned
//! certificate's private key, not merely replay the certificate.

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::{Arc, Mutex};

/// What the verifier saw, read by the client after the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinOutcome {
    /// The certificate matched the pin.
    Matched,
    /// No pin existed; this fingerprint should be pinned once the connection works.
    FirstUse(String),
    /// The certificate differs from the pin.
    Changed {
        /// Pinned fingerprint.
        expected: String,
        /// Presented fingerprint.
        presented: String,
    },
}

/// A verifier that compares the server certificate's fingerprint with a pin.
#[derive(Debug)]
pub struct PinVerifier {
    pinned: Option<String>,
    provider: Arc<CryptoProvider>,
    outcome: Mutex<Option<PinOutcome>>,
}

impl PinVerifier {
    /// A verifier for a server with this pin (or none yet).
    pub fn new(pinned: Option<String>, provider: Arc<CryptoProvider>) -> Self {
        Self {
            pinned,
            provider,
            outcome: Mutex::new(None),
        }
    }

    /// What happened during the handshake.
    pub fn outcome(&self) -> Option<PinOutcome> {
        self.outcome.lock().ok().and_then(|o| o.clone())
    }
}

/// SHA-256 of a DER certificate, lowercase hex.
pub fn fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = fingerprint(end_entity.as_ref());
        let outcome = match &self.pinned {
            Some(expected) if *expected == presented => PinOutcome::Matched,
            Some(expected) => PinOutcome::Changed {
                expected: expected.clone(),
                presented,
            },
            None => PinOutcome::FirstUse(presented),
        };
        let changed = matches!(outcome, PinOutcome::Changed { .. });
        if let Ok(mut slot) = self.outcome.lock() {
            *slot = Some(outcome);
        }
        if changed {
            return Err(rustls::Error::General(
                "server certificate differs from the pinned one".into(),
            ));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
