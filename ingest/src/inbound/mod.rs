//! Decoding the Arrow data clients send (uploads, bound parameters) within
//! limits. Every message is checked ([`check`]) before arrow decodes it:
//! its header is bounded, every buffer lies in its body, every compressed
//! buffer's declared size is within the limits (and an LZ4 frame decodes
//! to exactly that), every node and count is consistent with the schema.
//! Arrow's decoding then runs behind `catch_unwind` as a backstop (a panic
//! caught there is counted: [`caught_panics`]), so no input ends the
//! process, and what one message decodes to is bounded by the limits.

pub mod check;
pub mod limits;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{ArrayRef, RecordBatch};
use arrow::buffer::Buffer;
use arrow::datatypes::{DataType, Field, FieldRef, SchemaRef};
use arrow::error::ArrowError;
use arrow::ipc::convert::fb_to_schema;
use arrow::ipc::reader::{RecordBatchDecoder, read_dictionary};
use arrow::ipc::{MessageHeader, MetadataVersion, root_as_message};
use arrow_flight::FlightData;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation};

pub use check::{Invalid, Refused, TooLarge};
pub use limits::Limits;

/// Decodes one stream of Flight data messages: a schema, then dictionary
/// and record batches.
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    schema: Option<SchemaRef>,
    dictionaries: HashMap<i64, ArrayRef>,
    /// The decoded size of each id's current dictionary (a new one
    /// replaces the old).
    dictionary_bytes: HashMap<i64, usize>,
    /// Charged with the dictionaries and the last decoded batch, if set.
    charge: Option<MemoryReservation>,
    /// The last decoded batch's size.
    batch_bytes: usize,
}

impl Decoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            schema: None,
            dictionaries: HashMap::new(),
            dictionary_bytes: HashMap::new(),
            charge: None,
            batch_bytes: 0,
        }
    }

    /// This decoder, charging what it holds (the stream's dictionaries and
    /// the batch it last decoded) to `pool`, as `what` (e.g. "an upload"):
    /// a message whose decoded size does not fit is refused before arrow
    /// decodes it.
    pub fn charged_to(mut self, pool: &Arc<dyn MemoryPool>, what: &str) -> Self {
        self.charge = Some(MemoryConsumer::new(format!("{what}: decoded data")).register(pool));
        self
    }

    /// Charges `dictionaries + batch` bytes (when charging).
    fn hold(&mut self, dictionaries: usize, batch: usize) -> Result<(), Refused> {
        if let Some(charge) = &self.charge {
            charge
                .try_resize(dictionaries.saturating_add(batch))
                .map_err(|e| Refused::TooLarge(TooLarge(e.strip_backtrace())))?;
        }
        Ok(())
    }

    /// The stream's schema, once its schema message has arrived.
    pub fn schema(&self) -> Option<&SchemaRef> {
        self.schema.as_ref()
    }

    /// Takes the next message; returns the record batch it carried, if any.
    pub fn push(&mut self, data: &FlightData) -> Result<Option<RecordBatch>, Refused> {
        if data.data_header.is_empty() {
            // An app_metadata-only message carries no Arrow data.
            return Ok(None);
        }
        if data.data_header.len() > self.limits.max_header_bytes {
            return check::bad(format!(
                "an IPC message header is larger than {} bytes",
                self.limits.max_header_bytes
            ));
        }
        let message = root_as_message(&data.data_header).map_err(|e| {
            Refused::Invalid(Invalid(format!("an IPC message header is invalid: {e}")))
        })?;
        let version = message.version();
        if version != MetadataVersion::V4 && version != MetadataVersion::V5 {
            return check::bad("unsupported Arrow IPC metadata version (V4 or V5)");
        }
        let declared = message.bodyLength();
        if declared < 0 || declared as u64 > data.data_body.len() as u64 {
            return check::bad("a message body is shorter than its header declares (truncated?)");
        }
        let body: &[u8] = &data.data_body;
        match message.header_type() {
            MessageHeader::NONE => Ok(None),
            MessageHeader::Schema => {
                if self.schema.is_some() {
                    return check::bad("the stream sends a second schema");
                }
                let Some(schema) = message.header_as_schema() else {
                    return check::bad("a schema message has no schema");
                };
                check::schema(schema, &self.limits)?;
                let schema = guarded(|| Ok(fb_to_schema(schema)))?;
                self.schema = Some(Arc::new(schema));
                Ok(None)
            }
            MessageHeader::DictionaryBatch => {
                let schema = self.expect_schema()?;
                let Some(batch) = message.header_as_dictionary_batch() else {
                    return check::bad("a dictionary message has no dictionary");
                };
                let Some(data_batch) = batch.data() else {
                    return check::bad("a dictionary batch has no data");
                };
                if batch.isDelta() {
                    return check::bad("delta dictionaries are not accepted");
                }
                let value_type = dictionary_values(&schema, batch.id())?;
                let field: FieldRef = Arc::new(Field::new("", value_type, true));
                let bytes = check::record_batch(
                    data_batch,
                    body,
                    std::slice::from_ref(&field),
                    &self.limits,
                )?;
                let others: usize = self
                    .dictionary_bytes
                    .iter()
                    .filter(|(id, _)| **id != batch.id())
                    .map(|(_, n)| *n)
                    .fold(0, usize::saturating_add);
                if others.saturating_add(bytes) > self.limits.max_dictionary_bytes {
                    return Err(Refused::TooLarge(TooLarge(format!(
                        "the stream's dictionaries decode to more than {} bytes",
                        self.limits.max_dictionary_bytes
                    ))));
                }
                self.hold(others.saturating_add(bytes), self.batch_bytes)?;
                let buffer = aligned(&data.data_body);
                let dictionaries = &mut self.dictionaries;
                guarded(|| read_dictionary(&buffer, batch, &schema, dictionaries, &version))?;
                self.dictionary_bytes.insert(batch.id(), bytes);
                Ok(None)
            }
            MessageHeader::RecordBatch => {
                let schema = self.expect_schema()?;
                let Some(batch) = message.header_as_record_batch() else {
                    return check::bad("a record batch message has no batch");
                };
                let bytes = check::record_batch(batch, body, schema.fields(), &self.limits)?;
                let dictionaries = self
                    .dictionary_bytes
                    .values()
                    .fold(0usize, |a, b| a.saturating_add(*b));
                self.hold(dictionaries, bytes)?;
                self.batch_bytes = bytes;
                let buffer = aligned(&data.data_body);
                let dictionaries = &self.dictionaries;
                let decoded = guarded(|| {
                    RecordBatchDecoder::try_new(
                        &buffer,
                        batch,
                        Arc::clone(&schema),
                        dictionaries,
                        &version,
                    )?
                    .read_record_batch()
                })?;
                Ok(Some(decoded))
            }
            _ => check::bad("unexpected IPC message type (schema, dictionary or record batch)"),
        }
    }

    fn expect_schema(&self) -> Result<SchemaRef, Refused> {
        match &self.schema {
            Some(schema) => Ok(Arc::clone(schema)),
            None => check::bad("the stream sends data before its schema"),
        }
    }
}

/// The value type of the dictionary field with id `id`.
fn dictionary_values(schema: &SchemaRef, id: i64) -> Result<DataType, Refused> {
    #[allow(deprecated)]
    let fields = schema.fields_with_dict_id(id);
    match fields.first().map(|f| f.data_type()) {
        Some(DataType::Dictionary(_, values)) => Ok(values.as_ref().clone()),
        _ => check::bad(format!("a dictionary batch has an unknown id {id}")),
    }
}

/// The body as an arrow buffer: shared when suitably aligned, else copied
/// (the copy is bounded by the message size).
fn aligned(body: &bytes::Bytes) -> Buffer {
    if (body.as_ptr() as usize).is_multiple_of(64) {
        Buffer::from(body.clone())
    } else {
        Buffer::from(body.as_ref())
    }
}

/// Panics of arrow caught decoding checked data (see [`caught_panics`]).
static CAUGHT_PANICS: AtomicU64 = AtomicU64::new(0);

/// How many times arrow panicked on data the checks let through: each is a
/// gap in the checks (the fuzzer fails on any).
pub fn caught_panics() -> u64 {
    CAUGHT_PANICS.load(Ordering::Relaxed)
}

/// Runs arrow's decoding; an error or a panic (never expected after the
/// checks) is refused as invalid data, without the panic's text.
fn guarded<T>(decode: impl FnOnce() -> Result<T, ArrowError>) -> Result<T, Refused> {
    match catch_unwind(AssertUnwindSafe(decode)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => check::bad(format!("invalid Arrow data: {e}")),
        Err(_) => {
            CAUGHT_PANICS.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("arrow panicked decoding checked client data");
            check::bad("invalid Arrow data")
        }
    }
}
