//! Datagram → `Flow`s: version dispatch, template caches, sampling, sequence tracking.

pub mod sflow;
pub mod stats;
