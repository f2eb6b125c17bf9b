//! Byte-level helpers for the segment format: LEB128 varints, zigzag, and a
//! bounds-checked reader that turns any truncation into an error (never a panic).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[inline]
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Family tag of an address column entry: 4 or 6 (the bytes that follow are 4 or 16).
#[inline]
pub fn put_addr(tags: &mut Vec<u8>, bytes: &mut Vec<u8>, addr: &IpAddr) {
    match addr {
        IpAddr::V4(a) => {
            tags.push(4);
            bytes.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            tags.push(6);
            bytes.extend_from_slice(&a.octets());
        }
    }
}

/// A checked cursor over a decoded block payload.
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline]
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        if self.remaining() < n {
            return Err(Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline]
    pub fn u8(&mut self) -> Result<u8, Truncated> {
        Ok(self.bytes(1)?[0])
    }

    #[inline]
    pub fn u16(&mut self) -> Result<u16, Truncated> {
        let b = self.bytes(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    #[inline]
    pub fn varint(&mut self) -> Result<u64, Truncated> {
        // Most stored values (counters, deltas) fit in one byte.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        self.varint_slow()
    }

    #[inline(never)]
    fn varint_slow(&mut self) -> Result<u64, Truncated> {
        // With ten bytes left (the longest varint) no byte needs its own bounds check.
        if let Some(ten) = self.buf.get(self.pos..self.pos + 10) {
            let mut v = 0u64;
            for (i, &b) in ten.iter().enumerate() {
                v |= u64::from(b & 0x7f) << (7 * i);
                if b < 0x80 {
                    self.pos += i + 1;
                    return Ok(v);
                }
            }
            return Err(Truncated);
        }
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Truncated)
    }

    /// Steps over `n` varints without decoding them.
    #[inline]
    pub fn skip_varints(&mut self, n: usize) -> Result<(), Truncated> {
        if n == 0 {
            return Ok(());
        }
        let mut left = n;
        let rest = &self.buf[self.pos..];
        // Whole 8-byte words while they hold fewer terminators than are left to skip: a
        // terminator is a byte below 0x80, so count the clear top bits.
        let mut at = 0;
        while at + 8 <= rest.len() {
            let w = u64::from_le_bytes(rest[at..at + 8].try_into().unwrap_or([0xff; 8]));
            let ends = (!w & 0x8080_8080_8080_8080).count_ones() as usize;
            if ends >= left {
                break;
            }
            left -= ends;
            at += 8;
        }
        for (i, &b) in rest[at..].iter().enumerate() {
            if b < 0x80 {
                left -= 1;
                if left == 0 {
                    self.pos += at + i + 1;
                    return Ok(());
                }
            }
        }
        Err(Truncated)
    }

    /// Steps over `n` bytes.
    #[inline]
    pub fn skip(&mut self, n: usize) -> Result<(), Truncated> {
        self.bytes(n).map(|_| ())
    }

    #[inline]
    pub fn varint_u32(&mut self) -> Result<u32, Truncated> {
        u32::try_from(self.varint()?).map_err(|_| Truncated)
    }

    #[inline]
    pub fn varint_u16(&mut self) -> Result<u16, Truncated> {
        u16::try_from(self.varint()?).map_err(|_| Truncated)
    }

    /// One address of a column whose tag was already read.
    #[inline]
    pub fn addr(&mut self, tag: u8) -> Result<IpAddr, Truncated> {
        match tag {
            4 => {
                let b = self.bytes(4)?;
                Ok(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))
            }
            6 => {
                let mut o = [0u8; 16];
                o.copy_from_slice(self.bytes(16)?);
                Ok(IpAddr::V6(Ipv6Addr::from(o)))
            }
            _ => Err(Truncated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip_and_truncation() {
        let vals = [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX];
        let mut out = Vec::new();
        for v in vals {
            put_varint(&mut out, v);
        }
        let mut c = Cursor::new(&out);
        for v in vals {
            assert_eq!(c.varint().unwrap(), v);
        }
        assert_eq!(c.varint(), Err(Truncated));
        let mut c = Cursor::new(&[0x80, 0x80]);
        assert_eq!(c.varint(), Err(Truncated));
        // The same values followed by padding (the ten-byte path) and an 11-byte run.
        out.extend_from_slice(&[0; 10]);
        let mut c = Cursor::new(&out);
        for v in vals {
            assert_eq!(c.varint().unwrap(), v);
        }
        assert_eq!(Cursor::new(&[0xff; 12]).varint(), Err(Truncated));
    }

    #[test]
    fn skipping_varints_lands_where_decoding_does() {
        let mut buf = Vec::new();
        for v in [0u64, 1, 127, 128, 300, u64::MAX, 5] {
            put_varint(&mut buf, v);
        }
        let mut a = Cursor::new(&buf);
        let mut b = Cursor::new(&buf);
        for _ in 0..6 {
            a.varint().unwrap();
        }
        b.skip_varints(6).unwrap();
        assert_eq!(a.pos, b.pos);
        assert_eq!(b.varint(), Ok(5));
        assert_eq!(Cursor::new(&buf).skip_varints(8), Err(Truncated));
        assert_eq!(Cursor::new(&buf).skip_varints(0), Ok(()));
        // Long runs (the word-at-a-time path) land where decoding does, at every count.
        let vals: Vec<u64> = (0..300u64).map(|i| (i * 2654435761) >> (i % 50)).collect();
        let mut buf = Vec::new();
        vals.iter().for_each(|&v| put_varint(&mut buf, v));
        for k in 0..=vals.len() {
            let mut a = Cursor::new(&buf);
            (0..k).for_each(|_| _ = a.varint().unwrap());
            let mut b = Cursor::new(&buf);
            b.skip_varints(k).unwrap();
            assert_eq!(a.pos, b.pos, "{k}");
        }
        assert_eq!(Cursor::new(&buf).skip_varints(vals.len() + 1), Err(Truncated));
    }

    #[test]
    fn zigzag_round_trip() {
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, -12345] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }
}
