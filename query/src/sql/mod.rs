//! SQL planning for one principal: the session over exactly the datasets
//! it may read ([`session`]), the read-only [`sandbox`] with its `?`
//! [`placeholders`], the [`limits`] queries run under, and the
//! [`cancel`]lation of running statements. The Flight SQL protocol
//! (commands, handles, metadata) is the server's.

pub mod cancel;
pub mod limits;
pub mod placeholders;
pub mod sandbox;
pub mod session;
