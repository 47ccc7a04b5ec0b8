//! DoGet: verify the ticket, re-authorise, re-plan, stream one partition.

use std::sync::Arc;

use arrow_flight::Ticket;
use laker_auth::Principal;
use laker_auth::token::unix_now;
use tracing::Span;

use crate::error::{Error, Result};
use crate::state::AppState;
use crate::stream::{FlightDataStream, flight_data_stream};
use crate::ticket::Ticket as Decoded;

/// Streams the rows a ticket stands for.
pub async fn do_get(
    state: &Arc<AppState>,
    principal: &Principal,
    ticket: Ticket,
    span: Span,
) -> Result<FlightDataStream> {
    let decoded = state
        .tickets
        .decode(&ticket.ticket, &principal.name, unix_now())?;
    let (spec, partition, expected) = match decoded {
        Decoded::Signed(c) => (c.spec, c.partition, Some((c.partitions, c.revision))),
        Decoded::Spec(spec) => (spec, None, None),
    };
    // The ticket proves what was authorised then; grants are checked again now.
    let (dataset, plan) = state.plan_download(principal, &spec).await?;
    if let Some((partitions, revision)) = expected
        && (revision != dataset.revision || partitions as usize != plan.partitions())
    {
        return Err(Error::FailedPrecondition(format!(
            "dataset '{}' changed since the ticket was issued; call GetFlightInfo again",
            dataset.name
        )));
    }
    let batches = plan.execute(partition.map(|p| p as usize))?;
    Ok(flight_data_stream(
        batches,
        plan.schema(),
        &state.metrics,
        span,
    ))
}
