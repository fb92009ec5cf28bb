//! HPACK (RFC 7541): the header compression of HTTP/2, decoding only.
//!
//! Each direction of a connection has its own dynamic table, filled by the
//! header blocks of that direction in order; a block missed (picked up
//! midstream, cut by a gap, larger than a message head) leaves entries this
//! side never saw. Nothing is guessed: a reference past what the table
//! holds decodes as an unknown field, and a block that does not parse
//! empties the table. Entries added after that are known again, so the
//! names come back as the encoder refers to newer entries.
//!
//! Memory: the table holds at most [`MAX_TABLE_SIZE`] bytes (RFC 7541
//! accounting), the default size; an encoder allowed a larger one refers,
//! now and then, to entries already evicted here: unknown fields, never
//! wrong ones.

use std::collections::VecDeque;

/// The largest dynamic table kept: SETTINGS_HEADER_TABLE_SIZE's default.
pub const MAX_TABLE_SIZE: usize = 4096;
/// Bytes a table entry costs beyond its name and value (RFC 7541 4.1).
const ENTRY_OVERHEAD: usize = 32;

/// The static table (RFC 7541 Appendix A), index 1 first.
const STATIC: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// A header block that does not parse (the table is emptied).
#[derive(Debug, PartialEq, Eq)]
pub struct Corrupt;

/// One dynamic table entry; `name: None` for a name this side never saw
/// (an indexed name past the table), so later references stay unknown too.
struct Entry {
    name: Option<Box<[u8]>>,
    value: Box<[u8]>,
}

impl Entry {
    fn size(&self) -> usize {
        self.name.as_ref().map_or(0, |n| n.len()) + self.value.len() + ENTRY_OVERHEAD
    }
}

/// The decoder of one direction.
pub struct Decoder {
    /// Newest first.
    table: VecDeque<Entry>,
    size: usize,
    /// The size the encoder set last (at most [`MAX_TABLE_SIZE`] here).
    max_size: usize,
    /// Huffman output of the field being decoded.
    name: Vec<u8>,
    value: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder { table: VecDeque::new(), size: 0, max_size: MAX_TABLE_SIZE, name: Vec::new(), value: Vec::new() }
    }
}

/// A field of a block; `None` where the table lacks what it refers to.
pub type Field<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

impl Decoder {
    /// Decodes one complete header block, giving each field to `on`; on
    /// `Corrupt` the fields given so far stand and the table is emptied.
    pub fn block(&mut self, mut block: &[u8], mut on: impl FnMut(Field)) -> Result<(), Corrupt> {
        let result = (|| {
            while let Some(&first) = block.first() {
                if first & 0x80 != 0 {
                    let index = integer(&mut block, 7)?;
                    if index == 0 {
                        return Err(Corrupt);
                    }
                    on(field(&self.table, index));
                } else if first & 0xe0 == 0x20 {
                    let size = integer(&mut block, 5)?;
                    self.max_size = size.min(MAX_TABLE_SIZE);
                    self.evict(0);
                } else {
                    let indexing = first & 0xc0 == 0x40;
                    let index = integer(&mut block, if indexing { 6 } else { 4 })?;
                    let name = if index == 0 {
                        Some(string(&mut block, &mut self.name)?)
                    } else {
                        let (name, _) = field(&self.table, index);
                        if let Some(name) = name {
                            self.name.clear();
                            self.name.extend_from_slice(name);
                        }
                        name.map(<[u8]>::len)
                    };
                    let value_len = string(&mut block, &mut self.value)?;
                    let name = name.map(|_| &self.name[..]);
                    on((name, Some(&self.value[..value_len])));
                    if indexing {
                        let entry = Entry { name: name.map(Box::from), value: Box::from(&self.value[..value_len]) };
                        self.insert(entry);
                    }
                }
            }
            Ok(())
        })();
        if result.is_err() {
            self.forget();
        }
        result
    }

    /// The table is no longer known (a block was missed or did not parse).
    pub fn forget(&mut self) {
        self.table.clear();
        self.size = 0;
    }

    fn insert(&mut self, entry: Entry) {
        let size = entry.size();
        self.evict(size);
        // An entry larger than the table empties it and is not kept (4.4).
        if size <= self.max_size {
            self.size += size;
            self.table.push_front(entry);
        }
    }

    /// Evicts the oldest entries until `room` more bytes fit.
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max_size {
            let Some(old) = self.table.pop_back() else { break };
            self.size -= old.size();
        }
    }
}

/// The field at `index` of the static table, then `table`.
fn field(table: &VecDeque<Entry>, index: usize) -> Field<'_> {
    match index {
        1..=61 => {
            let (name, value) = STATIC[index - 1];
            (Some(name), Some(value))
        }
        _ => match table.get(index - 62) {
            Some(e) => (e.name.as_deref(), Some(&e.value[..])),
            None => (None, None),
        },
    }
}

/// An integer with an `n`-bit prefix (RFC 7541 5.1); values past 2^28 are
/// not plausible in a header block.
fn integer(block: &mut &[u8], n: u32) -> Result<usize, Corrupt> {
    let (&first, mut rest) = block.split_first().ok_or(Corrupt)?;
    let max = (1usize << n) - 1;
    let mut value = usize::from(first) & max;
    if value == max {
        let mut shift = 0;
        loop {
            let (&b, tail) = rest.split_first().ok_or(Corrupt)?;
            rest = tail;
            value += usize::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
            if shift > 21 {
                return Err(Corrupt);
            }
        }
    }
    *block = rest;
    Ok(value)
}

/// A string literal (5.2) into `out`; returns its decoded length.
fn string(block: &mut &[u8], out: &mut Vec<u8>) -> Result<usize, Corrupt> {
    let huffman = block.first().ok_or(Corrupt)? & 0x80 != 0;
    let len = integer(block, 7)?;
    let raw = block.get(..len).ok_or(Corrupt)?;
    *block = &block[len..];
    out.clear();
    if huffman {
        huffman_decode(raw, out)?;
    } else {
        out.extend_from_slice(raw);
    }
    Ok(out.len())
}

/// Code lengths of the Huffman code (RFC 7541 Appendix B) by symbol, 256
/// being EOS. The code is canonical: codes of one length are consecutive
/// in symbol order, and each length starts where the shorter ones end,
/// doubled; the lengths alone define it.
const LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28,
    28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12,
    10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6,
    5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22,
    22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20,
    22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28,
    27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28,
    27, 27, 27, 27, 27, 26, 30,
];

/// The canonical code, by length: the first code, how many symbols have
/// that length, and where they start in `symbols`.
struct Canonical {
    first: [u32; 31],
    count: [u16; 31],
    start: [u16; 31],
    symbols: [u16; 257],
}

const CANONICAL: Canonical = canonical();

const fn canonical() -> Canonical {
    let mut c = Canonical { first: [0; 31], count: [0; 31], start: [0; 31], symbols: [0; 257] };
    let mut s = 0;
    while s < 257 {
        c.count[LENGTHS[s] as usize] += 1;
        s += 1;
    }
    let (mut len, mut code, mut at) = (1, 0u32, 0u16);
    while len <= 30 {
        c.first[len] = code;
        c.start[len] = at;
        code = (code + c.count[len] as u32) << 1;
        at += c.count[len];
        len += 1;
    }
    let mut next = c.start;
    let mut s = 0;
    while s < 257 {
        let len = LENGTHS[s] as usize;
        c.symbols[next[len] as usize] = s as u16;
        next[len] += 1;
        s += 1;
    }
    c
}

/// Decodes a Huffman-coded string (5.2): EOS inside, or padding that is
/// longer than 7 bits or not all ones, is an error.
fn huffman_decode(input: &[u8], out: &mut Vec<u8>) -> Result<(), Corrupt> {
    let c = &CANONICAL;
    let (mut code, mut len) = (0u32, 0usize);
    for &byte in input {
        for bit in (0..8).rev() {
            code = code << 1 | u32::from(byte >> bit & 1);
            len += 1;
            let offset = code.wrapping_sub(c.first[len]);
            if offset < u32::from(c.count[len]) {
                let symbol = c.symbols[usize::from(c.start[len]) + offset as usize];
                if symbol == 256 {
                    return Err(Corrupt);
                }
                out.push(symbol as u8);
                (code, len) = (0, 0);
            } else if len == 30 {
                return Err(Corrupt);
            }
        }
    }
    if len > 7 || code != (1 << len) - 1 {
        return Err(Corrupt);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn fields(d: &mut Decoder, block: &[u8]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let text = |b: Option<&[u8]>| b.map_or("?".to_owned(), |b| String::from_utf8_lossy(b).into_owned());
        d.block(block, |(n, v)| out.push((text(n), text(v)))).unwrap();
        out
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn the_canonical_code_is_the_rfcs() {
        // Codes read off RFC 7541 Appendix B.
        let code = |s: usize| {
            let c = &CANONICAL;
            let len = usize::from(LENGTHS[s]);
            let i = c.symbols.iter().position(|&x| usize::from(x) == s).unwrap() - usize::from(c.start[len]);
            (c.first[len] + i as u32, len)
        };
        assert_eq!(code(0), (0x1ff8, 13));
        assert_eq!(code(b'0' as usize), (0x0, 5));
        assert_eq!(code(b'a' as usize), (0x3, 5));
        assert_eq!(code(b' ' as usize), (0x14, 6));
        assert_eq!(code(b'/' as usize), (0x18, 6));
        assert_eq!(code(255), (0x3ffffee, 26));
        assert_eq!(code(256), (0x3fffffff, 30));
    }

    /// RFC 7541 C.4: three requests with Huffman coding, one table.
    #[test]
    fn rfc_7541_c4_requests() {
        let mut d = Decoder::default();
        let first = fields(&mut d, &hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"));
        let want = pairs(&[(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")]);
        assert_eq!(first, want);
        assert_eq!(d.size, 57);
        let second = fields(&mut d, &hex("8286 84be 5886 a8eb 1064 9cbf"));
        let mut want2 = want.clone();
        want2.push(("cache-control".into(), "no-cache".into()));
        assert_eq!(second, want2);
        let third = fields(&mut d, &hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"));
        let want3 = pairs(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ]);
        assert_eq!(third, want3);
        assert_eq!(d.size, 164);
    }

    /// RFC 7541 C.6: responses with a 256-byte table and eviction.
    #[test]
    fn rfc_7541_c6_responses_evict() {
        let mut d = Decoder { max_size: 256, ..Decoder::default() };
        let first = fields(
            &mut d,
            &hex("4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3"),
        );
        assert_eq!(first[0], (":status".into(), "302".into()));
        assert_eq!(first[3], ("location".into(), "https://www.example.com".into()));
        assert_eq!(d.size, 222);
        let second = fields(&mut d, &hex("4883 640e ffc1 c0bf"));
        assert_eq!(second[0], (":status".into(), "307".into()));
        assert_eq!(second[3], ("location".into(), "https://www.example.com".into()));
        assert_eq!(d.size, 222);
        assert_eq!(d.table.len(), 4);
    }

    #[test]
    fn a_table_never_seen_gives_unknown_fields_until_new_entries() {
        let mut d = Decoder::default();
        // Indexed 62 (the dynamic table's newest) with nothing in it, then a
        // literal with incremental indexing of a new name, then a reference
        // to it.
        let mut block = vec![0xbe];
        block.extend(hex("40 03 61 62 63 01 78"));
        block.push(0xbe);
        let got = fields(&mut d, &block);
        assert_eq!(got, pairs(&[("?", "?"), ("abc", "x"), ("abc", "x")]));
        // A literal whose name is an unknown index is stored with its name
        // unknown: referring to it stays unknown.
        let got = fields(&mut d, &hex("7f 0a 01 79 be bf"));
        assert_eq!(got, pairs(&[("?", "y"), ("?", "y"), ("abc", "x")]));
    }

    #[test]
    fn cut_and_bad_blocks_are_corrupt_and_forget_the_table() {
        let mut d = Decoder::default();
        fields(&mut d, &hex("40 03 61 62 63 01 78"));
        for bad in ["80", "ff", "ff 80 80 80 80 80", "40 05 61", "40 83 ff ff ff 01 78", "40 81 fe 01 78"] {
            let mut again = Decoder::default();
            fields(&mut again, &hex("40 03 61 62 63 01 78"));
            assert_eq!(again.block(&hex(bad), |_| {}), Err(Corrupt), "{bad}");
            assert!(again.table.is_empty(), "{bad}");
        }
        // A size update past the default keeps the default.
        d.block(&hex("3f e1 ff 03"), |_| {}).unwrap();
        assert_eq!(d.max_size, MAX_TABLE_SIZE);
    }

    #[test]
    fn every_symbol_round_trips() {
        // Encode each byte with the canonical code, then decode the lot.
        let c = &CANONICAL;
        let (mut bits, mut n, mut out) = (0u64, 0, Vec::new());
        for (s, &len) in LENGTHS.iter().enumerate().take(256) {
            let len = usize::from(len);
            let i = c.symbols.iter().position(|&x| usize::from(x) == s).unwrap() - usize::from(c.start[len]);
            bits = bits << len | u64::from(c.first[len] + i as u32);
            n += len;
            while n >= 8 {
                out.push((bits >> (n - 8)) as u8);
                n -= 8;
            }
        }
        if n > 0 {
            out.push(((bits << (8 - n)) as u8) | ((1u8 << (8 - n)) - 1));
        }
        let mut decoded = Vec::new();
        huffman_decode(&out, &mut decoded).unwrap();
        assert_eq!(decoded, (0..=255u8).collect::<Vec<_>>());
    }
}
