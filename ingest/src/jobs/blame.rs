//! Whose fault a failure is while a file is read and checked: the file's
//! (its content does not parse, does not fit the dataset or breaks a
//! rule: it is rejected with the reason) or the run's (the store or the
//! catalog failed, memory ran out: the run fails and is tried again).

use datafusion::error::DataFusionError;

use crate::error::IngestError;

/// Longest reason recorded for a rejected file, in characters.
const MAX_REASON_CHARS: usize = 2000;

/// The verdict on one failure.
#[derive(Debug)]
pub enum Blame {
    /// The file is at fault: the reason it is rejected with.
    File(String),
    /// The run is: it fails with this error.
    Run(IngestError),
}

/// Decides whose fault `e` is.
pub fn blame(e: IngestError) -> Blame {
    match e {
        IngestError::InvalidArgument(m)
        | IngestError::ResourceExhausted(m)
        | IngestError::FailedPrecondition(m) => Blame::File(reason(&m)),
        IngestError::DataFusion(e) => blame_datafusion(e),
        other => Blame::Run(other),
    }
}

/// Decides whose fault a DataFusion error is.
pub fn blame_datafusion(e: DataFusionError) -> Blame {
    if matches!(e.find_root(), DataFusionError::ResourcesExhausted(_)) || store_trouble(&e) {
        Blame::Run(IngestError::DataFusion(e))
    } else {
        Blame::File(reason(&e.strip_backtrace()))
    }
}

/// Whether an object store or I/O failure is behind `e`.
fn store_trouble(e: &DataFusionError) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if err.downcast_ref::<object_store::Error>().is_some()
            || err.downcast_ref::<std::io::Error>().is_some()
        {
            return true;
        }
        current = err.source();
    }
    false
}

/// `message` cut to the longest reason kept.
pub fn reason(message: &str) -> String {
    let mut text: String = message.chars().take(MAX_REASON_CHARS).collect();
    if text.len() < message.len() {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::error::ArrowError;

    #[test]
    fn data_errors_blame_the_file_store_errors_the_run() {
        let parse = DataFusionError::ArrowError(
            Box::new(ArrowError::ParseError("cannot parse 'abc' as Int64".into())),
            None,
        );
        assert!(matches!(blame_datafusion(parse), Blame::File(m) if m.contains("'abc'")));
        let store = DataFusionError::ObjectStore(Box::new(object_store::Error::Generic {
            store: "S3",
            source: "connection reset".into(),
        }));
        assert!(matches!(blame_datafusion(store), Blame::Run(_)));
        let wrapped = DataFusionError::Context(
            "reading".into(),
            Box::new(DataFusionError::IoError(std::io::Error::other("disk"))),
        );
        assert!(matches!(blame_datafusion(wrapped), Blame::Run(_)));
        assert!(matches!(
            blame(IngestError::InvalidArgument("column 'a' is missing".into())),
            Blame::File(_)
        ));
        assert!(matches!(
            blame(IngestError::Internal("catalog".into())),
            Blame::Run(_)
        ));
        assert_eq!(
            reason(&"x".repeat(3000)).chars().count(),
            MAX_REASON_CHARS + 1
        );
    }
}
