//! The fuzz targets: every decoder a client reaches, each fed arbitrary
//! bytes. A target passes an input when it returns at all — errors are
//! the expected answer to garbage; a panic, an abort or a hang is a bug.

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema};
use arrow_flight::FlightData;
use datafusion::common::DFSchema;
use laker_flight_server::sql::handle::{PreparedHandle, StatementHandle};
use laker_flight_server::ticket::{Ticket, TicketCodec};
use laker_ingest::inbound::{Decoder, Limits};
use laker_ingest::upload::schema::Conformer;
use laker_query::{DownloadSpec, EngineConfig, QueryEngine};

use crate::harness::{Harness, PRINCIPALS};

/// The targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Target {
    /// A download spec (JSON), parsed and validated.
    Spec,
    /// A filter or `order_by`, bounded and compiled against a schema.
    Expr,
    /// Download tickets, statement and prepared-statement handles.
    Ticket,
    /// Flight SQL commands (protobuf `Any`).
    SqlCommand,
    /// Uploaded Arrow IPC messages, decoded and fitted to a table.
    Ipc,
    /// A JSON spec sent as GetFlightInfo to the server, then DoGet.
    Download,
    /// A SQL statement planned and run by the server (Flight SQL).
    Sql,
    /// Arbitrary ticket bytes sent to DoGet.
    DoGet,
    /// An action body sent to DoAction.
    Action,
    /// IPC messages uploaded to the server.
    Upload,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 10] = [
        Target::Spec,
        Target::Expr,
        Target::Ticket,
        Target::SqlCommand,
        Target::Ipc,
        Target::Download,
        Target::Sql,
        Target::DoGet,
        Target::Action,
        Target::Upload,
    ];

    /// Whether the target needs the in-process server.
    pub fn needs_server(self) -> bool {
        matches!(
            self,
            Target::Download | Target::Sql | Target::DoGet | Target::Action | Target::Upload
        )
    }
}

/// The actions DoAction is fuzzed with (the first byte of an input picks one).
pub const ACTIONS: [&str; 12] = [
    "register_dataset",
    "update_dataset",
    "describe_dataset",
    "create_namespace",
    "grant",
    "create_user",
    "onboard",
    "replay",
    "create_api_key",
    "refresh_token",
    "CreatePreparedStatement",
    "CancelFlightInfo",
];

/// Runs `target` on `input` (the harness is needed for the server targets).
pub fn run(target: Target, input: &[u8], harness: Option<&Harness>) {
    match (target, harness) {
        (Target::Spec, _) => spec(input),
        (Target::Expr, _) => expr(input),
        (Target::Ticket, _) => ticket(input),
        (Target::SqlCommand, _) => sql_command(input),
        (Target::Ipc, _) => ipc(input),
        (Target::Download, Some(h)) => {
            let (principal, rest) = principal(input);
            h.flight_info(principal, rest);
        }
        (Target::Sql, Some(h)) => {
            let (principal, rest) = principal(input);
            h.flight_info(principal, &crate::wire::sql_command(rest));
        }
        (Target::DoGet, Some(h)) => {
            let (principal, rest) = principal(input);
            h.do_get(principal, rest);
        }
        (Target::Action, Some(h)) => {
            let (principal, rest) = principal(input);
            let (kind, body) = match rest.split_first() {
                Some((k, body)) => (ACTIONS[*k as usize % ACTIONS.len()], body),
                None => (ACTIONS[0], rest),
            };
            h.action(principal, kind, body);
        }
        (Target::Upload, Some(h)) => {
            let (principal, rest) = principal(input);
            h.upload(principal, messages(rest));
        }
        (_, None) => {}
    }
}

/// The principal an input is sent as (its first byte), and the rest.
fn principal(input: &[u8]) -> (&'static str, &[u8]) {
    match input.split_first() {
        Some((p, rest)) => (PRINCIPALS[*p as usize % PRINCIPALS.len()], rest),
        None => (PRINCIPALS[0], input),
    }
}

fn spec(input: &[u8]) {
    if let Ok(spec) = DownloadSpec::from_json(input) {
        let again = DownloadSpec::from_json(spec.to_json().as_bytes());
        assert_eq!(again.ok().as_ref(), Some(&spec), "a spec round-trips");
        let _ = spec.sort_keys();
        let _ = spec.table_version();
    }
}

/// A session and the schema filters are compiled against.
fn engine() -> &'static (QueryEngine, DFSchema) {
    static ENGINE: OnceLock<(QueryEngine, DFSchema)> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let runtime = Arc::new(datafusion::execution::runtime_env::RuntimeEnv::default());
        let engine = QueryEngine::new(&EngineConfig::default(), runtime);
        let schema = Schema::new(vec![
            Field::new("trip_id", DataType::Int64, false),
            Field::new("fare", DataType::Float64, true),
            Field::new("city", DataType::Utf8, true),
            Field::new("passengers", DataType::Int32, true),
            Field::new(
                "pickup_at",
                DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
                true,
            ),
            Field::new(
                "tags",
                DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
                true,
            ),
        ]);
        let schema = DFSchema::try_from(schema).unwrap_or_else(|e| panic!("schema: {e}"));
        (engine, schema)
    })
}

fn expr(input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let (engine, schema) = engine();
    let _ = laker_query::filter::compile_filter(engine.state(), text, schema);
    let spec = serde_json::json!({"dataset": "a.b", "order_by": [text]});
    if let Ok(spec) = DownloadSpec::from_json(spec.to_string().as_bytes()) {
        let _ = spec.sort_keys();
    }
}

fn ticket(input: &[u8]) {
    let codec = TicketCodec::new(&[7u8; 32]);
    let _ = Ticket::decode(&codec, input, "fuzz", 1_700_000_000);
    let _ = codec.verify::<StatementHandle>(input, "fuzz", 1_700_000_000);
    let _ = codec.verify::<PreparedHandle>(input, "fuzz", 1_700_000_000);
}

fn sql_command(input: &[u8]) {
    if let Some(command) = laker_flight_server::sql::decode_command(input) {
        let _ = laker_flight_server::sql::describe_command(&command);
    }
}

/// Splits framed bytes into Flight data messages: each is a
/// little-endian u32 header length, the header, a u32 body length, the body.
pub fn messages(mut input: &[u8]) -> Vec<FlightData> {
    let mut out = Vec::new();
    let take = |input: &mut &[u8]| -> Option<Vec<u8>> {
        let (len, rest) = input.split_first_chunk::<4>()?;
        let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
        let (part, rest) = rest.split_at(len);
        *input = rest;
        Some(part.to_vec())
    };
    while let Some(header) = take(&mut input) {
        let body = take(&mut input).unwrap_or_default();
        out.push(
            FlightData::new()
                .with_data_header(header)
                .with_data_body(body),
        );
        if out.len() >= 64 {
            break;
        }
    }
    out
}

fn ipc(input: &[u8]) {
    let limits = Limits {
        max_message_bytes: 8 << 20,
        max_dictionary_bytes: 8 << 20,
        ..Limits::default()
    };
    let mut decoder = Decoder::new(limits);
    let table = Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ]);
    let mut conformer = None;
    // A panic arrow raises on checked data is caught (and the message
    // refused) by the decoder: a finding all the same.
    let panics = laker_ingest::inbound::caught_panics();
    let _gap = PanicGap(panics);
    for message in messages(input) {
        match decoder.push(&message) {
            Ok(Some(batch)) => {
                if let Some(c) = &conformer {
                    let _ = Conformer::conform(c, &batch, 0);
                }
            }
            Ok(None) => {
                if conformer.is_none()
                    && let Some(schema) = decoder.schema()
                {
                    conformer = Conformer::new("up.fuzz", Some(&table), schema.as_ref()).ok();
                }
            }
            Err(_) => return,
        }
    }
}

/// Fails the input (by panicking in the target) when arrow panicked on data
/// the checks let through while it ran.
struct PanicGap(u64);

impl Drop for PanicGap {
    fn drop(&mut self) {
        let now = laker_ingest::inbound::caught_panics();
        if now != self.0 && !std::thread::panicking() {
            panic!("arrow panicked on IPC data the checks accepted");
        }
    }
}
