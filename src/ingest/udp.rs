//! The socket path: one `SO_REUSEPORT` UDP socket per (worker, port), read with
//! `recvmmsg` into buffers allocated once, with the kernel's drop counter
//! (`SO_RXQ_OVFL`) read from each batch's control messages.

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};

use anyhow::{Context, Result};
use socket2::{Domain, Protocol, Socket, Type};

/// Biggest datagram kept whole; longer ones arrive truncated and are counted.
pub const SLOT_BYTES: usize = 16 * 1024;
const CONTROL_BYTES: usize = 64;

/// A bound, non-blocking collector socket and what the kernel granted it.
pub struct CollectorSocket {
    pub socket: std::net::UdpSocket,
    /// Receive buffer the kernel actually gave (it doubles the asked value, capped at rmem_max).
    pub rcvbuf: usize,
}

/// Binds `addr` with SO_REUSEPORT (so every worker can own a socket on the
/// same port and the kernel spreads exporters over them by 4-tuple hash),
/// SO_RXQ_OVFL and the asked receive buffer.
pub fn bind_collector_socket(addr: SocketAddr, rcvbuf: usize) -> Result<CollectorSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .context("cannot create a UDP socket")?;
    socket.set_reuse_port(true).context("SO_REUSEPORT")?;
    if addr.is_ipv6() {
        // Accept IPv4 exporters on an IPv6 wildcard too, as most collectors do.
        let _ = socket.set_only_v6(false);
    }
    let _ = socket.set_recv_buffer_size(rcvbuf);
    set_rxq_ovfl(&socket);
    socket.set_nonblocking(true).context("O_NONBLOCK")?;
    socket.bind(&addr.into()).map_err(|e| bind_error(addr, e))?;
    let granted = socket.recv_buffer_size().unwrap_or(0);
    Ok(CollectorSocket { socket: socket.into(), rcvbuf: granted })
}

/// Checks that nobody else listens on `addr`'s port — not even another
/// collector with SO_REUSEPORT, which would silently share the traffic — by
/// binding it once without SO_REUSEPORT. Returns the port (a real one for port 0).
pub fn claim_port(addr: SocketAddr) -> Result<u16> {
    let probe = std::net::UdpSocket::bind(addr).map_err(|e| bind_error(addr, e))?;
    Ok(probe.local_addr().context("local address")?.port())
}

fn bind_error(addr: SocketAddr, e: io::Error) -> anyhow::Error {
    match e.kind() {
        io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "UDP port {} is in use: is another collector (nfcapd, a second wvnr) running? \
             change [[source]].port or stop it",
            addr.port()
        ),
        io::ErrorKind::PermissionDenied => anyhow::anyhow!(
            "not allowed to bind UDP {addr}: ports below 1024 need root or CAP_NET_BIND_SERVICE"
        ),
        io::ErrorKind::AddrNotAvailable => {
            anyhow::anyhow!("cannot bind UDP {addr}: no interface has that address ([collector].listen)")
        }
        _ => anyhow::anyhow!("cannot bind UDP {addr}: {e}"),
    }
}

fn set_rxq_ovfl(socket: &Socket) {
    let one: libc::c_int = 1;
    // SAFETY: a valid socket fd, a pointer to a live c_int and its exact size.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RXQ_OVFL,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Reusable receive buffers for `recvmmsg`: one slot per datagram of a batch.
pub struct RecvBatch {
    data: Vec<u8>,
    names: Vec<libc::sockaddr_storage>,
    control: Vec<[u8; CONTROL_BYTES]>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    received: usize,
    /// SO_RXQ_OVFL value in the last batch (the socket's cumulative drop count; 0 = none reported).
    pub kernel_drops: u32,
}

// SAFETY: the raw pointers inside iovecs/headers point only into this struct's
// own heap buffers, which move with it; nothing is shared between threads.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    pub fn new(slots: usize) -> RecvBatch {
        let slots = slots.max(1);
        // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
        let zero_name: libc::sockaddr_storage = unsafe { MaybeUninit::zeroed().assume_init() };
        RecvBatch {
            data: vec![0u8; slots * SLOT_BYTES],
            names: vec![zero_name; slots],
            control: vec![[0u8; CONTROL_BYTES]; slots],
            iovecs: Vec::with_capacity(slots),
            headers: Vec::with_capacity(slots),
            received: 0,
            kernel_drops: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.names.len()
    }

    /// One `recvmmsg` call (retried on EINTR): fills up to `capacity()` slots
    /// without blocking. Returns how many datagrams arrived (0 = none waiting).
    pub fn recv(&mut self, socket: &impl AsRawFd) -> io::Result<usize> {
        let slots = self.capacity();
        self.iovecs.clear();
        self.headers.clear();
        for i in 0..slots {
            self.iovecs.push(libc::iovec {
                iov_base: self.data[i * SLOT_BYTES..].as_mut_ptr() as *mut libc::c_void,
                iov_len: SLOT_BYTES,
            });
        }
        for i in 0..slots {
            // SAFETY: msghdr is plain old data; zero is valid and we set every field we use.
            let mut hdr: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
            hdr.msg_name = &mut self.names[i] as *mut libc::sockaddr_storage as *mut libc::c_void;
            hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_iov = &mut self.iovecs[i] as *mut libc::iovec;
            hdr.msg_iovlen = 1;
            hdr.msg_control = self.control[i].as_mut_ptr() as *mut libc::c_void;
            hdr.msg_controllen = CONTROL_BYTES as _;
            self.headers.push(libc::mmsghdr { msg_hdr: hdr, msg_len: 0 });
        }
        loop {
            // SAFETY: `headers` holds `slots` initialized mmsghdr whose iovecs, names and
            // control buffers point into buffers owned by `self` that outlive the call.
            let n = unsafe {
                libc::recvmmsg(
                    socket.as_raw_fd(),
                    self.headers.as_mut_ptr(),
                    slots as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n >= 0 {
                self.received = n as usize;
                self.kernel_drops = 0;
                self.read_drop_counter();
                return Ok(self.received);
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => {
                    self.received = 0;
                    return Ok(0);
                }
                _ => return Err(err),
            }
        }
    }

    fn read_drop_counter(&mut self) {
        for i in 0..self.received {
            let hdr = &self.headers[i].msg_hdr;
            // SAFETY: the kernel filled msg_control/msg_controllen for this message;
            // CMSG_FIRSTHDR/CMSG_NXTHDR stay within msg_controllen.
            unsafe {
                let mut cmsg = libc::CMSG_FIRSTHDR(hdr);
                while !cmsg.is_null() {
                    if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SO_RXQ_OVFL {
                        let value = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const u32);
                        self.kernel_drops = self.kernel_drops.max(value);
                    }
                    cmsg = libc::CMSG_NXTHDR(hdr, cmsg);
                }
            }
        }
    }

    /// Datagram `i` of the last `recv`: its bytes, sender, and whether it was truncated.
    pub fn datagram(&self, i: usize) -> (&[u8], Option<SocketAddr>, bool) {
        let hdr = &self.headers[i];
        let len = (hdr.msg_len as usize).min(SLOT_BYTES);
        let truncated = hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        let bytes = &self.data[i * SLOT_BYTES..i * SLOT_BYTES + len];
        (bytes, sockaddr_to_std(&self.names[i]), truncated)
    }
}

fn sockaddr_to_std(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match storage.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: ss_family says this storage holds a sockaddr_in.
            let sin = unsafe { &*(storage as *const libc::sockaddr_storage as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be(sin.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: ss_family says this storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(storage as *const libc::sockaddr_storage as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            // An IPv4 exporter seen through a dual-stack socket is reported as itself.
            let ip = ip.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(ip));
            Some(SocketAddr::new(ip, u16::from_be(sin6.sin6_port)))
        }
        _ => None,
    }
}

/// Hands a std socket to mio without copying it.
pub fn into_mio(socket: std::net::UdpSocket) -> mio::net::UdpSocket {
    // SAFETY: the fd comes from a live std UdpSocket whose ownership we take.
    mio::net::UdpSocket::from_std(unsafe { std::net::UdpSocket::from_raw_fd(socket.into_raw_fd()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recvmmsg_reads_a_batch_with_senders() {
        let rx = bind_collector_socket("127.0.0.1:0".parse().unwrap(), 1 << 20).unwrap();
        let port = rx.socket.local_addr().unwrap().port();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..5u8 {
            tx.send_to(&[i; 10], ("127.0.0.1", port)).unwrap();
        }
        let mut batch = RecvBatch::new(8);
        let mut got = Vec::new();
        for _ in 0..100 {
            let n = batch.recv(&rx.socket).unwrap();
            for i in 0..n {
                let (bytes, from, truncated) = batch.datagram(i);
                assert!(!truncated);
                assert_eq!(from, Some(tx.local_addr().unwrap()));
                got.push(bytes.to_vec());
            }
            if got.len() == 5 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(got, (0..5u8).map(|i| vec![i; 10]).collect::<Vec<_>>());
        assert_eq!(batch.recv(&rx.socket).unwrap(), 0);
        assert!(rx.rcvbuf > 0);
    }

    #[test]
    fn two_sockets_share_a_port_and_in_use_is_explained() {
        let a = bind_collector_socket("127.0.0.1:0".parse().unwrap(), 1 << 16).unwrap();
        let addr = a.socket.local_addr().unwrap();
        let _b = bind_collector_socket(addr, 1 << 16).expect("SO_REUSEPORT lets a second worker bind");
        let plain = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let taken = plain.local_addr().unwrap();
        let err = bind_collector_socket(taken, 1 << 16).err().unwrap().to_string();
        assert!(err.contains("is in use"), "{err}");
        // Another SO_REUSEPORT collector on the port is found too.
        let err = claim_port(addr).err().unwrap().to_string();
        assert!(err.contains("is in use"), "{err}");
        drop((a, _b));
        assert_eq!(claim_port(addr).unwrap(), addr.port());
    }
}
