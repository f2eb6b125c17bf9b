//! Arbitrary bytes, protocol sniffed per datagram: the path `wvnr serve` takes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Whole input as one datagram (what a single bad packet does) ...
    let mut dec = wvnr::decode::Decoder::new(wvnr_fuzz::small_config());
    let exporter = std::net::SocketAddr::from(([127, 0, 0, 1], 2055));
    dec.decode(data, exporter, 1_795_946_400_000, &mut |_| {});
    let _ = wvnr::wire::sniff(data);
    // ... and as a conversation of several datagrams from several exporters.
    wvnr_fuzz::decode_frames(data, None);
});
