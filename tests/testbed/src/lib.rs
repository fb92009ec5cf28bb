//! The world pastmon's integration tests and benchmarks build for
//! themselves: the namespace lab with its mirror port (`tests/lab/lab.sh`),
//! real servers inside it, and a throw-away ClickHouse on loopback. Shared by
//! the sensor's and the console's tests and by `cargo xtask`; it knows
//! nothing of pastmon's own crates.

pub mod clickhouse;
pub mod lab;
pub mod pcap;
pub mod readme;
pub mod repeat;
pub mod servers;
pub mod tunnels;
