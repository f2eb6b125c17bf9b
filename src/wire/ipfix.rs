//! SCAFFOLD: replaced by the real view + emit code. Only the encoder's name and
//! constructor are fixed here so other modules compile against them.

use super::{EncoderConfig, FlowEncoder};
use crate::flow::{Flow, FlowSource};

pub struct Encoder {
    cfg: EncoderConfig,
}

impl Encoder {
    pub fn new(cfg: EncoderConfig) -> Self {
        Encoder { cfg }
    }
}

impl FlowEncoder for Encoder {
    fn protocol(&self) -> FlowSource {
        FlowSource::Ipfix
    }
    fn max_flows_per_datagram(&self) -> usize {
        let _ = &self.cfg;
        1
    }
    fn encode(&mut self, _flows: &[Flow], _now_ms: u64, _out: &mut Vec<u8>) -> usize {
        panic!("scaffold encoder: not written yet")
    }
}
