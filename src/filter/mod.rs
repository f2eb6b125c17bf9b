//! The nfdump filter language (nfdump 1.7 syntax and semantics), compiled once
//! into a predicate tree that is evaluated per flow without allocation.
//!
//! ```
//! use wvnr::filter::Filter;
//! use wvnr::flow::Flow;
//! let f = Filter::compile("proto tcp and dst port 443").unwrap();
//! let flow = Flow { protocol: 6, dst_port: 443, ..Flow::EMPTY };
//! assert!(f.matches(&flow));
//! ```
//!
//! docs/filter.md is the language reference.

mod lexer;
mod parser;
mod predicate;
mod primitive;
mod stages;
mod values;

use std::sync::Arc;

use crate::flow::Flow;
use predicate::Node;
pub use stages::Stages;

/// Longest filter text accepted (nfdump's limit is "virtually none"; ours keeps
/// a filter sent over HTTP from costing unbounded memory).
pub const MAX_FILTER_LEN: usize = 1 << 20;

/// A compiled filter. Cheap to clone (shared tree), shareable across threads.
#[derive(Clone, Debug)]
pub struct Filter {
    source: Arc<str>,
    root: Arc<Node>,
}

/// A filter that does not parse: where (1-based column) and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "filter error at column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for FilterError {}

impl Filter {
    /// Compiles nfdump filter text. Empty text (or only comments) matches everything.
    pub fn compile(source: &str) -> Result<Filter, FilterError> {
        if source.len() > MAX_FILTER_LEN {
            return Err(FilterError {
                column: 1,
                message: format!("filter is {} bytes long; the limit is {MAX_FILTER_LEN}", source.len()),
            });
        }
        let tokens = lexer::tokenize(source)?;
        let end_column = source.chars().count() + 1;
        let root = parser::Parser::new(&tokens, end_column).parse()?;
        Ok(Filter { source: source.into(), root: Arc::new(root) })
    }

    /// Matches everything.
    pub fn any() -> Filter {
        Filter { source: "any".into(), root: Arc::new(Node::True) }
    }

    /// The text the filter was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the filter matches every flow (`any`, empty text): callers can skip evaluation.
    pub fn is_any(&self) -> bool {
        *self.root == Node::True
    }

    #[inline]
    pub fn matches(&self, flow: &Flow) -> bool {
        self.root.eval(flow)
    }

    /// Keeps the indexes in `rows` of the flows of `flows` that match (an index out of range
    /// is dropped). The same answers as `matches`, evaluated a test at a time.
    pub fn retain_matching(&self, flows: &[Flow], rows: &mut Vec<u32>) {
        self.root.retain(flows, rows);
    }

    /// The filter as the stages a scan runs over stored columns (`Stages::row_filter`).
    pub fn stages(&self) -> Stages {
        Stages::of(self)
    }

    /// `out[i] = matches(&flows[i])`, reusing `out`'s allocation.
    pub fn matches_batch(&self, flows: &[Flow], out: &mut Vec<bool>) {
        out.clear();
        out.extend(flows.iter().map(|f| self.root.eval(f)));
    }

    /// What every matching flow must have, for the store to skip blocks that cannot match:
    /// a protocol and/or a port required by a top-level `and` of the filter.
    pub fn scan_hint(&self) -> crate::store::ScanHint {
        let mut hint = crate::store::ScanHint::default();
        let conjuncts: &[Node] = match &*self.root {
            Node::All(nodes) => nodes,
            other => std::slice::from_ref(other),
        };
        for node in conjuncts {
            predicate::hint_from(node, &mut hint);
        }
        hint
    }

    /// The stored columns the filter reads (a scan can leave the others undecoded).
    pub fn columns(&self) -> crate::store::Columns {
        self.root.columns()
    }

    /// Whether the filter reads the flows' times (`duration`, `pps`, `bps`): the columns of
    /// `columns()` are all it reads otherwise.
    pub fn reads_times(&self) -> bool {
        self.root.reads_times()
    }

    /// `Some(N)` when the filter is exactly `port N`: callers with many such filters
    /// (profile channels) can look ports up instead of evaluating each.
    pub fn as_port(&self) -> Option<u16> {
        self.root.either_port()
    }

    /// `Some(set)` when the filter only tests the protocol (`proto icmp or proto icmp6`):
    /// bit p of the 256-bit set is on when protocol p matches.
    pub fn as_protocols(&self) -> Option<[u64; 4]> {
        self.root.protocol_set()
    }

    /// How many of `flows` match.
    pub fn count(&self, flows: &[Flow]) -> usize {
        if self.is_any() {
            return flows.len();
        }
        flows.iter().filter(|f| self.root.eval(f)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_any_match_everything() {
        for text in ["", "  ", "# only a comment", "any", "ANY"] {
            let f = Filter::compile(text).unwrap();
            assert!(f.is_any(), "{text:?}");
            assert!(f.matches(&Flow::EMPTY));
        }
        assert!(Filter::any().is_any());
    }

    #[test]
    fn batch_and_count_agree_with_matches() {
        let f = Filter::compile("port 53").unwrap();
        let flows = [
            Flow { dst_port: 53, ..Flow::EMPTY },
            Flow { src_port: 80, ..Flow::EMPTY },
            Flow { src_port: 53, ..Flow::EMPTY },
        ];
        let mut out = vec![true; 9];
        f.matches_batch(&flows, &mut out);
        assert_eq!(out, vec![true, false, true]);
        assert_eq!(f.count(&flows), 2);
        let mut rows = vec![0, 1, 2, 7];
        f.retain_matching(&flows, &mut rows);
        assert_eq!(rows, vec![0, 2]);
        let nested = Filter::compile("(port 53 or port 80) and not src port 53").unwrap();
        let mut rows = vec![0, 1, 2];
        nested.retain_matching(&flows, &mut rows);
        assert_eq!(rows, vec![0, 1]);
    }

    #[test]
    fn columns_are_those_the_tests_read() {
        use crate::store::Columns as C;
        assert_eq!(Filter::any().columns(), C::NONE);
        assert_eq!(Filter::compile("port 53").unwrap().columns(), C::SRC_PORT | C::DST_PORT);
        assert_eq!(
            Filter::compile("proto udp and (src net 10.0.0.0/8 or not bpp > 100)").unwrap().columns(),
            C::PROTOCOL | C::SRC_ADDR | C::PACKETS | C::BYTES
        );
        // `flags` implies TCP.
        assert_eq!(
            Filter::compile("ipv6 and flags S").unwrap().columns(),
            C::SRC_ADDR | C::DST_ADDR | C::TCP_FLAGS | C::PROTOCOL
        );
        assert_eq!(Filter::compile("router ip 192.0.2.1 or duration > 10").unwrap().columns(), C::EXPORTER);
        assert!(Filter::compile("icmp-type 8").unwrap().columns().contains(C::DST_PORT));
        for (text, times) in [
            ("port 53 and packets > 9", false),
            ("proto udp and not duration < 10", true),
            ("bps > 1k", true),
        ] {
            assert_eq!(Filter::compile(text).unwrap().reads_times(), times, "{text}");
        }
    }

    #[test]
    fn scan_hints_come_from_required_terms_only() {
        let h = Filter::compile("proto tcp and port 443 and bytes > 1k").unwrap().scan_hint();
        assert_eq!((h.protocol, h.port, h.src_port, h.dst_port), (Some(6), Some(443), None, None));
        let h = Filter::compile("dst port 53 and src port 5353").unwrap().scan_hint();
        assert_eq!((h.protocol, h.port, h.src_port, h.dst_port), (None, None, Some(5353), Some(53)));
        let h = Filter::compile("proto tcp or port 80").unwrap().scan_hint();
        assert_eq!(h, crate::store::ScanHint::default());
        let h = Filter::compile("not proto tcp and port > 80").unwrap().scan_hint();
        assert_eq!(h, crate::store::ScanHint::default());
        // flags implies proto tcp.
        assert_eq!(Filter::compile("flags S").unwrap().scan_hint().protocol, Some(6));
    }

    #[test]
    fn error_display() {
        let e = Filter::compile("port abc").unwrap_err();
        assert_eq!(
            e.to_string(),
            "filter error at column 6: expected a port number after 'port', found 'abc'"
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let text = "(".repeat(10_000) + "any" + &")".repeat(10_000);
        assert!(Filter::compile(&text).unwrap_err().message.contains("nested"));
        let nots = "not ".repeat(10_000) + "any";
        assert!(Filter::compile(&nots).is_err());
    }

    #[test]
    fn filter_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone + std::fmt::Debug>() {}
        check::<Filter>();
    }
}
