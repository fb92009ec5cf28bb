//! What the sensor and the console agree on: the metrics and their units,
//! transaction outcomes, the parts of a transaction's time and the verdict
//! they give, the fixed histogram buckets, and the UTC calendar.
//! Plain `std` Rust with no capture or eBPF dependency, so the console
//! builds without the sensor's toolchain.

pub mod calendar;
pub mod diagnosis;
pub mod histogram;
mod metric;
mod outcome;

pub use metric::{Metric, Unit};
pub use outcome::Outcome;
