//! What every API handler shares: the server's state, how tokens are
//! verified, whether cookies are Secure, the Flight address; and JSON
//! bodies parsed with a message that names what they were for.

use std::sync::Arc;

use laker_auth::AuthLayer;
use serde::de::DeserializeOwned;

use super::problem::Problem;
use crate::audit::refusals::Refusals;
use crate::proxies::TrustedProxies;
use crate::state::AppState;

/// What API handlers share.
#[derive(Clone)]
pub struct Api {
    /// The server's state.
    pub state: Arc<AppState>,
    /// Verifies bearer tokens exactly as the Flight port does (this
    /// server's own and, if configured, the identity provider's).
    pub auth: AuthLayer,
    /// Cookies are marked `Secure` (the HTTP port serves TLS).
    pub secure: bool,
    /// The Flight address clients connect to (for the console's snippets).
    pub flight_url: String,
    /// Records calls refused before their work was audited.
    pub refusals: Arc<Refusals>,
    /// The proxies whose forwarding headers name the client.
    pub proxies: Arc<TrustedProxies>,
}

/// Parses a JSON request body, naming what it is for on failure.
pub fn json_body<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, Problem> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Problem::invalid(format!(
            "{what}: the body must be a JSON object"
        )));
    }
    serde_json::from_slice(body)
        .map_err(|e| Problem::invalid(format!("{what}: invalid JSON body: {e}")))
}
