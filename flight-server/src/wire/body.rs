//! The HTTP/2 body of a DoGet response: gRPC-framed `FlightData` messages
//! written piece by piece, then the `grpc-status` trailers.
//!
//! hyper polls the body only when the stream's flow-control window has
//! room, so a slow client slows the scan; dropping the body (client gone)
//! drops the frame stream and cancels the scan.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http::HeaderMap;
use http_body::Frame as HttpFrame;
use tonic::Status;

use super::Frame;

/// Stream of encoded messages of one download.
pub(crate) type FrameStream = Pin<Box<dyn Stream<Item = Result<Frame, Status>> + Send>>;

/// Pieces below this size are copied together into one HTTP/2 data chunk;
/// larger ones are handed over as they are.
const COALESCE_BELOW: usize = 4096;

/// Protobuf key of `FlightData.data_header` (field 2, length-delimited).
const DATA_HEADER_KEY: u8 = 2 << 3 | 2;
/// Protobuf key of `FlightData.data_body` (field 1000, length-delimited), as a varint.
const DATA_BODY_KEY: [u8; 2] = [0xc2, 0x3e];

/// A gRPC response body streaming `frames`.
pub(crate) struct FrameBody {
    frames: FrameStream,
    pending: VecDeque<Bytes>,
    trailers: Option<HeaderMap>,
    done: bool,
}

impl FrameBody {
    /// A body that sends `frames`, then `grpc-status` 0 (or the status of
    /// the error that ended them).
    pub fn new(frames: FrameStream) -> Self {
        Self {
            frames,
            pending: VecDeque::new(),
            trailers: None,
            done: false,
        }
    }
}

impl http_body::Body for FrameBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<HttpFrame<Bytes>, Status>>> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Poll::Ready(Some(Ok(HttpFrame::data(chunk))));
            }
            if let Some(trailers) = self.trailers.take() {
                return Poll::Ready(Some(Ok(HttpFrame::trailers(trailers))));
            }
            if self.done {
                return Poll::Ready(None);
            }
            match self.frames.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => {
                    let chunks = grpc_message(frame);
                    self.pending.extend(chunks);
                }
                Poll::Ready(Some(Err(status))) => self.finish(&status),
                Poll::Ready(None) => self.finish(&Status::ok("")),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.pending.is_empty() && self.trailers.is_none()
    }
}

impl FrameBody {
    fn finish(&mut self, status: &Status) {
        self.done = true;
        let mut trailers = HeaderMap::new();
        if status.add_header(&mut trailers).is_err() {
            // Only a message that cannot be a header value gets here.
            let plain = Status::new(status.code(), "");
            let _ = plain.add_header(&mut trailers);
        }
        self.trailers = Some(trailers);
    }
}

/// One `FlightData` message as gRPC length-prefixed protobuf, in chunks:
/// small pieces joined, column buffers passed through.
fn grpc_message(frame: Frame) -> Vec<Bytes> {
    let body_len = frame.body_len();
    let mut message_len = 0;
    if !frame.header.is_empty() {
        message_len += 1 + varint_len(frame.header.len() as u64) + frame.header.len();
    }
    if body_len > 0 {
        message_len += DATA_BODY_KEY.len() + varint_len(body_len as u64) + body_len;
    }
    let mut small = BytesMut::with_capacity(64 + frame.header.len());
    small.put_u8(0); // not compressed
    small.put_u32(message_len as u32);
    if !frame.header.is_empty() {
        small.put_u8(DATA_HEADER_KEY);
        put_varint(&mut small, frame.header.len() as u64);
        small.extend_from_slice(&frame.header);
    }
    if body_len > 0 {
        small.extend_from_slice(&DATA_BODY_KEY);
        put_varint(&mut small, body_len as u64);
    }
    let mut chunks = Vec::with_capacity(frame.body.len() + 1);
    for piece in frame.body {
        if piece.len() < COALESCE_BELOW {
            small.extend_from_slice(&piece);
        } else {
            if !small.is_empty() {
                chunks.push(small.split().freeze());
            }
            chunks.push(piece);
        }
    }
    if !small.is_empty() {
        chunks.push(small.freeze());
    }
    chunks
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_flight::FlightData;
    use prost::Message;

    #[test]
    fn chunks_decode_as_the_flight_data_prost_would_write() {
        let big = Bytes::from(vec![7u8; 10_000]);
        let frame = Frame {
            header: Bytes::from_static(b"header bytes"),
            body: vec![
                Bytes::from_static(b"ab"),
                big.clone(),
                Bytes::from_static(b"c"),
            ],
        };
        let expected = frame.clone().into_flight_data();
        let chunks = grpc_message(frame);
        assert_eq!(
            chunks.len(),
            3,
            "small pieces are joined, the big one passed"
        );
        assert_eq!(chunks[1], big);
        let wire: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        assert_eq!(wire[0], 0);
        let len = u32::from_be_bytes([wire[1], wire[2], wire[3], wire[4]]) as usize;
        assert_eq!(len, wire.len() - 5);
        let decoded = FlightData::decode(&wire[5..]).expect("valid protobuf");
        assert_eq!(decoded, expected);
        assert_eq!(&wire[5..], expected.encode_to_vec().as_slice());
    }

    #[test]
    fn a_header_only_message_has_no_body_field() {
        let frame = Frame {
            header: Bytes::from(vec![1u8; 300]),
            body: vec![],
        };
        let wire: Vec<u8> = grpc_message(frame.clone())
            .iter()
            .flat_map(|c| c.iter().copied())
            .collect();
        assert_eq!(
            &wire[5..],
            frame.into_flight_data().encode_to_vec().as_slice()
        );
    }
}
