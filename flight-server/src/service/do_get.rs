//! DoGet: verify the ticket, re-authorise, re-plan, stream one partition.
//! The download is audited when its stream ends (rows, bytes, outcome), or
//! at once when it is refused.

use std::sync::Arc;

use arrow_flight::Ticket;
use laker_auth::Principal;
use laker_auth::token::unix_now;
use tonic::Status;
use tracing::Span;

use crate::audit::AuditPermit;
use crate::error::{Error, Result};
use crate::service::audited::AuditedCall;
use crate::state::AppState;
use crate::stream::{FlightDataStream, flight_data_stream};
use crate::ticket::Ticket as Decoded;

/// Streams the rows a ticket stands for.
pub async fn do_get(
    state: &Arc<AppState>,
    principal: &Principal,
    ticket: Ticket,
    span: Span,
    call: AuditedCall,
    permit: Option<AuditPermit>,
) -> Result<FlightDataStream> {
    let decoded = match state
        .tickets
        .decode(&ticket.ticket, &principal.name, unix_now())
    {
        Ok(decoded) => decoded,
        Err(e) => return Err(refused(call, permit, e.into())),
    };
    let (spec, partition, expected) = match decoded {
        Decoded::Signed(c) => (c.spec, c.partition, Some((c.partitions, c.revision))),
        Decoded::Spec(spec) => (spec, None, None),
    };
    let mut detail = serde_json::to_value(&spec).unwrap_or_default();
    if let Some(p) = partition {
        detail["partition"] = p.into();
    }
    let call = call
        .with_dataset(spec.dataset.clone())
        .with_detail(&detail.to_string());
    // The ticket proves what was authorised then; grants are checked again now.
    let planned = async {
        let (dataset, plan, _) = state.plan_download(principal, &spec).await?;
        if let Some((partitions, revision)) = expected
            && (revision != dataset.revision || partitions as usize != plan.partitions())
        {
            return Err(Error::FailedPrecondition(format!(
                "dataset '{}' changed since the ticket was issued; call GetFlightInfo again",
                dataset.name
            )));
        }
        let batches = plan.execute(partition.map(|p| p as usize))?;
        Ok((batches, plan.schema()))
    }
    .await;
    match planned {
        Ok((batches, schema)) => Ok(flight_data_stream(
            batches,
            schema,
            &state.metrics,
            span,
            Some((call, permit)),
        )),
        Err(e) => Err(refused(call, permit, e)),
    }
}

/// Audits a download refused before it started; returns its error.
pub(crate) fn refused(call: AuditedCall, permit: Option<AuditPermit>, error: Error) -> Error {
    let status = Status::from(error);
    if let Some(permit) = permit {
        permit.send(call.finish::<()>(&Err(status.clone())));
    }
    Error::Status(status)
}
