//! Reviewed snapshots of plans, `tests/plans/<case>.txt`: compared with
//! the plan planned now, or (re)written when `LAKER_BLESS=1`.

use std::path::PathBuf;

/// The variable that makes the tests write the snapshots.
const BLESS: &str = "LAKER_BLESS";
/// How to write (or update) the snapshots.
const HOW: &str = "LAKER_BLESS=1 cargo test -p laker-query --test plans";

/// The directory of the snapshots.
fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("plans")
}

/// Compares `actual` with the snapshot of `case`; writes it instead when
/// blessing. Fails when the snapshot is missing or differs.
pub fn check(case: &str, actual: &str) {
    let path = dir().join(format!("{case}.txt"));
    if std::env::var(BLESS).is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = match std::fs::read_to_string(&path) {
        Ok(text) => text.replace("\r\n", "\n"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "the snapshot {} is missing: run `{HOW}`, review the plans it writes and commit \
             them.\nThe plan of '{case}' now:\n{actual}",
            path.display()
        ),
        Err(e) => panic!("cannot read the snapshot {}: {e}", path.display()),
    };
    if expected != actual {
        panic!(
            "the plan of '{case}' differs from its snapshot {} (if the change is intended, \
             run `{HOW}` and review the diff)\n{}",
            path.display(),
            diff(&expected, actual)
        );
    }
}

/// Both texts in full, then the lines that differ.
fn diff(expected: &str, actual: &str) -> String {
    let mut out = format!("--- expected\n{expected}\n+++ actual\n{actual}\n");
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    for i in 0..expected.len().max(actual.len()) {
        let (e, a) = (expected.get(i).copied(), actual.get(i).copied());
        if e != a {
            out.push_str(&format!(
                "line {}:\n- {}\n+ {}\n",
                i + 1,
                e.unwrap_or("<none>"),
                a.unwrap_or("<none>")
            ));
        }
    }
    out
}
