//! Every filter primitive and the operator precedence, on crafted flows:
//! each row says which flows must match and which must not.

use std::net::IpAddr;

use wvnr::filter::Filter;
use wvnr::flow::Flow;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A TCP flow 10.0.0.1:1234 -> 192.168.1.2:80 with every field set to something distinct.
fn base() -> Flow {
    Flow {
        exporter: ip("127.0.0.9"),
        src_addr: ip("10.0.0.1"),
        dst_addr: ip("192.168.1.2"),
        next_hop: ip("172.16.0.254"),
        src_port: 1234,
        dst_port: 80,
        protocol: 6,
        tcp_flags: 0x12, // SYN+ACK
        tos: 16,
        src_mask: 8,
        dst_mask: 24,
        in_if: 3,
        out_if: 7,
        src_as: 64500,
        dst_as: 64501,
        src_vlan: 10,
        dst_vlan: 20,
        packets: 10,
        bytes: 1500,
        first_ms: 1_000_000,
        last_ms: 1_002_000, // 2 s: pps 5, bps 6000, bpp 150
        ..Flow::EMPTY
    }
}

fn v6() -> Flow {
    Flow {
        src_addr: ip("2001:db8::1"),
        dst_addr: ip("2001:db8:1::2"),
        next_hop: ip("::"),
        protocol: 17,
        src_port: 5353,
        dst_port: 53,
        ..base()
    }
}

fn icmp() -> Flow {
    Flow { protocol: 1, src_port: 0, dst_port: 3 << 8 | 1, tcp_flags: 0, ..base() }
}

/// (filter, flows that must match, flows that must not).
fn table() -> Vec<(&'static str, Vec<Flow>, Vec<Flow>)> {
    let b = base();
    vec![
        ("any", vec![b, v6()], vec![]),
        ("proto tcp", vec![b], vec![v6(), icmp()]),
        ("proto udp", vec![v6()], vec![b]),
        ("proto 6", vec![b], vec![v6()]),
        ("PROTO TCP", vec![b], vec![v6()]),
        ("proto icmp", vec![icmp()], vec![b]),
        ("proto icmp6", vec![Flow { protocol: 58, ..b }], vec![icmp()]),
        ("proto gre", vec![Flow { protocol: 47, ..b }], vec![b]),
        ("proto esp", vec![Flow { protocol: 50, ..b }], vec![b]),
        ("ipv4", vec![b], vec![v6()]),
        ("inet", vec![b], vec![v6()]),
        ("ipv6", vec![v6()], vec![b]),
        ("inet6", vec![v6()], vec![b]),
        ("ip 10.0.0.1", vec![b], vec![v6(), Flow { src_addr: ip("10.0.0.2"), ..b }]),
        ("host 192.168.1.2", vec![b], vec![Flow { dst_addr: ip("192.168.1.3"), ..b }]),
        (
            "src ip 10.0.0.1",
            vec![b],
            vec![Flow { src_addr: ip("192.168.1.2"), dst_addr: ip("10.0.0.1"), ..b }],
        ),
        ("dst ip 10.0.0.1", vec![Flow { dst_addr: ip("10.0.0.1"), ..b }], vec![b]),
        ("dst host 192.168.1.2", vec![b], vec![Flow { dst_addr: ip("10.0.0.1"), ..b }]),
        ("ip 2001:db8::1", vec![v6()], vec![b]),
        ("src ip 2001:db8::1", vec![v6()], vec![Flow { src_addr: ip("2001:db8::5"), ..v6() }]),
        ("net 10.0.0.0/8", vec![b], vec![Flow { src_addr: ip("11.0.0.1"), ..b }]),
        ("net 10.1.2.3/8", vec![b], vec![Flow { src_addr: ip("11.0.0.1"), ..b }]),
        ("src net 10.0.0.0 255.0.0.0", vec![b], vec![Flow { src_addr: ip("11.0.0.1"), ..b }]),
        ("dst net 192.168.0.0/16", vec![b], vec![Flow { dst_addr: ip("192.169.0.1"), ..b }]),
        ("dst net 10.0.0.0/8", vec![Flow { dst_addr: ip("10.9.9.9"), ..b }], vec![b]),
        ("net 2001:db8::/32", vec![v6()], vec![b]),
        ("net 0.0.0.0/0", vec![b], vec![v6()]),
        ("src net 2001:db8:1::/48", vec![Flow { src_addr: ip("2001:db8:1::9"), ..v6() }], vec![v6()]),
        ("ip in [10.0.0.1 172.16.0.0/12]", vec![b, Flow { src_addr: ip("172.20.0.1"), ..b }], vec![v6()]),
        ("ip in [10.0.0.9, 192.168.1.2]", vec![b], vec![Flow { dst_addr: ip("1.1.1.1"), ..b }]),
        ("src ip in [192.168.1.2]", vec![Flow { src_addr: ip("192.168.1.2"), ..b }], vec![b]),
        ("dst ip in [2001:db8:1::/48 10.0.0.0/8]", vec![v6()], vec![b]),
        ("port 80", vec![b, Flow { src_port: 80, dst_port: 9, ..b }], vec![v6()]),
        ("src port 1234", vec![b], vec![Flow { src_port: 80, dst_port: 1234, ..b }]),
        ("dst port 80", vec![b], vec![Flow { src_port: 80, dst_port: 9, ..b }]),
        ("port > 1233", vec![b], vec![Flow { src_port: 100, ..b }]),
        ("port < 81", vec![b], vec![Flow { dst_port: 81, ..b }]),
        ("src port >= 1234", vec![b], vec![Flow { src_port: 1233, ..b }]),
        ("src port <= 1234", vec![b], vec![Flow { src_port: 1235, ..b }]),
        ("dst port = 80", vec![b], vec![v6()]),
        ("dst port == 80", vec![b], vec![v6()]),
        ("dst port eq 80", vec![b], vec![v6()]),
        ("dst port gt 79", vec![b], vec![v6()]),
        ("dst port lt 81", vec![b], vec![Flow { dst_port: 81, ..b }]),
        ("dst port ge 80", vec![b], vec![v6()]),
        ("dst port le 80", vec![b], vec![Flow { dst_port: 81, ..b }]),
        ("port in [53 443]", vec![v6()], vec![b]),
        ("dst port in [53,80]", vec![b, v6()], vec![Flow { dst_port: 1, ..b }]),
        ("src port in [1234]", vec![b], vec![v6()]),
        ("src and dst port 80", vec![Flow { src_port: 80, ..b }], vec![b]),
        ("src or dst port 1234", vec![b, Flow { src_port: 1, dst_port: 1234, ..b }], vec![v6()]),
        ("src and dst net 10.0.0.0/8", vec![Flow { dst_addr: ip("10.1.1.1"), ..b }], vec![b]),
        ("icmp-type 3", vec![icmp()], vec![b, Flow { protocol: 6, dst_port: 3 << 8, ..b }]),
        ("icmp-code 1", vec![icmp()], vec![Flow { dst_port: 3 << 8, ..icmp() }]),
        ("icmp type 3 and icmp code 1", vec![icmp()], vec![Flow { dst_port: 8 << 8, ..icmp() }]),
        ("icmp-type 128", vec![Flow { protocol: 58, dst_port: 128 << 8, ..v6() }], vec![v6()]),
        ("if 3", vec![b, Flow { in_if: 1, out_if: 3, ..b }], vec![Flow { in_if: 1, ..b }]),
        ("in if 3", vec![b], vec![Flow { in_if: 7, out_if: 3, ..b }]),
        ("out if 7", vec![b], vec![Flow { out_if: 3, ..b }]),
        ("as 64500", vec![b], vec![Flow { src_as: 1, ..b }]),
        ("src as 64500", vec![b], vec![Flow { src_as: 64501, dst_as: 64500, ..b }]),
        ("dst as > 64500", vec![b], vec![Flow { dst_as: 64500, ..b }]),
        ("as in [1 64501]", vec![b], vec![Flow { src_as: 2, dst_as: 3, ..b }]),
        ("flags S", vec![b], vec![Flow { tcp_flags: 0x10, ..b }, Flow { protocol: 17, ..b }]),
        ("flags 0", vec![Flow { tcp_flags: 0, ..b }], vec![Flow { protocol: 17, tcp_flags: 0, ..b }]),
        ("not flags S", vec![Flow { protocol: 17, ..b }], vec![b]),
        ("flags AS", vec![b], vec![Flow { tcp_flags: 0x02, ..b }]),
        ("flags SA and not flags F", vec![b], vec![Flow { tcp_flags: 0x13, ..b }]),
        ("flags X", vec![Flow { tcp_flags: 0x3F, ..b }], vec![b]),
        ("flags 18", vec![b], vec![Flow { tcp_flags: 0x13, ..b }]),
        ("flags > 17", vec![b], vec![Flow { tcp_flags: 0x11, ..b }]),
        ("tos 16", vec![b], vec![Flow { tos: 0, ..b }]),
        ("tos > 8", vec![b], vec![Flow { tos: 8, ..b }]),
        ("src tos 16", vec![b], vec![Flow { tos: 1, ..b }]),
        ("router ip 127.0.0.9", vec![b], vec![Flow { exporter: ip("127.0.0.1"), ..b }]),
        ("router ip in [127.0.0.0/8]", vec![b], vec![Flow { exporter: ip("::1"), ..b }]),
        ("vlan 20", vec![b], vec![Flow { src_vlan: 1, dst_vlan: 2, ..b }]),
        ("src vlan 10", vec![b], vec![Flow { src_vlan: 20, ..b }]),
        ("dst vlan 20", vec![b], vec![Flow { dst_vlan: 10, ..b }]),
        ("mask 24", vec![b], vec![Flow { dst_mask: 16, ..b }]),
        ("src mask 8", vec![b], vec![Flow { src_mask: 24, ..b }]),
        ("dst mask 24", vec![b], vec![Flow { dst_mask: 8, ..b }]),
        ("next ip 172.16.0.254", vec![b], vec![v6()]),
        ("nexthop 172.16.0.254", vec![b], vec![v6()]),
        ("packets 10", vec![b], vec![Flow { packets: 11, ..b }]),
        ("packets > 9", vec![b], vec![Flow { packets: 9, ..b }]),
        ("in packets < 11", vec![b], vec![Flow { packets: 11, ..b }]),
        ("packets >= 1k", vec![Flow { packets: 1000, ..b }], vec![Flow { packets: 999, ..b }]),
        ("bytes > 1k", vec![b], vec![Flow { bytes: 1000, ..b }]),
        ("bytes < 1M", vec![b], vec![Flow { bytes: 1_000_000, ..b }]),
        ("bytes >= 2g", vec![Flow { bytes: 2_000_000_000, ..b }], vec![b]),
        ("duration 2000", vec![b], vec![Flow { last_ms: 1_002_001, ..b }]),
        ("duration > 1999", vec![b], vec![Flow { last_ms: 1_000_000, ..b }]),
        ("pps 5", vec![b], vec![Flow { packets: 20, ..b }]),
        ("bps > 5999", vec![b], vec![Flow { bytes: 1, ..b }]),
        ("bps < 6001", vec![b], vec![Flow { bytes: 15000, ..b }]),
        ("bpp 150", vec![b, Flow { bytes: 1509, ..b }], vec![Flow { bytes: 1510, ..b }]),
        ("# comment\nport 80 # another", vec![b], vec![v6()]),
        // Precedence: not > and > or.
        ("proto udp or proto tcp and port 1", vec![v6()], vec![b]),
        ("(proto udp or proto tcp) and port 1", vec![], vec![b, v6()]),
        ("not proto tcp and port 53", vec![v6()], vec![b]),
        ("not (proto tcp and port 53)", vec![b, v6()], vec![Flow { dst_port: 53, ..b }]),
        ("!proto tcp || port 80", vec![b, v6()], vec![Flow { dst_port: 1, ..b }]),
        ("proto tcp && port 80 || proto udp && port 53", vec![b, v6()], vec![Flow { protocol: 17, ..b }]),
        ("not not proto tcp", vec![b], vec![v6()]),
        ("port 53 or port 80 and proto udp", vec![v6()], vec![b]),
        ("NOT PROTO UDP AND SRC PORT 1234", vec![b], vec![v6()]),
    ]
}

#[test]
fn every_primitive_matches_and_rejects() {
    let mut failures = Vec::new();
    for (text, yes, no) in table() {
        let f = Filter::compile(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        for (i, flow) in yes.iter().enumerate() {
            if !f.matches(flow) {
                failures.push(format!("{text:?} should match flow #{i}"));
            }
        }
        for (i, flow) in no.iter().enumerate() {
            if f.matches(flow) {
                failures.push(format!("{text:?} should not match flow #{i}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_point_at_the_column_and_say_what_was_expected() {
    let cases: &[(&str, usize, &str)] = &[
        ("port abc", 6, "expected a port number after 'port', found 'abc'"),
        ("src port abc", 10, "expected a port number after 'port', found 'abc'"),
        ("port", 5, "expected a port number after 'port', found the end of the filter"),
        ("port 70000", 6, "a port number 70000 is out of range 0..65535"),
        ("proto tcp and", 14, "expected a filter primitive, 'not' or '(', found the end of the filter"),
        ("proto foo", 7, "unknown protocol 'foo'"),
        ("proto 300", 7, "protocol number 300 is out of range 0..255"),
        ("(port 80", 9, "expected ')' to close the '(' at column 1, found the end of the filter"),
        ("port 80)", 8, "expected 'and', 'or' or the end of the filter, found ')'"),
        ("port 80 port 81", 9, "expected 'and', 'or' or the end of the filter, found 'port'"),
        ("bogus", 1, "expected a filter primitive such as"),
        (
            "src proto tcp",
            5,
            "expected 'ip', 'host', 'net', 'port', 'as', 'vlan', 'mask' or 'tos' after 'src'",
        ),
        ("net 10.0.0.0/33", 5, "too many netbits in '10.0.0.0/33': at most 32"),
        (
            "net 10.0.0.0 foo",
            14,
            "expected a netmask such as 255.255.255.0 after 'net 10.0.0.0', found 'foo'",
        ),
        ("ip 10.0.0.0/8", 4, "(for a network write 'net 10.0.0.0/8')"),
        ("ip example.com", 4, "wvnr does not resolve host names"),
        ("ip in [10.0.0.1", 16, "expected ']' to close the list opened at column 7"),
        ("port in []", 10, "empty list"),
        ("port in [80 x]", 13, "expected a port number after 'port in [', found 'x'"),
        ("flags s", 7, "expected TCP flags (upper-case letters A S P R F U, X for all)"),
        ("flags 64", 7, "TCP flags value 64 is out of range 0..63"),
        ("vlan > 3", 6, "'vlan' takes a plain number, not a comparison"),
        ("packets > lots", 11, "expected a number after 'packets', found 'lots'"),
        ("icmp 3", 6, "expected 'type' or 'code' after 'icmp'"),
        ("mac 00:11:22:33:44:55", 1, "'mac' is an nfdump filter primitive that wvnr does not support"),
        ("out packets 3", 5, "'out packets' / 'out bytes' are not supported"),
        ("port 80 & port 81", 9, "unexpected '&': write '&&' or 'and'"),
        ("port != 80", 6, "'!=' is not an nfdump comparator"),
        ("port ; 80", 6, "unexpected character ';'"),
        ("router 1.2.3.4", 8, "expected 'ip' after 'router', found '1.2.3.4'"),
    ];
    let mut failures = Vec::new();
    for &(text, column, message) in cases {
        match Filter::compile(text) {
            Ok(_) => failures.push(format!("{text:?} compiled")),
            Err(e) => {
                if e.column != column || !e.message.contains(message) {
                    failures.push(format!(
                        "{text:?}: got column {} {:?}, want {column} {message:?}",
                        e.column, e.message
                    ));
                }
                assert!(e.to_string().starts_with(&format!("filter error at column {}: ", e.column)));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn columns_count_characters_not_bytes() {
    let e = Filter::compile("# é\nport x").unwrap_err();
    assert_eq!(e.column, 10);
}

#[test]
fn hostile_input_is_an_error_not_a_panic() {
    for text in
        ["[[[[", "]]", "port in [", "src and", "src or dst", "net", "ip in", "((((", "!", "0x", "port 0xZZ"]
    {
        assert!(Filter::compile(text).is_err(), "{text:?}");
    }
    let long_list = format!("port in [{}]", (0..60000).map(|p| p.to_string()).collect::<Vec<_>>().join(" "));
    let f = Filter::compile(&long_list).unwrap();
    assert!(f.matches(&Flow { dst_port: 59999, ..Flow::EMPTY }));
    assert!(!f.matches(&Flow { src_port: 60001, dst_port: 60001, ..Flow::EMPTY }));
}
