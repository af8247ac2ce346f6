//! Listeners (Unix socket, TLS over TCP, plain TCP on loopback) and the accept loop.
//!
//! Each connection is framed with a length-delimited codec and Bincode, the same on
//! every transport. Request handlers are spawned into a [`TaskTracker`] so that at
//! shutdown the daemon stops accepting, lets in-flight requests finish (bounded by the
//! grace period), and only then closes connections.

use super::RpcServer;
use crate::config::Settings;
use crate::store::Store;
use futures::StreamExt;
use idoctor_protocol::{IDoctor, MAX_FRAME_BYTES};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tarpc::serde_transport;
use tarpc::server::{BaseChannel, Channel};
use tarpc::tokio_serde::formats::Bincode;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::LengthDelimitedCodec;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A bound listener.
pub enum Listener {
    /// The local Unix socket.
    Unix {
        /// Bound socket.
        listener: UnixListener,
        /// Its path, removed at shutdown.
        path: PathBuf,
    },
    /// TCP, with TLS unless it is plain loopback.
    Tcp {
        /// Bound socket.
        listener: TcpListener,
        /// TLS acceptor; `None` for plain loopback TCP.
        tls: Option<TlsAcceptor>,
    },
}

impl Listener {
    /// Where it listens, for logs and the demo banner.
    pub fn describe(&self) -> String {
        match self {
            Listener::Unix { path, .. } => format!("unix:{}", path.display()),
            Listener::Tcp { listener, tls } => {
                let scheme = if tls.is_some() { "tls" } else { "tcp" };
                match listener.local_addr() {
                    Ok(a) => format!("{scheme}://{a}"),
                    Err(_) => format!("{scheme}://?"),
                }
            }
        }
    }
}

/// Why a listener could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    /// Another daemon already serves this socket.
    #[error("another idoctord is already serving {0}")]
    InUse(String),
    /// The address is malformed or not allowed.
    #[error("invalid listen address {addr:?}: {reason}")]
    Address {
        /// As configured.
        addr: String,
        /// Why.
        reason: String,
    },
    /// Binding failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Where.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// TLS identity could not be prepared.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

/// Binds the Unix socket and every configured `listen` address.
pub async fn bind_listeners(settings: &Settings) -> Result<Vec<Listener>, ListenerError> {
    let mut out = vec![bind_unix(&settings.socket_path()).await?];
    for addr in &settings.server.listen {
        out.push(bind_tcp(addr, &settings.data_dir).await?);
    }
    Ok(out)
}

async fn bind_unix(path: &Path) -> Result<Listener, ListenerError> {
    let shown = path.display().to_string();
    if path.exists() {
        // A live daemon answers; a stale file from a crash does not and is replaced.
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err(ListenerError::InUse(shown));
        }
        std::fs::remove_file(path).map_err(|source| ListenerError::Bind {
            addr: shown.clone(),
            source,
        })?;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ListenerError::Bind {
            addr: shown.clone(),
            source,
        })?;
    }
    let listener = UnixListener::bind(path).map_err(|source| ListenerError::Bind {
        addr: shown.clone(),
        source,
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(|source| {
        ListenerError::Bind {
            addr: shown.clone(),
            source,
        }
    })?;
    Ok(Listener::Unix {
        listener,
        path: path.to_path_buf(),
    })
}

async fn bind_tcp(spec: &str, data_dir: &Path) -> Result<Listener, ListenerError> {
    let bad = |reason: &str| ListenerError::Address {
        addr: spec.to_string(),
        reason: reason.to_string(),
    };
    let (tls, hostport) = if let Some(rest) = spec.strip_prefix("tls://") {
        (true, rest)
    } else if let Some(rest) = spec.strip_prefix("tcp://") {
        (false, rest)
    } else {
        return Err(bad("expected tls://HOST:PORT or tcp://127.0.0.1:PORT"));
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(hostport)
        .await
        .map_err(|e| bad(&e.to_string()))?
        .collect();
    let addr = *addrs.first().ok_or_else(|| bad("resolves to no address"))?;
    if !tls && !addrs.iter().all(|a| a.ip().is_loopback()) {
        return Err(bad(
            "plain TCP is only allowed on loopback; use tls:// for remote consoles",
        ));
    }
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ListenerError::Bind {
            addr: spec.to_string(),
            source,
        })?;
    let tls = if tls {
        let host = hostport
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(hostport);
        let (config, fingerprint) = crate::tls::server_config(data_dir, &[host.to_string()])?;
        tracing::info!(listen = spec, sha256 = fingerprint, "TLS certificate");
        Some(TlsAcceptor::from(config))
    } else {
        None
    };
    Ok(Listener::Tcp { listener, tls })
}

/// Serves one listener until `shutdown`, then waits up to `grace` for in-flight requests.
/// Removes the Unix socket file on the way out.
pub async fn serve<S: Store>(
    listener: Listener,
    server: RpcServer<S>,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let requests = TaskTracker::new();
    let connections = TaskTracker::new();
    let close_connections = CancellationToken::new();
    let describe = listener.describe();
    match &listener {
        Listener::Unix { listener, .. } => loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => spawn_connection(stream, &server, &requests, &connections, &close_connections),
                    Err(e) => accept_failed(&describe, &e).await,
                },
            }
        },
        Listener::Tcp { listener, tls } => loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => match tls {
                        None => spawn_connection(stream, &server, &requests, &connections, &close_connections),
                        Some(acceptor) => {
                            let acceptor = acceptor.clone();
                            let (server, requests, conns, close) = (server.clone(), requests.clone(), connections.clone(), close_connections.clone());
                            connections.spawn(async move {
                                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                                    Ok(Ok(tls_stream)) => spawn_connection(tls_stream, &server, &requests, &conns, &close),
                                    Ok(Err(e)) => tracing::info!(%peer, cause = %e, "TLS handshake failed"),
                                    Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
                                }
                            });
                        }
                    },
                    Err(e) => accept_failed(&describe, &e).await,
                },
            }
        },
    }
    requests.close();
    if tokio::time::timeout(grace, requests.wait()).await.is_err() {
        tracing::warn!(
            listener = describe,
            "in-flight requests did not finish within the grace period"
        );
    }
    close_connections.cancel();
    connections.close();
    connections.wait().await;
    if let Listener::Unix { path, .. } = &listener
        && let Err(e) = std::fs::remove_file(path)
    {
        tracing::warn!(path = %path.display(), cause = %e, "could not remove the socket file");
    }
    tracing::info!(listener = describe, "stopped");
}

async fn accept_failed(listener: &str, e: &std::io::Error) {
    tracing::warn!(listener, cause = %e, "accept failed");
    // Out of file descriptors and similar: back off instead of spinning.
    tokio::time::sleep(Duration::from_millis(100)).await;
}

fn spawn_connection<S, IO>(
    io: IO,
    server: &RpcServer<S>,
    requests: &TaskTracker,
    connections: &TaskTracker,
    close: &CancellationToken,
) where
    S: Store,
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let framed = LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME_BYTES)
        .new_framed(io);
    let transport = serde_transport::new(framed, Bincode::default());
    let requests = requests.clone();
    let server = server.clone();
    let close = close.clone();
    let requests_for_spawn = Arc::new(requests);
    connections.spawn(async move {
        let channel = BaseChannel::with_defaults(transport)
            .execute(server.serve())
            .for_each(move |handler| {
                requests_for_spawn.spawn(handler);
                async {}
            });
        tokio::select! {
            _ = close.cancelled() => {}
            _ = channel => {}
        }
    });
}
