//! The per-record patches (`Patches::apply`) in SSSE3, chosen at run time.
//! In a v5 record the first and last time, both ports and the protocol lie in
//! bytes 24..40: one load, two byte shuffles and a few lane-wise operations
//! re-time a record and move its ephemeral ports, against about 25 scalar
//! instructions. In the v9/IPFIX layouts the ports and protocol lie in one
//! 8-byte window and the 4-byte times in another, handled the same way in
//! one register (8-byte IPFIX times stay scalar). The results are the scalar
//! patches', bit for bit (the tests below compare them on random records).

use super::netflow::V5_RECORD;
use super::records::Patches;

/// `Patches::apply` for `V5_RECORD`, in SSSE3 when the CPU has it (`ssse3`:
/// `V5Patch::detect()`), else in scalar code.
#[derive(Clone, Copy, Debug)]
pub(super) struct V5Patch {
    ssse3: bool,
}

impl V5Patch {
    pub fn detect() -> V5Patch {
        #[cfg(target_arch = "x86_64")]
        let ssse3 = std::is_x86_feature_detected!("ssse3");
        #[cfg(not(target_arch = "x86_64"))]
        let ssse3 = false;
        V5Patch { ssse3 }
    }

    /// Scalar code whatever the CPU has (for tests).
    #[cfg(test)]
    pub fn scalar() -> V5Patch {
        V5Patch { ssse3: false }
    }

    /// As `V5_RECORD.apply(src, dst, shift, port_shift)`.
    #[inline(always)]
    pub fn apply(self, src: &[u8], dst: &mut [u8], shift: u64, port_shift: u16) {
        #[cfg(target_arch = "x86_64")]
        if self.ssse3 {
            // SAFETY: `ssse3` is true only when the CPU reported SSSE3 at run time.
            unsafe { x86::apply_v5(src, dst, shift as u32, port_shift) };
            return;
        }
        V5_RECORD.apply(src, dst, shift, port_shift)
    }
}

/// `Patches::apply` for any layout (v9, IPFIX): the ports (and 4-byte times)
/// in SSSE3 when the CPU has it, 8-byte times in scalar code.
#[derive(Clone, Copy, Debug)]
pub(super) struct LayoutPatch {
    ssse3: bool,
}

impl LayoutPatch {
    pub fn detect() -> LayoutPatch {
        LayoutPatch { ssse3: V5Patch::detect().ssse3 }
    }

    #[cfg(test)]
    pub fn scalar() -> LayoutPatch {
        LayoutPatch { ssse3: false }
    }

    /// As `patches.apply(src, dst, shift, port_shift)`.
    #[inline(always)]
    pub fn apply(self, patches: &Patches, src: &[u8], dst: &mut [u8], shift: u64, port_shift: u16) {
        #[cfg(target_arch = "x86_64")]
        if self.ssse3 {
            // SAFETY: `ssse3` is true only when the CPU reported SSSE3 at run time.
            unsafe { x86::apply_layout(patches, src, dst, shift, port_shift) };
            return;
        }
        patches.apply(src, dst, shift, port_shift)
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::Patches;
    use crate::gen::pool::EPHEMERAL;
    use crate::wire::netflow_v5::RECORD_LEN;

    /// Where the 16 patched bytes start in a record: first time (24), last
    /// time (28), source and destination port (32, 34), pad, TCP flags,
    /// protocol (38), ToS.
    const WINDOW: usize = 24;
    const _: () = assert!(WINDOW + 16 <= RECORD_LEN);

    /// Re-times the v5 records of `dst` (a copy of `src`) by `shift` and moves
    /// their ephemeral ports by `port_shift`, exactly as `Patches::apply`.
    ///
    /// # Safety
    /// The CPU must support SSSE3.
    #[target_feature(enable = "ssse3")]
    pub(super) unsafe fn apply_v5(src: &[u8], dst: &mut [u8], shift: u32, port_shift: u16) {
        // Window bytes to little-endian u32 lanes: first, last, source port, destination port.
        let to_lanes = _mm_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 9, 8, -1, -1, 11, 10, -1, -1);
        // And back; the last four bytes (pad, flags, protocol, ToS) are kept from the window.
        let from_lanes = _mm_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 9, 8, 13, 12, -1, -1, -1, -1);
        let kept = _mm_setr_epi32(0, 0, 0, -1);
        // The protocol (window byte 14) in the port lanes, zero in the time lanes.
        let protocol = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, 14, -1, -1, -1, 14, -1, -1, -1);
        let tcp = _mm_setr_epi32(0, 0, 6, 6);
        let udp = _mm_setr_epi32(0, 0, 17, 17);
        // A port's top bit marks it ephemeral (≥ EPHEMERAL = 2^15); the bits above the
        // low 15 of a port are never moved.
        let top = i32::from(EPHEMERAL);
        let port_top = _mm_setr_epi32(0, 0, top, top);
        let fixed = _mm_setr_epi32(0, 0, -top, -top);
        let ports = i32::from(port_shift & (EPHEMERAL - 1));
        let add = _mm_setr_epi32(shift as i32, shift as i32, ports, ports);
        for (s, d) in src.chunks_exact(RECORD_LEN).zip(dst.chunks_exact_mut(RECORD_LEN)) {
            // SAFETY: both chunks are RECORD_LEN bytes and WINDOW + 16 ≤ RECORD_LEN,
            // so the unaligned 16-byte load and store stay inside them.
            unsafe {
                let window = _mm_loadu_si128(s.as_ptr().add(WINDOW).cast());
                let lanes = _mm_shuffle_epi8(window, to_lanes);
                let proto = _mm_shuffle_epi8(window, protocol);
                // All ones in the time lanes (0 == 0), and in port lanes of TCP/UDP flows.
                let has_ports = _mm_or_si128(_mm_cmpeq_epi32(proto, tcp), _mm_cmpeq_epi32(proto, udp));
                // All ones in the time lanes (0 == 0), and in ephemeral port lanes.
                let ephemeral = _mm_cmpeq_epi32(_mm_and_si128(lanes, port_top), port_top);
                let moved = _mm_add_epi32(lanes, _mm_and_si128(add, _mm_and_si128(has_ports, ephemeral)));
                // Port lanes: the top bit as it was, the low 15 bits moved (no carry out).
                let lanes = _mm_or_si128(_mm_and_si128(lanes, fixed), _mm_andnot_si128(fixed, moved));
                let out = _mm_or_si128(_mm_shuffle_epi8(lanes, from_lanes), _mm_and_si128(window, kept));
                _mm_storeu_si128(d.as_mut_ptr().add(WINDOW).cast(), out);
            }
        }
    }

    /// Re-times the records of `dst` (a copy of `src`, records laid out as
    /// `p`) by `shift` and moves their ephemeral ports by `port_shift`, exactly
    /// as `Patches::apply`: the ports (8 bytes from `ports_at`: the ports, the
    /// protocol, three kept bytes) and 4-byte times (8 bytes from `first_at`)
    /// in one register, 8-byte times in scalar code.
    ///
    /// # Safety
    /// The CPU must support SSSE3.
    #[target_feature(enable = "ssse3")]
    pub(super) unsafe fn apply_layout(p: &Patches, src: &[u8], dst: &mut [u8], shift: u64, port_shift: u16) {
        let (ports_at, first_at) = (p.ports_at, p.first_at);
        assert!(ports_at + 8 <= p.size && first_at + 8 <= p.size && p.protocol_at == ports_at + 4);
        let short_times = p.time_len == 4;
        // Bytes 0..8: the ports window; 8..16: the times window (4-byte times).
        // To lanes: source port, destination port, first, last (little-endian u32s).
        let to_lanes = _mm_setr_epi8(1, 0, -1, -1, 3, 2, -1, -1, 11, 10, 9, 8, 15, 14, 13, 12);
        let from_lanes = _mm_setr_epi8(1, 0, 5, 4, -1, -1, -1, -1, 11, 10, 9, 8, 15, 14, 13, 12);
        let kept = _mm_setr_epi32(0, -1, 0, 0);
        // The protocol (byte 4) in the port lanes, zero in the time lanes.
        let protocol = _mm_setr_epi8(4, -1, -1, -1, 4, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
        let tcp = _mm_setr_epi32(6, 6, 0, 0);
        let udp = _mm_setr_epi32(17, 17, 0, 0);
        let top = i32::from(EPHEMERAL);
        let port_top = _mm_setr_epi32(top, top, 0, 0);
        let fixed = _mm_setr_epi32(-top, -top, 0, 0);
        let ports = i32::from(port_shift & (EPHEMERAL - 1));
        let add = _mm_setr_epi32(ports, ports, shift as i32, shift as i32);
        for (s, d) in src.chunks_exact(p.size).zip(dst.chunks_exact_mut(p.size)) {
            // SAFETY: both chunks are `p.size` bytes, and both 8-byte windows lie
            // inside a record (asserted above), so the 8-byte loads and stores stay
            // inside them.
            unsafe {
                let ports_window = _mm_loadl_epi64(s.as_ptr().add(ports_at).cast());
                let window = if short_times {
                    _mm_unpacklo_epi64(ports_window, _mm_loadl_epi64(s.as_ptr().add(first_at).cast()))
                } else {
                    ports_window
                };
                let lanes = _mm_shuffle_epi8(window, to_lanes);
                let proto = _mm_shuffle_epi8(window, protocol);
                // All ones in the time lanes (0 == 0), and in port lanes of TCP/UDP flows.
                let has_ports = _mm_or_si128(_mm_cmpeq_epi32(proto, tcp), _mm_cmpeq_epi32(proto, udp));
                // All ones in the time lanes (0 == 0), and in ephemeral port lanes.
                let ephemeral = _mm_cmpeq_epi32(_mm_and_si128(lanes, port_top), port_top);
                let moved = _mm_add_epi32(lanes, _mm_and_si128(add, _mm_and_si128(has_ports, ephemeral)));
                let lanes = _mm_or_si128(_mm_and_si128(lanes, fixed), _mm_andnot_si128(fixed, moved));
                let out = _mm_or_si128(_mm_shuffle_epi8(lanes, from_lanes), _mm_and_si128(window, kept));
                _mm_storel_epi64(d.as_mut_ptr().add(ports_at).cast(), out);
                if short_times {
                    _mm_storel_epi64(d.as_mut_ptr().add(first_at).cast(), _mm_unpackhi_epi64(out, out));
                }
            }
            if !short_times {
                for at in [first_at, first_at + 8] {
                    let t = u64::from_be_bytes(s[at..at + 8].try_into().expect("8 bytes"));
                    d[at..at + 8].copy_from_slice(&t.wrapping_add(shift).to_be_bytes());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::proto;
    use crate::gen::rng::Dice;

    /// Random records of `size` bytes with protocols and ports that exercise every case.
    fn records(p: &Patches, n: usize, seed: u64) -> Vec<u8> {
        let mut rng = Dice::new(seed);
        let mut src = vec![0u8; n * p.size];
        for b in src.iter_mut() {
            *b = rng.u32() as u8;
        }
        let protocols = [proto::TCP, proto::UDP, proto::ICMP, 0, 47, 255];
        // Edge ports: 0, just below and at the ephemeral range, its top.
        let edges = [0u16, 0x7fff, 0x8000, 0xffff];
        for (i, r) in src.chunks_exact_mut(p.size).enumerate() {
            r[p.protocol_at] = protocols[i % protocols.len()];
            if i % 3 == 0 {
                r[p.ports_at..p.ports_at + 2].copy_from_slice(&edges[i / 3 % 4].to_be_bytes());
                r[p.ports_at + 2..p.ports_at + 4].copy_from_slice(&edges[(i / 12) % 4].to_be_bytes());
            }
        }
        src
    }

    const SHIFTS: [(u64, u16); 6] =
        [(0, 0), (1, 1), (u64::MAX, 0x7fff), (1 << 33 | 5, 0x8000), (12_345, 0xffff), (999, 4097)];

    #[test]
    fn simd_v5_patch_matches_the_scalar_one() {
        let src = records(&V5_RECORD, 300, 7);
        for (shift, port_shift) in SHIFTS {
            let mut want = src.clone();
            V5Patch::scalar().apply(&src, &mut want, shift, port_shift);
            let mut got = src.clone();
            V5Patch::detect().apply(&src, &mut got, shift, port_shift);
            assert_eq!(got, want, "shift {shift}, port shift {port_shift}");
        }
    }

    #[test]
    fn simd_layout_patch_matches_the_scalar_one() {
        use super::super::netflow::{IPFIX_V4, IPFIX_V6, V9_V4, V9_V6};
        for p in [V9_V4, V9_V6, IPFIX_V4, IPFIX_V6] {
            let src = records(&p, 300, p.size as u64);
            for (shift, port_shift) in SHIFTS {
                let mut want = src.clone();
                LayoutPatch::scalar().apply(&p, &src, &mut want, shift, port_shift);
                let mut got = src.clone();
                LayoutPatch::detect().apply(&p, &src, &mut got, shift, port_shift);
                assert_eq!(got, want, "{p:?}: shift {shift}, port shift {port_shift}");
            }
        }
    }
}
