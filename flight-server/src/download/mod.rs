//! Downloads of one dataset: what a request asks for, its spec checked
//! once ([`CheckedSpec`]), and the plan that reads it for a caller
//! ([`plan()`]) — used by GetFlightInfo, GetSchema and DoGet alike.

mod descriptor;
mod plan;
mod spec;

pub use descriptor::descriptor_spec;
pub use plan::{Planned, plan};
pub use spec::CheckedSpec;
