//! Load on Laker alone: many small downloads at once (each with its own
//! handshake, and all sharing one token), and full downloads opened and
//! left unread (memory stays within the budget and comes back).

use std::time::Duration;

use crate::bench::Bench;
use crate::client;
use crate::report::Report;
use crate::result::Result;
use crate::{ADMIN_PASSWORD, DATASET};

/// Small downloads in flight at once in the steady-load rows.
const STEADY: usize = 8;

/// `--small` downloads of ≤1,000 rows, each with its own handshake, then
/// all with the one token the bench signed in with: all at once, then
/// [`STEADY`] at a time (the latency one download sees under steady load).
pub async fn small(b: &Bench<'_>, report: &mut Report) {
    let n = b.args.small;
    eprintln!("{n} small downloads …");
    let spec = serde_json::json!({"dataset": DATASET, "columns": ["l_orderkey", "l_partkey", "l_quantity"],
        "filter": "l_orderkey < 4000", "limit": 1000});
    let admin = ("admin", ADMIN_PASSWORD);
    let addr = &b.laker.addr;
    for at_once in [n, STEADY] {
        for (how, token) in [
            ("each its own handshake", None),
            ("one token shared", b.laker_rust.token.as_deref()),
        ] {
            let ((latencies, errors), peak) = b
                .laker
                .peak_while_async(client::small_downloads(
                    addr,
                    admin,
                    (n, at_once),
                    &spec,
                    token,
                ))
                .await;
            report
                .small((n, at_once), how, &latencies, &errors)
                .peaks(peak, None);
        }
    }
}

/// `--stalled` full downloads opened, their first batch read, then left
/// unread: admitted and refused, memory held, and memory once they left.
pub async fn stalled(b: &Bench<'_>, report: &mut Report) -> Result<()> {
    let n = b.args.stalled;
    eprintln!("{n} stalled downloads …");
    let before = b.laker.rss();
    let stalled =
        client::stalled(&b.laker_rust, n, &serde_json::json!({"dataset": DATASET})).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = b.laker.rss();
    let counts = (stalled.streams.len(), stalled.refused);
    drop(stalled);
    let after = b
        .laker
        .settle_below(before + (64 << 20), Duration::from_secs(30));
    report.stalled(n, counts, [before, held, after]);
    Ok(())
}
