//! A structure-aware generator: each target starts from seeds of valid
//! inputs (and inputs of past findings) and mutates them — bytes flipped,
//! inserted, deleted and repeated; SQL tokens, JSON fragments and extreme
//! numbers spliced in; IPC length fields and buffers rewritten.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryViewArray, BooleanArray, Decimal128Array, DictionaryArray,
    FixedSizeBinaryArray, FixedSizeListArray, Float64Array, Int32Array, Int64Array,
    LargeBinaryArray, LargeStringArray, ListArray, MapArray, NullArray, RecordBatch, StringArray,
    StringViewArray, StructArray,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema};
use arrow::ipc::CompressionType;
use arrow::ipc::writer::{DictionaryTracker, IpcDataGenerator, IpcWriteOptions};
use arrow_flight::sql::ProstMessageExt;
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::targets::Target;
pub use crate::wire::sql_command;

const SQL_TOKENS: &[&str] = &[
    "SELECT ",
    " FROM ",
    " WHERE ",
    " AND ",
    " OR ",
    " NOT ",
    "(",
    ")",
    ",",
    " + ",
    " * ",
    " || ",
    " = ",
    " < ",
    " IN (",
    " BETWEEN ",
    " IS NULL",
    " CASE WHEN ",
    " THEN ",
    " ELSE ",
    " END",
    " UNION ALL ",
    " JOIN ",
    " ON ",
    " GROUP BY ",
    " ORDER BY ",
    " LIMIT ",
    " OVER (",
    "repeat('x', 100000000)",
    "lpad('a', 2147483647)",
    "range(0, 100000000)",
    "generate_series(DATE '1970-01-01', DATE '2100-01-01', INTERVAL '1 day -24 hours')",
    "array_repeat(1, 1000000000)",
    "arrow_cast(NULL, 'FixedSizeBinary(2147483647)')",
    "regexp_replace(city, '', repeat('z', 1000), 'g')",
    "now()",
    "current_user()",
    "principal_attribute('region')",
    "$1",
    "?",
    "demo.trips",
    "demo.zones",
    "trip_id",
    "fare",
    "city",
    "passengers",
    "pickup_at",
    "1e308",
    "-9223372036854775808",
    "9223372036854775807",
    "'",
    "\"",
    "/*",
    "--",
    "\\",
    "\u{0}",
    "💥",
    "::BIGINT",
    " COLLATE ",
    "ARRAY[",
    "]",
    "{",
    "}",
    "unnest(",
    "array_agg(",
    "string_agg(",
    "count(*)",
    "sum(",
    "WITH a AS (",
    "EXISTS (",
    "INTERVAL '1' DAY",
];

const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"dataset\"",
    "\"columns\"",
    "\"filter\"",
    "\"limit\"",
    "\"order_by\"",
    "\"version\"",
    "\"as_of\"",
    "\"demo.trips\"",
    "\"demo.zones\"",
    "\"name\"",
    "\"location\"",
    "\"format\"",
    "\"options\"",
    "\"pattern\"",
    "\"action\"",
    "\"user\"",
    "\"password\"",
    "\"row_filter\"",
    "\"column_masks\"",
    "\"transform\"",
    "\"file:///\"",
    "\"s3://lake/\"",
    "\"../../etc\"",
    "null",
    "true",
    "-1",
    "18446744073709551615",
    "1e999",
    "\"\\u0000\"",
    "\"fare DESC NULLS FIRST\"",
];

/// Seeds for `target`.
pub fn seeds(target: Target) -> Vec<Vec<u8>> {
    let with_principals = |inputs: Vec<Vec<u8>>| -> Vec<Vec<u8>> {
        inputs
            .into_iter()
            .flat_map(|i| (0u8..4).map(move |p| [vec![p], i.clone()].concat()))
            .collect()
    };
    match target {
        Target::Spec | Target::Download => {
            let specs = [
                r#"{"dataset":"demo.trips","columns":["trip_id","fare"],"filter":"fare > 30 AND city = 'Oslo'","limit":10}"#,
                r#"{"dataset":"demo.zones"}"#,
                r#"{"dataset":"demo.trips","order_by":["fare DESC","trip_id"],"limit":5}"#,
                r#"{"dataset":"demo.trips","filter":"length(repeat(city, 3)) > 0","limit":3}"#,
                r#"{"dataset":"system.audit","limit":3}"#,
                r#"{"dataset":"up.fuzz"}"#,
            ];
            let specs: Vec<Vec<u8>> = specs.iter().map(|s| s.as_bytes().to_vec()).collect();
            if target == Target::Download {
                with_principals(specs)
            } else {
                specs
            }
        }
        Target::Expr => [
            "fare > 30 AND city = 'Oslo'",
            "trip_id IN (1, 2, 3) OR passengers BETWEEN 1 AND 3",
            "length(city) > 3",
            "pickup_at < now()",
            "city = current_user()",
            "cardinality(tags) > 0",
            "fare DESC NULLS LAST",
            "CASE WHEN fare > 10 THEN true ELSE false END",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .chain(EXPR_REGRESSIONS.iter().map(|r| r.to_vec()))
        .collect(),
        Target::Sql => with_principals(
            [
                "SELECT count(*) FROM demo.trips WHERE fare > 10",
                "SELECT city, avg(fare) FROM demo.trips GROUP BY city ORDER BY 2 DESC LIMIT 3",
                "SELECT t.city, z.zone FROM demo.trips t JOIN demo.zones z ON t.city = z.city LIMIT 5",
                "SELECT * FROM information_schema.tables",
                "WITH a AS (SELECT city || city AS s FROM demo.zones) SELECT s || s FROM a",
                "SELECT row_number() OVER (ORDER BY fare) FROM demo.trips LIMIT 3",
                "SELECT $1",
            ]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect(),
        ),
        Target::Ticket | Target::DoGet => {
            let codec = laker_flight_server::ticket::TicketCodec::new(&[7u8; 32]);
            let claims = laker_flight_server::ticket::TicketClaims {
                sub: "fuzz".into(),
                spec: laker_query::DownloadSpec::whole(
                    &laker_catalog::DatasetName::new("demo", "trips")
                        .unwrap_or_else(|e| panic!("name: {e}")),
                ),
                partition: Some(0),
                partitions: 1,
                revision: 1,
                exp: 2_000_000_000,
                iat_ms: 0,
            };
            let inputs = vec![
                codec.sign(&claims),
                br#"{"dataset":"demo.trips","limit":3}"#.to_vec(),
                sql_command(b"SELECT 1"),
                b"lks1.e30.AAAA".to_vec(),
            ];
            if target == Target::DoGet {
                with_principals(inputs)
            } else {
                inputs
            }
        }
        Target::SqlCommand => vec![
            sql_command(b"SELECT 1"),
            arrow_flight::sql::CommandGetTables::default()
                .as_any()
                .encode_to_vec(),
            arrow_flight::sql::CommandStatementIngest::default()
                .as_any()
                .encode_to_vec(),
        ],
        Target::Action => {
            let bodies: Vec<(u8, &str)> = vec![
                (0, r#"{"name":"up.reg","location":"file:///tmp/","format":"parquet"}"#),
                (1, r#"{"name":"demo.zones","description":"x"}"#),
                (2, r#"{"name":"demo.trips"}"#),
                (3, r#"{"name":"fz"}"#),
                (4, r#"{"user":"nobody","pattern":"demo.*","action":"read","row_filter":"fare > 1","column_masks":{"city":"hash"}}"#),
                (5, r#"{"name":"u1","password":"a-long-password"}"#),
                (6, r#"{"namespace":"client1","service_account":"client1_etl"}"#),
                (7, r#"{"name":"up.fuzz"}"#),
                (8, r#"{"principal":"nobody"}"#),
                (9, "{}"),
            ];
            let mut out: Vec<Vec<u8>> = bodies
                .into_iter()
                .map(|(k, b)| [vec![k], b.as_bytes().to_vec()].concat())
                .collect();
            out.push(
                [
                    vec![10u8],
                    arrow_flight::sql::ActionCreatePreparedStatementRequest {
                        query: "SELECT $1".into(),
                        transaction_id: None,
                    }
                    .as_any()
                    .encode_to_vec(),
                ]
                .concat(),
            );
            with_principals(out)
        }
        Target::Ipc => ipc_seeds(),
        Target::Upload => with_principals(ipc_seeds()),
    }
}

/// Framed IPC streams of assorted batches (see [`crate::targets::messages`]).
/// Inputs of past findings, fixed (`fuzz/regressions/`): kept as seeds so
/// the generator keeps probing around them.
pub const IPC_REGRESSIONS: &[&[u8]] = &[
    include_bytes!("../regressions/ipc-decimal-scale-below-i8.bin"),
    include_bytes!("../regressions/ipc-misaligned-view-buffer.bin"),
];

/// Filters of past findings, fixed: seeds of the `expr` target.
pub const EXPR_REGRESSIONS: &[&[u8]] = &[
    include_bytes!("../regressions/expr-interval-chain.txt"),
    include_bytes!("../regressions/expr-interval-chain-slow.txt"),
    include_bytes!("../regressions/expr-array-nesting-slow.txt"),
];

fn ipc_seeds() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = IPC_REGRESSIONS.iter().map(|r| r.to_vec()).collect();
    for codec in [
        None,
        Some(CompressionType::LZ4_FRAME),
        Some(CompressionType::ZSTD),
    ] {
        for batch in batches() {
            out.push(frame(&batch, codec));
        }
    }
    out
}

/// Valid batches of every type the decoder accepts (the IPC seeds).
pub fn batches() -> Vec<RecordBatch> {
    let ids: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(3)]));
    let names: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), Some("bb"), None]));
    let amounts: ArrayRef = Arc::new(Float64Array::from(vec![1.5, 2.5, -1.0]));
    let views: ArrayRef = Arc::new(StringViewArray::from(vec![
        "short",
        "a string longer than twelve bytes",
        "x",
    ]));
    let flags: ArrayRef = Arc::new(BooleanArray::from(vec![true, false, true]));
    let dict: ArrayRef = Arc::new(
        vec!["a", "b", "a"]
            .into_iter()
            .collect::<DictionaryArray<Int32Type>>(),
    );
    let list: ArrayRef = Arc::new(ListArray::from_iter_primitive::<
        arrow::datatypes::Int64Type,
        _,
        _,
    >(vec![Some(vec![Some(1), None]), None, Some(vec![])]));
    let batch = |fields: Vec<(&str, ArrayRef)>| {
        let schema = Schema::new(
            fields
                .iter()
                .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        RecordBatch::try_new(
            Arc::new(schema),
            fields.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap_or_else(|e| panic!("seed batch: {e}"))
    };
    let nested = Arc::new(StructArray::from(vec![
        (
            Arc::new(Field::new("x", DataType::Int32, true)),
            Arc::new(Int32Array::from(vec![Some(1), None, Some(3)])) as ArrayRef,
        ),
        (
            Arc::new(Field::new("y", DataType::Utf8, true)),
            Arc::new(StringArray::from(vec![None, Some("q"), Some("r")])) as ArrayRef,
        ),
    ])) as ArrayRef;
    let entries = StructArray::from(vec![
        (
            Arc::new(Field::new("keys", DataType::Utf8, false)),
            Arc::new(StringArray::from(vec!["a", "b", "c"])) as ArrayRef,
        ),
        (
            Arc::new(Field::new("values", DataType::Int64, true)),
            Arc::new(Int64Array::from(vec![Some(1), None, Some(2)])) as ArrayRef,
        ),
    ]);
    let map = MapArray::try_new(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(entries.fields().clone()),
            false,
        )),
        arrow::buffer::OffsetBuffer::new(vec![0, 2, 2, 3].into()),
        entries,
        None,
        false,
    )
    .map(|m| Arc::new(m) as ArrayRef)
    .unwrap_or_else(|e| panic!("seed map: {e}"));
    let fixed_list = Arc::new(FixedSizeListArray::from_iter_primitive::<
        arrow::datatypes::Int64Type,
        _,
        _,
    >(
        vec![
            Some(vec![Some(1), Some(2)]),
            None,
            Some(vec![None, Some(4)]),
        ],
        2,
    )) as ArrayRef;
    let sha = Arc::new(
        FixedSizeBinaryArray::try_from_sparse_iter_with_size(
            vec![Some([7u8; 20]), None, Some([9u8; 20])].into_iter(),
            20,
        )
        .unwrap_or_else(|e| panic!("seed fixed binary: {e}")),
    ) as ArrayRef;
    let money = Arc::new(
        Decimal128Array::from(vec![Some(12345), None, Some(-1)])
            .with_precision_and_scale(10, 2)
            .unwrap_or_else(|e| panic!("seed decimal: {e}")),
    ) as ArrayRef;
    let millions = Arc::new(
        Decimal128Array::from(vec![Some(5), Some(6), None])
            .with_precision_and_scale(5, -10)
            .unwrap_or_else(|e| panic!("seed decimal: {e}")),
    ) as ArrayRef;
    let large_text =
        Arc::new(LargeStringArray::from(vec![Some("l"), None, Some("large")])) as ArrayRef;
    let large_bytes = Arc::new(LargeBinaryArray::from(vec![
        Some(&b"b"[..]),
        Some(&b""[..]),
        None,
    ])) as ArrayRef;
    let binary_views = Arc::new(BinaryViewArray::from(vec![
        &b"tiny"[..],
        &b"a binary value longer than twelve"[..],
        &b""[..],
    ])) as ArrayRef;
    let nulls = Arc::new(NullArray::new(3)) as ArrayRef;
    let wide = batch(vec![
        ("id", ids.clone()),
        ("nested", nested),
        ("map", map),
        ("pair", fixed_list),
        ("sha", sha),
        ("money", money),
        ("millions", millions),
        ("large_text", large_text),
        ("large_bytes", large_bytes),
        ("binary_views", binary_views),
        ("nothing", nulls),
    ]);
    vec![
        batch(vec![
            ("id", ids.clone()),
            ("name", names),
            ("amount", amounts),
        ]),
        batch(vec![("id", ids.clone()), ("name", views)]),
        batch(vec![
            ("id", ids),
            ("flag", flags),
            ("kind", dict),
            ("list", list),
        ]),
        // Sliced: buffers start at non-zero offsets.
        wide.slice(1, 2),
        wide,
    ]
}

/// `batch` as framed messages: schema, dictionaries, the batch.
pub fn frame(batch: &RecordBatch, codec: Option<CompressionType>) -> Vec<u8> {
    let Ok(options) = IpcWriteOptions::default().try_with_compression(codec) else {
        return Vec::new();
    };
    let generator = IpcDataGenerator::default();
    let mut tracker = DictionaryTracker::new(false);
    let schema = generator.schema_to_bytes_with_dictionary_tracker(
        batch.schema_ref(),
        &mut tracker,
        &options,
    );
    let mut out = Vec::new();
    let mut push = |header: &[u8], body: &[u8]| {
        out.extend((header.len() as u32).to_le_bytes());
        out.extend(header);
        out.extend((body.len() as u32).to_le_bytes());
        out.extend(body);
    };
    push(&schema.ipc_message, &[]);
    if let Ok((dictionaries, encoded)) =
        generator.encode(batch, &mut tracker, &options, &mut Default::default())
    {
        for d in dictionaries {
            push(&d.ipc_message, &d.arrow_data);
        }
        push(&encoded.ipc_message, &encoded.arrow_data);
    }
    out
}

/// Mutates inputs of one target.
pub struct Mutator {
    rng: StdRng,
    target: Target,
    seeds: Vec<Vec<u8>>,
}

impl Mutator {
    /// A mutator for `target` with seed `seed` (runs are repeatable).
    pub fn new(target: Target, seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            seeds: seeds(target),
            target,
        }
    }

    /// The next input: a seed, mutated one to eight times.
    pub fn next_input(&mut self) -> Vec<u8> {
        let mut input = self.seeds[self.rng.random_range(0..self.seeds.len())].clone();
        let rounds = self.rng.random_range(0..=8);
        for _ in 0..rounds {
            self.mutate(&mut input);
        }
        input
    }

    fn tokens(&self) -> &'static [&'static str] {
        match self.target {
            Target::Expr | Target::Sql => SQL_TOKENS,
            Target::Spec | Target::Download | Target::Action => JSON_TOKENS,
            _ => &[],
        }
    }

    fn mutate(&mut self, input: &mut Vec<u8>) {
        let tokens = self.tokens();
        let choice = self.rng.random_range(0..10);
        let at = |rng: &mut StdRng, len: usize| {
            if len == 0 {
                0
            } else {
                rng.random_range(0..=len)
            }
        };
        match choice {
            // Flip a bit.
            0 if !input.is_empty() => {
                let i = self.rng.random_range(0..input.len());
                input[i] ^= 1 << self.rng.random_range(0..8);
            }
            // Set a byte to an interesting value.
            1 if !input.is_empty() => {
                let i = self.rng.random_range(0..input.len());
                input[i] =
                    [0u8, 0x7f, 0x80, 0xff, b'9', b'"', b'(', b','][self.rng.random_range(0..8)];
            }
            // Delete a range.
            2 if !input.is_empty() => {
                let a = self.rng.random_range(0..input.len());
                let b = (a + self.rng.random_range(1..=16)).min(input.len());
                input.drain(a..b);
            }
            // Insert a token (or random bytes).
            3 | 4 => {
                let i = at(&mut self.rng, input.len());
                let piece: Vec<u8> = if tokens.is_empty() {
                    (0..self.rng.random_range(1..8))
                        .map(|_| self.rng.random())
                        .collect()
                } else {
                    tokens[self.rng.random_range(0..tokens.len())]
                        .as_bytes()
                        .to_vec()
                };
                input.splice(i..i, piece);
            }
            // Repeat a slice many times (long chains, big lists).
            5 if !input.is_empty() => {
                let a = self.rng.random_range(0..input.len());
                let b = (a + self.rng.random_range(1..=12)).min(input.len());
                let piece = input[a..b].to_vec();
                let times = [2usize, 16, 300, 3_000][self.rng.random_range(0..4)];
                let repeated: Vec<u8> = piece
                    .iter()
                    .copied()
                    .cycle()
                    .take(piece.len() * times)
                    .collect();
                input.splice(b..b, repeated);
            }
            // Overwrite 8 bytes with an extreme little-endian integer (IPC lengths).
            6 if input.len() >= 8 => {
                let i = self.rng.random_range(0..=input.len() - 8);
                let value: i64 = [-1, 0, 1 << 40, i64::MAX, i64::MIN, 2_000_000_000, 7]
                    [self.rng.random_range(0..7)];
                input[i..i + 8].copy_from_slice(&value.to_le_bytes());
            }
            // Overwrite 4 bytes (flatbuffer offsets, frame lengths).
            7 if input.len() >= 4 => {
                let i = self.rng.random_range(0..=input.len() - 4);
                let value: u32 = self.rng.random();
                input[i..i + 4].copy_from_slice(&value.to_le_bytes());
            }
            // Truncate.
            8 if !input.is_empty() => {
                let n = self.rng.random_range(0..input.len());
                input.truncate(n);
            }
            // Splice in part of another seed.
            _ => {
                let other = &self.seeds[self.rng.random_range(0..self.seeds.len())];
                if !other.is_empty() {
                    let a = self.rng.random_range(0..other.len());
                    let b = (a + self.rng.random_range(1..=64)).min(other.len());
                    let i = at(&mut self.rng, input.len());
                    input.splice(i..i, other[a..b].to_vec());
                }
            }
        }
        // Keep inputs within what a client could send in one message.
        input.truncate(2 << 20);
    }
}
