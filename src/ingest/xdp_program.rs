//! Loads ebpf/wvnr_xdp.c's object (built by build.rs) with aya, fills its maps
//! and attaches it to the interface. Dropping [`XdpProgram`] detaches it.

use std::net::IpAddr;
use std::os::fd::AsRawFd;

use anyhow::{anyhow, bail, Context, Result};
use aya::maps::{Array, HashMap, XskMap};
use aya::programs::{ProgramError, Xdp, XdpMode};
use aya::Ebpf;

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/wvnr_xdp.o"));

/// Entries of the program's `xsks` map (ebpf/wvnr_xdp.c MAX_QUEUES).
pub const MAX_QUEUES: u32 = 256;
/// Entries of the program's `ports` map (ebpf/wvnr_xdp.c MAX_PORTS).
pub const MAX_PORTS: usize = 64;

const ACCEPT_V4: u32 = 1;
const ACCEPT_V6: u32 = 2;
const MATCH_V4_ADDR: u32 = 4;
const MATCH_V6_ADDR: u32 = 8;

/// `struct settings` of ebpf/wvnr_xdp.c.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Settings {
    flags: u32,
    /// Network byte order, as the program compares it.
    v4: u32,
    v6: [u8; 16],
    max_frame: u32,
}

// SAFETY: repr(C), only integer fields and no padding (4 + 4 + 16 + 4 bytes): every
// byte pattern is a valid value, as aya's map accessors require.
unsafe impl aya::Pod for Settings {}

impl Settings {
    /// Which destinations the program redirects: those the UDP sockets bound to
    /// `listen` would receive (0.0.0.0: any IPv4; "::" any IPv4 or IPv6; else that address).
    fn for_listen(listen: IpAddr, max_frame: u32) -> Settings {
        let mut s = Settings { max_frame, ..Settings::default() };
        match listen {
            IpAddr::V4(a) if a.is_unspecified() => s.flags = ACCEPT_V4,
            IpAddr::V4(a) => {
                s.flags = ACCEPT_V4 | MATCH_V4_ADDR;
                s.v4 = u32::from_ne_bytes(a.octets());
            }
            IpAddr::V6(a) if a.is_unspecified() => s.flags = ACCEPT_V4 | ACCEPT_V6,
            IpAddr::V6(a) => {
                s.flags = ACCEPT_V6 | MATCH_V6_ADDR;
                s.v6 = a.octets();
            }
        }
        s
    }
}

/// How the program is attached ([collector].xdp_mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// Native, falling back to generic when the driver refuses.
    Auto,
    Native,
    Generic,
}

impl AttachMode {
    pub fn parse(s: &str) -> Result<AttachMode> {
        Ok(match s {
            "auto" => AttachMode::Auto,
            "native" => AttachMode::Native,
            "generic" => AttachMode::Generic,
            other => bail!("[collector].xdp_mode {other:?} is not \"auto\", \"native\" or \"generic\""),
        })
    }
}

/// The loaded, attached program; detached when dropped.
pub struct XdpProgram {
    ebpf: Ebpf,
    /// "native" or "generic": where the program runs.
    pub mode: &'static str,
}

impl XdpProgram {
    /// Loads the program, tells it the collector's ports and addresses, and
    /// attaches it to `interface`. Until sockets are registered
    /// ([`XdpProgram::register_socket`]) it passes everything to the kernel.
    pub fn attach(
        interface: &str,
        mode: AttachMode,
        ports: &[u16],
        listen: IpAddr,
        max_frame: u32,
    ) -> Result<XdpProgram> {
        if ports.len() > MAX_PORTS {
            bail!("AF_XDP capture handles at most {MAX_PORTS} ports; {} are configured", ports.len());
        }
        let mut ebpf = Ebpf::load(OBJECT).map_err(|e| load_error(&error_chain(&e)))?;
        {
            let mut map: HashMap<_, u16, u8> =
                HashMap::try_from(ebpf.map_mut("ports").context("the XDP object has no `ports` map")?)?;
            for &p in ports {
                map.insert(p, 1, 0).with_context(|| format!("cannot add port {p} to the XDP port map"))?;
            }
        }
        {
            let mut map: Array<_, Settings> =
                Array::try_from(ebpf.map_mut("settings").context("the XDP object has no `settings` map")?)?;
            map.set(0, Settings::for_listen(listen, max_frame), 0)
                .context("cannot write the XDP settings")?;
        }
        let program: &mut Xdp = ebpf
            .program_mut("wvnr_xdp")
            .context("the XDP object has no `wvnr_xdp` program")?
            .try_into()
            .context("`wvnr_xdp` is not an XDP program")?;
        program.load().map_err(|e| load_error(&error_chain(&e)))?;
        let mode = match mode {
            AttachMode::Native => attach_in(program, interface, XdpMode::Driver)?,
            AttachMode::Generic => attach_in(program, interface, XdpMode::Skb)?,
            AttachMode::Auto => match attach_in(program, interface, XdpMode::Driver) {
                Ok(m) => m,
                Err(native) => {
                    tracing::info!("XDP: native mode refused on {interface} ({native:#}); trying generic");
                    attach_in(program, interface, XdpMode::Skb)?
                }
            },
        };
        Ok(XdpProgram { ebpf, mode })
    }

    /// Sends the datagrams the program picks on receive queue `queue` to `socket`.
    pub fn register_socket(&mut self, queue: u32, socket: &impl AsRawFd) -> Result<()> {
        let mut map =
            XskMap::try_from(self.ebpf.map_mut("xsks").context("the XDP object has no `xsks` map")?)?;
        map.set(queue, socket.as_raw_fd(), 0)
            .with_context(|| format!("cannot register the AF_XDP socket of queue {queue} in the XSKMAP"))
    }
}

fn attach_in(program: &mut Xdp, interface: &str, mode: XdpMode) -> Result<&'static str> {
    let name = if mode == XdpMode::Driver { "native" } else { "generic" };
    match program.attach(interface, mode) {
        Ok(_) => Ok(name),
        Err(ProgramError::UnknownInterface { .. }) => Err(unknown_interface(interface)),
        Err(e) => {
            let text = error_chain(&e);
            if is_permission(&text) {
                return Err(no_capability());
            }
            Err(anyhow!(
                "interface {interface} refused XDP in {name} mode: {text} \
                 (set [collector].xdp_mode = \"generic\" or \"native\" to choose)"
            ))
        }
    }
}

pub fn unknown_interface(interface: &str) -> anyhow::Error {
    anyhow!("no network interface named {interface:?} (--interface / [collector].interface; see `ip link`)")
}

pub fn no_capability() -> anyhow::Error {
    anyhow!(
        "AF_XDP capture needs CAP_NET_ADMIN and CAP_BPF (and CAP_NET_RAW for the sockets): run as root \
         or grant them, e.g. setcap cap_net_admin,cap_bpf,cap_net_raw,cap_sys_resource+ep wvnr"
    )
}

fn is_permission(text: &str) -> bool {
    text.contains("Operation not permitted") || text.contains("Permission denied")
}

fn load_error(text: &str) -> anyhow::Error {
    if is_permission(text) {
        return no_capability();
    }
    anyhow!("cannot load the XDP program: {}", text.replace('\n', " "))
}

/// An error's message with its source chain (aya and xsk-rs keep the errno in the
/// source), on one line.
pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_address_decides_what_is_redirected() {
        let any4 = Settings::for_listen("0.0.0.0".parse().unwrap(), 3000);
        assert_eq!((any4.flags, any4.max_frame), (ACCEPT_V4, 3000));
        assert_eq!(Settings::for_listen("::".parse().unwrap(), 1).flags, ACCEPT_V4 | ACCEPT_V6);
        let one = Settings::for_listen("198.18.0.2".parse().unwrap(), 1);
        assert_eq!(one.flags, ACCEPT_V4 | MATCH_V4_ADDR);
        assert_eq!(one.v4.to_ne_bytes(), [198, 18, 0, 2]);
        let six = Settings::for_listen("fd00::2".parse().unwrap(), 1);
        assert_eq!(six.flags, ACCEPT_V6 | MATCH_V6_ADDR);
        assert_eq!(six.v6[15], 2);
        assert_eq!(std::mem::size_of::<Settings>(), 28);
    }

    #[test]
    fn modes_parse() {
        assert_eq!(AttachMode::parse("auto").unwrap(), AttachMode::Auto);
        assert!(AttachMode::parse("drv").unwrap_err().to_string().contains("xdp_mode"));
    }
}
