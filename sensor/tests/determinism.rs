//! Whatever the input does to its stamps or bytes, 1, 2 and 3 workers give
//! the same report: every shared capture as it is, with its stamps shuffled
//! locally, with one frame stamped 1,000 s ahead, with the clock stepped
//! back an hour halfway, and mutants with flipped bytes.

mod common;

use common::all_captures;
use pastmon::capture::{CaptureError, CaptureFile, CaptureSource, Frame, LinkType, Next};
use pastmon::report;
use pastmon::worker::{self, Outputs};
use serde_json::Value;

/// A capture held in memory, frame by frame.
#[derive(Clone)]
struct Frames {
    frames: Vec<(u64, LinkType, Vec<u8>, u32)>,
    next: usize,
}

impl CaptureSource for Frames {
    fn next_frame(&mut self) -> Result<Next<'_>, CaptureError> {
        let Some((ts_ns, link, data, wire_len)) = self.frames.get(self.next) else { return Ok(Next::End) };
        self.next += 1;
        Ok(Next::Frame(Frame { ts_ns: *ts_ns, link: *link, data, wire_len: *wire_len }))
    }

    fn progress(&self) -> (u64, Option<u64>) {
        (self.next as u64, Some(self.frames.len() as u64))
    }
}

fn load(path: &std::path::Path) -> Frames {
    let mut file = CaptureFile::open(path).unwrap();
    let mut frames = Vec::new();
    while let Ok(Next::Frame(f)) = file.next_frame() {
        frames.push((f.ts_ns, f.link, f.data.to_vec(), f.wire_len));
    }
    Frames { frames, next: 0 }
}

fn report(frames: &Frames, workers: usize) -> Value {
    let cfg = common::engine(workers);
    let mut source = frames.clone();
    let results = worker::run(&mut [&mut source], &cfg, Outputs::default(), &mut |_, _| {});
    report::json_report(&results)
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// The variants of one capture the engine must treat alike for any
/// worker count.
fn variants(base: &Frames, rng: &mut Rng) -> Vec<(String, Frames)> {
    let n = base.frames.len();
    let mut out = vec![("as is".to_owned(), base.clone())];
    if n < 2 {
        return out;
    }
    let mut shuffled = base.clone();
    for _ in 0..n / 4 + 1 {
        let i = rng.below(n - 1);
        let j = (i + 1 + rng.below(8)).min(n - 1);
        let (a, b) = (shuffled.frames[i].0, shuffled.frames[j].0);
        shuffled.frames[i].0 = b;
        shuffled.frames[j].0 = a;
    }
    out.push(("stamps shuffled".into(), shuffled));
    let mut ahead = base.clone();
    ahead.frames[rng.below(n)].0 += 1_000_000_000_000;
    out.push(("one stamp 1000 s ahead".into(), ahead));
    let mut back = base.clone();
    for f in &mut back.frames[n / 2..] {
        f.0 = f.0.saturating_sub(3_600_000_000_000);
    }
    out.push(("clock stepped back an hour".into(), back));
    for m in 0..6 {
        let mut mutant = base.clone();
        for _ in 0..8 {
            let f = &mut mutant.frames[rng.below(n)].2;
            if !f.is_empty() {
                let at = rng.below(f.len());
                f[at] ^= 1 << rng.below(8);
            }
        }
        out.push((format!("mutant {m}"), mutant));
    }
    out
}

#[test]
fn one_two_and_three_workers_agree_whatever_the_stamps_and_bytes() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut checked = 0;
    for path in all_captures() {
        let base = load(&path);
        for (what, frames) in variants(&base, &mut rng) {
            let one = report(&frames, 1);
            for workers in [2, 3] {
                let many = report(&frames, workers);
                assert!(one == many, "{} ({what}): 1 and {workers} workers differ", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked} inputs checked");
}

#[test]
fn a_stray_stamp_far_ahead_ends_no_flow_and_is_counted() {
    let base = load(&common::capture("generated_http_python_sleep_curl_dns"));
    let plain = report(&base, 1);
    let mut stray = base.clone();
    // A frame in the middle jumps 1,000 s ahead.
    let middle = stray.frames.len() / 2;
    stray.frames[middle].0 += 1_000_000_000_000;
    let with_stray = report(&stray, 1);
    assert_eq!(with_stray["capture"]["stamps_ahead"], 1, "{}", with_stray["capture"]);
    let outcomes = |r: &Value| -> Vec<Value> {
        r["intervals"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| i["rows"].as_array().unwrap().clone())
            .map(|row| row["outcomes"].clone())
            .collect()
    };
    let no_response = |r: &Value| outcomes(r).iter().filter_map(|o| o["no_response"].as_u64()).sum::<u64>();
    assert!(
        no_response(&with_stray) <= no_response(&plain) + 1,
        "the stray frame aged out other flows: {} no_response against {}",
        no_response(&with_stray),
        no_response(&plain)
    );
}
