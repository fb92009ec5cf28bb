//! Serving HTTP to hostile clients, for the console and the sensor's
//! `/metrics` alike. Every socket is bounded in time and number:
//!
//! - at most `max_connections` at once; when full, the oldest idle one is
//!   closed to make room, and a new connection is refused only when every
//!   one is busy;
//! - a client has `header_timeout` to send a request's head (slowloris),
//!   and an idle keep-alive connection is closed after `idle_timeout`;
//! - a request (head to response) gets `request_timeout`, then a 503;
//! - bodies beyond `max_body_bytes` get a 413 (these servers take GETs);
//! - with TLS, the handshake gets `header_timeout` too.
//!
//! HTTP/1.1 only: every client of these servers speaks it.

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_rustls::rustls;
use tower::ServiceExt;

/// Bounds on every connection.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub request_timeout: Duration,
    pub max_body_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            max_body_bytes: 64 * 1024,
        }
    }
}

/// A rustls server configuration from PEM files: the certificate chain and
/// its private key.
pub fn tls_config(certificate: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let certs: Vec<_> = rustls_pemfile::certs(&mut read(certificate)?.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", certificate.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", certificate.display()));
    }
    let key = rustls_pemfile::private_key(&mut read(key)?.as_slice())
        .map_err(|e| format!("{}: {e}", key.display()))?
        .ok_or_else(|| format!("{}: no private key in it", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("{}: {e}", certificate.display()))?;
    Ok(Arc::new(config))
}

/// One open connection, as the accept loop sees it.
struct Conn {
    /// Requests being answered (0: idle).
    busy: AtomicUsize,
    close: Notify,
}

/// The open connections, oldest first (ids grow).
#[derive(Default)]
struct Registry {
    conns: Mutex<BTreeMap<u64, Arc<Conn>>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Room for one more: true when below the cap, or once the oldest idle
    /// connection was told to close.
    fn make_room(&self, max: usize) -> bool {
        let conns = self.lock();
        if conns.len() < max {
            return true;
        }
        match conns.values().find(|c| c.busy.load(Ordering::Acquire) == 0) {
            Some(idle) => {
                idle.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, with TLS when
/// given a configuration.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let registry = Arc::new(Registry::default());
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let mut next_id = 0u64;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors and the like: wait, do not spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if !registry.make_room(limits.max_connections) {
            drop(stream); // every slot holds a busy connection
            continue;
        }
        let _ = stream.set_nodelay(true);
        let id = next_id;
        next_id += 1;
        let conn = Arc::new(Conn { busy: AtomicUsize::new(0), close: Notify::new() });
        registry.lock().insert(id, conn.clone());
        let (app, limits, registry, acceptor) = (app.clone(), limits.clone(), registry.clone(), acceptor.clone());
        tokio::spawn(async move {
            match acceptor {
                None => connection(stream, peer, app, &limits, &conn).await,
                Some(acceptor) => {
                    if let Ok(Ok(tls)) = tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await {
                        connection(tls, peer, app, &limits, &conn).await;
                    }
                }
            }
            registry.lock().remove(&id);
        });
    }
    Ok(())
}

/// One connection's requests, until the client leaves, a timeout strikes or
/// the accept loop needs the slot.
async fn connection<S>(stream: S, peer: SocketAddr, app: Router, limits: &Limits, conn: &Arc<Conn>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let last_done = Arc::new(Mutex::new(Instant::now()));
    let service = {
        let (conn, last_done, limits) = (conn.clone(), last_done.clone(), limits.clone());
        hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
            let (app, conn, last_done, limits) = (app.clone(), conn.clone(), last_done.clone(), limits.clone());
            async move {
                conn.busy.fetch_add(1, Ordering::AcqRel);
                let response = answer(app, request, peer, &limits).await;
                *last_done.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
                conn.busy.fetch_sub(1, Ordering::AcqRel);
                Ok::<_, std::convert::Infallible>(response)
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).max_buf_size(64 * 1024);
    let serving = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(serving);
    let mut watch = tokio::time::interval(Duration::from_millis(500).min(limits.idle_timeout));
    loop {
        tokio::select! {
            _ = serving.as_mut() => return,
            () = conn.close.notified() => break,
            _ = watch.tick() => {
                let idle_for = last_done.lock().unwrap_or_else(|e| e.into_inner()).elapsed();
                if conn.busy.load(Ordering::Acquire) == 0 && idle_for >= limits.idle_timeout {
                    break;
                }
            }
        }
    }
    // Closes at once when idle, else after the request in flight.
    serving.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(limits.request_timeout, serving).await;
}

/// One request through the app, bounded in body size and time. The peer's
/// address is in the request's extensions (`ConnectInfo`-like).
async fn answer(
    app: Router,
    request: Request<hyper::body::Incoming>,
    peer: SocketAddr,
    limits: &Limits,
) -> Response<Body> {
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes) {
        return status(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
    }
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(Peer(peer));
    let body = Body::new(http_body_util::Limited::new(body, limits.max_body_bytes as usize));
    match tokio::time::timeout(limits.request_timeout, app.oneshot(Request::from_parts(parts, body))).await {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_) => status(StatusCode::SERVICE_UNAVAILABLE, "the answer took too long\n"),
    }
}

/// The client's address, in every request's extensions.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

fn status(code: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = code;
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}
