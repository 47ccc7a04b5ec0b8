//! DoAction, audited as `DoAction:<type>`: Flight SQL actions (prepared
//! statements, cancelling) go to [`crate::sql`], every other action to the
//! catalog's [`actions`](super::actions).

use std::sync::Arc;

use arrow_flight::Action;
use tonic::Status;

use super::call::Call;
use crate::actions::{self, MAX_BODY_BYTES};
use crate::sql;
use crate::state::AppState;

/// Runs `action`; answers with its results.
pub(super) async fn do_action(
    state: &Arc<AppState>,
    call: Call,
    action: Action,
) -> Result<Vec<arrow_flight::Result>, Status> {
    let call = call.acting(&action.r#type);
    let size = action.body.len();
    if size > MAX_BODY_BYTES {
        // Refused before the body is even parsed for the audit.
        let refused = Status::invalid_argument(format!(
            "the action body is larger than {MAX_BODY_BYTES} bytes"
        ));
        return call
            .describe(|record| record.with_detail(&format!("<{size} bytes>")))
            .answer(Err(refused))
            .await;
    }
    if let Some(detail) = sql::describe_action(&action) {
        return call
            .describe(|record| record.with_detail(&detail))
            .run(|principal, _| async move { sql::do_action(state, &principal, &action).await })
            .await;
    }
    let json = call
        .describe(|record| {
            record
                .with_detail(&crate::audit::redact(&action.body))
                .with_dataset(actions::dataset_of(&action.body))
        })
        .run(|principal, _| async move { actions::do_action(state, &principal, action).await })
        .await?;
    Ok(vec![arrow_flight::Result {
        body: json.to_string().into_bytes().into(),
    }])
}
