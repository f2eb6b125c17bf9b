//! Several datagrams (see wvnr_fuzz::frames) decoded as Ipfix from a few exporters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wvnr::flow::FlowSource;

fuzz_target!(|data: &[u8]| wvnr_fuzz::decode_frames(data, Some(FlowSource::Ipfix)));
