//! Laker auth: credentials (argon2 hashes, API keys, directory binds over
//! LDAP), HS256 bearer tokens and their revocation, failed-login limits
//! (per process, or shared through the catalog), external identity
//! providers, principals, grants' checks, and the tower layer that
//! authenticates every call. It must not know datasets' data (Arrow,
//! DataFusion, the lake), queries or uploads.

pub mod apikey;
pub mod authenticate;
pub mod authorize;
pub mod discovery;
pub mod error;
pub mod external;
pub mod fetch;
pub mod layer;
pub mod ldap;
pub mod password;
pub mod principal;
pub mod ratelimit;
pub mod revoked;
pub mod secret;
pub mod shared_limits;
pub mod token;

pub use authenticate::{Authenticator, BasicCredentials};
pub use authorize::{Action, Authorizer};
pub use error::{AuthError, Result};
pub use layer::AuthLayer;
pub use principal::Principal;
pub use ratelimit::{LoginLimiter, LoginLimits};
pub use token::{IssuedToken, TokenService};
