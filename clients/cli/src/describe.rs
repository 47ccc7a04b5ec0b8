//! `laker ls` and `laker describe` for people: aligned tables made from the
//! server's JSON (which `--json` prints as it is, for scripts).

use arrow_flight::FlightInfo;
use serde_json::Value;

use crate::table::{Table, bytes, count, truncate};

/// Longest description shown in a listing.
const MAX_DESCRIPTION: usize = 60;
/// Longest statistic value (min, max) shown.
const MAX_VALUE: usize = 32;

/// One listed dataset as JSON: its metadata and its columns.
pub fn listing_json(info: &FlightInfo) -> Value {
    let mut meta: Value = serde_json::from_slice(&info.app_metadata).unwrap_or_default();
    if !meta.is_object() {
        meta = serde_json::json!({});
    }
    let columns: Vec<Value> = info
        .clone()
        .try_decode_schema()
        .map(|schema| {
            schema
                .fields()
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "name": f.name(),
                        "type": f.data_type().to_string(),
                        "nullable": f.is_nullable(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    meta["schema"] = columns.into();
    meta
}

/// The listing as a table (empty when nothing is listed).
pub fn listing_text(listed: &[Value]) -> String {
    let mut table = Table::new(&["DATASET", "FORMAT", "COLUMNS", "DESCRIPTION", "TAGS"]).right(2);
    for meta in listed {
        let columns = meta["schema"].as_array().map_or(0, Vec::len);
        let description = match meta["error"].as_str() {
            Some(error) => format!("({error})"),
            None => truncate(text(&meta["description"]), MAX_DESCRIPTION),
        };
        table.row(vec![
            text(&meta["name"]).to_string(),
            text(&meta["format"]).to_string(),
            columns.to_string(),
            description,
            strings(&meta["tags"]).join(", "),
        ]);
    }
    if table.is_empty() {
        return String::new();
    }
    table.render()
}

/// A `describe_dataset` answer for people.
pub fn describe_text(d: &Value) -> String {
    let mut out = String::new();
    out.push_str(text(&d["name"]));
    out.push('\n');
    if let Some(description) = d["description"].as_str().filter(|s| !s.is_empty()) {
        out.push_str(&format!("  {description}\n"));
    }
    out.push('\n');
    let mut facts = Table::new(&["", ""]);
    let mut fact = |name: &str, value: String| {
        if !value.is_empty() {
            facts.row(vec![name.to_string(), value]);
        }
    };
    fact("format", text(&d["format"]).to_string());
    fact("owner", text(&d["owner"]).to_string());
    fact("tags", strings(&d["tags"]).join(", "));
    let stats = &d["statistics"];
    fact("rows", rows_text(stats));
    fact("size", size_text(stats));
    fact("partitions", partitions_text(&d["partition_columns"]));
    if let Some(v) = d["version"].as_u64() {
        let listed = d["versions"].as_array().map_or(0, Vec::len);
        fact("version", format!("{v} (latest; {listed} listed below)"));
    }
    fact("updated", text(&d["updated_at"]).to_string());
    fact("refreshed", text(&d["refreshed_at"]).to_string());
    fact("location", text(&d["location"]).to_string());
    // The facts table has no header: drop its (blank) first line.
    let rendered = facts.render();
    out.push_str(rendered.split_once('\n').map_or("", |(_, rest)| rest));

    out.push_str("\nSchema\n");
    let mut schema = Table::new(&["#", "column", "type", "nullable", "masked"]).right(0);
    for (i, c) in d["schema"].as_array().into_iter().flatten().enumerate() {
        schema.row(vec![
            (i + 1).to_string(),
            text(&c["name"]).to_string(),
            text(&c["type"]).to_string(),
            yes_no(c["nullable"].as_bool()),
            if c["masked"].as_bool() == Some(true) {
                "masked".to_string()
            } else {
                String::new()
            },
        ]);
    }
    out.push_str(&indent(&schema.render()));

    let columns = stats["columns"].as_array().filter(|c| !c.is_empty());
    if let Some(columns) = columns {
        out.push_str("\nStatistics (from file footers and the table log; nothing scanned)\n");
        let mut table = Table::new(&["column", "nulls", "min", "max", "distinct"])
            .right(1)
            .right(4);
        for c in columns {
            table.row(vec![
                text(&c["name"]).to_string(),
                estimate(&c["null_count"]),
                truncate(text(&c["min"]), MAX_VALUE),
                truncate(text(&c["max"]), MAX_VALUE),
                estimate(&c["distinct_count"]),
            ]);
        }
        out.push_str(&indent(&table.render()));
    } else if let Some(why) = stats["withheld"].as_str() {
        out.push_str(&format!("\nStatistics withheld: {why}\n"));
    }

    if let Some(versions) = d["versions"].as_array().filter(|v| !v.is_empty()) {
        out.push_str("\nVersions (newest first)\n");
        let mut table = Table::new(&["version", "committed (UTC)", "operation"]).right(0);
        for v in versions {
            table.row(vec![
                v["version"]
                    .as_u64()
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
                v["timestamp"].as_i64().map(time_text).unwrap_or_default(),
                text(&v["operation"]).to_string(),
            ]);
        }
        out.push_str(&indent(&table.render()));
    }
    out
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn yes_no(b: Option<bool>) -> String {
    match b {
        Some(true) => "yes".into(),
        Some(false) => "no".into(),
        None => String::new(),
    }
}

fn indent(block: &str) -> String {
    let mut out = String::new();
    for line in block.lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `{"value": n, "exact": bool}` as `n` or `~n`; empty when unknown.
fn estimate(v: &Value) -> String {
    match (v["value"].as_u64(), v["exact"].as_bool()) {
        (Some(n), Some(false)) => format!("~{}", count(n)),
        (Some(n), _) => count(n),
        (None, _) => String::new(),
    }
}

fn rows_text(stats: &Value) -> String {
    if stats["withheld"].is_string() {
        return "withheld (see below)".into();
    }
    match (
        stats["rows"]["value"].as_u64(),
        stats["rows"]["exact"].as_bool(),
    ) {
        (Some(n), Some(true)) => count(n),
        (Some(n), _) => format!("about {}", count(n)),
        (None, _) => "unknown".into(),
    }
}

fn size_text(stats: &Value) -> String {
    match (stats["size_bytes"].as_u64(), stats["files"].as_u64()) {
        (Some(size), Some(1)) => format!("{} in 1 file", bytes(size)),
        (Some(size), Some(files)) => format!("{} in {} files", bytes(size), count(files)),
        (Some(size), None) => bytes(size),
        (None, _) => String::new(),
    }
}

fn partitions_text(columns: &Value) -> String {
    match columns.as_array() {
        Some(columns) if !columns.is_empty() => columns
            .iter()
            .map(|c| format!("{} ({})", text(&c["name"]), text(&c["type"])))
            .collect::<Vec<_>>()
            .join(", "),
        Some(_) => "none".into(),
        None => String::new(),
    }
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS`.
fn time_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_reads_as_tables() {
        let d = serde_json::json!({
            "name": "demo.items", "description": "Items", "tags": ["a", "b"],
            "owner": "admin", "format": "delta",
            "schema": [
                {"name": "id", "type": "Int64", "nullable": false, "masked": false},
                {"name": "email", "type": "Utf8", "nullable": true, "masked": true},
            ],
            "statistics": {"rows": {"value": 1500, "exact": true}, "files": 2,
                           "size_bytes": 2048, "columns": [
                {"name": "id", "null_count": {"value": 0, "exact": true},
                 "min": "1", "max": "1500", "distinct_count": null}]},
            "partition_columns": [],
            "version": 1,
            "versions": [{"version": 1, "timestamp": 0, "operation": "WRITE"}],
        });
        let text = describe_text(&d);
        assert!(text.starts_with("demo.items\n  Items\n"), "{text}");
        assert!(text.contains("rows        1,500\n"), "{text}");
        assert!(text.contains("size        2.0 KiB in 2 files\n"), "{text}");
        assert!(text.contains("partitions  none\n"), "{text}");
        assert!(
            text.contains("  2  email   Utf8   yes       masked\n"),
            "{text}"
        );
        assert!(
            text.contains("        1  1970-01-01 00:00:00  WRITE\n"),
            "{text}"
        );
    }
}
