//! The TOML configuration of `wvnr serve`. Every key has a default that works,
//! unknown keys are rejected (a typo must not silently do nothing), and
//! `validate` turns a bad value into one line that says what to fix.
//! docs/configuration.md documents every key.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub collector: CollectorConfig,
    pub store: StoreSection,
    pub web: WebConfig,
    pub decoder: DecoderSection,
    /// Scale-out: `[export.clickhouse]` (docs/scale-out.md).
    pub export: crate::export::ExportSection,
    /// Listening ports, NfSen's "sources". Empty = the defaults (2055 auto, 4739 IPFIX, 6343 sFlow).
    #[serde(rename = "source")]
    pub sources: Vec<SourceConfig>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    /// Address the UDP sockets bind to.
    pub listen: IpAddr,
    /// Worker threads (one socket per port each, SO_REUSEPORT); 0 = one per core.
    pub workers: usize,
    /// Pin worker i to core i.
    pub pin_workers: bool,
    /// SO_RCVBUF asked for each socket, bytes (the kernel caps it at net.core.rmem_max).
    pub rcvbuf: usize,
    /// Datagrams read per recvmmsg call.
    pub batch: usize,
    /// "socket" (recvmmsg), or "xdp": AF_XDP on `interface` beside the sockets
    /// (needs a build with `--features xdp`; docs/deployment.md).
    pub capture: String,
    /// Network interface for AF_XDP capture.
    pub interface: Option<String>,
    /// Where the XDP program runs: "auto" (native, else generic), "native" or "generic".
    pub xdp_mode: String,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            listen: IpAddr::from([0, 0, 0, 0]),
            workers: 0,
            pin_workers: false,
            rcvbuf: 32 << 20,
            batch: 64,
            capture: "socket".into(),
            interface: None,
            xdp_mode: "auto".into(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// Data directory (raw flows, rollups, profiles).
    pub dir: PathBuf,
    /// Delete buckets older than this ("30d", "12h", ...; "0" = keep forever). NfSen's expire.
    pub max_age: String,
    /// Delete the oldest buckets while the store is larger than this ("100G", "500M"; "0" = no cap). NfSen's maxsize.
    pub max_size: String,
    /// Raw flows are made durable at least this often, milliseconds.
    pub flush_ms: u64,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            dir: PathBuf::from("data"),
            max_age: "30d".into(),
            max_size: "0".into(),
            flush_ms: 1000,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Where the web report listens; "" disables it.
    pub listen: String,
    /// Token that allows editing channels from the page (sent as X-Wvnr-Token); unset = read-only.
    pub admin_token: Option<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig { listen: "127.0.0.1:8080".into(), admin_token: None }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecoderSection {
    /// Most exporters one worker tracks (templates, sequences); more are counted and dropped.
    pub max_exporters: usize,
    /// Most templates one exporter may define.
    pub max_templates: usize,
}

impl Default for DecoderSection {
    fn default() -> Self {
        DecoderSection { max_exporters: 4096, max_templates: 256 }
    }
}

/// Which protocols a source's port accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceProtocol {
    /// NetFlow v5/v9, IPFIX or sFlow, detected per datagram.
    Auto,
    /// NetFlow v5 or v9.
    Netflow,
    Ipfix,
    Sflow,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    pub port: u16,
    #[serde(default = "SourceConfig::default_protocol")]
    pub protocol: SourceProtocol,
    /// Exporter addresses this source accepts; empty = any. Several sources may
    /// share a port and be told apart this way (NfSen's port 9996).
    #[serde(default)]
    pub exporters: Vec<IpAddr>,
    /// Sampling interval to apply to this source's flows, overriding what the exporter says.
    #[serde(default)]
    pub sampling: Option<u32>,
}

impl SourceConfig {
    fn default_protocol() -> SourceProtocol {
        SourceProtocol::Auto
    }

    pub fn new(name: &str, port: u16, protocol: SourceProtocol) -> SourceConfig {
        SourceConfig { name: name.into(), port, protocol, exporters: Vec::new(), sampling: None }
    }
}

impl Config {
    /// Reads `path`; a missing `path` (None) gives the defaults.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let Some(path) = path else { return Ok(Config::default()) };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        Config::parse(&text).with_context(|| format!("config {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Config> {
        // toml's messages name the line, the column and the unknown key; keep them on one line.
        let cfg: Config =
            toml::from_str(text).map_err(|e| anyhow::anyhow!(e.to_string().replace('\n', " ")))?;
        Ok(cfg)
    }

    /// The sources in force: the configured ones, or the defaults.
    pub fn effective_sources(&self) -> Vec<SourceConfig> {
        if !self.sources.is_empty() {
            return self.sources.clone();
        }
        vec![
            SourceConfig::new("netflow", 2055, SourceProtocol::Auto),
            SourceConfig::new("ipfix", 4739, SourceProtocol::Ipfix),
            SourceConfig::new("sflow", 6343, SourceProtocol::Sflow),
        ]
    }

    pub fn worker_count(&self) -> usize {
        match self.collector.workers {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            n => n,
        }
    }

    pub fn web_addr(&self) -> Result<Option<SocketAddr>> {
        if self.web.listen.is_empty() {
            return Ok(None);
        }
        let addr = self.web.listen.parse().with_context(|| {
            format!("[web].listen {:?} is not an address:port (e.g. 127.0.0.1:8080)", self.web.listen)
        })?;
        Ok(Some(addr))
    }

    pub fn max_age_secs(&self) -> Result<Option<u64>> {
        parse_duration(&self.store.max_age).with_context(|| {
            format!("[store].max_age {:?}: use e.g. 30d, 12h, 0 to keep forever", self.store.max_age)
        })
    }

    pub fn max_size_bytes(&self) -> Result<Option<u64>> {
        parse_size(&self.store.max_size).with_context(|| {
            format!("[store].max_size {:?}: use e.g. 100G, 500M, 0 for no cap", self.store.max_size)
        })
    }

    /// Checks everything a running collector relies on; the error says which key to fix.
    pub fn validate(&self) -> Result<()> {
        self.max_age_secs()?;
        self.max_size_bytes()?;
        self.web_addr()?;
        if self.collector.batch == 0 || self.collector.batch > 1024 {
            bail!("[collector].batch must be 1..=1024 (datagrams per recvmmsg call)");
        }
        match self.collector.capture.as_str() {
            "socket" => {}
            "xdp" if !cfg!(feature = "xdp") => bail!(
                "[collector].capture = \"xdp\": this wvnr was built without AF_XDP support; \
                 rebuild with `cargo build --release --features xdp` or use \"socket\""
            ),
            "xdp" => {
                if self.collector.interface.as_deref().unwrap_or("").is_empty() {
                    bail!("[collector].capture = \"xdp\" needs [collector].interface (or --interface IF)");
                }
            }
            other => bail!("[collector].capture {other:?} is not \"socket\" or \"xdp\""),
        }
        if !matches!(self.collector.xdp_mode.as_str(), "auto" | "native" | "generic") {
            bail!(
                "[collector].xdp_mode {:?} is not \"auto\", \"native\" or \"generic\"",
                self.collector.xdp_mode
            );
        }
        let sources = self.effective_sources();
        for (i, s) in sources.iter().enumerate() {
            if s.name.is_empty() || !s.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                bail!("[[source]] #{}: name {:?} must be letters, digits, '-' or '_'", i + 1, s.name);
            }
            if s.port == 0 {
                bail!("[[source]] {:?}: port must be 1..=65535", s.name);
            }
            if s.sampling == Some(0) {
                bail!("[[source]] {:?}: sampling must be at least 1", s.name);
            }
            if sources[..i].iter().any(|o| o.name == s.name) {
                bail!("[[source]] {:?} is defined twice", s.name);
            }
            // Several sources on one port must each name their exporters, or datagrams
            // could not be told apart; one catch-all source per port is fine.
            let same_port: Vec<_> = sources.iter().filter(|o| o.port == s.port).collect();
            if same_port.len() > 1 && s.exporters.is_empty() {
                bail!(
                    "[[source]] {:?} shares port {} with other sources: give it an `exporters = [...]` list",
                    s.name,
                    s.port
                );
            }
            if let Some(o) = same_port.iter().find(|o| o.name != s.name && o.protocol != s.protocol) {
                bail!(
                    "[[source]] {:?} and {:?} share port {} but differ in protocol",
                    s.name,
                    o.name,
                    s.port
                );
            }
        }
        Ok(())
    }
}

/// "30d", "12h", "90m", "45s", "2w"; "0" or "" = None.
pub fn parse_duration(s: &str) -> Result<Option<u64>> {
    let s = s.trim();
    if s.is_empty() || s == "0" {
        return Ok(None);
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().with_context(|| format!("{s:?} does not start with a number"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => bail!("unknown unit {unit:?} (use s, m, h, d or w)"),
    };
    Ok(Some(n.checked_mul(mult).context("duration too large")?))
}

/// "100G", "500M", "64K", "1T", plain bytes; "0" or "" = None. Powers of 1024.
pub fn parse_size(s: &str) -> Result<Option<u64>> {
    let s = s.trim();
    if s.is_empty() || s == "0" {
        return Ok(None);
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().with_context(|| format!("{s:?} does not start with a number"))?;
    let mult: u64 = match unit.trim_end_matches(['B', 'b']) {
        "" => 1,
        "K" | "k" => 1 << 10,
        "M" | "m" => 1 << 20,
        "G" | "g" => 1 << 30,
        "T" | "t" => 1 << 40,
        _ => bail!("unknown unit {unit:?} (use K, M, G or T)"),
    };
    Ok(Some(n.checked_mul(mult).context("size too large")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_has_working_defaults() {
        let c = Config::parse("").unwrap();
        c.validate().unwrap();
        let ports: Vec<u16> = c.effective_sources().iter().map(|s| s.port).collect();
        assert_eq!(ports, vec![2055, 4739, 6343]);
        assert_eq!(c.max_age_secs().unwrap(), Some(30 * 86400));
        assert_eq!(c.max_size_bytes().unwrap(), None);
    }

    #[test]
    fn unknown_key_is_rejected_with_its_name() {
        let err = Config::parse("[collector]\nworkerz = 4\n").unwrap_err().to_string();
        assert!(err.contains("workerz"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn shared_port_needs_exporter_lists() {
        let c = Config::parse(
            "[[source]]\nname='a'\nport=9996\nexporters=['192.0.2.1']\n[[source]]\nname='b'\nport=9996\n",
        )
        .unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("\"b\" shares port 9996"), "{err}");
        let ok = Config::parse(
            "[[source]]\nname='a'\nport=9996\nexporters=['192.0.2.1']\n[[source]]\nname='b'\nport=9996\nexporters=['192.0.2.2']\n",
        )
        .unwrap();
        ok.validate().unwrap();
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("12h").unwrap(), Some(43200));
        assert_eq!(parse_duration("0").unwrap(), None);
        assert!(parse_duration("12x").is_err());
        assert_eq!(parse_size("2G").unwrap(), Some(2 << 30));
        assert_eq!(parse_size("512MB").unwrap(), Some(512 << 20));
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn bad_values_name_the_key() {
        let c = Config::parse("[store]\nmax_age = 'forever'\n").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("[store].max_age"));
        let c = Config::parse("[collector]\nxdp_mode = 'fast'\n").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("[collector].xdp_mode"));
    }

    #[test]
    fn xdp_capture_needs_the_feature_and_an_interface() {
        let c = Config::parse("[collector]\ncapture = 'xdp'\ninterface = 'eth0'\nxdp_mode = 'generic'\n")
            .unwrap();
        let result = c.validate();
        if cfg!(feature = "xdp") {
            result.unwrap();
            let c = Config::parse("[collector]\ncapture = 'xdp'\n").unwrap();
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains("needs [collector].interface"), "{err}");
        } else {
            let err = result.unwrap_err().to_string();
            assert!(err.contains("built without AF_XDP") && err.contains("--features xdp"), "{err}");
            assert!(!err.contains('\n'));
        }
    }
}
