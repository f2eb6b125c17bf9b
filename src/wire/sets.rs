//! The set / flowset layer NetFlow v9 (RFC 3954 §5.2) and IPFIX (RFC 7011 §3.3)
//! share: a 4-byte header (id, length including the header) and a body, and
//! the template records inside template sets.

use super::WireError;

/// One set: its id (v9: 0 template, 1 options template, ≥ 256 data; IPFIX: 2, 3, ≥ 256)
/// and its body (after the 4-byte header, padding included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Set<'a> {
    pub id: u16,
    pub body: &'a [u8],
}

pub const SET_HEADER_LEN: usize = 4;

/// Iterates over the sets of a message body. Yields `Err` once (then stops)
/// when a set length is below 4 (`BadLength`) or runs past the end (`Truncated`).
/// Fewer than 4 trailing zero bytes are taken as padding.
#[derive(Debug, Clone)]
pub struct SetIter<'a> {
    rest: &'a [u8],
}

impl<'a> SetIter<'a> {
    pub fn new(body: &'a [u8]) -> SetIter<'a> {
        SetIter { rest: body }
    }
}

impl<'a> Iterator for SetIter<'a> {
    type Item = Result<Set<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        if rest.is_empty() || (rest.len() < SET_HEADER_LEN && rest.iter().all(|&b| b == 0)) {
            return None;
        }
        if rest.len() < SET_HEADER_LEN {
            self.rest = &[];
            return Some(Err(WireError::Truncated));
        }
        let id = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        if len < SET_HEADER_LEN {
            self.rest = &[];
            return Some(Err(WireError::BadLength));
        }
        if len > rest.len() {
            self.rest = &[];
            return Some(Err(WireError::Truncated));
        }
        self.rest = &rest[len..];
        Some(Ok(Set { id, body: &rest[SET_HEADER_LEN..len] }))
    }
}

/// One field specifier of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// Information element id (enterprise bit cleared).
    pub id: u16,
    /// Field length; 65535 = variable length (IPFIX).
    pub len: u16,
    /// IPFIX private enterprise number; 0 for IANA / v9 elements.
    pub enterprise: u32,
}

/// Which dialect a template record is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    V9,
    Ipfix,
}

/// A checked template or options template record.
#[derive(Debug, Clone, Copy)]
pub struct TemplateRecord<'a> {
    /// Template id (≥ 256 for a usable template).
    pub template_id: u16,
    /// All fields, scope fields first.
    pub field_count: u16,
    /// Leading scope fields (options templates); 0 for plain templates.
    pub scope_field_count: u16,
    dialect: Dialect,
    specs: &'a [u8],
}

impl<'a> TemplateRecord<'a> {
    /// True for an IPFIX template withdrawal (field count 0, RFC 7011 §8.1).
    #[inline]
    pub fn is_withdrawal(&self) -> bool {
        self.field_count == 0
    }

    /// The field specifiers, in order.
    pub fn fields(&self) -> FieldIter<'a> {
        FieldIter { rest: self.specs, dialect: self.dialect }
    }
}

/// Iterates over a checked template's field specifiers (cannot fail).
#[derive(Debug, Clone)]
pub struct FieldIter<'a> {
    rest: &'a [u8],
    dialect: Dialect,
}

impl Iterator for FieldIter<'_> {
    type Item = FieldSpec;

    fn next(&mut self) -> Option<FieldSpec> {
        let r = self.rest;
        if r.len() < 4 {
            return None;
        }
        let raw = u16::from_be_bytes([r[0], r[1]]);
        let len = u16::from_be_bytes([r[2], r[3]]);
        if self.dialect == Dialect::Ipfix && raw & 0x8000 != 0 && r.len() >= 8 {
            self.rest = &r[8..];
            let enterprise = u32::from_be_bytes([r[4], r[5], r[6], r[7]]);
            return Some(FieldSpec { id: raw & 0x7fff, len, enterprise });
        }
        self.rest = &r[4..];
        Some(FieldSpec { id: raw, len, enterprise: 0 })
    }
}

/// Most fields a template may have: more can't fit a 64 KiB message usefully
/// and would let one template cost unbounded work per record.
pub const MAX_TEMPLATE_FIELDS: u16 = 512;

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Parses one template record from the front of `buf` (a template set body when
/// `options` is false, an options template set body when true). Returns the
/// record and the bytes it used.
pub fn parse_template(
    buf: &[u8],
    dialect: Dialect,
    options: bool,
) -> Result<(TemplateRecord<'_>, usize), WireError> {
    let head = match (dialect, options) {
        (Dialect::V9, false) | (Dialect::Ipfix, false) => 4,
        (Dialect::V9, true) | (Dialect::Ipfix, true) => 6,
    };
    if buf.len() < 4 {
        return Err(WireError::Truncated);
    }
    let template_id = be16(buf, 0);
    let (field_count, scope_field_count) = match (dialect, options) {
        (_, false) => (be16(buf, 2), 0),
        (Dialect::V9, true) => {
            if buf.len() < head {
                return Err(WireError::Truncated);
            }
            // RFC 3954 §6.1: option scope length and option length are in bytes.
            let scope_len = be16(buf, 2);
            let opt_len = be16(buf, 4);
            if scope_len % 4 != 0 || opt_len % 4 != 0 {
                return Err(WireError::BadTemplate);
            }
            (scope_len / 4 + opt_len / 4, scope_len / 4)
        }
        (Dialect::Ipfix, true) => {
            let count = be16(buf, 2);
            if count == 0 {
                // A withdrawal carries only id and count (RFC 7011 §8.1).
                return Ok((
                    TemplateRecord { template_id, field_count: 0, scope_field_count: 0, dialect, specs: &[] },
                    4,
                ));
            }
            if buf.len() < head {
                return Err(WireError::Truncated);
            }
            (count, be16(buf, 4))
        }
    };
    if field_count == 0 && dialect == Dialect::Ipfix {
        // Withdrawal of one template, or of all (id = the set id, RFC 7011 §8.1).
        return Ok((TemplateRecord { template_id, field_count, scope_field_count, dialect, specs: &[] }, 4));
    }
    if template_id < 256 || field_count == 0 {
        return Err(WireError::BadTemplate);
    }
    if field_count > MAX_TEMPLATE_FIELDS
        || (options && (scope_field_count == 0 || scope_field_count > field_count))
    {
        return Err(WireError::BadTemplate);
    }
    let mut at = head;
    for _ in 0..field_count {
        if buf.len() < at + 4 {
            return Err(WireError::Truncated);
        }
        let raw = be16(buf, at);
        at += 4;
        if dialect == Dialect::Ipfix && raw & 0x8000 != 0 {
            if buf.len() < at + 4 {
                return Err(WireError::Truncated);
            }
            at += 4;
        }
    }
    Ok((TemplateRecord { template_id, field_count, scope_field_count, dialect, specs: &buf[head..at] }, at))
}

/// Appends zero bytes until `out.len() - start` is a multiple of 4 (v9 flowset padding).
pub fn pad4(out: &mut Vec<u8>, start: usize) {
    while (out.len() - start) % 4 != 0 {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_iter_walks_and_stops_on_bad_lengths() {
        let body = [1, 0, 0, 6, 0xaa, 0xbb, 2, 0, 0, 4, 0, 0];
        let sets: Vec<_> = SetIter::new(&body).collect();
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0], Ok(Set { id: 256, body: &[0xaa, 0xbb] }));
        assert_eq!(sets[1], Ok(Set { id: 512, body: &[] }));
        assert_eq!(SetIter::new(&[1, 0, 0, 0]).collect::<Vec<_>>(), vec![Err(WireError::BadLength)]);
        assert_eq!(SetIter::new(&[1, 0, 0, 9, 0]).collect::<Vec<_>>(), vec![Err(WireError::Truncated)]);
        assert_eq!(SetIter::new(&[1, 0]).collect::<Vec<_>>(), vec![Err(WireError::Truncated)]);
    }

    #[test]
    fn ipfix_template_with_enterprise_field() {
        let buf = [1, 0, 0, 2, 0, 8, 0, 4, 0x80, 1, 0, 2, 0, 0, 0x12, 0x34, 0xff];
        let (t, used) = parse_template(&buf, Dialect::Ipfix, false).unwrap();
        assert_eq!(used, 16);
        assert_eq!((t.template_id, t.field_count), (256, 2));
        let f: Vec<_> = t.fields().collect();
        assert_eq!(f[0], FieldSpec { id: 8, len: 4, enterprise: 0 });
        assert_eq!(f[1], FieldSpec { id: 1, len: 2, enterprise: 0x1234 });
    }

    #[test]
    fn v9_options_template_counts_bytes() {
        let buf = [1, 2, 0, 4, 0, 8, 0, 1, 0, 4, 0, 34, 0, 4, 0, 35, 0, 1];
        let (t, used) = parse_template(&buf, Dialect::V9, true).unwrap();
        assert_eq!((t.template_id, t.field_count, t.scope_field_count, used), (258, 3, 1, 18));
    }

    #[test]
    fn bad_templates() {
        assert_eq!(
            parse_template(&[0, 5, 0, 1, 0, 8, 0, 4], Dialect::V9, false).unwrap_err(),
            WireError::BadTemplate
        );
        assert_eq!(parse_template(&[1, 0, 0, 0], Dialect::V9, false).unwrap_err(), WireError::BadTemplate);
        assert_eq!(
            parse_template(&[1, 0, 0, 2, 0, 8, 0, 4], Dialect::V9, false).unwrap_err(),
            WireError::Truncated
        );
        let (w, used) = parse_template(&[1, 0, 0, 0], Dialect::Ipfix, false).unwrap();
        assert!(w.is_withdrawal() && used == 4);
    }
}
