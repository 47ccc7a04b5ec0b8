//! A tower layer that puts each request's [`ClientAddr`] in its extensions
//! (for the gRPC port; the HTTP port does it as it reads a request).

use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::{ClientAddr, TrustedProxies, peer_addr};

/// Wraps services with [`ClientAddrService`].
#[derive(Debug, Clone)]
pub struct ClientAddrLayer {
    proxies: Arc<TrustedProxies>,
}

impl ClientAddrLayer {
    /// Believes the forwarding headers of `proxies`.
    pub fn new(proxies: Arc<TrustedProxies>) -> Self {
        Self { proxies }
    }
}

impl<S> Layer<S> for ClientAddrLayer {
    type Service = ClientAddrService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientAddrService {
            inner,
            proxies: Arc::clone(&self.proxies),
        }
    }
}

/// Sets the [`ClientAddr`] of every request, then calls `inner`.
#[derive(Debug, Clone)]
pub struct ClientAddrService<S> {
    inner: S,
    proxies: Arc<TrustedProxies>,
}

impl<S, B> Service<http::Request<B>> for ClientAddrService<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> S::Future {
        if let Some(peer) = peer_addr(request.extensions()) {
            let client = self.proxies.client(peer, request.headers());
            request.extensions_mut().insert(ClientAddr(client));
        }
        self.inner.call(request)
    }
}
