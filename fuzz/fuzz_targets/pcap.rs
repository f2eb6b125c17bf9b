//! The pcap / pcapng reader on arbitrary files, each datagram it yields decoded
//! (what `wvnr decode FILE` and `wvnr ingest` do).
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use wvnr::decode::{Decoder, DecoderConfig};
use wvnr::pcap::CaptureReader;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = CaptureReader::new(Cursor::new(data)) else { return };
    let mut dec = Decoder::new(DecoderConfig { max_exporters: 3, ..wvnr_fuzz::small_config() });
    // Every datagram consumes at least a 12-byte record header: more than this
    // many means the reader stopped making progress.
    let bound = data.len() / 12 + 1;
    let mut n = 0;
    while let Ok(Some(d)) = reader.next_datagram() {
        n += 1;
        assert!(n <= bound, "reader yielded {n} datagrams from {} bytes", data.len());
        assert!(d.payload.len() <= data.len());
        dec.decode(&d.payload, d.src, d.time_ms, &mut |_| {});
    }
});
