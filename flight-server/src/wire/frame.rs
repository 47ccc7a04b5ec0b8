//! Record batches → IPC messages whose bodies share the batches' buffers.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::buffer::Buffer;
use arrow::compute::{can_cast_types, cast};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::ipc::writer::{DictionaryTracker, IpcDataGenerator, IpcWriteOptions, StreamEncoder};
use arrow::ipc::{CompressionType, MessageHeader, root_as_message};
use arrow_flight::FlightData;
use bytes::{Bytes, BytesMut};

/// One Flight data message: the IPC header (flatbuffer `Message`) and the
/// body as the ordered pieces it is made of (column buffers and padding).
#[derive(Debug, Clone, Default)]
pub(crate) struct Frame {
    pub header: Bytes,
    pub body: Vec<Bytes>,
}

impl Frame {
    /// Body length in bytes.
    pub fn body_len(&self) -> usize {
        self.body.iter().map(Bytes::len).sum()
    }

    /// The message as one [`FlightData`] (copies the body into one buffer).
    pub fn into_flight_data(self) -> FlightData {
        let body = match self.body.len() {
            0 => Bytes::new(),
            1 => self.body.into_iter().next().unwrap_or_default(),
            _ => {
                let mut joined = BytesMut::with_capacity(self.body_len());
                for piece in &self.body {
                    joined.extend_from_slice(piece);
                }
                joined.freeze()
            }
        };
        FlightData::new()
            .with_data_header(self.header)
            .with_data_body(body)
    }
}

/// Encodes a stream of record batches of one schema as [`Frame`]s.
///
/// Columns go out as [`wire_type`]s: dictionaries as their values (as
/// arrow-flight's encoder does by default), so every client reads them
/// without dictionary state, and string/binary views as plain strings and
/// binaries, so a batch carries its own values rather than every shared
/// data buffer its views point into (a Parquet page's worth, per batch).
/// Batches larger than `max_bytes` are then split by rows.
pub(crate) struct FrameEncoder {
    schema: SchemaRef,
    converts: bool,
    encoder: StreamEncoder,
    max_bytes: usize,
}

impl std::fmt::Debug for FrameEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameEncoder")
            .field("schema", &self.schema)
            .finish()
    }
}

impl FrameEncoder {
    /// An encoder for batches of `schema`, compressing bodies if asked.
    pub fn try_new(
        schema: &Schema,
        compression: Option<CompressionType>,
        max_bytes: usize,
    ) -> Result<Self, ArrowError> {
        let wire = wire_schema(schema);
        let converts = wire.fields() != schema.fields();
        let schema = Arc::new(wire);
        let options = IpcWriteOptions::default().try_with_compression(compression)?;
        Ok(Self {
            encoder: StreamEncoder::try_new_with_options(&schema, options)?,
            schema,
            converts,
            max_bytes: max_bytes.max(1),
        })
    }

    /// The schema message, sent before any batch.
    pub fn schema_frame(&self) -> Frame {
        let options = IpcWriteOptions::default();
        let encoded = IpcDataGenerator::default().schema_to_bytes_with_dictionary_tracker(
            &self.schema,
            &mut DictionaryTracker::new(false),
            &options,
        );
        Frame {
            header: encoded.ipc_message.into(),
            body: Vec::new(),
        }
    }

    /// The messages of one batch (more than one if it was split).
    pub fn encode(&mut self, batch: &RecordBatch) -> Result<Vec<Frame>, ArrowError> {
        let batch = self.hydrate(batch)?;
        let mut frames = Vec::new();
        for part in split(&batch, self.max_bytes) {
            frames.extend(messages(self.encoder.encode(&part)?)?);
        }
        Ok(frames)
    }

    fn hydrate(&self, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
        if !self.converts {
            return Ok(batch.clone());
        }
        to_wire(batch, &self.schema)
    }
}

/// `batch` converted to `wire` (its [`wire_schema`]).
pub(crate) fn to_wire(batch: &RecordBatch, wire: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let columns = batch
        .columns()
        .iter()
        .zip(wire.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(Arc::clone(column))
            } else {
                cast(column, field.data_type())
            }
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    RecordBatch::try_new(Arc::clone(wire), columns)
}

/// The schema a stream of `schema` is sent with: each field as its
/// [`wire_type`]. FlightInfo answers announce this schema too.
pub(crate) fn wire_schema(schema: &Schema) -> Schema {
    let fields: Vec<Field> = schema.fields().iter().map(|f| wire_field(f)).collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

/// `field` as sent (as it is if its values could not be converted).
fn wire_field(field: &Field) -> Field {
    let wire = wire_type(field.data_type());
    if can_cast_types(field.data_type(), &wire) {
        field.clone().with_data_type(wire)
    } else {
        field.clone()
    }
}

/// `data_type` as sent: dictionaries as their values, string and binary
/// views as plain strings and binaries, at any depth.
pub(crate) fn wire_type(data_type: &DataType) -> DataType {
    let item = |f: &Arc<Field>| Arc::new(wire_field(f));
    match data_type {
        DataType::Dictionary(_, value) => wire_type(value),
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::List(f) => DataType::List(item(f)),
        DataType::LargeList(f) => DataType::LargeList(item(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(item(f), *n),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(item).collect()),
        DataType::Map(f, sorted) => DataType::Map(item(f), *sorted),
        other => other.clone(),
    }
}

/// `batch` cut by rows into pieces of about `max_bytes` each.
fn split(batch: &RecordBatch, max_bytes: usize) -> Vec<RecordBatch> {
    let size = batch.get_array_memory_size();
    let rows = batch.num_rows();
    if size <= max_bytes || rows <= 1 {
        return vec![batch.clone()];
    }
    let pieces = size.div_ceil(max_bytes).min(rows);
    let per_piece = rows.div_ceil(pieces);
    (0..rows)
        .step_by(per_piece)
        .map(|start| batch.slice(start, per_piece.min(rows - start)))
        .collect()
}

/// Shares an Arrow buffer as [`Bytes`] without copying.
struct Shared(Buffer);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// Cuts the IPC stream pieces [`StreamEncoder`] produced into messages:
/// each is a continuation marker with the metadata length, the metadata
/// (with padding), then pieces adding up to the body length the metadata
/// declares. Schema messages and the end-of-stream marker are dropped.
fn messages(pieces: Vec<Buffer>) -> Result<Vec<Frame>, ArrowError> {
    let broken = |what: &str| ArrowError::IpcError(format!("unexpected IPC stream layout: {what}"));
    let mut frames = Vec::new();
    // Empty buffers (of empty columns) carry nothing and belong nowhere.
    let mut pieces = pieces.into_iter().filter(|piece| !piece.is_empty());
    while let Some(prefix) = pieces.next() {
        let prefix = prefix.as_slice();
        if prefix.len() != 8 || prefix[..4] != [0xff; 4] {
            return Err(broken("no continuation marker"));
        }
        let mut len = [0u8; 4];
        len.copy_from_slice(&prefix[4..]);
        let metadata_len = usize::try_from(i32::from_le_bytes(len))
            .map_err(|_| broken("negative metadata length"))?;
        if metadata_len == 0 {
            continue;
        }
        let mut header = Vec::with_capacity(metadata_len);
        while header.len() < metadata_len {
            let piece = pieces.next().ok_or_else(|| broken("metadata cut short"))?;
            header.extend_from_slice(piece.as_slice());
        }
        if header.len() != metadata_len {
            return Err(broken("metadata and body share a piece"));
        }
        let message = root_as_message(&header)
            .map_err(|e| ArrowError::IpcError(format!("invalid IPC message: {e}")))?;
        let body_len =
            usize::try_from(message.bodyLength()).map_err(|_| broken("negative body length"))?;
        let is_schema = message.header_type() == MessageHeader::Schema;
        let mut body = Vec::new();
        let mut got = 0;
        while got < body_len {
            let piece = pieces.next().ok_or_else(|| broken("body cut short"))?;
            got += piece.len();
            body.push(Bytes::from_owner(Shared(piece)));
        }
        if got != body_len {
            return Err(broken("body and the next message share a piece"));
        }
        if !is_schema {
            frames.push(Frame {
                header: header.into(),
                body,
            });
        }
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        Array, DictionaryArray, Float64Array, Int64Array, StringArray, types::Int16Type,
    };
    use arrow_flight::decode::FlightRecordBatchStream;
    use futures::{StreamExt, TryStreamExt};

    fn batch() -> RecordBatch {
        let ids = Int64Array::from_iter((0..10_000).map(|i| (i % 7 != 0).then_some(i)));
        let names = StringArray::from_iter((0..10_000).map(|i| Some(format!("name-{i}"))));
        let prices = Float64Array::from_iter_values((0..10_000).map(|i| i as f64 / 4.0));
        let zones: DictionaryArray<Int16Type> =
            (0..10_000).map(|i| ["north", "south"][i % 2]).collect();
        RecordBatch::try_from_iter([
            ("id", Arc::new(ids) as ArrayRef),
            ("name", Arc::new(names) as ArrayRef),
            ("price", Arc::new(prices) as ArrayRef),
            ("zone", Arc::new(zones) as ArrayRef),
        ])
        .expect("valid batch")
    }

    async fn round_trip(
        inputs: &[RecordBatch],
        compression: Option<CompressionType>,
        max_bytes: usize,
    ) -> (usize, Vec<RecordBatch>) {
        let mut encoder =
            FrameEncoder::try_new(&inputs[0].schema(), compression, max_bytes).expect("encoder");
        let mut frames = vec![encoder.schema_frame()];
        for batch in inputs {
            frames.extend(encoder.encode(batch).expect("encodes"));
        }
        let messages = frames.len();
        let data = futures::stream::iter(frames.into_iter().map(|f| Ok(f.into_flight_data())));
        let decoded = FlightRecordBatchStream::new_from_flight_data(data)
            .try_collect::<Vec<_>>()
            .await
            .expect("decodes");
        (messages, decoded)
    }

    /// The input with dictionary columns as their values.
    fn hydrated(batch: &RecordBatch) -> RecordBatch {
        let schema = Arc::new(wire_schema(&batch.schema()));
        let columns = batch
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(c, f)| cast(c, f.data_type()).expect("casts"))
            .collect();
        RecordBatch::try_new(schema, columns).expect("valid batch")
    }

    #[tokio::test]
    async fn batches_and_slices_round_trip_with_and_without_compression() {
        let whole = batch();
        let inputs = [
            whole.slice(0, 3_333),
            whole.slice(3_333, 5_001),
            whole.slice(8_334, 1_666),
        ];
        for compression in [
            None,
            Some(CompressionType::LZ4_FRAME),
            Some(CompressionType::ZSTD),
        ] {
            let (_, decoded) = round_trip(&inputs, compression, MAX).await;
            assert_eq!(decoded.len(), 3, "{compression:?}");
            for (got, sent) in decoded.iter().zip(&inputs) {
                assert_eq!(got, &hydrated(sent), "{compression:?}");
            }
            assert_eq!(decoded[0].schema().field(3).data_type(), &DataType::Utf8);
            assert_eq!(decoded[0].column(0).null_count(), 477);
        }
    }

    const MAX: usize = 2 << 20;

    #[tokio::test]
    async fn large_batches_are_split_and_empty_streams_carry_the_schema() {
        let whole = batch();
        let (messages, decoded) = round_trip(std::slice::from_ref(&whole), None, 64 << 10).await;
        assert!(messages > 3, "{messages} messages");
        let rows: usize = decoded.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, 10_000);
        let joined =
            arrow::compute::concat_batches(&decoded[0].schema(), &decoded).expect("concat");
        assert_eq!(joined, hydrated(&whole));

        let encoder = FrameEncoder::try_new(&whole.schema(), None, MAX).expect("encoder");
        let data = futures::stream::iter([Ok(encoder.schema_frame().into_flight_data())]);
        let mut stream = FlightRecordBatchStream::new_from_flight_data(data);
        assert!(stream.next().await.is_none());
        let schema = stream.schema().expect("schema arrived");
        assert_eq!(schema.fields().len(), 4);
        assert_eq!(schema.field(3).data_type(), &DataType::Utf8);
    }

    #[tokio::test]
    async fn empty_values_and_empty_batches_round_trip() {
        let empty_strings = RecordBatch::try_from_iter([
            ("s", Arc::new(StringArray::from(vec![""; 5])) as ArrayRef),
            (
                "n",
                Arc::new(Int64Array::from(vec![None::<i64>; 5])) as ArrayRef,
            ),
        ])
        .expect("valid batch");
        let inputs = [
            empty_strings.slice(0, 0),
            empty_strings.clone(),
            empty_strings.slice(2, 0),
        ];
        let (messages, decoded) = round_trip(&inputs, None, MAX).await;
        assert_eq!(messages, 4);
        assert_eq!(decoded.len(), 3);
        assert_eq!(decoded[1], empty_strings);
        assert_eq!(decoded[0].num_rows() + decoded[2].num_rows(), 0);
    }

    #[test]
    fn body_pieces_share_the_column_buffers() {
        let whole = batch();
        let mut encoder = FrameEncoder::try_new(&whole.schema(), None, MAX).expect("encoder");
        let frames = encoder.encode(&whole).expect("encodes");
        assert_eq!(frames.len(), 1);
        let prices = whole.column(2).to_data().buffers()[0].as_ptr();
        assert!(
            frames[0].body.iter().any(|piece| piece.as_ptr() == prices),
            "the price values are sent from the batch's own buffer"
        );
    }
}
