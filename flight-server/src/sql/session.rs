//! The SQL session of a request's principal (see
//! [`laker_query::sql::session`]): the datasets it may read now, with the
//! audit flushed first when they include the `system` datasets, so their
//! readers see every record of calls made before theirs.

use datafusion::prelude::SessionContext;
use laker_auth::Principal;
use laker_query::sql::session;

use crate::error::Result;
use crate::state::AppState;

/// A session for `principal`'s SQL.
pub async fn principal_context(state: &AppState, principal: &Principal) -> Result<SessionContext> {
    let readable = session::readable(&state.catalog, &state.authorizer, principal).await?;
    if session::reads_system(&readable) {
        state.audit.flush().await;
    }
    Ok(session::principal_context(&state.engine, readable)?)
}
