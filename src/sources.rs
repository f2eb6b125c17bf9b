//! Which configured source a datagram belongs to: by the port it arrived on
//! and, where several sources share a port (NfSen's 9996), by exporter address.

use std::net::IpAddr;

use crate::config::{SourceConfig, SourceProtocol};
use crate::flow::{Flow, FlowSource};

/// The sources of one listening port.
#[derive(Clone, Debug)]
pub struct PortSources {
    pub port: u16,
    pub protocol: SourceProtocol,
    /// (source index, accepted exporters — empty = any)
    members: Vec<(usize, Vec<IpAddr>)>,
}

impl PortSources {
    /// The source for a datagram from `exporter`, or None when every source on
    /// this port lists its exporters and this one is not among them.
    #[inline]
    pub fn route(&self, exporter: IpAddr) -> Option<usize> {
        let mut catch_all = None;
        for (idx, exporters) in &self.members {
            if exporters.is_empty() {
                catch_all = Some(*idx);
            } else if exporters.contains(&exporter) {
                return Some(*idx);
            }
        }
        catch_all
    }
}

/// Every listening port with its sources, plus the rules for flows read back from the store.
#[derive(Clone, Debug)]
pub struct SourceRouter {
    pub sources: Vec<SourceConfig>,
    pub ports: Vec<PortSources>,
}

impl SourceRouter {
    pub fn new(sources: &[SourceConfig]) -> SourceRouter {
        let mut ports: Vec<PortSources> = Vec::new();
        for (i, s) in sources.iter().enumerate() {
            match ports.iter_mut().find(|p| p.port == s.port) {
                Some(p) => p.members.push((i, s.exporters.clone())),
                None => ports.push(PortSources {
                    port: s.port,
                    protocol: s.protocol,
                    members: vec![(i, s.exporters.clone())],
                }),
            }
        }
        SourceRouter { sources: sources.to_vec(), ports }
    }

    /// Whether a datagram of `protocol` is accepted on a port configured for `allowed`.
    pub fn accepts(allowed: SourceProtocol, protocol: FlowSource) -> bool {
        match allowed {
            SourceProtocol::Auto => true,
            SourceProtocol::Netflow => matches!(protocol, FlowSource::NetflowV5 | FlowSource::NetflowV9),
            SourceProtocol::Ipfix => protocol == FlowSource::Ipfix,
            SourceProtocol::Sflow => protocol == FlowSource::Sflow,
        }
    }

    /// The source for a datagram from `exporter` when the port is unknown (a capture
    /// on another port): a source that lists it, else the first catch-all source.
    pub fn source_for_exporter(&self, exporter: IpAddr) -> usize {
        self.sources
            .iter()
            .position(|s| s.exporters.contains(&exporter))
            .or_else(|| self.sources.iter().position(|s| s.exporters.is_empty()))
            .unwrap_or(0)
    }

    /// The source a stored flow most likely came through. The store keeps no port,
    /// so: a source that lists the flow's exporter, else the first source whose
    /// protocol accepts the flow's, else the first source.
    pub fn source_for_stored(&self, flow: &Flow) -> usize {
        if let Some(i) = self.sources.iter().position(|s| s.exporters.contains(&flow.exporter)) {
            return i;
        }
        self.sources
            .iter()
            .position(|s| s.exporters.is_empty() && Self::accepts(s.protocol, flow.source))
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_port_routes_by_exporter() {
        let mut a = SourceConfig::new("core", 9996, SourceProtocol::Auto);
        a.exporters = vec!["192.0.2.1".parse().unwrap()];
        let mut b = SourceConfig::new("edge", 9996, SourceProtocol::Auto);
        b.exporters = vec!["192.0.2.2".parse().unwrap()];
        let c = SourceConfig::new("sflow", 6343, SourceProtocol::Sflow);
        let r = SourceRouter::new(&[a, b, c]);
        assert_eq!(r.ports.len(), 2);
        let p = &r.ports[0];
        assert_eq!(p.route("192.0.2.1".parse().unwrap()), Some(0));
        assert_eq!(p.route("192.0.2.2".parse().unwrap()), Some(1));
        assert_eq!(p.route("192.0.2.3".parse().unwrap()), None);
        assert_eq!(r.ports[1].route("198.51.100.1".parse().unwrap()), Some(2));
        let f = Flow { source: FlowSource::Sflow, ..Flow::EMPTY };
        assert_eq!(r.source_for_stored(&f), 2);
    }

    #[test]
    fn protocol_restrictions() {
        assert!(SourceRouter::accepts(SourceProtocol::Netflow, FlowSource::NetflowV9));
        assert!(!SourceRouter::accepts(SourceProtocol::Netflow, FlowSource::Ipfix));
        assert!(SourceRouter::accepts(SourceProtocol::Auto, FlowSource::Sflow));
        assert!(!SourceRouter::accepts(SourceProtocol::Sflow, FlowSource::NetflowV5));
    }
}
