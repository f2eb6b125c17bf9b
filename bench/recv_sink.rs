//! The yardstick for collector CPU cost: a bare recvmmsg receiver that only
//! counts datagrams and bytes, with the same socket setup as wvnr's workers
//! (SO_REUSEPORT, 32 MiB SO_RCVBUF, 64-datagram batches).
//!
//! Usage: recv-sink PORT [WORKERS]   — prints `datagrams N bytes N` on SIGINT/SIGTERM.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use wvnr::ingest::udp::{bind_collector_socket, RecvBatch};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or_else(|| {
        eprintln!("usage: recv-sink PORT [WORKERS]");
        std::process::exit(2)
    });
    let workers: usize = args.next().and_then(|w| w.parse().ok()).unwrap_or(1);
    // SAFETY: installing an async-signal-safe handler that only stores an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let datagrams = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut threads = Vec::new();
    for _ in 0..workers {
        let socket = bind_collector_socket(addr, 32 << 20).expect("bind");
        let (datagrams, bytes) = (datagrams.clone(), bytes.clone());
        threads.push(std::thread::spawn(move || {
            let mut batch = RecvBatch::new(64);
            let (mut d, mut b) = (0u64, 0u64);
            while !STOP.load(Ordering::Relaxed) {
                match batch.recv(&socket.socket) {
                    Ok(0) => wait_readable(&socket.socket),
                    Ok(n) => {
                        for i in 0..n {
                            d += 1;
                            b += batch.datagram(i).0.len() as u64;
                        }
                    }
                    Err(e) => panic!("recvmmsg: {e}"),
                }
            }
            datagrams.fetch_add(d, Ordering::Relaxed);
            bytes.fetch_add(b, Ordering::Relaxed);
        }));
    }
    eprintln!("recv-sink: listening on {addr} with {workers} sockets");
    for t in threads {
        t.join().unwrap();
    }
    println!("datagrams {} bytes {}", datagrams.load(Ordering::Relaxed), bytes.load(Ordering::Relaxed));
}

/// Blocks until the socket is readable (or 100 ms pass, to notice a stop).
fn wait_readable(socket: &std::net::UdpSocket) {
    let mut pfd = libc::pollfd { fd: socket.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd for a socket that outlives the call.
    unsafe {
        libc::poll(&mut pfd, 1, 100);
    }
}
