//! Live capture on a mirror port: the XDP program (crate `sensor-ebpf`)
//! keeps the frames of watched servers and redirects them to one AF_XDP
//! socket per rx queue; each socket is a capture source with its own reader.
//!
//! Lifetime: the program is attached through a bpf_link, which the kernel
//! removes when its last fd closes, so no program stays attached after the
//! sensor exits, however it exits (even SIGKILL).
//!
//! Receive times: the program stamps `bpf_ktime_get_ns()` into the XDP
//! metadata area; the sockets turn it into wall-clock time. NIC hardware
//! timestamps need the rx-metadata kfuncs, which need a device-bound
//! program; aya 0.13 cannot load those, so the software stamp is used (it is
//! taken in the driver's receive path, before any queueing in userspace).

mod socket;
mod watch;

pub use socket::{RingSizes, XdpSocket, ZeroCopy};
pub use watch::Watch;

use super::SourceCounter;
use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, MapData, PerCpuArray, XskMap};
use aya::programs::{Xdp, XdpFlags};
use aya::Ebpf;
use pastmon_common::xdp::{self as shared, Settings, WatchedAddr, WatchedPorts, XdpCounter};
use pastmon_common::TunnelPorts;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// The eBPF object built by build.rs from `sensor-ebpf` (feature `xdp`;
/// empty without it).
#[cfg(feature = "xdp")]
static PROGRAM_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/pastmon-xdp.o"));
#[cfg(not(feature = "xdp"))]
static PROGRAM_OBJECT: &[u8] = &[];

/// How the program is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AttachMode {
    /// Native (driver) mode, else SKB (generic) mode with a warning.
    Auto,
    Native,
    Skb,
}

#[derive(Clone, Debug)]
pub struct XdpConfig {
    pub interface: String,
    /// Servers whose traffic is kept; none: everything.
    pub watch: Vec<Watch>,
    /// Pass frames not kept on to the kernel instead of dropping them.
    pub pass_others: bool,
    pub mode: AttachMode,
    pub zero_copy: ZeroCopy,
    pub sizes: RingSizes,
}

impl Default for RingSizes {
    /// 32 MiB of frames per rx queue: 40 ms of a queue at 200 k frames/s,
    /// through which a reader that does not get its core keeps losing
    /// nothing (`cargo xtask bench live`: half as many dropped 40 % on two
    /// busy cores). The kernel fills the rx ring from the UMEM's frames.
    fn default() -> Self {
        RingSizes { frames: 8192, frame_size: 4096, rx_ring: 2048 }
    }
}

impl RingSizes {
    pub fn check(&self) -> Result<(), String> {
        if !self.frames.is_power_of_two() || !self.rx_ring.is_power_of_two() {
            return Err(format!("frames ({}) and rx_ring ({}) must be powers of two", self.frames, self.rx_ring));
        }
        if self.frame_size != 2048 && self.frame_size != 4096 {
            return Err(format!("frame_size must be 2048 or 4096, not {}", self.frame_size));
        }
        Ok(())
    }
}

/// The program's per-CPU counters, readable from any thread.
#[derive(Clone)]
pub struct ProgramCounters(Arc<Mutex<PerCpuArray<MapData, u64>>>);

impl ProgramCounters {
    pub fn read(&self) -> Vec<SourceCounter> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        XdpCounter::ALL
            .iter()
            .map(|&counter| SourceCounter {
                name: counter.name(),
                help: counter.help(),
                value: map.get(&(counter as u32), 0).map_or(0, |per_cpu| per_cpu.iter().sum()),
                dropped_frames: counter == XdpCounter::RedirectFailed,
            })
            .collect()
    }
}

/// The attached program and the sockets of every rx queue.
pub struct XdpCapture {
    /// Owns the program and its link: dropping it detaches.
    _ebpf: Ebpf,
    pub interface: String,
    pub mode: AttachMode,
    pub sockets: Vec<XdpSocket>,
}

#[derive(Debug, thiserror::Error)]
pub enum XdpError {
    #[error("{interface}: {what}: {source}")]
    Setup {
        interface: String,
        what: String,
        #[source]
        source: anyhow::Error,
    },
}

/// Rx queues of an interface, from sysfs.
pub fn rx_queues(interface: &str) -> std::io::Result<u32> {
    let dir = std::fs::read_dir(format!("/sys/class/net/{interface}/queues"))?;
    let n = dir.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("rx-")).count();
    Ok((n as u32).max(1))
}

impl XdpCapture {
    /// Loads the program, fills its maps, opens a socket per rx queue, and
    /// attaches the program last, so no frame is redirected to a queue
    /// without a socket. `tunnels`: the UDP tunnels the program opens with
    /// the others (GRE, ERSPAN, IP in IP, MPLS) to filter by the inner
    /// packet; none: it filters by the outer headers. `stop` ends the
    /// sockets' capture when set.
    pub fn open(
        cfg: &XdpConfig,
        tunnels: Option<TunnelPorts>,
        stop: &'static AtomicBool,
    ) -> Result<XdpCapture, XdpError> {
        let interface = cfg.interface.as_str();
        let fail = |what: &str| {
            let what = what.to_owned();
            move |e: anyhow::Error| XdpError::Setup { interface: interface.to_owned(), what, source: e }
        };
        cfg.sizes.check().map_err(anyhow::Error::msg).map_err(fail("ring sizes"))?;
        if PROGRAM_OBJECT.is_empty() {
            let e = anyhow::anyhow!("this pastmon was built without its XDP program (cargo feature `xdp`)");
            return Err(fail("loading the eBPF object")(e));
        }
        raise_memlock_limit();
        let queues = rx_queues(interface).map_err(anyhow::Error::from).map_err(fail("reading its rx queues"))?;
        let mut ebpf =
            Ebpf::load(PROGRAM_OBJECT).map_err(anyhow::Error::from).map_err(fail("loading the eBPF object"))?;

        let mut watched: LpmTrie<_, WatchedAddr, WatchedPorts> =
            map(&mut ebpf, shared::MAP_WATCHED).map_err(fail("map"))?;
        for w in &cfg.watch {
            let (len, addr, ports) = w.trie_entry();
            watched
                .insert(&Key::new(len, addr), ports, 0)
                .map_err(anyhow::Error::from)
                .map_err(fail("watched servers"))?;
        }
        let mut settings: Array<_, Settings> = map(&mut ebpf, shared::MAP_SETTINGS).map_err(fail("map"))?;
        let value = Settings {
            keep_all: cfg.watch.is_empty().into(),
            pass_others: cfg.pass_others.into(),
            open_tunnels: tunnels.is_some().into(),
            _pad: 0,
            tunnel_ports: tunnels.unwrap_or_default(),
        };
        settings.set(0, value, 0).map_err(anyhow::Error::from).map_err(fail("settings"))?;
        let counters: PerCpuArray<_, u64> = map(&mut ebpf, shared::MAP_COUNTERS).map_err(fail("map"))?;
        let program = ProgramCounters(Arc::new(Mutex::new(counters)));
        let mut socket_map: XskMap<_> = map(&mut ebpf, shared::MAP_SOCKETS).map_err(fail("map"))?;

        let mut sockets = Vec::with_capacity(queues as usize);
        for queue in 0..queues.min(shared::MAX_QUEUES) {
            let counters = (queue == 0).then(|| program.clone());
            let socket = XdpSocket::open(interface, queue, cfg.sizes, cfg.zero_copy, stop, counters)
                .map_err(anyhow::Error::from)
                .map_err(fail(&format!("rx queue {queue}")))?;
            socket_map.set(queue, socket.fd(), 0).map_err(anyhow::Error::from).map_err(fail("socket map"))?;
            sockets.push(socket);
        }

        let prog: &mut Xdp = ebpf
            .program_mut(shared::PROGRAM)
            .ok_or_else(|| anyhow::anyhow!("no program {}", shared::PROGRAM))
            .and_then(|p| p.try_into().map_err(anyhow::Error::from))
            .map_err(fail("the eBPF object"))?;
        prog.load().map_err(anyhow::Error::from).map_err(fail("loading the XDP program (verifier)"))?;
        let mode = match cfg.mode {
            AttachMode::Native => {
                prog.attach(interface, XdpFlags::DRV_MODE)
                    .map_err(anyhow::Error::from)
                    .map_err(fail("attaching in native mode"))?;
                AttachMode::Native
            }
            AttachMode::Skb => {
                prog.attach(interface, XdpFlags::SKB_MODE)
                    .map_err(anyhow::Error::from)
                    .map_err(fail("attaching in SKB mode"))?;
                AttachMode::Skb
            }
            AttachMode::Auto => match prog.attach(interface, XdpFlags::DRV_MODE) {
                Ok(_) => AttachMode::Native,
                Err(native) => {
                    eprintln!("pastmon: warning: {interface}: native XDP refused ({native}); using SKB mode (slower)");
                    prog.attach(interface, XdpFlags::SKB_MODE)
                        .map_err(anyhow::Error::from)
                        .map_err(fail("attaching in SKB mode"))?;
                    AttachMode::Skb
                }
            },
        };
        Ok(XdpCapture { _ebpf: ebpf, interface: interface.to_owned(), mode, sockets })
    }
}

/// Takes a map out of the object, typed.
fn map<T>(ebpf: &mut Ebpf, name: &str) -> Result<T, anyhow::Error>
where
    T: TryFrom<aya::maps::Map>,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    let map = ebpf.take_map(name).ok_or_else(|| anyhow::anyhow!("the eBPF object has no map {name}"))?;
    Ok(T::try_from(map)?)
}

/// Kernels before 5.11 charge BPF maps and UMEMs to RLIMIT_MEMLOCK.
fn raise_memlock_limit() {
    let unlimited = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: a valid rlimit; failure only matters on old kernels, where
    // the map creation then fails with a clear error.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) };
}
