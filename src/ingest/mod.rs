//! Receiving export datagrams: the recvmmsg socket path (`udp`) and, with the
//! `xdp` feature, AF_XDP. The only module with `unsafe`, each block commented.

pub mod udp;
#[cfg(feature = "xdp")]
pub mod xdp;
// Frame parsing is plain safe code: unit-tested in every build.
#[cfg(any(feature = "xdp", test))]
pub mod xdp_packet;
#[cfg(feature = "xdp")]
mod xdp_program;

/// Pins the calling thread to `core` (a warning, not an error, when the kernel refuses).
pub fn pin_to_core(core: usize) {
    // SAFETY: cpu_set_t is plain data; sched_setaffinity(0, ...) affects only this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            tracing::warn!("cannot pin worker to core {core}: {}", std::io::Error::last_os_error());
        }
    }
}
