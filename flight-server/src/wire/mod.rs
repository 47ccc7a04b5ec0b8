//! DoGet on the wire without copying column data.
//!
//! A generic gRPC path copies every column buffer twice before the kernel
//! sees it: into one IPC message body, then the body into the gRPC frame
//! (tonic's prost codec). That path is still there for
//! `--direct-do-get=false` ([`Frame::into_flight_data`]). Here a record batch
//! becomes a [`Frame`]: its IPC header plus the batch's own Arrow buffers
//! (shared, not copied), and [`body::FrameBody`] writes those buffers as the
//! HTTP/2 body of the DoGet response (which
//! [`crate::do_get_route::DoGetRoute`] routes there). Every other RPC goes
//! through tonic unchanged.

pub(crate) mod body;
pub(crate) mod frame;

pub(crate) use frame::{Frame, FrameEncoder, wire_schema};
