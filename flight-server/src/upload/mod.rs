//! The transport side of uploads (what an upload is and how it is written
//! is laker-ingest's, [`laker_ingest::upload`]): the limit on how long the
//! client's stream may stay quiet.

pub mod idle;
