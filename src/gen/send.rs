//! The syscall edge of the generator: one UDP socket per simulated exporter,
//! datagrams handed to the kernel with `sendmmsg` in batches, and the
//! SIGINT/SIGTERM flag the command line uses to stop cleanly.
//!
//! With UDP segmentation offload (Linux ≥ 4.18, on unless turned off) a run
//! of consecutive datagrams of one size (the last may be shorter) goes to the
//! kernel as one message of several iovecs with a `UDP_SEGMENT` size: the
//! kernel builds, routes and passes down one buffer and cuts it into the same
//! datagrams at the end (on loopback, just before the receiving socket), so
//! the receiver sees exactly what one message per datagram would have sent.
//! It saves the per-datagram IP output path, about 70 % of the kernel's cost
//! per datagram here. Where the kernel or the route refuses it (datagrams
//! above the path MTU: EMSGSIZE; a kernel before 4.18; before 6.11 also a
//! device without transmit checksum offload: EIO), the sender falls back to
//! one message per datagram for good.
//!
//! The sockets are not connected: a connected UDP socket reports the ICMP
//! "port unreachable" of an earlier datagram as an error on a later send,
//! which would make sending to a port nobody listens on fail at random.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Most datagrams one `sendmmsg` call carries.
pub const MAX_BATCH: usize = 64;
/// Send buffer asked for (the kernel caps it at `net.core.wmem_max`).
const SEND_BUFFER: usize = 4 << 20;
/// Most datagrams in one segmented message (the kernel's `UDP_MAX_SEGMENTS`
/// was 64 before Linux 6.9).
const GSO_MAX_SEGMENTS: usize = 64;
/// Most payload bytes in one segmented message: one IP packet, less headers, with room to spare.
const GSO_MAX_BYTES: usize = 65_000;
/// `SOL_UDP` / `UDP_SEGMENT` from <netinet/udp.h> (the libc crate has them only for some targets).
#[cfg(target_os = "linux")]
const SOL_UDP: libc::c_int = 17;
#[cfg(target_os = "linux")]
const UDP_SEGMENT: libc::c_int = 103;

/// A UDP socket bound to one exporter address, sending to one target.
pub struct BatchSender {
    socket: Socket,
    target: SockAddr,
    local: SocketAddr,
    /// Times the kernel said "no buffer space, try again" (the sender outran it).
    pub retries: u64,
    /// Send runs of equal-sized datagrams as one segmented message (see the module docs).
    segmentation: bool,
}

impl BatchSender {
    /// Binds `local` (port 0 picks one) and prepares to send to `target`.
    pub fn bind(local: SocketAddr, target: SocketAddr) -> io::Result<BatchSender> {
        let socket = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
        // Best effort: a larger buffer only smooths bursts.
        let _ = socket.set_send_buffer_size(SEND_BUFFER);
        socket.bind(&local.into())?;
        let local = socket.local_addr()?.as_socket().unwrap_or(local);
        Ok(BatchSender {
            socket,
            target: target.into(),
            local,
            retries: 0,
            segmentation: cfg!(target_os = "linux"),
        })
    }

    /// Turns UDP segmentation offload on or off (on by default on Linux).
    pub fn set_segmentation(&mut self, on: bool) {
        self.segmentation = on && cfg!(target_os = "linux");
    }

    /// Whether runs of datagrams still go out as segmented messages (false once the kernel refused one).
    pub fn segmentation(&self) -> bool {
        self.segmentation
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Sends every datagram of `batch` (in order), retrying what the kernel did
    /// not take. Returns an error only for a failure that retrying cannot fix.
    pub fn send_all<B: AsRef<[u8]>>(&mut self, batch: &[B]) -> io::Result<()> {
        let mut done = 0;
        while done < batch.len() {
            let end = batch.len().min(done + MAX_BATCH);
            match self.send_some(&batch[done..end]) {
                // Ok(0): the kernel refused a segmented message; resend it one by one.
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_transient(&e) => {
                    self.retries += 1;
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// One `sendmmsg` call for up to `MAX_BATCH` datagrams; how many the kernel took (≥ 1).
    #[cfg(target_os = "linux")]
    fn send_some<B: AsRef<[u8]>>(&mut self, batch: &[B]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let n = batch.len().min(MAX_BATCH);
        // SAFETY: iovec, mmsghdr and cmsghdr are plain C structs for which all-zero
        // bytes are a valid value (null pointers, zero lengths).
        let mut iovecs: [libc::iovec; MAX_BATCH] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut headers: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut controls: [SegmentControl; MAX_BATCH] = unsafe { std::mem::zeroed() };
        for (i, data) in batch[..n].iter().enumerate() {
            let data = data.as_ref();
            iovecs[i].iov_base = data.as_ptr() as *mut libc::c_void;
            iovecs[i].iov_len = data.len();
        }
        let mut messages = 0;
        let mut at = 0;
        while at < n {
            let len =
                if self.segmentation { segment_run(iovecs[at..n].iter().map(|v| v.iov_len)) } else { 1 };
            let hdr = &mut headers[messages].msg_hdr;
            hdr.msg_name = self.target.as_ptr() as *mut libc::c_void;
            hdr.msg_namelen = self.target.len();
            hdr.msg_iov = &mut iovecs[at];
            hdr.msg_iovlen = len;
            if len > 1 {
                let control = &mut controls[messages];
                control.header.cmsg_level = SOL_UDP;
                control.header.cmsg_type = UDP_SEGMENT;
                // SAFETY: CMSG_LEN only computes a length.
                control.header.cmsg_len = unsafe { libc::CMSG_LEN(2) } as _;
                control.segment_size = iovecs[at].iov_len as u16;
                hdr.msg_control = control as *mut SegmentControl as *mut libc::c_void;
                // SAFETY: as above.
                hdr.msg_controllen = unsafe { libc::CMSG_SPACE(2) } as _;
            }
            messages += 1;
            at += len;
        }
        // SAFETY: `headers[..messages]` are initialised above; each points at its
        // iovecs in `iovecs`, at `self.target` and (when segmented) at its control
        // message in `controls`, all of which outlive the call; each iovec points at
        // a datagram borrowed from `batch` for the whole call, and the kernel only
        // reads through these pointers (it writes `msg_len` fields, which we own).
        // The socket is a valid open UDP socket.
        let sent =
            unsafe { libc::sendmmsg(self.socket.as_raw_fd(), headers.as_mut_ptr(), messages as u32, 0) };
        if sent < 0 {
            let e = io::Error::last_os_error();
            if headers[0].msg_hdr.msg_iovlen > 1 && refuses_segmentation(&e) {
                // This kernel, device or route cannot segment: send one by one from now on.
                self.segmentation = false;
                return Ok(0);
            }
            return Err(e);
        }
        if sent == 0 {
            return Err(io::Error::from(io::ErrorKind::WouldBlock));
        }
        // The kernel counts messages; each carried `msg_iovlen` datagrams.
        Ok(headers[..sent as usize].iter().map(|h| h.msg_hdr.msg_iovlen).sum())
    }

    /// Portable fallback: one `sendto` per datagram.
    #[cfg(not(target_os = "linux"))]
    fn send_some<B: AsRef<[u8]>>(&mut self, batch: &[B]) -> io::Result<usize> {
        let mut n = 0;
        for data in batch.iter().take(MAX_BATCH) {
            match self.socket.send_to(data.as_ref(), &self.target) {
                Ok(_) => n += 1,
                Err(e) if n == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(n)
    }
}

/// CPU time (user + system) the calling thread has used so far: what a send
/// loop costs, whatever else the machine runs (benchmarks compare this).
pub fn thread_cpu_time() -> std::time::Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the whole call, and
    // CLOCK_THREAD_CPUTIME_ID is a clock id every supported Unix knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A control message carrying a `UDP_SEGMENT` size, laid out as `CMSG_SPACE(2)` bytes.
#[cfg(target_os = "linux")]
#[repr(C)]
struct SegmentControl {
    header: libc::cmsghdr,
    segment_size: u16,
}

/// How many of `datagrams` (from the first) one segmented message can carry:
/// those of the first one's size, then at most one shorter, as the kernel cuts
/// a message into equal segments and a short last one. An empty datagram goes
/// alone (as a last segment it would vanish).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn segment_run(mut sizes: impl Iterator<Item = usize>) -> usize {
    let size = match sizes.next() {
        Some(size) if size > 0 && size <= u16::MAX as usize => size,
        _ => return 1,
    };
    let mut bytes = size;
    let mut taken = 1;
    for len in sizes {
        if taken == GSO_MAX_SEGMENTS || len == 0 || len > size || bytes + len > GSO_MAX_BYTES {
            break;
        }
        taken += 1;
        bytes += len;
        if len < size {
            break;
        }
    }
    taken
}

/// Errors with which a kernel, device or route says it cannot segment UDP
/// (too old, no checksum offload before Linux 6.11, segments above the path MTU).
#[cfg(target_os = "linux")]
fn refuses_segmentation(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::EIO | libc::EOPNOTSUPP | libc::ENOPROTOOPT | libc::EMSGSIZE)
    )
}

/// Errors that mean "the kernel is busy": wait a moment and send again.
fn is_transient(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS)
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
    // SAFETY: `signal` is async-signal-safe; restoring the default action makes a
    // second Ctrl-C end the process at once.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
    }
}

/// A flag that becomes true on the first SIGINT or SIGTERM (installs the handlers
/// once). The command line passes it to `Generator::run` so totals are printed
/// after Ctrl-C.
pub fn interrupt_flag() -> &'static AtomicBool {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        for signal in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: the handler only stores to an atomic and calls `signal`, both
            // async-signal-safe; the function pointer is valid for the whole process.
            unsafe {
                libc::signal(signal, on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t);
            }
        }
    });
    &INTERRUPTED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_runs_are_equal_sizes_then_at_most_one_shorter() {
        let run = |sizes: &[usize]| segment_run(sizes.iter().copied());
        assert_eq!(run(&[100, 100, 100]), 3);
        assert_eq!(run(&[100, 100, 60, 60]), 3, "a shorter datagram ends the message");
        assert_eq!(run(&[100, 120, 100]), 1, "a longer one cannot follow");
        assert_eq!(run(&[100, 100, 0, 100]), 2, "an empty datagram is never a segment");
        assert_eq!(run(&[0, 0]), 1);
        assert_eq!(run(&[70_000, 70_000]), 1);
        assert_eq!(run(&[10; 100]), GSO_MAX_SEGMENTS);
        assert_eq!(run(&[1_400; 60]), GSO_MAX_BYTES / 1_400, "one IP packet's worth");
    }

    /// Sends `batch` a few datagrams at a time (the sink's receive buffer is
    /// small) and checks that each arrives on its own, in order, byte for byte,
    /// from the sender's address, and nothing else does.
    fn send_and_check(sink: &std::net::UdpSocket, tx: &mut BatchSender, batch: &[Vec<u8>]) {
        let mut buf = vec![0u8; 2048];
        for (c, chunk) in batch.chunks(50).enumerate() {
            tx.send_all(chunk).unwrap();
            for (i, want) in chunk.iter().enumerate() {
                let (n, from) = sink.recv_from(&mut buf).unwrap();
                let i = c * 50 + i;
                assert!(buf[..n] == want[..], "datagram {i}: {n} bytes arrived, {} sent", want.len());
                assert_eq!(from, tx.local_addr());
            }
        }
        sink.set_nonblocking(true).unwrap();
        assert!(sink.recv_from(&mut buf).is_err(), "nothing more arrived");
    }

    #[test]
    fn batches_arrive_in_order_and_complete() {
        // Runs of equal sizes, shorter and longer ones, empty datagrams: with and
        // without segmentation the receiver sees the same datagrams.
        let batch: Vec<Vec<u8>> = (0..300u32)
            .map(|i| {
                let len = match i % 50 {
                    0..=29 => 1_200,
                    30..=34 => 900,
                    35 => 0,
                    36..=44 => 4 * (1 + i as usize % 5),
                    _ => 1_400,
                };
                (0..len).map(|b| (i as usize * 7 + b) as u8).collect()
            })
            .collect();
        for segmentation in [true, false] {
            let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            sink.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
            let mut tx =
                BatchSender::bind("127.0.0.3:0".parse().unwrap(), sink.local_addr().unwrap()).unwrap();
            tx.set_segmentation(segmentation);
            assert_eq!(tx.local_addr().ip().to_string(), "127.0.0.3");
            send_and_check(&sink, &mut tx, &batch);
            assert_eq!(tx.segmentation(), segmentation && cfg!(target_os = "linux"), "loopback segments");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_refused_segmentation_falls_back_to_one_message_per_datagram() {
        // The kernel will not segment for a socket with UDP checksums off
        // (SO_NO_CHECK): the first segmented message fails with EINVAL, as it does
        // where the device cannot checksum or the segments exceed the path MTU.
        let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sink.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let mut tx = BatchSender::bind("127.0.0.4:0".parse().unwrap(), sink.local_addr().unwrap()).unwrap();
        let no_check: libc::c_int = 1;
        // SAFETY: a valid socket and a c_int option value that outlives the call.
        let rc = unsafe {
            use std::os::fd::AsRawFd;
            libc::setsockopt(
                tx.socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_NO_CHECK,
                &no_check as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
        let batch: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 500]).collect();
        send_and_check(&sink, &mut tx, &batch);
        assert!(!tx.segmentation(), "the refusal turned segmentation off");
    }

    #[test]
    fn sending_to_a_closed_port_is_not_an_error() {
        // Nobody listens: ICMP unreachable comes back, and unconnected sends ignore it.
        let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let target: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut tx = BatchSender::bind("127.0.0.1:0".parse().unwrap(), target).unwrap();
        for _ in 0..5 {
            tx.send_all(&[b"x".as_slice(); 10]).unwrap();
        }
    }
}
