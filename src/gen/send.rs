//! The syscall edge of the generator: one UDP socket per simulated exporter,
//! datagrams handed to the kernel with `sendmmsg` in batches, and the
//! SIGINT/SIGTERM flag the command line uses to stop cleanly.
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

/// A UDP socket bound to one exporter address, sending to one target.
pub struct BatchSender {
    socket: Socket,
    target: SockAddr,
    local: SocketAddr,
    /// Times the kernel said "no buffer space, try again" (the sender outran it).
    pub retries: u64,
}

impl BatchSender {
    /// Binds `local` (port 0 picks one) and prepares to send to `target`.
    pub fn bind(local: SocketAddr, target: SocketAddr) -> io::Result<BatchSender> {
        let socket = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
        // Best effort: a larger buffer only smooths bursts.
        let _ = socket.set_send_buffer_size(SEND_BUFFER);
        socket.bind(&local.into())?;
        let local = socket.local_addr()?.as_socket().unwrap_or(local);
        Ok(BatchSender { socket, target: target.into(), local, retries: 0 })
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
        // SAFETY: iovec and mmsghdr are plain C structs for which all-zero bytes
        // are a valid value (null pointers, zero lengths).
        let mut iovecs: [libc::iovec; MAX_BATCH] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut headers: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
        for i in 0..n {
            let data = batch[i].as_ref();
            iovecs[i].iov_base = data.as_ptr() as *mut libc::c_void;
            iovecs[i].iov_len = data.len();
            let hdr = &mut headers[i].msg_hdr;
            hdr.msg_name = self.target.as_ptr() as *mut libc::c_void;
            hdr.msg_namelen = self.target.len();
            hdr.msg_iov = &mut iovecs[i];
            hdr.msg_iovlen = 1;
        }
        // SAFETY: `headers[..n]` are initialised above; each points at one iovec in
        // `iovecs` and at `self.target`, all of which outlive the call; each iovec
        // points at a datagram borrowed from `batch` for the whole call, and the
        // kernel only reads through these pointers (it writes `msg_len` fields,
        // which we own). The socket is a valid open UDP socket.
        let sent = unsafe { libc::sendmmsg(self.socket.as_raw_fd(), headers.as_mut_ptr(), n as u32, 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        if sent == 0 {
            return Err(io::Error::from(io::ErrorKind::WouldBlock));
        }
        Ok(sent as usize)
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
    fn batches_arrive_in_order_and_complete() {
        let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sink.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let mut tx = BatchSender::bind("127.0.0.3:0".parse().unwrap(), sink.local_addr().unwrap()).unwrap();
        assert_eq!(tx.local_addr().ip().to_string(), "127.0.0.3");
        let batch: Vec<Vec<u8>> = (0..150u32).map(|i| i.to_be_bytes().repeat(1 + i as usize % 5)).collect();
        tx.send_all(&batch).unwrap();
        let mut buf = [0u8; 64];
        for want in &batch {
            let (n, from) = sink.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], &want[..]);
            assert_eq!(from, tx.local_addr());
        }
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
