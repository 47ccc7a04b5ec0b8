//! One error type for the CLI: a message for stderr.

use arrow_flight::error::FlightError;

/// What went wrong, as the user should read it.
#[derive(Debug)]
pub struct Failure(pub String);

/// Results of CLI steps.
pub type Result<T> = std::result::Result<T, Failure>;

impl Failure {
    /// A failure with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Self {
        Self(format!("{:?}: {}", status.code(), status.message()))
    }
}

impl From<FlightError> for Failure {
    fn from(e: FlightError) -> Self {
        match e {
            FlightError::Tonic(status) => (*status).into(),
            other => Self(other.to_string()),
        }
    }
}

impl From<arrow::error::ArrowError> for Failure {
    fn from(e: arrow::error::ArrowError) -> Self {
        match e {
            arrow::error::ArrowError::ExternalError(inner) => match inner.downcast::<FlightError>()
            {
                Ok(flight) => (*flight).into(),
                Err(other) => Self(other.to_string()),
            },
            other => Self(other.to_string()),
        }
    }
}

impl From<parquet::errors::ParquetError> for Failure {
    fn from(e: parquet::errors::ParquetError) -> Self {
        Self(format!("Parquet: {e}"))
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self(e.to_string())
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Self(format!("JSON: {e}"))
    }
}
