//! How a transaction ended, and the labels outcomes are counted under.

/// How a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// Complete; the protocol has no result code (generic TCP).
    Ok,
    /// Three-digit status of the final response: HTTP status, SMTP reply code.
    Status(u16),
    /// DNS response code.
    Dns(u8),
    /// No response before the response timeout or the end of the connection.
    NoResponse,
    /// The connection was reset before the response completed.
    Reset,
    /// The response began but the connection ended before it completed.
    Incomplete,
    /// The response was lost from the capture (sequence gap), not on the wire.
    Lost,
    /// The server refused the command (IMAP `NO`).
    No,
    /// The server rejected the command as malformed (IMAP `BAD`).
    Bad,
    /// The server answered with an error (POP3 `-ERR`).
    Error,
}

impl Outcome {
    /// Every label [`Outcome::label`] gives, in the order of the database's
    /// `outcome_*` columns (named after the lower-cased label).
    pub const LABELS: [&'static str; 21] = [
        "ok",
        "1xx",
        "2xx",
        "3xx",
        "4xx",
        "5xx",
        "status_invalid",
        "NOERROR",
        "FORMERR",
        "SERVFAIL",
        "NXDOMAIN",
        "NOTIMP",
        "REFUSED",
        "DNS_OTHER",
        "no_response",
        "reset",
        "incomplete",
        "lost",
        "no",
        "bad",
        "error",
    ];

    /// Label aggregated per key: HTTP by class, DNS by rcode name.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Status(s) => match s / 100 {
                1 => "1xx",
                2 => "2xx",
                3 => "3xx",
                4 => "4xx",
                5 => "5xx",
                _ => "status_invalid",
            },
            Outcome::Dns(rcode) => match rcode {
                0 => "NOERROR",
                1 => "FORMERR",
                2 => "SERVFAIL",
                3 => "NXDOMAIN",
                4 => "NOTIMP",
                5 => "REFUSED",
                _ => "DNS_OTHER",
            },
            Outcome::NoResponse => "no_response",
            Outcome::Reset => "reset",
            Outcome::Incomplete => "incomplete",
            Outcome::Lost => "lost",
            Outcome::No => "no",
            Outcome::Bad => "bad",
            Outcome::Error => "error",
        }
    }

    /// Protocol result code, when there is one (HTTP status, DNS rcode).
    pub fn code(self) -> Option<u16> {
        match self {
            Outcome::Status(s) => Some(s),
            Outcome::Dns(r) => Some(u16::from(r)),
            _ => None,
        }
    }
}
