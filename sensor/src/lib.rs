//! pastmon: a passive application response-time monitor.
//!
//! One module per stage of the data path (see ARCHITECTURE.md):
//! [`capture`] → [`decode`] → [`flow`] (TCP tracking, reassembly) →
//! [`plugins`] (protocol parsers) → [`timing`] (transactions) →
//! [`aggregate`] (per-interval statistics) → [`report`].
//! [`worker`] runs that pipeline on N threads, each owning its flows.

pub mod aggregate;
pub mod backends;
pub mod capture;
pub mod config;
pub mod decode;
pub mod export;
pub mod flow;
pub mod fuzzing;
pub mod metrics;
pub mod plugins;
pub mod privileges;
pub mod records;
pub mod report;
pub mod rules;
pub mod session;
pub mod signals;
pub mod timing;
pub mod transaction;
pub mod worker;

/// Direction of a packet or byte stream relative to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to server: requests.
    ToServer = 0,
    /// Server to client: responses.
    ToClient = 1,
}

impl Direction {
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }
}

/// An I/O error's reason as a person reads it: "No such file or directory",
/// without Rust's "(os error 2)" suffix.
pub fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_owned(),
        _ => text,
    }
}

/// What is wrong with an input file (configuration, rules): `file:line:
/// reason` where the line is known, else `file: reason`.
#[derive(Debug)]
pub struct FileError {
    pub file: String,
    pub line: Option<usize>,
    pub reason: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

impl std::error::Error for FileError {}
