//! A filter split into the stages a scan runs over a block's stored columns: the terms
//! of a top-level `and`, each decoding only its columns and only for the rows the stages
//! before it kept. Terms that read one small fixed-width column (protocol, ports, TCP
//! flags, ToS, masks), or an `or` of such terms, become sets of column values, tested on
//! the stored bytes without decoding a row: `proto udp and dst port 53 and packets > 9`
//! tests 2 bytes and 1 byte per flow, and decodes `packets` only for UDP flows to port 53.

use crate::flow::{Flow, FlowSource};
use crate::store::{ColumnValues, Columns, RowFilter, RowPredicate, StageTest};

use super::predicate::{Node, Test};
use super::Filter;

/// The stages of one filter, owned; `row_filter` lends them to a scan.
pub struct Stages {
    stages: Vec<Stage>,
    times: bool,
}

enum Stage {
    Values(Vec<ColumnValues>),
    Rows(Node),
}

impl RowPredicate for Node {
    fn retain(&self, flows: &[Flow], rows: &mut Vec<u32>) {
        Node::retain(self, flows, rows)
    }
}

impl Stages {
    pub fn of(filter: &Filter) -> Stages {
        let root: &Node = &filter.root;
        let terms: &[Node] = match root {
            Node::All(nodes) => nodes,
            other => std::slice::from_ref(other),
        };
        // Value tests first: they are cheaper and leave fewer rows to decode for the rest
        // (the terms of an `and` may run in any order; none has side effects).
        let (mut values, mut rows) = (Vec::new(), Vec::new());
        for term in terms {
            match value_sets(term) {
                Some(sets) => values.push(Stage::Values(sets)),
                None => rows.push(Stage::Rows(term.clone())),
            }
        }
        values.append(&mut rows);
        Stages { stages: values, times: root.reads_times() }
    }

    /// The scan's view of the stages; `with` gets the `RowFilter` (it borrows `self`).
    pub fn row_filter<R>(&self, with: impl FnOnce(&RowFilter) -> R) -> R {
        let stages: Vec<StageTest> = self
            .stages
            .iter()
            .map(|stage| match stage {
                Stage::Values(sets) => StageTest::Values(sets),
                Stage::Rows(node) => StageTest::Rows { columns: node.columns(), pred: node },
            })
            .collect();
        with(&RowFilter { times: self.times, stages: &stages })
    }
}

/// Puts a value into one field of a flow.
type Put = fn(&mut Flow, u16);

/// The small fixed-width columns a value set can test, with their widths in bits and how to
/// put a value into a flow.
fn value_column(c: Columns) -> Option<(u32, Put)> {
    let set: (u32, Put) = match c {
        Columns::PROTOCOL => (8, |f, v| f.protocol = v as u8),
        Columns::SRC_PORT => (16, |f, v| f.src_port = v),
        Columns::DST_PORT => (16, |f, v| f.dst_port = v),
        Columns::TCP_FLAGS => (8, |f, v| f.tcp_flags = v as u8),
        Columns::TOS => (8, |f, v| f.tos = v as u8),
        Columns::SRC_MASK => (8, |f, v| f.src_mask = v as u8),
        Columns::DST_MASK => (8, |f, v| f.dst_mask = v as u8),
        Columns::SOURCE => (8, |f, v| f.source = FlowSource::from_u8(v as u8).unwrap_or(f.source)),
        _ => return None,
    };
    Some(set)
}

/// `Some(sets)` when `node` holds for a flow exactly when some column of `sets` holds a
/// value of its set: a node reading one small column (its set found by evaluating it on
/// every value the column can hold), or an `or` of such nodes.
fn value_sets(node: &Node) -> Option<Vec<ColumnValues>> {
    // Finding a set evaluates the node once per value of its column (65 536 for a port):
    // a term of thousands of tests (`port 1 or port 2 or ...`, as a filter from the web may
    // be) runs on decoded rows instead of costing seconds to compile.
    if node.reads_times() || test_count(node) > MAX_SET_TESTS {
        return None;
    }
    if let Some((bits, put)) = value_column(node.columns()) {
        // `source` holds only the values FlowSource has: others are not in the set.
        let mut set = vec![0u64; 1 << (bits - 6)].into_boxed_slice();
        let mut flow = Flow::EMPTY;
        for v in 0..=u16::MAX >> (16 - bits) {
            if node.columns() == Columns::SOURCE && FlowSource::from_u8(v as u8).is_none() {
                continue;
            }
            put(&mut flow, v);
            if node.eval(&flow) {
                set[usize::from(v >> 6)] |= 1 << (v & 63);
            }
        }
        return Some(vec![ColumnValues { column: node.columns(), bits: set }]);
    }
    let either;
    let parts: &[Node] = match node {
        Node::Any(nodes) => nodes,
        Node::Test(Test::NumEither { a, b, cmp, value }) => {
            either = [Node::num(*a, *cmp, *value), Node::num(*b, *cmp, *value)];
            &either
        }
        _ => return None,
    };
    let mut sets: Vec<ColumnValues> = Vec::new();
    for part in parts {
        for s in value_sets(part)? {
            match sets.iter_mut().find(|t| t.column == s.column) {
                Some(t) => t.bits.iter_mut().zip(&s.bits).for_each(|(a, b)| *a |= b),
                None => sets.push(s),
            }
        }
    }
    // A block test reads at most four columns at once.
    (!sets.is_empty() && sets.len() <= 4).then_some(sets)
}

/// Most tests a term may hold to be compiled into value sets.
const MAX_SET_TESTS: usize = 64;

/// Tests in `node`'s tree (capped: counting stops past the limit).
fn test_count(node: &Node) -> usize {
    match node {
        Node::True => 0,
        Node::Test(_) => 1,
        Node::Not(n) => test_count(n),
        Node::All(nodes) | Node::Any(nodes) => nodes
            .iter()
            .try_fold(0usize, |acc, n| {
                let sum = acc + test_count(n);
                (sum <= MAX_SET_TESTS).then_some(sum)
            })
            .unwrap_or(MAX_SET_TESTS + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Columns as C;

    fn kinds(text: &str) -> Vec<(Columns, bool)> {
        let s = Stages::of(&Filter::compile(text).unwrap());
        s.row_filter(|rf| {
            rf.stages
                .iter()
                .map(|st| match st {
                    StageTest::Values(sets) => (sets.iter().fold(C::NONE, |c, s| c | s.column), true),
                    StageTest::Rows { columns, .. } => (*columns, false),
                })
                .collect()
        })
    }

    #[test]
    fn small_column_terms_become_value_sets_and_run_first() {
        assert_eq!(
            kinds("packets > 9 and proto udp and dst port 53"),
            vec![(C::PROTOCOL, true), (C::DST_PORT, true), (C::PACKETS, false)]
        );
        assert_eq!(kinds("port 53"), vec![(C::SRC_PORT | C::DST_PORT, true)]);
        assert_eq!(kinds("proto tcp or dst port 80"), vec![(C::PROTOCOL | C::DST_PORT, true)]);
        // Two columns under one `and` inside an `or`: evaluated on decoded rows.
        assert_eq!(
            kinds("(proto tcp and port 80) or proto udp"),
            vec![(C::PROTOCOL | C::SRC_PORT | C::DST_PORT, false)]
        );
        assert_eq!(kinds("duration > 10"), vec![(C::NONE, false)]);
        // A term of many tests is evaluated on rows (its value sets would take long to find).
        let many = (1..=100).map(|p| format!("port {p}")).collect::<Vec<_>>().join(" or ");
        assert_eq!(kinds(&many), vec![(C::SRC_PORT | C::DST_PORT, false)]);
        let few = (1..=30).map(|p| format!("port {p}")).collect::<Vec<_>>().join(" or ");
        assert_eq!(kinds(&few), vec![(C::SRC_PORT | C::DST_PORT, true)]);
        assert_eq!(kinds("src ip 10.0.0.1"), vec![(C::SRC_ADDR, false)]);
    }

    /// The stages, run as a scan runs them on a block, keep exactly the flows `matches` keeps.
    #[test]
    fn staged_evaluation_equals_matches() {
        let mut rng = crate::gen::rng::Dice::new(7);
        let flows: Vec<Flow> = (0..4000)
            .map(|i| Flow {
                protocol: [6, 17, 1, 58, 47][rng.below(5) as usize],
                src_port: [53, 80, 443, 1024, 65535][rng.below(5) as usize],
                dst_port: [53, 80, 443, 3 << 8 | 1, 0][rng.below(5) as usize],
                tcp_flags: rng.below(64) as u8,
                tos: rng.below(4) as u8,
                packets: rng.below(20).into(),
                bytes: rng.below(20_000).into(),
                first_ms: 1000,
                last_ms: 1000 + u64::from(rng.below(100_000)),
                source: if i % 3 == 0 { FlowSource::Ipfix } else { FlowSource::NetflowV9 },
                ..Flow::EMPTY
            })
            .collect();
        for text in [
            "proto udp and dst port 53 and packets > 9",
            "port 53 or port 443",
            "not port 53",
            "proto tcp or dst port 80",
            "flags S and not flags A",
            "icmp-type 3 and icmp-code 1",
            "tos 2 and (proto 47 or src port > 1024) and bytes < 10k",
            "port in [53 80] and duration > 50",
            "dst port < 100 and src port >= 443 and bpp > 100",
        ] {
            let filter = Filter::compile(text).unwrap();
            let want: Vec<u32> =
                (0..flows.len() as u32).filter(|&i| filter.matches(&flows[i as usize])).collect();
            let got = Stages::of(&filter).row_filter(|rf| {
                let mut rows: Vec<u32> = (0..flows.len() as u32).collect();
                for stage in rf.stages {
                    match *stage {
                        StageTest::Values(sets) => rows.retain(|&r| {
                            let f = &flows[r as usize];
                            sets.iter().any(|s| s.has(column_value(f, s.column)))
                        }),
                        StageTest::Rows { pred, .. } => pred.retain(&flows, &mut rows),
                    }
                }
                rows
            });
            assert!(!want.is_empty() && want.len() < flows.len(), "{text}: a test that cannot fail");
            assert_eq!(got, want, "{text}");
        }
    }

    fn column_value(f: &Flow, c: Columns) -> u16 {
        match c {
            C::PROTOCOL => f.protocol.into(),
            C::SRC_PORT => f.src_port,
            C::DST_PORT => f.dst_port,
            C::TCP_FLAGS => f.tcp_flags.into(),
            C::TOS => f.tos.into(),
            C::SOURCE => f.source as u16,
            _ => panic!("not a value column: {c:?}"),
        }
    }
}
