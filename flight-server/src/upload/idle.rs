//! A client stream that must keep sending: waiting longer than the idle
//! limit for its next message ends it with DEADLINE_EXCEEDED, so a client
//! that opens an upload and goes quiet does not hold its slot and memory.

use std::time::Duration;

use arrow_flight::FlightData;
use arrow_flight::error::FlightError;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tonic::Status;

/// `data`, ended with an error once it sends nothing for `idle`.
pub fn bounded(
    data: impl Stream<Item = Result<FlightData, FlightError>> + Send + 'static,
    idle: Duration,
) -> BoxStream<'static, Result<FlightData, FlightError>> {
    futures::stream::unfold(Some(data.boxed()), move |state| async move {
        let mut data = state?;
        match tokio::time::timeout(idle, data.next()).await {
            Ok(Some(item)) => Some((item, Some(data))),
            Ok(None) => None,
            Err(_) => {
                let status = Status::deadline_exceeded(format!(
                    "the client sent nothing for {} s (--upload-idle-secs)",
                    idle.as_secs()
                ));
                Some((Err(FlightError::Tonic(Box::new(status))), None))
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_quiet_client_is_cut_off_naming_the_flag() {
        let quiet = futures::stream::once(async { Ok(FlightData::default()) })
            .chain(futures::stream::pending());
        let mut data = bounded(quiet, Duration::from_millis(50));
        assert!(data.next().await.unwrap().is_ok());
        match data.next().await {
            Some(Err(FlightError::Tonic(status))) => {
                assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
                assert!(status.message().contains("--upload-idle-secs"));
            }
            other => panic!("expected the idle error, got {other:?}"),
        }
        assert!(
            data.next().await.is_none(),
            "the stream ends after the error"
        );
    }
}
