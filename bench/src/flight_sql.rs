//! Flight SQL through ADBC (`adbc_driver_flightsql`, from Python) against
//! roapi serving the same files: a full scan and the selective query (3
//! columns, ~10% of the rows), each Laker's against roapi's.

use crate::bench::Bench;
use crate::py::{PyClient, same_rows, secs};
use crate::report::Report;
use crate::result::Result;
use crate::{DATASET, SELECTIVE_BEFORE, SELECTIVE_COLUMNS};

/// Runs both queries on Laker (`tpch.lineitem`) and roapi (`lineitem`).
pub fn measure(b: &Bench<'_>, py: &PyClient, report: &mut Report) -> Result<()> {
    eprintln!("Flight SQL (ADBC) against roapi …");
    let selective = format!(
        "{} FROM {{table}} WHERE l_shipdate < DATE '{SELECTIVE_BEFORE}'",
        SELECTIVE_COLUMNS.join(", ")
    );
    for (what, shape) in [
        ("Full scan", "* FROM {table}".to_string()),
        ("Selective query (3 columns, ~10% of rows)", selective),
    ] {
        let laker_sql = format!("SELECT {}", shape.replace("{table}", DATASET));
        let roapi_sql = format!("SELECT {}", shape.replace("{table}", "lineitem"));
        let (laker, laker_peak) = b.laker.peak_while(|| py.sql(&b.laker_py, &laker_sql));
        let laker = laker?;
        let (roapi, roapi_peak) = b.roapi.peak_while(|| py.sql(&b.roapi_py, &roapi_sql));
        let roapi = roapi?;
        same_rows(&laker_sql, &laker, "roapi", &roapi)?;
        report
            .throughput_each(
                &format!("{what}, Flight SQL `{laker_sql}`, ADBC client (Python)"),
                &laker,
                &secs(&laker),
                "roapi",
                &roapi,
                &secs(&roapi),
            )
            .peaks(laker_peak, Some(roapi_peak));
    }
    Ok(())
}
