//! Hand-made Arrow IPC messages for attacks: a batch as Flight data (schema
//! message, then the batch, compressed or not), and edits of what a
//! message claims.

use arrow::array::RecordBatch;
use arrow::ipc::writer::{DictionaryTracker, IpcDataGenerator, IpcWriteOptions};
use arrow::ipc::{CompressionType, root_as_message};
use arrow_flight::FlightData;

/// `batch` as Flight data: the schema message, then the batch, compressed
/// with `codec` if any.
pub fn flight_data(batch: &RecordBatch, codec: Option<CompressionType>) -> Vec<FlightData> {
    let options = IpcWriteOptions::default()
        .try_with_compression(codec)
        .expect("compression");
    let generator = IpcDataGenerator::default();
    let mut tracker = DictionaryTracker::new(false);
    let schema = generator.schema_to_bytes_with_dictionary_tracker(
        batch.schema_ref(),
        &mut tracker,
        &options,
    );
    let (_, encoded) = generator
        .encode(batch, &mut tracker, &options, &mut Default::default())
        .expect("encode");
    vec![
        FlightData::new().with_data_header(schema.ipc_message),
        FlightData::new()
            .with_data_header(encoded.ipc_message)
            .with_data_body(encoded.arrow_data),
    ]
}

/// `message` (a compressed record batch) with its first buffer's
/// uncompressed-length prefix set to `claim`.
pub fn claiming(mut message: FlightData, claim: i64) -> FlightData {
    let header = root_as_message(&message.data_header).expect("IPC header");
    let batch = header.header_as_record_batch().expect("record batch");
    let buffer = batch
        .buffers()
        .expect("buffers")
        .iter()
        .find(|b| b.length() >= 8)
        .expect("a compressed buffer");
    let mut body = message.data_body.to_vec();
    let at = buffer.offset() as usize;
    body[at..at + 8].copy_from_slice(&claim.to_le_bytes());
    message.data_body = body.into();
    message
}

/// `message` with its body cut to half.
pub fn truncated(mut message: FlightData) -> FlightData {
    let half = message.data_body.len() / 2;
    message.data_body = message.data_body.slice(..half);
    message
}
