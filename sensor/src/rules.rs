//! Signature rules: how transactions get their names.
//!
//! A rules file has one table per plugin (`[http]`, `[dns]`, `[tcp]` …) with
//! settings and an ordered `[[<plugin>.rule]]` list. Each rule is a regex over
//! the first `depth` bytes of the request's text (what the plugin shows the
//! rules: the raw request for HTTP and generic TCP, `QTYPE qname` for DNS) and
//! a name template with `$1`…`$9` (regex captures, each cut to
//! `max_capture_len` bytes) and `$port` (the server port). First match wins;
//! no match gives `<PLUGIN>_OTHER`.
//!
//! Distinct names are capped per plugin across all workers; names past the cap
//! become `<PLUGIN>_OTHER` and are counted. Workers keep a local cache so the
//! shared registry is only locked the first time a worker sees a name.

use regex::bytes::Regex;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The rules shipped in `deploy/rules/default.toml`, used without `--rules`.
pub const DEFAULT_RULES: &str = include_str!("../../deploy/rules/default.toml");

const DEFAULT_DEPTH: usize = 256;
const DEFAULT_MAX_SIGNATURES: usize = 1000;
const DEFAULT_MAX_CAPTURE_LEN: usize = 32;

/// What is wrong with a rules file.
pub type RulesError = crate::FileError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginSection {
    depth: Option<usize>,
    max_signatures: Option<usize>,
    max_capture_len: Option<usize>,
    #[serde(default)]
    rule: Vec<toml::Spanned<RuleSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    #[serde(rename = "match")]
    pattern: toml::Spanned<String>,
    name: toml::Spanned<String>,
    /// Upper-case the captured parts (`select` → `PG_SELECT`).
    #[serde(default)]
    upper: bool,
}

#[derive(Debug)]
struct Rule {
    /// Position among all rules of the file.
    id: usize,
    regex: Regex,
    template: Vec<Piece>,
    upper: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Capture(usize),
    Port,
}

/// Rules of one plugin.
#[derive(Debug)]
pub struct PluginRules {
    pub depth: usize,
    max_signatures: usize,
    max_capture_len: usize,
    rules: Vec<Rule>,
    other: Arc<str>,
}

/// All rules, shared read-only by the workers, plus the name registry.
#[derive(Debug)]
pub struct Rules {
    plugins: BTreeMap<String, PluginRules>,
    /// Plugin → distinct names registered by any worker.
    registry: Mutex<BTreeMap<String, FxHashSet<String>>>,
    overflowed: AtomicU64,
    fallback: PluginRules,
}

impl Rules {
    /// Reads a rules file; `plugins` are the plugin names a table may have.
    pub fn load(path: &Path, plugins: &[&str]) -> Result<Rules, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|e| RulesError {
            file: path.display().to_string(),
            line: None,
            reason: format!("cannot read the rules file: {}", crate::io_reason(&e)),
        })?;
        Rules::parse(&path.display().to_string(), &text, plugins)
    }

    /// The built-in rules (`deploy/rules/default.toml`).
    pub fn default_rules(plugins: &[&str]) -> Rules {
        Rules::parse("deploy/rules/default.toml", DEFAULT_RULES, plugins)
            .unwrap_or_else(|e| unreachable!("built-in rules are tested: {e}"))
    }

    /// Parses rules text; a table for a plugin not in `known` is an error.
    pub fn parse(file: &str, text: &str, known: &[&str]) -> Result<Rules, RulesError> {
        let err = |offset: usize, reason: String| RulesError {
            file: file.to_owned(),
            line: Some(text.as_bytes()[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1),
            reason,
        };
        let sections: BTreeMap<String, PluginSection> = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            err(at, e.message().to_owned())
        })?;
        let mut plugins = BTreeMap::new();
        let mut next_id = 0;
        for (plugin, section) in sections {
            if !known.contains(&plugin.as_str()) {
                // The table may be implicit ([[name.rule]]): find its first header.
                let at = [format!("[{plugin}]"), format!("[{plugin}."), format!("[[{plugin}.")]
                    .iter()
                    .filter_map(|h| text.find(h.as_str()))
                    .min()
                    .unwrap_or(0);
                return Err(err(at, format!("unknown plugin [{plugin}] (known: {})", known.join(", "))));
            }
            let mut rules = Vec::new();
            for spec in section.rule {
                let spec = spec.into_inner();
                let regex = Regex::new(spec.pattern.get_ref())
                    .map_err(|e| err(spec.pattern.span().start, format!("bad regex: {e}")))?;
                let template = parse_template(spec.name.get_ref(), regex.captures_len() - 1)
                    .map_err(|reason| err(spec.name.span().start, reason))?;
                rules.push(Rule { id: next_id, regex, template, upper: spec.upper });
                next_id += 1;
            }
            let mut p = PluginRules::empty(&plugin);
            p.depth = section.depth.unwrap_or(DEFAULT_DEPTH);
            p.max_signatures = section.max_signatures.unwrap_or(DEFAULT_MAX_SIGNATURES);
            p.max_capture_len = section.max_capture_len.unwrap_or(DEFAULT_MAX_CAPTURE_LEN);
            p.rules = rules;
            plugins.insert(plugin, p);
        }
        Ok(Rules {
            plugins,
            registry: Mutex::default(),
            overflowed: AtomicU64::new(0),
            fallback: PluginRules::empty("unknown"),
        })
    }

    pub fn plugin(&self, plugin: &str) -> &PluginRules {
        self.plugins.get(plugin).unwrap_or(&self.fallback)
    }

    /// Distinct signature names registered so far, over all plugins.
    pub fn signatures(&self) -> u64 {
        self.registry.lock().unwrap_or_else(|e| e.into_inner()).values().map(|n| n.len() as u64).sum()
    }

    /// Names that went to `<PLUGIN>_OTHER` because the plugin's cap was reached.
    pub fn overflowed(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }
}

impl PluginRules {
    fn empty(plugin: &str) -> PluginRules {
        PluginRules {
            depth: DEFAULT_DEPTH,
            max_signatures: DEFAULT_MAX_SIGNATURES,
            max_capture_len: DEFAULT_MAX_CAPTURE_LEN,
            rules: Vec::new(),
            other: format!("{}_OTHER", plugin.to_ascii_uppercase()).into(),
        }
    }
}

fn parse_template(t: &str, captures: usize) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = t;
    while let Some(i) = rest.find('$') {
        text.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        let piece = if let Some(r) = rest.strip_prefix("port") {
            rest = r;
            Piece::Port
        } else if let Some(d) = rest.chars().next().and_then(|c| c.to_digit(10)).filter(|d| *d >= 1) {
            let d = d as usize;
            if d > captures {
                return Err(format!("name uses ${d} but the regex has {captures} capture group(s)"));
            }
            rest = &rest[1..];
            Piece::Capture(d)
        } else {
            return Err("'$' must be followed by 1-9 or 'port'".into());
        };
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(piece);
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    if pieces.is_empty() {
        return Err("empty name".into());
    }
    Ok(pieces)
}

/// A worker's view of the rules: applies them and interns names.
pub struct Namer {
    rules: Arc<Rules>,
    /// Per plugin index: names this worker already registered.
    cache: Vec<FxHashMap<String, Arc<str>>>,
    /// One capture-location buffer per rule (by `Rule::id`), reused per call.
    locs: Vec<regex::bytes::CaptureLocations>,
    scratch: String,
}

impl Namer {
    pub fn new(rules: Arc<Rules>) -> Namer {
        let mut all: Vec<&Rule> = rules.plugins.values().flat_map(|p| &p.rules).collect();
        all.sort_by_key(|r| r.id);
        let locs = all.iter().map(|r| r.regex.capture_locations()).collect();
        Namer { rules, cache: Vec::new(), locs, scratch: String::new() }
    }

    /// Names a request of `plugin` (its index in the registry) from its text.
    pub fn name(&mut self, plugin_idx: u8, plugin: &str, text: &[u8], port: u16) -> Arc<str> {
        let p = self.rules.plugin(plugin);
        let text = &text[..text.len().min(p.depth)];
        self.scratch.clear();
        let Some(rule) = p.rules.iter().find(|r| r.regex.captures_read(&mut self.locs[r.id], text).is_some()) else {
            return p.other.clone();
        };
        let locs = &self.locs[rule.id];
        for piece in &rule.template {
            match piece {
                Piece::Text(s) => self.scratch.push_str(s),
                Piece::Port => {
                    use std::fmt::Write;
                    let _ = write!(self.scratch, "{port}");
                }
                Piece::Capture(i) => {
                    if let Some((s, e)) = locs.get(*i) {
                        let from = self.scratch.len();
                        push_sanitized(&mut self.scratch, &text[s..e.min(s + p.max_capture_len)]);
                        if rule.upper {
                            self.scratch[from..].make_ascii_uppercase();
                        }
                    }
                }
            }
        }
        let idx = usize::from(plugin_idx);
        if self.cache.len() <= idx {
            self.cache.resize_with(idx + 1, FxHashMap::default);
        }
        if let Some(name) = self.cache[idx].get(self.scratch.as_str()) {
            return name.clone();
        }
        let name = register(&self.rules, plugin, p, &self.scratch);
        self.cache[idx].insert(self.scratch.clone(), name.clone());
        name
    }
}

/// First sight of a name by a worker: checks the plugin's cap across workers.
fn register(rules: &Rules, plugin: &str, p: &PluginRules, name: &str) -> Arc<str> {
    let mut registry = rules.registry.lock().unwrap_or_else(|e| e.into_inner());
    let names = registry.entry(plugin.to_owned()).or_default();
    if names.contains(name) {
        return name.into();
    }
    if names.len() >= p.max_signatures {
        rules.overflowed.fetch_add(1, Ordering::Relaxed);
        return p.other.clone();
    }
    names.insert(name.to_owned());
    name.into()
}

/// Signature names are printable ASCII: anything else becomes '_'.
fn push_sanitized(out: &mut String, bytes: &[u8]) {
    out.extend(bytes.iter().map(|&b| if b.is_ascii_graphic() { b as char } else { '_' }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namer(text: &str) -> Namer {
        Namer::new(Arc::new(Rules::parse("test.toml", text, &crate::plugins::names()).unwrap()))
    }

    #[test]
    fn default_rules_name_like_pastmon() {
        let mut n = Namer::new(Arc::new(Rules::default_rules(&crate::plugins::names())));
        assert_eq!(&*n.name(0, "http", b"GET /index.html HTTP/1.1\r\n", 80), "GET");
        assert_eq!(&*n.name(0, "http", b"POST /x HTTP/1.1\r\n", 80), "POST");
        assert_eq!(&*n.name(0, "http", b"\x16\x03\x01garbage", 80), "HTTP_OTHER");
        assert_eq!(&*n.name(1, "dns", b"AAAA www.example.com", 53), "DNS_AAAA");
        assert_eq!(&*n.name(2, "tcp", b"\x00\x01binary", 5432), "TCP_5432");
        // Commands and SQL keywords ignore case; so do their names.
        assert_eq!(&*n.name(3, "smtp", b"ehlo client.example", 25), "SMTP_EHLO");
        assert_eq!(&*n.name(4, "pg", b"vacuum analyze t", 5432), "PG_VACUUM");
        assert_eq!(&*n.name(5, "imap", b"uid fetch 1 (FLAGS)", 143), "IMAP_UID_FETCH");
    }

    #[test]
    fn first_match_wins_and_captures_are_cut() {
        let mut n = namer(
            r#"
[http]
max_capture_len = 8
[[http.rule]]
match = 'GET .*/webmail/(\w+\.php)'
name = "GET_webmail_$1"
[[http.rule]]
match = '^(\w+) '
name = "$1"
"#,
        );
        assert_eq!(&*n.name(0, "http", b"GET /a/webmail/read_body.php?x HTTP/1.1", 80), "GET_webmail_read_bod");
        assert_eq!(&*n.name(0, "http", b"GET /a/webmail/read_body.php?x HTTP/1.1", 80), "GET_webmail_read_bod");
        assert_eq!(&*n.name(0, "http", b"PUT /x HTTP/1.1", 80), "PUT");
    }

    #[test]
    fn cap_sends_overflow_to_other() {
        let mut n = namer("[http]\nmax_signatures = 2\n[[http.rule]]\nmatch = '^(\\w+) '\nname = '$1'\n");
        assert_eq!(&*n.name(0, "http", b"A x", 80), "A");
        assert_eq!(&*n.name(0, "http", b"B x", 80), "B");
        assert_eq!(&*n.name(0, "http", b"C x", 80), "HTTP_OTHER");
        assert_eq!(&*n.name(0, "http", b"A x", 80), "A");
        assert_eq!(n.rules.overflowed(), 1);
    }

    #[test]
    fn rules_without_settings_table() {
        let mut n = namer("[[http.rule]]\nmatch = '^GET /(\\w+)'\nname = 'GET_$1'\n");
        assert_eq!(&*n.name(0, "http", b"GET /sleep?ms=5 HTTP/1.1", 80), "GET_sleep");
        let e = Rules::parse("r.toml", "\n[[nosuchproto.rule]]\nmatch = 'a'\nname = 'b'\n", &crate::plugins::names())
            .unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn bad_rule_files_name_the_line() {
        let e = Rules::parse(
            "r.toml",
            "[http]\n[[http.rule]]\nmatch = '(unclosed'\nname = 'X'\n",
            &crate::plugins::names(),
        )
        .unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("r.toml", Some(3)), "{e}");
        assert!(e.reason.contains("bad regex"), "{e}");
        let e =
            Rules::parse("r.toml", "[http]\n\n[[http.rule]]\nmatch = 'a'\nname = 'X_$2'\n", &crate::plugins::names())
                .unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        let e = Rules::parse("r.toml", "[htp]\n", &crate::plugins::names()).unwrap_err();
        assert!(e.reason.contains("unknown plugin"), "{e}");
        let e = Rules::parse("r.toml", "[http]\ndepth = 'x'\n", &crate::plugins::names()).unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }
}
