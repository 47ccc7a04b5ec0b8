//! One error type for the CLI: a one-line message for stderr that says
//! what went wrong and, where something can be done, what to do.

use arrow_flight::error::FlightError;
use tonic::Code;

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
        let mut text = status.message().to_string();
        let mut source = std::error::Error::source(&status);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        if text.contains("received fatal alert") {
            return Self::new(
                "the server refused the TLS connection: check that --client-cert is signed by a \
                 CA the server trusts",
            );
        }
        let message = one_line(status.message());
        match hint(status.code()) {
            Some(hint) => Self(format!("{:?}: {message} ({hint})", status.code())),
            None => Self(format!("{:?}: {message}", status.code())),
        }
    }
}

/// What to do about a status code, where something can be done.
fn hint(code: Code) -> Option<&'static str> {
    match code {
        Code::Unauthenticated => {
            Some("check the user and password, or log in again: laker login URL --as NAME")
        }
        Code::PermissionDenied => Some("ask the dataset's owner or an admin for a grant"),
        Code::NotFound => Some("`laker ls` lists the datasets you can read"),
        Code::ResourceExhausted => {
            Some("the server is busy or the request too large: retry later, or ask for less")
        }
        Code::Unavailable => Some("the server is unreachable or restarting: retry in a moment"),
        Code::DeadlineExceeded => Some("the server took too long: retry, or ask for less"),
        _ => None,
    }
}

/// `text` on one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
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
        Self(one_line(&e.to_string()))
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Self(format!("JSON: {e}"))
    }
}
