//! The HTTP side: binds 127.0.0.1, assembles the router (bot API, CDN under `/c2c`, QR
//! login, `/mock/*` control API, the chat page, the mock chat model under `/v1`) and
//! serves each connection in its own task so that a fault can drop one connection and
//! shutdown can drop them all; requests carry the
//! connection's peer address as `ConnectInfo`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::intercept::{ConnKill, intercept};
use crate::state::Shared;

/// Uploads can be large (the real CDN caps inbound media at 100 MB).
const MAX_BODY: usize = 128 * 1024 * 1024;

/// Binds a listener on 127.0.0.1 (port 0 picks a free one).
pub(crate) async fn bind(port: u16) -> io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
}

/// The full router with its state.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .merge(crate::api::routes())
        .merge(crate::cdn::routes())
        .merge(crate::login::routes())
        .merge(crate::control::routes())
        .merge(crate::chat::routes())
        .merge(crate::model::routes(shared.model.clone()))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            intercept,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

/// Accepts connections until shutdown; every connection task ends with it.
pub(crate) async fn serve(listener: TcpListener, router: Router, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shared.shutdown_signal() => break,
            accepted = listener.accept() => {
                match accepted {
                    Ok((stream, peer)) => {
                        conns.spawn(serve_connection(stream, peer, router.clone(), shared.clone()));
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "ilink-sim: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
        while conns.try_join_next().is_some() {}
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    shared: Arc<Shared>,
) {
    let _ = stream.set_nodelay(true);
    // A second handle on the socket lets a reset fault set SO_LINGER 0 before closing.
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    let keep = std_stream.try_clone().ok();
    let Ok(stream) = TcpStream::from_std(std_stream) else {
        return;
    };
    let kill = ConnKill::default();
    let tagged = kill.clone();
    let svc = router.map_request(move |mut req: axum::http::Request<Incoming>| {
        req.extensions_mut().insert(tagged.clone());
        // Serving connections by hand bypasses `into_make_service_with_connect_info`, so
        // insert what it would: handlers (`getupdates`) read the peer with `ConnectInfo`.
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
    tokio::select! {
        _ = conn => {}
        _ = kill.0.notified() => {
            if let Some(sock) = &keep {
                let _ = socket2::SockRef::from(sock).set_linger(Some(Duration::ZERO));
            }
        }
        _ = shared.shutdown_signal() => {}
    }
}
