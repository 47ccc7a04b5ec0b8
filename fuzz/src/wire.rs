//! Request encodings shared by the generator and the targets.

use arrow_flight::sql::{CommandStatementQuery, ProstMessageExt};
use prost::Message;

/// `text` as a Flight SQL statement command.
pub fn sql_command(text: &[u8]) -> Vec<u8> {
    CommandStatementQuery {
        query: String::from_utf8_lossy(text).into_owned(),
        transaction_id: None,
    }
    .as_any()
    .encode_to_vec()
}
