//! A software prefetch, for loops whose next loads are known a little ahead
//! and would otherwise each wait on memory in turn.

/// Asks the CPU to start loading the cache line where `value` starts (a hint: no
/// effect on the program's results). Used where the addresses of upcoming loads
/// are known before the loads are needed: the generator's pre-encoded records a
/// few datagrams ahead (the kernel's work between batches leaves the hardware
/// prefetchers little to go on), a batch's rows in the collector's
/// direct-indexed tables.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing the program can observe and never faults;
    // SSE (which provides it) is part of every x86_64 CPU. The pointer comes
    // from a live reference.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
