//! A read-only byte arena that asks the kernel for transparent huge pages.
//!
//! The replayed pool (`replay::Records`) is walked front to back, a few KB a
//! datagram, through megabytes of records. With 4 KiB pages every page costs
//! a TLB walk and the hardware prefetchers stop at each page boundary; in
//! 2 MiB pages both go away. Where THP is in `madvise` mode (the common
//! default), a mapping gets huge pages only when asked with
//! `madvise(MADV_HUGEPAGE)` before it is touched, and only for its 2 MiB
//! aligned stretches; so the arena over-allocates by 2 MiB, starts its bytes
//! on a 2 MiB boundary, and asks before copying. When the kernel refuses
//! (THP `never`, no THP at all, another OS) the arena is ordinary memory.

use std::ops::Deref;

/// The size of an x86_64 / aarch64 (4 KiB granule) transparent huge page.
const HUGE_PAGE: usize = 2 << 20;

/// `len` bytes that start on a 2 MiB boundary of a heap allocation, held
/// in huge pages where the kernel grants them.
pub struct HugeArena {
    buf: Vec<u8>,
    /// Where the bytes start in `buf` (the padding before is zeros).
    start: usize,
}

impl HugeArena {
    /// A copy of `data`; arenas under one huge page are plain heap memory.
    pub fn copy_of(data: &[u8]) -> HugeArena {
        if data.len() < HUGE_PAGE {
            return HugeArena { buf: data.to_vec(), start: 0 };
        }
        let span = data.len().next_multiple_of(HUGE_PAGE);
        let mut buf: Vec<u8> = Vec::with_capacity(span + HUGE_PAGE);
        let addr = buf.as_ptr() as usize;
        let start = addr.next_multiple_of(HUGE_PAGE) - addr;
        advise_huge(buf.as_mut_ptr().wrapping_add(start), span);
        buf.resize(start, 0);
        buf.extend_from_slice(data);
        HugeArena { buf, start }
    }
}

impl Deref for HugeArena {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

/// Asks for huge pages in `len` bytes from `at`; a refusal is not an error
/// (the memory stays in small pages).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn advise_huge(at: *mut u8, len: usize) {
    // SAFETY: `at..at + len` lies inside one live heap allocation owned by
    // the caller (`span + HUGE_PAGE` bytes of capacity, `at` less than
    // `HUGE_PAGE` past its start). MADV_HUGEPAGE only changes
    // the page size the kernel backs the range with, never its contents or
    // its mapping, so no Rust value can observe it.
    let _ = unsafe { libc::madvise(at.cast::<libc::c_void>(), len, libc::MADV_HUGEPAGE) };
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn advise_huge(_at: *mut u8, _len: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_a_copy_on_a_huge_page_boundary() {
        let data: Vec<u8> = (0..HUGE_PAGE * 3 + 12_345).map(|i| (i * 7 % 251) as u8).collect();
        let arena = HugeArena::copy_of(&data);
        assert_eq!(&arena[..], &data[..]);
        assert_eq!(arena.as_ptr() as usize % HUGE_PAGE, 0);
    }

    #[test]
    fn small_arenas_are_plain_copies() {
        for data in [vec![], vec![1u8, 2, 3], vec![9u8; HUGE_PAGE - 1]] {
            assert_eq!(&HugeArena::copy_of(&data)[..], &data[..]);
        }
    }
}
