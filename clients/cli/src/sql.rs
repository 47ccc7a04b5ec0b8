//! `laker sql`: runs a query through Flight SQL and writes the result.

use std::path::Path;
use std::sync::Arc;

use arrow_flight::sql::client::FlightSqlServiceClient;
use futures::TryStreamExt;

use crate::error::{Failure, Result};
use crate::output::{Format, Writer};
use crate::session::Session;

/// Runs `query`; writes its rows in `format` to `output` (stdout when absent).
pub async fn sql(
    session: &Session,
    query: &str,
    format: Format,
    output: Option<&Path>,
) -> Result<u64> {
    let mut client = FlightSqlServiceClient::new(session.channel.clone());
    if let Some(token) = &session.token {
        client.set_token(token.clone());
    }
    let info = client.execute(query.to_string(), None).await?;
    let schema = Arc::new(info.clone().try_decode_schema()?);
    let mut writer = Writer::create(format, output, schema)?;
    let mut rows = 0;
    for endpoint in info.endpoint {
        let ticket = endpoint
            .ticket
            .ok_or_else(|| Failure::new("the server sent an endpoint without a ticket"))?;
        let mut stream = client.do_get(ticket).await?;
        while let Some(batch) = stream.try_next().await? {
            rows += batch.num_rows() as u64;
            writer.write(&batch)?;
        }
    }
    writer.finish()?;
    Ok(rows)
}
