//! AF_XDP capture (feature `xdp`): the XDP program (ebpf/wvnr_xdp.c, loaded by
//! `xdp_program`) redirects UDP datagrams for the collector's ports into one
//! AF_XDP socket per receive queue; everything else, IP fragments included,
//! goes on to the kernel, where the collector's UDP sockets keep reading.
//!
//! Each [`XdpQueue`] owns its socket and a UMEM of its own, and keeps the
//! frames that are neither in the fill ring nor in the RX ring on a free list:
//! the kernel takes fill-ring entries lazily, so frames it has not taken yet
//! are offered again after the next batch.

use std::io;
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use xsk_rs::config::{BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

use super::xdp_program::error_chain;

pub use super::xdp_program::{no_capability, unknown_interface, AttachMode, XdpProgram};

/// UMEM frame (chunk) size: one frame per packet, so frames longer than
/// `FRAME_BYTES - XDP_PACKET_HEADROOM` are left to the kernel by the program.
pub const FRAME_BYTES: u32 = 4096;
/// The kernel's XDP_PACKET_HEADROOM: reserved at the start of every frame.
const XDP_HEADROOM: u32 = 256;
/// Longest Ethernet frame an AF_XDP socket here takes (3840 bytes).
pub const MAX_FRAME: u32 = FRAME_BYTES - XDP_HEADROOM;
/// Frames per queue's UMEM (8 MiB).
const FRAMES: u32 = 2048;
/// Fill and RX ring entries (power of two; the rest of the frames wait on the free list).
const RING: u32 = 1024;
/// The TX ring is unused but libxdp always creates one.
const TX_RING: u32 = 64;
/// XSK statistics are read at most this often (one getsockopt).
const STATS_EVERY: Duration = Duration::from_secs(1);

/// What the kernel dropped or lacked on one AF_XDP socket (cumulative, XDP_STATISTICS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XskDrops {
    /// Dropped for reasons other than a full ring (e.g. no fill-ring frame in copy mode).
    pub rx_dropped: u64,
    /// Dropped because the RX ring was full: the worker fell behind.
    pub rx_ring_full: u64,
    /// Times the kernel found the fill ring empty.
    pub fill_ring_empty: u64,
}

impl XskDrops {
    /// Datagrams lost before the worker saw them, reported like SO_RXQ_OVFL.
    pub fn lost(&self) -> u64 {
        self.rx_dropped + self.rx_ring_full
    }
}

/// One receive queue's AF_XDP socket, its UMEM and its frames.
pub struct XdpQueue {
    pub queue: u32,
    pub zero_copy: bool,
    umem: Umem,
    fill: FillQueue,
    rx: RxQueue,
    // Kept for the socket's lifetime: libxdp unmaps the rings when the last handle goes.
    _comp: CompQueue,
    _tx: TxQueue,
    /// Frames owned by userspace and not yet handed to the fill ring.
    free: Vec<FrameDesc>,
    /// The last batch taken from the RX ring.
    batch: Vec<FrameDesc>,
    received: usize,
    drops: XskDrops,
    stats_read: Option<Instant>,
}

impl XdpQueue {
    /// Creates and binds the socket for `interface`/`queue`: zero-copy when the
    /// driver allows, else copy mode. The program is attached by the caller
    /// (libxdp is told not to load its own).
    pub fn bind(interface: &str, queue: u32, batch: usize) -> Result<XdpQueue> {
        match XdpQueue::bind_with(interface, queue, batch, true) {
            Ok(q) => Ok(q),
            // veth and drivers without AF_XDP zero-copy support answer EOPNOTSUPP (or EINVAL).
            Err(zc) if !is_permission(&zc) => XdpQueue::bind_with(interface, queue, batch, false)
                .with_context(|| format!("zero-copy bind failed too: {zc:#}")),
            Err(e) => Err(e),
        }
    }

    fn bind_with(interface: &str, queue: u32, batch: usize, zero_copy: bool) -> Result<XdpQueue> {
        let umem_cfg = UmemConfig::builder()
            .frame_size(FrameSize::new(FRAME_BYTES).map_err(|e| anyhow!("{e}"))?)
            .fill_queue_size(QueueSize::new(RING).map_err(|e| anyhow!("{e}"))?)
            .comp_queue_size(QueueSize::new(TX_RING).map_err(|e| anyhow!("{e}"))?)
            .build()
            .map_err(|e| anyhow!("{e}"))?;
        let frames = NonZeroU32::new(FRAMES).expect("nonzero");
        let (umem, free) = Umem::new(umem_cfg, frames, false).map_err(|e| socket_error("UMEM", &e))?;
        let mode = if zero_copy { BindFlags::XDP_ZEROCOPY } else { BindFlags::XDP_COPY };
        let socket_cfg = SocketConfig::builder()
            .rx_queue_size(QueueSize::new(RING).map_err(|e| anyhow!("{e}"))?)
            .tx_queue_size(QueueSize::new(TX_RING).map_err(|e| anyhow!("{e}"))?)
            .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
            .bind_flags(mode | BindFlags::XDP_USE_NEED_WAKEUP)
            .build();
        let name: Interface = interface.parse().map_err(|_| unknown_interface(interface))?;
        // SAFETY: the UMEM was created just above for this socket alone (not shared), so the
        // shared-UMEM double-free xsk-rs warns about cannot happen.
        let (tx, rx, rings) = unsafe { Socket::new(socket_cfg, &umem, &name, queue) }
            .map_err(|e| socket_error(&format!("AF_XDP socket on {interface} queue {queue}"), &e))?;
        let (fill, comp) = rings.context("libxdp returned no fill/completion rings for a fresh UMEM")?;
        let batch = vec![free[0]; batch.clamp(1, RING as usize)];
        let mut q = XdpQueue {
            queue,
            zero_copy,
            umem,
            fill,
            rx,
            _comp: comp,
            _tx: tx,
            free,
            batch,
            received: 0,
            drops: XskDrops::default(),
            stats_read: None,
        };
        q.refill();
        Ok(q)
    }

    pub fn raw_fd(&self) -> RawFd {
        self.rx.fd().as_raw_fd()
    }

    /// Takes up to one batch of frames from the RX ring (0 = none waiting).
    /// The previous batch must have been given back with [`XdpQueue::release`].
    pub fn recv(&mut self) -> usize {
        debug_assert_eq!(self.received, 0, "release the previous batch first");
        // SAFETY: `batch` only receives descriptors; the frames they name are now ours until
        // `release` hands them back to the kernel through the fill ring.
        self.received = unsafe { self.rx.consume(&mut self.batch) };
        self.received
    }

    /// Frame `i` of the last `recv` (Ethernet header first).
    pub fn frame(&self, i: usize) -> &[u8] {
        let desc = &self.batch[..self.received][i];
        // SAFETY: `desc` came from this socket's RX ring, so it names a frame of `self.umem`
        // that the kernel does not touch until `release` returns it on the fill ring; the
        // returned slice borrows `self`, so it cannot outlive that.
        unsafe { self.umem.data(desc) }.contents()
    }

    /// Gives the last batch's frames back and refills the fill ring.
    pub fn release(&mut self) {
        self.free.extend_from_slice(&self.batch[..self.received]);
        self.received = 0;
        self.refill();
    }

    /// Offers free frames to the fill ring, as many as it has room for (libxdp reserves
    /// all or nothing); the rest stay on the list for the next batch.
    fn refill(&mut self) {
        let room = self.fill.nb_free(self.free.len() as u32) as usize;
        let take = room.min(self.free.len());
        if take == 0 {
            return;
        }
        let keep = self.free.len() - take;
        // SAFETY: the frames on the free list belong to `self.umem` and are in no ring, so the
        // kernel may write into them as soon as they are on the fill ring.
        let given = unsafe { self.fill.produce(&self.free[keep..]) };
        if given == take {
            self.free.truncate(keep);
        }
        if given > 0 && self.fill.needs_wakeup() {
            // Zero-copy drivers sleep until woken; copy mode never asks.
            let _ = self.fill.wakeup(self.rx.fd_mut(), 0);
        }
    }

    /// The socket's drop counters, read at most once a second (`force`: now).
    pub fn drops(&mut self, force: bool) -> io::Result<XskDrops> {
        if !force && self.stats_read.is_some_and(|t| t.elapsed() < STATS_EVERY) {
            return Ok(self.drops);
        }
        let s = self.rx.fd().xdp_statistics()?;
        self.stats_read = Some(Instant::now());
        self.drops = XskDrops {
            rx_dropped: s.rx_dropped(),
            rx_ring_full: s.rx_ring_full(),
            fill_ring_empty: s.rx_fill_ring_empty_descs(),
        };
        Ok(self.drops)
    }
}

/// The attached program and one bound socket per receive queue of the interface.
pub struct XdpCapture {
    pub program: XdpProgram,
    pub queues: Vec<XdpQueue>,
}

impl XdpCapture {
    /// Attaches the program to `interface` and binds a socket on every receive queue.
    pub fn start(
        interface: &str,
        mode: AttachMode,
        ports: &[u16],
        listen: std::net::IpAddr,
        batch: usize,
    ) -> Result<XdpCapture> {
        let n_queues = rx_queue_count(interface)?;
        if n_queues > super::xdp_program::MAX_QUEUES {
            anyhow::bail!(
                "{interface} has {n_queues} receive queues; AF_XDP capture handles at most {}",
                super::xdp_program::MAX_QUEUES
            );
        }
        let mut program = XdpProgram::attach(interface, mode, ports, listen, MAX_FRAME)?;
        let mut queues = Vec::with_capacity(n_queues as usize);
        for q in 0..n_queues {
            let queue = XdpQueue::bind(interface, q, batch).map_err(|e| {
                if is_permission(&e) {
                    no_capability()
                } else {
                    e.context(format!("cannot bind an AF_XDP socket on {interface} queue {q}"))
                }
            })?;
            program.register_socket(q, &queue.raw_fd())?;
            queues.push(queue);
        }
        Ok(XdpCapture { program, queues })
    }
}

/// Receive queues of `interface`, from sysfs (one socket each).
pub fn rx_queue_count(interface: &str) -> Result<u32> {
    if interface.is_empty() || interface.contains('/') || interface == "." || interface == ".." {
        return Err(unknown_interface(interface));
    }
    let dir = std::path::Path::new("/sys/class/net").join(interface).join("queues");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(unknown_interface(interface)),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let n =
        entries.filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().starts_with("rx-")).count();
    Ok(n.max(1) as u32)
}

fn socket_error(what: &str, e: &(dyn std::error::Error + 'static)) -> anyhow::Error {
    anyhow!("cannot create the {what}: {}", error_chain(e))
}

fn is_permission(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}");
    text.contains("Operation not permitted") || text.contains("Permission denied")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_interfaces_are_named() {
        for name in ["no-such-if0", "", "../lo"] {
            let err = rx_queue_count(name).unwrap_err().to_string();
            assert!(err.contains("no network interface named"), "{err}");
        }
        assert!(rx_queue_count("lo").unwrap() >= 1);
    }

    #[test]
    fn drops_sum_what_was_lost() {
        let d = XskDrops { rx_dropped: 2, rx_ring_full: 3, fill_ring_empty: 7 };
        assert_eq!(d.lost(), 5);
    }
}
