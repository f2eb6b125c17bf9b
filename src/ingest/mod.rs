//! Receiving export datagrams: the recvmmsg socket path (`udp`) and, with the
//! `xdp` feature, AF_XDP. The only module with `unsafe`, each block commented.

pub mod udp;
