//! The HTTPS client every SDK client uses, and the root certificates it trusts.
//!
//! Why not the SDK's default: its trust store is rustls-native-certs' `load_native_certs`,
//! which on Linux reads the system's CA bundle file *and* every file of the certificate
//! directory (openssl-probe's candidates). On Debian and Ubuntu hosts `/etc/ssl/certs`
//! holds ~150 hashed links to the very certificates the bundle holds, so every cold start
//! opened ~300 files and parsed each root twice: about 3 ms of a 9 ms start
//! (`bench/handler_startup.py`, "host" against "bundle_only"). The distributions generate
//! the bundle from the same store as the directory (`update-ca-certificates`,
//! `update-ca-trust`), so trusting the bundle alone trusts the same roots. Lambda's
//! provided.al2023 has the bundle at `/etc/pki/tls/certs/ca-bundle.crt`.
//!
//! `AWS_CA_BUNDLE` (the AWS CLI's and SDKs' setting for a custom bundle, as behind a
//! TLS-inspecting proxy) is trusted alone, as the AWS CLI trusts it. An explicit
//! `SSL_CERT_FILE` or `SSL_CERT_DIR` is the operator's choice and is honoured as the
//! default loader honours it. A bundle that is missing, empty or holds anything that
//! cannot be a trust anchor falls back to the default loader (the SDK panics on a custom
//! certificate it cannot parse; `load_native_certs` skips one).

use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
use aws_smithy_types::config_bag::ConfigBag;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// The SDK's HTTPS client (rustls with aws-lc, as its default) over [`trust_store`], its
/// root store built once, at the first request.
pub fn https_client() -> SharedHttpClient {
    let context = TlsContext::builder()
        .with_trust_store(trust_store())
        .build()
        .unwrap_or_default();
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https();
    SharedHttpClient::new(RootsAtFirstRequest(client))
}

/// The SDK's client, less its eager check. Its `validate_base_client_config` builds a
/// throwaway connector, and so a whole root store, for every SDK client constructed (it
/// wants certificate errors at start-up): a function building five clients parsed the
/// ~140 roots five times before it was ready, and again for the connector it then uses.
/// The connectors it caches (one per timeout setting) are built at the first request
/// instead: the roots are parsed once, and `make bench` counts them in the first response.
#[derive(Debug)]
struct RootsAtFirstRequest(SharedHttpClient);

impl HttpClient for RootsAtFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        _: &RuntimeComponentsBuilder,
        _: &ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        Ok(())
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// The system's CA bundle alone when it has a usable one; otherwise the default loader.
pub fn trust_store() -> TrustStore {
    if let Some(bundle) = std::env::var_os("AWS_CA_BUNDLE") {
        match std::fs::read(&bundle).ok().and_then(bundle_trust_store) {
            Some(store) => return store,
            None => tracing::warn!(
                path = %bundle.to_string_lossy(),
                "AWS_CA_BUNDLE is not a readable PEM bundle of CA certificates: ignored"
            ),
        }
    }
    let explicit = std::env::var_os(openssl_probe::ENV_CERT_FILE).is_some()
        || std::env::var_os(openssl_probe::ENV_CERT_DIR).is_some();
    if explicit {
        return native_roots();
    }
    openssl_probe::probe()
        .cert_file
        .and_then(|bundle| std::fs::read(bundle).ok())
        .and_then(bundle_trust_store)
        .unwrap_or_else(native_roots)
}

fn native_roots() -> TrustStore {
    TrustStore::empty().with_native_roots(true)
}

/// `Some` when `pem` holds at least one certificate and every one of them can be a trust
/// anchor.
fn bundle_trust_store(pem: Vec<u8>) -> Option<TrustStore> {
    let certificates: Vec<CertificateDer> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .ok()?;
    let all_anchors = certificates
        .iter()
        .all(|c| webpki::anchor_from_trusted_cert(c).is_ok());
    (!certificates.is_empty() && all_anchors).then(|| {
        TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(pem)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMAZON_ROOT_CA_1: &[u8] = include_bytes!("testdata/amazon-root-ca-1.pem");

    #[test]
    fn a_bundle_of_valid_roots_is_trusted_alone() {
        let bundle = [AMAZON_ROOT_CA_1, b"\n", AMAZON_ROOT_CA_1].concat();
        let store = bundle_trust_store(bundle).expect("a bundle of two roots");
        let debug = format!("{store:?}");
        assert!(debug.contains("enable_native_roots: false"), "{debug}");
    }

    #[test]
    fn a_bundle_with_one_unparsable_certificate_falls_back_to_the_default_loader() {
        let broken = b"-----BEGIN CERTIFICATE-----\nTUlJREFU\n-----END CERTIFICATE-----\n";
        assert!(bundle_trust_store([AMAZON_ROOT_CA_1, broken].concat()).is_none());
        assert!(bundle_trust_store(b"not a certificate".to_vec()).is_none());
        assert!(bundle_trust_store(Vec::new()).is_none());
    }

    // Each test runs in a process of its own (nextest), so setting the environment here
    // touches no other test.
    #[test]
    fn aws_ca_bundle_is_trusted_alone_and_an_unreadable_one_is_ignored() {
        let dir = std::env::temp_dir().join(format!("rotatetoken-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bundle = dir.join("corporate-ca.pem");
        std::fs::write(&bundle, AMAZON_ROOT_CA_1).unwrap();
        std::env::set_var("AWS_CA_BUNDLE", &bundle);
        let store = format!("{:?}", trust_store());
        assert!(store.contains("enable_native_roots: false"), "{store}");
        assert!(store.contains("custom_certs: [CertificatePEM("), "{store}");

        std::env::set_var("AWS_CA_BUNDLE", dir.join("missing.pem"));
        std::env::set_var("SSL_CERT_DIR", &dir);
        let store = format!("{:?}", trust_store());
        assert!(
            store.contains("enable_native_roots: true"),
            "falls back: {store}"
        );
        assert!(store.contains("custom_certs: []"), "{store}");
        let _ = https_client(); // and a client builds over it
        std::fs::remove_dir_all(&dir).ok();
    }
}
