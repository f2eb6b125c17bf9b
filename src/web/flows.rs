//! How one stored flow, a protocol number and TCP flags are shown: JSON rows
//! for the flows listing and the same columns as CSV.

use serde::Serialize;

use crate::flow::Flow;

/// Protocol number as nfdump names it, or the number.
pub fn protocol_name(p: u8) -> String {
    let name = match p {
        1 => "ICMP",
        2 => "IGMP",
        4 => "IPIP",
        6 => "TCP",
        17 => "UDP",
        41 => "IPv6",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        58 => "ICMP6",
        89 => "OSPF",
        103 => "PIM",
        112 => "VRRP",
        132 => "SCTP",
        _ => return p.to_string(),
    };
    name.to_string()
}

/// nfdump's flag column: `UAPRSF`, a dot for each flag not set.
pub fn tcp_flags(flags: u8) -> String {
    const NAMES: [(u8, char); 6] =
        [(0x20, 'U'), (0x10, 'A'), (0x08, 'P'), (0x04, 'R'), (0x02, 'S'), (0x01, 'F')];
    NAMES.iter().map(|(bit, c)| if flags & bit != 0 { *c } else { '.' }).collect()
}

#[derive(Serialize)]
pub struct FlowRow {
    pub first_ms: u64,
    pub last_ms: u64,
    pub received_ms: u64,
    pub duration_ms: u64,
    pub protocol: String,
    pub src_addr: String,
    pub src_port: u16,
    pub dst_addr: String,
    pub dst_port: u16,
    pub tcp_flags: String,
    pub tos: u8,
    pub packets: u64,
    pub bytes: u64,
    pub in_if: u32,
    pub out_if: u32,
    pub src_as: u32,
    pub dst_as: u32,
    pub exporter: String,
    pub source: &'static str,
    pub sampling: u32,
}

impl FlowRow {
    pub fn from_flow(f: &Flow) -> FlowRow {
        FlowRow {
            first_ms: f.first_ms,
            last_ms: f.last_ms,
            received_ms: f.received_ms,
            duration_ms: f.duration_ms(),
            protocol: protocol_name(f.protocol),
            src_addr: f.src_addr.to_string(),
            src_port: f.src_port,
            dst_addr: f.dst_addr.to_string(),
            dst_port: f.dst_port,
            tcp_flags: if f.protocol == crate::flow::proto::TCP {
                tcp_flags(f.tcp_flags)
            } else {
                String::new()
            },
            tos: f.tos,
            packets: f.packets,
            bytes: f.bytes,
            in_if: f.in_if,
            out_if: f.out_if,
            src_as: f.src_as,
            dst_as: f.dst_as,
            exporter: f.exporter.to_string(),
            source: f.source.as_str(),
            sampling: f.sampling,
        }
    }

    pub const CSV_HEADER: [&'static str; 20] = [
        "first_ms",
        "last_ms",
        "received_ms",
        "duration_ms",
        "protocol",
        "src_addr",
        "src_port",
        "dst_addr",
        "dst_port",
        "tcp_flags",
        "tos",
        "packets",
        "bytes",
        "in_if",
        "out_if",
        "src_as",
        "dst_as",
        "exporter",
        "source",
        "sampling",
    ];

    pub fn csv_fields(&self) -> [String; 20] {
        [
            self.first_ms.to_string(),
            self.last_ms.to_string(),
            self.received_ms.to_string(),
            self.duration_ms.to_string(),
            self.protocol.clone(),
            self.src_addr.clone(),
            self.src_port.to_string(),
            self.dst_addr.clone(),
            self.dst_port.to_string(),
            self.tcp_flags.clone(),
            self.tos.to_string(),
            self.packets.to_string(),
            self.bytes.to_string(),
            self.in_if.to_string(),
            self.out_if.to_string(),
            self.src_as.to_string(),
            self.dst_as.to_string(),
            self.exporter.clone(),
            self.source.to_string(),
            self.sampling.to_string(),
        ]
    }
}

/// A CSV document built row by row (RFC 4180 quoting).
#[derive(Default)]
pub struct Csv {
    out: String,
}

impl Csv {
    pub fn row<S: AsRef<str>>(&mut self, fields: impl IntoIterator<Item = S>) {
        for (i, field) in fields.into_iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            let f = field.as_ref();
            if f.contains([',', '"', '\n', '\r']) {
                self.out.push('"');
                self.out.push_str(&f.replace('"', "\"\""));
                self.out.push('"');
            } else {
                self.out.push_str(f);
            }
        }
        self.out.push_str("\r\n");
    }

    pub fn into_response(self, filename: &str) -> axum::response::Response {
        use axum::http::header;
        use axum::response::IntoResponse;
        let disposition = format!("attachment; filename=\"{filename}\"");
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            self.out,
        )
            .into_response()
    }

    #[cfg(test)]
    pub fn as_str(&self) -> &str {
        &self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_protocols() {
        assert_eq!(tcp_flags(0x1b), ".AP.SF");
        assert_eq!(tcp_flags(0), "......");
        assert_eq!(protocol_name(6), "TCP");
        assert_eq!(protocol_name(250), "250");
    }

    #[test]
    fn csv_quotes() {
        let mut c = Csv::default();
        c.row(["a", "b,c", "d\"e"]);
        assert_eq!(c.as_str(), "a,\"b,c\",\"d\"\"e\"\r\n");
    }
}
