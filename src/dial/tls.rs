//! TLS to an HTTPS proxy, verified by the operating system's own verifier (its trust store,
//! with the corporate CAs an office installs; Linux: the system CA bundle, or the file
//! `SSL_CERT_FILE` names). One client config for the process, built on first use.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls_platform_verifier::BuilderVerifierExt;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig};
use tokio_rustls::TlsConnector;

use super::{Hop, Stream};
use crate::error::ProxyError;
use crate::target::Host;

fn config() -> Result<Arc<ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .and_then(|b| b.with_platform_verifier())
                .map_err(|e| format!("cannot set up TLS: {e}"))?
                .with_no_client_auth();
            // A proxy is asked for CONNECT in HTTP/1.1.
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        })
        .clone()
}

/// The TLS handshake with the proxy `hop` (host `host`) on `stream`, within `limit`.
pub(super) async fn connect(
    stream: Stream,
    host: &Host,
    hop: Hop<'_>,
    limit: Duration,
) -> Result<Stream, ProxyError> {
    let failed = |detail: String| ProxyError::UpstreamProtocol {
        server: hop.to_string(),
        detail,
    };
    let config = config().map_err(failed)?;
    let name = match host {
        Host::Domain(name) => ServerName::try_from(name.clone()).map_err(|e| {
            failed(format!(
                "'{name}' cannot be checked against a certificate: {e}"
            ))
        })?,
        Host::Ip(ip) => ServerName::IpAddress((*ip).into()),
    };
    let handshake = TlsConnector::from(config).connect(name, stream);
    match tokio::time::timeout(limit, handshake).await {
        Err(_) => Err(ProxyError::timeout(
            format!("waiting for the TLS handshake with {hop}"),
            limit,
        )),
        Ok(Err(e)) => Err(failed(format!("TLS handshake failed: {e}"))),
        Ok(Ok(tls)) => Ok(Stream::Tls(Box::new(tls))),
    }
}
