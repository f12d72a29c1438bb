//! The UI's HTTP server: plaintext, or TLS with the collector's certificate. Written
//! over hyper and tokio-rustls (both already linked for gRPC) rather than another
//! server crate: it is an accept loop and nothing more.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::config::TlsFiles;
use crate::error::{Error, Result};

/// How long a client may take for its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `addr` (TLS when `tls` is given) until `shutdown`; returns the
/// bound address and the server task.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    tls: Option<&TlsFiles>,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, JoinHandle<()>)> {
    let acceptor = tls.map(acceptor).transpose()?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(Error::io(format!("listening on {addr} for the web UI")))?;
    let bound = listener
        .local_addr()
        .map_err(Error::io("reading the web UI's address"))?;
    let task = tokio::spawn(async move {
        loop {
            let (stream, _peer) = tokio::select! {
                () = shutdown.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        tracing::warn!(error = %err, "web UI: accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let service = TowerToHyperService::new(router.clone());
            let acceptor = acceptor.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                let mut http = hyper::server::conn::http1::Builder::new();
                http.timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT);
                let served = match acceptor {
                    Some(acceptor) => {
                        let Ok(Ok(stream)) =
                            tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                        else {
                            return;
                        };
                        let connection = http.serve_connection(TokioIo::new(stream), service);
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            served = connection => served,
                        }
                    }
                    None => {
                        let connection = http.serve_connection(TokioIo::new(stream), service);
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            served = connection => served,
                        }
                    }
                };
                if let Err(err) = served {
                    tracing::debug!(error = %err, "web UI connection ended with an error");
                }
            });
        }
    });
    Ok((bound, task))
}

fn acceptor(tls: &TlsFiles) -> Result<TlsAcceptor> {
    let certs = CertificateDer::pem_slice_iter(&tls.cert)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|err| Error::Config(format!("web UI: TLS certificate: {err}")))?;
    let key = PrivateKeyDer::from_pem_slice(&tls.key)
        .map_err(|err| Error::Config(format!("web UI: TLS key: {err}")))?;
    let builder = rustls::ServerConfig::builder();
    // Client certificates are asked for here as on the gRPC port.
    let builder = match &tls.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca) {
                let cert =
                    cert.map_err(|err| Error::Config(format!("web UI: TLS client CA: {err}")))?;
                roots
                    .add(cert)
                    .map_err(|err| Error::Config(format!("web UI: TLS client CA: {err}")))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .map_err(|err| Error::Config(format!("web UI: TLS client CA: {err}")))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|err| Error::Config(format!("web UI: TLS: {err}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
