//! Checks of client-sent Arrow IPC messages, run before arrow decodes
//! them: arrow trusts lengths, offsets, counts and enum values in the
//! header, and panics or allocates whatever they claim when they lie (a
//! truncated body, a compressed buffer claiming a terabyte, a negative
//! variadic count). Each check here turns one of those into an error.

use arrow::datatypes::{DataType, Field, FieldRef};
use arrow::ipc::{self, BodyCompressionMethod, CompressionType, Endianness};

use super::limits::Limits;

/// Why a message was refused (the text names the problem).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// Which limit a message exceeded (the text names it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TooLarge(pub String);

/// A refusal: malformed data, or data over a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The message is not valid Arrow IPC.
    Invalid(Invalid),
    /// The message is valid but larger than a limit allows.
    TooLarge(TooLarge),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(e) => e.fmt(f),
            Self::TooLarge(e) => e.fmt(f),
        }
    }
}

impl From<Invalid> for Refused {
    fn from(e: Invalid) -> Self {
        Self::Invalid(e)
    }
}

impl From<TooLarge> for Refused {
    fn from(e: TooLarge) -> Self {
        Self::TooLarge(e)
    }
}

pub(crate) fn bad<T>(message: impl Into<String>) -> Result<T, Refused> {
    Err(Refused::Invalid(Invalid(message.into())))
}

fn too_large<T>(message: impl Into<String>) -> Result<T, Refused> {
    Err(Refused::TooLarge(TooLarge(message.into())))
}

/// Refuses a time unit (an enum value of the schema) above `max`; `what`
/// names the field's type, e.g. "a Duration".
fn known_unit(unit: i16, max: i16, what: &str) -> Result<(), Refused> {
    if (0..=max).contains(&unit) {
        Ok(())
    } else {
        bad(format!("{what} field has an unknown unit"))
    }
}

/// Deepest nesting of types in an uploaded schema.
const MAX_TYPE_DEPTH: usize = 32;

/// Checks a schema message before `fb_to_schema` (which panics on bad input).
pub fn schema(s: ipc::Schema<'_>, limits: &Limits) -> Result<(), Refused> {
    if s.endianness() != Endianness::Little {
        return bad("big-endian Arrow data is not supported");
    }
    let Some(fields) = s.fields() else {
        return bad("the schema message has no fields");
    };
    if fields.len() > limits.max_columns {
        return too_large(format!(
            "the schema has {} columns; the limit is {}",
            fields.len(),
            limits.max_columns
        ));
    }
    for field in fields {
        self::field(field, 0, limits)?;
    }
    Ok(())
}

fn field(f: ipc::Field<'_>, depth: usize, limits: &Limits) -> Result<(), Refused> {
    use ipc::Type as T;
    if depth > MAX_TYPE_DEPTH {
        return bad(format!(
            "the schema nests types more than {MAX_TYPE_DEPTH} levels deep"
        ));
    }
    if let Some(d) = f.dictionary() {
        let Some(index) = d.indexType() else {
            return bad("a dictionary field has no index type");
        };
        if !matches!(index.bitWidth(), 8 | 16 | 32 | 64) {
            return bad("a dictionary index is not 8, 16, 32 or 64 bits wide");
        }
    }
    let children = f.children().map(|c| c.len());
    let needs = |n: usize, what: &str| {
        if children == Some(n) {
            Ok(())
        } else {
            bad(format!("a {what} field must have {n} child field(s)"))
        }
    };
    let missing =
        |what: &str| Refused::Invalid(Invalid(format!("a {what} field has no type details")));
    match f.type_type() {
        T::Null
        | T::Bool
        | T::Binary
        | T::LargeBinary
        | T::Utf8
        | T::LargeUtf8
        | T::BinaryView
        | T::Utf8View
        | T::Struct_ => {}
        T::Int => {
            let t = f.type_as_int().ok_or_else(|| missing("Int"))?;
            if !matches!(t.bitWidth(), 8 | 16 | 32 | 64) {
                return bad("an Int field is not 8, 16, 32 or 64 bits wide");
            }
        }
        T::FloatingPoint => {
            let t = f
                .type_as_floating_point()
                .ok_or_else(|| missing("FloatingPoint"))?;
            if !matches!(
                t.precision(),
                ipc::Precision::HALF | ipc::Precision::SINGLE | ipc::Precision::DOUBLE
            ) {
                return bad("a FloatingPoint field has an unknown precision");
            }
        }
        T::Date => {
            let t = f.type_as_date().ok_or_else(|| missing("Date"))?;
            if !matches!(t.unit(), ipc::DateUnit::DAY | ipc::DateUnit::MILLISECOND) {
                return bad("a Date field has an unknown unit");
            }
        }
        T::Time => {
            use ipc::TimeUnit as U;
            let t = f.type_as_time().ok_or_else(|| missing("Time"))?;
            if !matches!(
                (t.bitWidth(), t.unit()),
                (32, U::SECOND) | (32, U::MILLISECOND) | (64, U::MICROSECOND) | (64, U::NANOSECOND)
            ) {
                return bad("a Time field has an unknown unit or width");
            }
        }
        T::Timestamp => {
            let unit = f
                .type_as_timestamp()
                .ok_or_else(|| missing("Timestamp"))?
                .unit();
            known_unit(unit.0, 3, "a Timestamp")?;
        }
        T::Duration => {
            let unit = f
                .type_as_duration()
                .ok_or_else(|| missing("Duration"))?
                .unit();
            known_unit(unit.0, 3, "a Duration")?;
        }
        T::Interval => {
            let unit = f
                .type_as_interval()
                .ok_or_else(|| missing("Interval"))?
                .unit();
            known_unit(unit.0, 2, "an Interval")?;
        }
        T::FixedSizeBinary => {
            let width = f
                .type_as_fixed_size_binary()
                .ok_or_else(|| missing("FixedSizeBinary"))?
                .byteWidth();
            if width < 0 || width > limits.max_fixed_size {
                return bad(format!(
                    "a FixedSizeBinary width must be 0 to {}",
                    limits.max_fixed_size
                ));
            }
        }
        T::Decimal => {
            let d = f.type_as_decimal().ok_or_else(|| missing("Decimal"))?;
            let max_precision = match d.bitWidth() {
                32 => 9,
                64 => 18,
                128 => 38,
                256 => 76,
                _ => return bad("a Decimal field is not 32, 64, 128 or 256 bits wide"),
            };
            // Negative scales (multiples of powers of ten) down to Arrow's
            // i8 range; arrow-ipc panics on what does not fit.
            if d.precision() < 1
                || d.precision() > max_precision
                || d.scale() > d.precision()
                || d.scale() < i32::from(i8::MIN)
            {
                return bad("a Decimal field has an invalid precision or scale");
            }
        }
        T::List => needs(1, "List")?,
        T::LargeList => needs(1, "LargeList")?,
        T::Map => needs(1, "Map")?,
        T::FixedSizeList => {
            needs(1, "FixedSizeList")?;
            let size = f
                .type_as_fixed_size_list()
                .ok_or_else(|| missing("FixedSizeList"))?
                .listSize();
            if size < 0 || size > limits.max_fixed_size {
                return bad(format!(
                    "a FixedSizeList size must be 0 to {}",
                    limits.max_fixed_size
                ));
            }
        }
        T::Union | T::RunEndEncoded | T::ListView | T::LargeListView => {
            return bad(
                "union, run-end encoded and list-view columns are not accepted; \
                 send plain arrays",
            );
        }
        _ => return bad("a field has an unknown or missing type"),
    }
    if let Some(children) = f.children() {
        for child in children {
            field(child, depth + 1, limits)?;
        }
    }
    Ok(())
}

/// Checks a record batch (or a dictionary batch's data, with `fields` the
/// one dictionary value field) against its `body` and the schema's
/// `fields`; returns the bytes its buffers decode to.
pub fn record_batch(
    rb: ipc::RecordBatch<'_>,
    body: &[u8],
    fields: &[FieldRef],
    limits: &Limits,
) -> Result<usize, Refused> {
    let rows = rb.length();
    if rows < 0 {
        return bad("a batch has a negative length");
    }
    if rows as u64 > limits.max_rows as u64 {
        return too_large(format!(
            "a batch of {rows} rows; the limit is {} rows per batch (send smaller batches)",
            limits.max_rows
        ));
    }
    let (Some(nodes), Some(buffers)) = (rb.nodes(), rb.buffers()) else {
        return bad("a batch has no field nodes or buffers");
    };
    let codec = match rb.compression() {
        None => None,
        Some(c) => {
            if c.method() != BodyCompressionMethod::BUFFER {
                return bad("unknown body compression method");
            }
            match c.codec() {
                CompressionType::LZ4_FRAME | CompressionType::ZSTD => Some(c.codec()),
                _ => return bad("unknown compression codec (lz4_frame or zstd)"),
            }
        }
    };
    let mut sizes = Vec::with_capacity(buffers.len());
    let mut total = 0usize;
    for b in buffers.iter() {
        // A compressed buffer is checked against what is left, before its
        // frame is decoded.
        let room = limits.max_message_bytes.saturating_sub(total);
        let size = buffer_size(b.offset(), b.length(), body, codec, room, limits)?;
        total = total.saturating_add(size);
        if total > limits.max_message_bytes {
            return too_large(format!(
                "a batch decodes to more than {} bytes (limit --upload-max-batch-mb; send smaller batches)",
                limits.max_message_bytes
            ));
        }
        sizes.push(size);
    }
    let variadic: Vec<i64> = rb
        .variadicBufferCounts()
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let mut walk = Walker {
        nodes: nodes.iter(),
        sizes: &sizes,
        next_buffer: 0,
        variadic: &variadic,
        next_variadic: 0,
        values: 0,
        limits,
    };
    for f in fields {
        if walk.field(f)? != rows as usize {
            return bad("a column's length differs from its batch's");
        }
    }
    if walk.nodes.next().is_some() || walk.next_buffer != sizes.len() {
        return bad("a batch has more field nodes or buffers than its schema");
    }
    if walk.next_variadic != variadic.len() {
        return bad("a batch has more variadic buffer counts than view columns");
    }
    Ok(total)
}

/// The decoded size of one buffer, after checking it lies in the body and,
/// when compressed, that its declared size is within the limits.
fn buffer_size(
    offset: i64,
    length: i64,
    body: &[u8],
    codec: Option<CompressionType>,
    room: usize,
    limits: &Limits,
) -> Result<usize, Refused> {
    let (Ok(offset), Ok(length)) = (usize::try_from(offset), usize::try_from(length)) else {
        return bad("a buffer has a negative offset or length");
    };
    let Some(end) = offset.checked_add(length).filter(|end| *end <= body.len()) else {
        return bad("a buffer lies outside the message body (is the body truncated?)");
    };
    if offset % 8 != 0 {
        return bad("a buffer is not 8-byte aligned in the body");
    }
    let Some(codec) = codec else {
        return Ok(length);
    };
    let raw = &body[offset..end];
    if raw.is_empty() {
        return Ok(0);
    }
    let Some((prefix, data)) = raw.split_first_chunk::<8>() else {
        return bad("a compressed buffer is shorter than its length prefix");
    };
    match i64::from_le_bytes(*prefix) {
        -1 => Ok(data.len()),
        0 => Ok(0),
        n if n < 0 => bad("a compressed buffer declares a negative length"),
        n => {
            let declared = usize::try_from(n).unwrap_or(usize::MAX);
            if declared > room {
                return too_large(format!(
                    "a compressed buffer declares {declared} bytes; a batch may decode to at most {} \
                     (limit --upload-max-batch-mb)",
                    limits.max_message_bytes
                ));
            }
            if codec == CompressionType::LZ4_FRAME {
                lz4_exact(data, declared)?;
            }
            Ok(declared)
        }
    }
}

/// Checks an LZ4 frame decodes to exactly `expected` bytes, reading it in
/// small pieces (arrow's own decoder grows its output without bound).
fn lz4_exact(compressed: &[u8], expected: usize) -> Result<(), Refused> {
    use std::io::Read;
    let mut decoder = lz4_flex::frame::FrameDecoder::new(compressed);
    let mut scratch = vec![0u8; 64 << 10];
    let mut total = 0usize;
    loop {
        let n = match decoder.read(&mut scratch) {
            Ok(n) => n,
            Err(e) => return bad(format!("a buffer is not a valid LZ4 frame: {e}")),
        };
        if n == 0 {
            break;
        }
        total += n;
        if total > expected {
            return bad("an LZ4 buffer decodes to more bytes than it declares");
        }
    }
    if total != expected {
        return bad("an LZ4 buffer decodes to fewer bytes than it declares");
    }
    Ok(())
}

/// Walks a batch's nodes and buffers in the order arrow reads them.
struct Walker<'a, I: Iterator<Item = &'a ipc::FieldNode>> {
    nodes: I,
    sizes: &'a [usize],
    next_buffer: usize,
    variadic: &'a [i64],
    next_variadic: usize,
    values: usize,
    limits: &'a Limits,
}

impl<'a, I: Iterator<Item = &'a ipc::FieldNode>> Walker<'a, I> {
    fn node(&mut self) -> Result<(usize, usize), Refused> {
        let Some(node) = self.nodes.next() else {
            return bad("a batch has fewer field nodes than its schema has columns");
        };
        let (Ok(len), Ok(nulls)) = (
            usize::try_from(node.length()),
            usize::try_from(node.null_count()),
        ) else {
            return bad("a field node has a negative length or null count");
        };
        if nulls > len {
            return bad("a field node has more nulls than values");
        }
        self.values = self.values.saturating_add(len);
        if len > self.limits.max_values || self.values > self.limits.max_values {
            return too_large(format!(
                "a batch holds more than {} values in all its columns (send smaller batches)",
                self.limits.max_values
            ));
        }
        Ok((len, nulls))
    }

    fn buffer(&mut self) -> Result<usize, Refused> {
        let Some(size) = self.sizes.get(self.next_buffer) else {
            return bad("a batch has fewer buffers than its schema needs");
        };
        self.next_buffer += 1;
        Ok(*size)
    }

    fn validity(&mut self, len: usize, nulls: usize) -> Result<(), Refused> {
        let size = self.buffer()?;
        if nulls > 0 && size < len.div_ceil(8) {
            return bad("a validity bitmap is shorter than its column");
        }
        Ok(())
    }

    fn fixed(&mut self, len: usize, width: usize) -> Result<(), Refused> {
        let size = self.buffer()?;
        let need = len.saturating_mul(width);
        // Writers may pad a buffer's recorded length: only too short is wrong.
        if size < need {
            return bad("a values buffer is shorter than its column");
        }
        Ok(())
    }

    /// A buffer arrow reads as a slice of `width`-byte values in full (views,
    /// dictionary keys): padding must be whole values too.
    fn whole(&mut self, len: usize, width: usize) -> Result<(), Refused> {
        let size = self.buffer()?;
        if size % width != 0 {
            return bad("a values buffer is not a whole number of values");
        }
        if size < len.saturating_mul(width) {
            return bad("a values buffer is shorter than its column");
        }
        Ok(())
    }

    fn offsets(&mut self, len: usize, width: usize) -> Result<(), Refused> {
        let size = self.buffer()?;
        if size % width != 0 {
            return bad("an offsets buffer is not a whole number of offsets");
        }
        if len > 0 && size < (len + 1).saturating_mul(width) {
            return bad("an offsets buffer is shorter than its column");
        }
        Ok(())
    }

    fn field(&mut self, f: &Field) -> Result<usize, Refused> {
        let (len, nulls) = self.node()?;
        match f.data_type() {
            DataType::Null => {
                if nulls != len {
                    return bad("a null column holds non-null values");
                }
            }
            DataType::Boolean => {
                self.validity(len, nulls)?;
                if self.buffer()? < len.div_ceil(8) {
                    return bad("a boolean values buffer is shorter than its column");
                }
            }
            DataType::FixedSizeBinary(width) => {
                self.validity(len, nulls)?;
                self.fixed(len, usize::try_from(*width).unwrap_or(usize::MAX))?;
            }
            DataType::Utf8 | DataType::Binary => {
                self.validity(len, nulls)?;
                self.offsets(len, 4)?;
                self.buffer()?;
            }
            DataType::LargeUtf8 | DataType::LargeBinary => {
                self.validity(len, nulls)?;
                self.offsets(len, 8)?;
                self.buffer()?;
            }
            DataType::Utf8View | DataType::BinaryView => {
                let Some(count) = self.variadic.get(self.next_variadic) else {
                    return bad("a view column has no variadic buffer count");
                };
                self.next_variadic += 1;
                let left = self.sizes.len().saturating_sub(self.next_buffer + 2);
                let Ok(count) = usize::try_from(*count) else {
                    return bad("a view column has a negative variadic buffer count");
                };
                if count > left {
                    return bad("a view column counts more data buffers than the batch has");
                }
                self.validity(len, nulls)?;
                self.whole(len, 16)?;
                for _ in 0..count {
                    self.buffer()?;
                }
            }
            DataType::List(child) | DataType::Map(child, _) => {
                self.validity(len, nulls)?;
                self.offsets(len, 4)?;
                self.field(child)?;
            }
            DataType::LargeList(child) => {
                self.validity(len, nulls)?;
                self.offsets(len, 8)?;
                self.field(child)?;
            }
            DataType::FixedSizeList(child, size) => {
                self.validity(len, nulls)?;
                let size = usize::try_from(*size).unwrap_or(usize::MAX);
                let need = len.saturating_mul(size);
                if need > self.limits.max_values {
                    return too_large(format!(
                        "a fixed-size list column holds more than {} values",
                        self.limits.max_values
                    ));
                }
                if self.field(child)? < need {
                    return bad("a fixed-size list's values are shorter than the list");
                }
            }
            DataType::Struct(children) => {
                self.validity(len, nulls)?;
                for child in children {
                    if self.field(child)? != len {
                        return bad("a struct field's length differs from its struct's");
                    }
                }
            }
            DataType::Dictionary(key, _) => {
                self.validity(len, nulls)?;
                let Some(width) = key.primitive_width() else {
                    return bad("a dictionary key type is not an integer");
                };
                self.whole(len, width)?;
            }
            t if t.is_primitive() => {
                self.validity(len, nulls)?;
                self.fixed(len, t.primitive_width().unwrap_or(1))?;
            }
            other => return bad(format!("columns of type {other} are not accepted")),
        }
        Ok(len)
    }
}
