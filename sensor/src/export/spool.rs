//! The spool: batches on local disk until ClickHouse has them.
//!
//! Every batch is written here (and fsynced) before it is inserted, and
//! removed once every part of it is in the database; so an outage or a crash
//! loses nothing, and batches replay in order (file names sort by batch id).
//! Files carry a CRC-32: a damaged file is set aside (`.corrupt`), never
//! half-inserted. The spool is bounded: past `max_bytes` new batches are
//! refused and counted. Each part names its columns (format 2), so batches
//! spooled before a column was added still insert after the migration;
//! format 1 parts get their columns from `encode::spool_v1_column_list`.

use super::encode;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"PMSPOOL2";
/// Files of sensors before parts named their columns.
const MAGIC_V1: &[u8; 8] = b"PMSPOOL1";

/// Rows for one table, RowBinary-encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub table: String,
    /// The columns of the rows, in order: `a, b, c`.
    pub columns: String,
    pub rows: u64,
    pub data: Vec<u8>,
}

impl Part {
    /// Rows of a table the sensor writes, in today's columns.
    pub fn new(table: &str, rows: u64, data: Vec<u8>) -> Part {
        let columns = encode::columns_of(table).map(|c| encode::column_list(&c)).unwrap_or_default();
        Part { table: table.to_owned(), columns, rows, data }
    }
}

/// What one export writes: its parts go in together or are retried together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Unique per sensor, increasing: the replay order and the idempotency key.
    pub id: u64,
    /// Start of the interval the batch holds (Unix seconds).
    pub interval_start: u64,
    pub parts: Vec<Part>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("spool is full ({bytes} of {max} bytes): batch {id} refused")]
    Full { id: u64, bytes: u64, max: u64 },
    #[error("spool file {0} is damaged (set aside as .corrupt)")]
    Corrupt(PathBuf),
}

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    bytes: u64,
}

impl Spool {
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Spool, SpoolError> {
        let io_err = |source| SpoolError::Io { path: dir.to_owned(), source };
        fs::create_dir_all(dir).map_err(io_err)?;
        let mut spool = Spool { dir: dir.to_owned(), max_bytes, bytes: 0 };
        for path in spool.pending()? {
            spool.bytes += fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        }
        Ok(spool)
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Spooled batch files, oldest first.
    pub fn pending(&self) -> Result<Vec<PathBuf>, SpoolError> {
        let entries = fs::read_dir(&self.dir).map_err(|source| SpoolError::Io { path: self.dir.clone(), source })?;
        let mut v: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "batch"))
            .collect();
        v.sort();
        Ok(v)
    }

    /// Writes a batch durably: temporary file, fsync, rename, fsync of the folder.
    pub fn push(&mut self, batch: &Batch) -> Result<PathBuf, SpoolError> {
        let bytes = encode(batch);
        if self.bytes + bytes.len() as u64 > self.max_bytes {
            return Err(SpoolError::Full { id: batch.id, bytes: self.bytes, max: self.max_bytes });
        }
        let path = self.dir.join(format!("{:020}.batch", batch.id));
        let tmp = path.with_extension("tmp");
        let io_err = |source| SpoolError::Io { path: path.clone(), source };
        let mut f = File::create(&tmp).map_err(io_err)?;
        f.write_all(&bytes).map_err(io_err)?;
        f.sync_all().map_err(io_err)?;
        fs::rename(&tmp, &path).map_err(io_err)?;
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io_err)?;
        self.bytes += bytes.len() as u64;
        Ok(path)
    }

    pub fn load(&self, path: &Path) -> Result<Batch, SpoolError> {
        let bytes = fs::read(path).map_err(|source| SpoolError::Io { path: path.to_owned(), source })?;
        decode(&bytes).ok_or_else(|| {
            let _ = fs::rename(path, path.with_extension("corrupt"));
            SpoolError::Corrupt(path.to_owned())
        })
    }

    pub fn remove(&mut self, path: &Path) -> Result<(), SpoolError> {
        let len = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        fs::remove_file(path).map_err(|source| SpoolError::Io { path: path.to_owned(), source })?;
        self.bytes = self.bytes.saturating_sub(len);
        Ok(())
    }
}

fn encode(b: &Batch) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + b.parts.iter().map(|p| p.data.len() + 32).sum::<usize>());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&b.id.to_le_bytes());
    out.extend_from_slice(&b.interval_start.to_le_bytes());
    out.extend_from_slice(&(b.parts.len() as u32).to_le_bytes());
    for p in &b.parts {
        out.extend_from_slice(&(p.table.len() as u16).to_le_bytes());
        out.extend_from_slice(p.table.as_bytes());
        out.extend_from_slice(&(p.columns.len() as u32).to_le_bytes());
        out.extend_from_slice(p.columns.as_bytes());
        out.extend_from_slice(&p.rows.to_le_bytes());
        out.extend_from_slice(&(p.data.len() as u64).to_le_bytes());
        out.extend_from_slice(&p.data);
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn decode(bytes: &[u8]) -> Option<Batch> {
    let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
    if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().ok()?) {
        return None;
    }
    let v1 = body.starts_with(MAGIC_V1);
    if !v1 && !body.starts_with(MAGIC) {
        return None;
    }
    let mut r = &body[MAGIC.len()..];
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, rest) = r.split_at_checked(n)?;
        r = rest;
        Some(head)
    };
    let id = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let interval_start = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let n = u32::from_le_bytes(take(4)?.try_into().ok()?);
    let mut parts = Vec::new();
    for _ in 0..n {
        let tlen = usize::from(u16::from_le_bytes(take(2)?.try_into().ok()?));
        let table = String::from_utf8(take(tlen)?.to_vec()).ok()?;
        let columns = if v1 {
            encode::spool_v1_column_list(&table)?
        } else {
            let clen = usize::try_from(u32::from_le_bytes(take(4)?.try_into().ok()?)).ok()?;
            String::from_utf8(take(clen)?.to_vec()).ok()?
        };
        let rows = u64::from_le_bytes(take(8)?.try_into().ok()?);
        let dlen = usize::try_from(u64::from_le_bytes(take(8)?.try_into().ok()?)).ok()?;
        let data = take(dlen)?.to_vec();
        parts.push(Part { table, columns, rows, data });
    }
    Some(Batch { id, interval_start, parts })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(id: u64) -> Batch {
        Batch {
            id,
            interval_start: 1_700_000_100,
            parts: vec![Part::new("level1", 2, vec![1, 2, 3]), Part::new("sensors", 1, vec![])],
        }
    }

    #[test]
    fn batches_survive_in_order_and_damage_is_caught() {
        let dir = std::env::temp_dir().join(format!("pastmon-spool-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut s = Spool::open(&dir, 1 << 20).unwrap();
        s.push(&batch(20)).unwrap();
        s.push(&batch(3)).unwrap();
        let s = Spool::open(&dir, 1 << 20).unwrap();
        let files = s.pending().unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(s.load(&files[0]).unwrap(), batch(3));
        assert!(s.bytes() > 0);
        let mut raw = fs::read(&files[1]).unwrap();
        raw[12] ^= 1;
        fs::write(&files[1], raw).unwrap();
        assert!(matches!(s.load(&files[1]), Err(SpoolError::Corrupt(_))));
        assert_eq!(s.pending().unwrap().len(), 1);
        let mut small = Spool::open(&dir, 10).unwrap();
        assert!(matches!(small.push(&batch(4)), Err(SpoolError::Full { .. })));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_format_1_file_gets_the_columns_of_its_time() {
        let mut v1 = MAGIC_V1.to_vec();
        for n in [7u64, 1_700_000_100] {
            v1.extend_from_slice(&n.to_le_bytes());
        }
        v1.extend_from_slice(&1u32.to_le_bytes());
        v1.extend_from_slice(&7u16.to_le_bytes());
        v1.extend_from_slice(b"sensors");
        v1.extend_from_slice(&1u64.to_le_bytes());
        v1.extend_from_slice(&2u64.to_le_bytes());
        v1.extend_from_slice(&[5, 6]);
        let crc = crc32fast::hash(&v1);
        v1.extend_from_slice(&crc.to_le_bytes());
        let batch = decode(&v1).unwrap();
        let part = &batch.parts[0];
        assert_eq!((batch.id, part.rows, &part.data[..]), (7, 1, &[5u8, 6][..]));
        assert!(part
            .columns
            .starts_with("interval_start, interval_seconds, sensor, version, packets, bytes, skipped_"));
        // Today's columns but those added since: `dropped` and the tunnels'.
        let today = Part::new("sensors", 1, vec![]).columns;
        let then: Vec<&str> = today.split(", ").filter(|c| *c != "dropped" && !c.starts_with("tunnel_")).collect();
        assert_eq!(then.join(", "), part.columns);
    }
}
