//! Authentication as a tower layer: every request except the listed public
//! paths must carry `authorization: Bearer <token>`; the verified
//! [`Principal`] is put into the request's extensions for handlers to read.
//!
//! Refusals are answered here as gRPC "trailers-only" responses with status
//! `UNAUTHENTICATED`, so no handler runs for an unauthenticated call.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{Either, Ready, ready};
use http::{HeaderValue, Request, Response, header};
use tower::{Layer, Service};

use crate::authenticate::strip_scheme;
use crate::error::AuthError;
use crate::external::ExternalIdp;
use crate::principal::Principal;
use crate::token::TokenService;

/// gRPC status code UNAUTHENTICATED.
const GRPC_UNAUTHENTICATED: &str = "16";

/// Builds [`AuthService`]s around inner services.
#[derive(Clone)]
pub struct AuthLayer {
    tokens: Arc<TokenService>,
    external: Option<Arc<ExternalIdp>>,
    fallback: Option<Fallback>,
    refused: Option<RefusalHook>,
    public_paths: Arc<[String]>,
}

/// Told of every call the layer refuses: the request's extensions (the
/// connection), its path and why (for the audit).
pub type RefusalHook = Arc<dyn Fn(&http::Extensions, &str, &str) + Send + Sync>;

/// Authenticates a call without a bearer token from what the transport
/// knows (e.g. a verified client certificate); `None` refuses it.
pub type Fallback = Arc<dyn Fn(&http::Extensions) -> Option<Principal> + Send + Sync>;

impl std::fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthLayer")
            .field("public_paths", &self.public_paths)
            .finish_non_exhaustive()
    }
}

impl AuthLayer {
    /// A layer verifying bearer tokens with `tokens`; requests to
    /// `public_paths` (e.g. the Flight Handshake) pass unauthenticated.
    pub fn new(tokens: Arc<TokenService>, public_paths: &[&str]) -> Self {
        Self {
            tokens,
            external: None,
            fallback: None,
            refused: None,
            public_paths: public_paths.iter().map(|p| p.to_string()).collect(),
        }
    }

    /// Authenticates calls without a bearer token with `fallback`.
    pub fn with_fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = Some(fallback);
        self
    }

    /// Tells `hook` of every refused call.
    pub fn with_refusal_hook(mut self, hook: RefusalHook) -> Self {
        self.refused = Some(hook);
        self
    }

    /// Also accepts tokens of an external identity provider (RS256/ES256).
    pub fn with_external(mut self, idp: Arc<ExternalIdp>) -> Self {
        self.external = Some(idp);
        self
    }

    /// Verifies a bearer token: HS256 tokens are this server's own; RS256
    /// and ES256 tokens must come from the configured identity provider.
    /// Each verifier accepts only its own algorithms, so a token cannot be
    /// passed off as the other kind.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::Unauthenticated("bearer token is invalid".into()))?;
        match (&self.external, header.alg) {
            (_, jsonwebtoken::Algorithm::HS256) => self.tokens.verify(token),
            (Some(idp), alg) if ExternalIdp::accepts_algorithm(alg) => idp.verify(token),
            _ => Err(AuthError::Unauthenticated(
                "bearer token uses an unaccepted algorithm".into(),
            )),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service built by [`AuthLayer`].
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    layer: AuthLayer,
}

impl<S> std::fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AuthService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response<ResBody>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let path = req.uri().path();
        if self.layer.public_paths.iter().any(|p| p == path) {
            return Either::Left(self.inner.call(req));
        }
        if !req.headers().contains_key(header::AUTHORIZATION)
            && let Some(principal) = self
                .layer
                .fallback
                .as_ref()
                .and_then(|f| f(req.extensions()))
        {
            req.extensions_mut().insert(principal);
            return Either::Left(self.inner.call(req));
        }
        match bearer_principal(&self.layer, req.headers()) {
            Ok(principal) => {
                req.extensions_mut().insert(principal);
                Either::Left(self.inner.call(req))
            }
            Err(message) => {
                if let Some(hook) = &self.layer.refused {
                    hook(req.extensions(), req.uri().path(), &message);
                }
                Either::Right(ready(Ok(unauthenticated(&message))))
            }
        }
    }
}

/// Verifies the bearer token in `headers`.
fn bearer_principal(layer: &AuthLayer, headers: &http::HeaderMap) -> Result<Principal, String> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or("missing 'authorization: Bearer <token>' header; call Handshake first")?
        .to_str()
        .map_err(|_| "authorization header is not valid ASCII")?;
    let token = strip_scheme(value, "bearer")
        .ok_or("expected 'authorization: Bearer <token>'; call Handshake first")?;
    layer.verify(token.trim()).map_err(|e| e.to_string())
}

/// A gRPC trailers-only response with status UNAUTHENTICATED.
fn unauthenticated<B: Default>(message: &str) -> Response<B> {
    let mut response = Response::new(B::default());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(
        "grpc-status",
        HeaderValue::from_static(GRPC_UNAUTHENTICATED),
    );
    if let Ok(value) = HeaderValue::from_str(&percent_encode(message)) {
        headers.insert("grpc-message", value);
    }
    response
}

/// Percent-encodes a grpc-message value (everything outside printable ASCII, and '%').
fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for b in message.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::time::Duration;

    use futures::executor::block_on;
    use tower::ServiceExt;

    use super::*;

    fn svc() -> (
        Arc<TokenService>,
        impl Service<Request<()>, Response = Response<String>, Error = Infallible>,
    ) {
        let tokens = Arc::new(TokenService::new(&[9u8; 32], Duration::from_secs(60)));
        let inner = tower::service_fn(|req: Request<()>| async move {
            let who = req
                .extensions()
                .get::<Principal>()
                .map(|p| p.name.clone())
                .unwrap_or_else(|| "anonymous".into());
            Ok::<_, Infallible>(Response::new(who))
        });
        let layer = AuthLayer::new(Arc::clone(&tokens), &["/svc/Handshake"]);
        (tokens, layer.layer(inner))
    }

    #[test]
    fn public_path_passes() {
        let (_, s) = svc();
        let req = Request::builder().uri("/svc/Handshake").body(()).unwrap();
        let resp = block_on(s.oneshot(req)).unwrap();
        assert_eq!(resp.body(), "anonymous");
    }

    #[test]
    fn bearer_sets_principal() {
        let (tokens, s) = svc();
        let t = tokens.issue(&Principal::new("bob")).unwrap().token;
        let req = Request::builder()
            .uri("/svc/DoGet")
            .header("authorization", format!("Bearer {t}"))
            .body(())
            .unwrap();
        let resp = block_on(s.oneshot(req)).unwrap();
        assert_eq!(resp.body(), "bob");
        assert!(resp.headers().get("grpc-status").is_none());
    }

    #[test]
    fn missing_or_bad_token_is_unauthenticated() {
        for auth in [None, Some("Bearer nope"), Some("Basic ZGVtbzpkZW1v")] {
            let (_, s) = svc();
            let mut b = Request::builder().uri("/svc/DoGet");
            if let Some(a) = auth {
                b = b.header("authorization", a);
            }
            let resp = block_on(s.oneshot(b.body(()).unwrap())).unwrap();
            assert_eq!(resp.headers()["grpc-status"], "16", "{auth:?}");
            assert_eq!(resp.body(), "", "inner service not called");
            let msg = resp.headers()["grpc-message"].to_str().unwrap();
            assert!(msg.contains("oken") || msg.contains("Bearer"), "{msg}");
        }
    }

    /// Marks a request as coming from a verified client certificate.
    #[derive(Clone)]
    struct Cert(&'static str);

    #[test]
    fn fallback_authenticates_calls_without_a_bearer() {
        let tokens = Arc::new(TokenService::new(&[9u8; 32], Duration::from_secs(60)));
        let inner = tower::service_fn(|req: Request<()>| async move {
            let who = req.extensions().get::<Principal>().map(|p| p.name.clone());
            Ok::<_, Infallible>(Response::new(who.unwrap_or_default()))
        });
        let fallback: Fallback =
            Arc::new(|ext: &http::Extensions| ext.get::<Cert>().map(|c| Principal::new(c.0)));
        let layer = AuthLayer::new(tokens, &[]).with_fallback(fallback);
        let svc = layer.layer(inner);
        let mut req = Request::builder().uri("/svc/DoGet").body(()).unwrap();
        req.extensions_mut().insert(Cert("carol"));
        let resp = block_on(svc.clone().oneshot(req)).unwrap();
        assert_eq!(resp.body(), "carol");
        // Without the certificate the call is refused as before.
        let req = Request::builder().uri("/svc/DoGet").body(()).unwrap();
        let resp = block_on(svc.clone().oneshot(req)).unwrap();
        assert_eq!(resp.headers()["grpc-status"], "16");
        // A bearer header is always checked as a bearer, certificate or not.
        let mut req = Request::builder()
            .uri("/svc/DoGet")
            .header("authorization", "Bearer nope")
            .body(())
            .unwrap();
        req.extensions_mut().insert(Cert("carol"));
        let resp = block_on(svc.oneshot(req)).unwrap();
        assert_eq!(resp.headers()["grpc-status"], "16");
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(percent_encode("a b%ü"), "a b%25%C3%BC");
    }
}
