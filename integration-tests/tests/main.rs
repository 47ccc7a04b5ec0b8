//! Laker end-to-end tests: real servers on 127.0.0.1:0, real Flight clients.

mod auth;
mod demo;
mod download;
mod errors;
mod reference;
mod streaming;
mod tickets;
