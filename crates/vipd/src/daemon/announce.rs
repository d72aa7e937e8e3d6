//! `vipd_announce DEVICE`: the VIPs this director can serve, as /32
//! addresses on a TUN device that vipd creates and that the kernel deletes
//! when the vipd process ends (clean stop, SIGKILL or crash alike), for a
//! routing daemon to announce (BIRD: `protocol direct { interface "DEVICE"; }`).
//! What to announce is decided in `vipd_core::announce`; this part owns the
//! device and keeps its addresses equal to the decision.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::os::fd::OwnedFd;

use anyhow::{bail, Context};
use futures::TryStreamExt;
use rtnetlink::packet_route::link::{LinkAttribute, LinkXdp};
use rtnetlink::Handle;
use tracing::{info, warn};
use vipd_core::announce::{self, AnnouncePlan, Reason, ServiceState};

use super::status;
use crate::vrrp_io::netlink;

/// The device and what it holds.
#[derive(Debug)]
pub struct AnnouncePart {
    plan: AnnouncePlan,
    /// The TUN device's file: the device lives as long as it is open.
    tun: Option<OwnedFd>,
    index: u32,
    handle: Handle,
    held: BTreeSet<IpAddr>,
    verdicts: BTreeMap<IpAddr, Reason>,
}

/// `struct ifreq` as TUNSETIFF reads it: the name, then the flags.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;
/// Never attach to an existing (e.g. persistent) device: only a device this
/// process creates goes away with it.
const IFF_TUN_EXCL: libc::c_short = 0x8000u16 as libc::c_short;
/// `_IOW('T', 202, int)`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

/// Opens a TUN device named `name` that is not persistent: closing the
/// returned file (or the process ending) deletes it.
fn open_tun(name: &str) -> anyhow::Result<OwnedFd> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .context("opening /dev/net/tun (is the tun module loaded? `modprobe tun`)")?;
    let fd: OwnedFd = f.into();
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags: IFF_TUN | IFF_NO_PI | IFF_TUN_EXCL,
        _pad: [0; 22],
    };
    req.name[..name.len()].copy_from_slice(name.as_bytes());
    use std::os::fd::AsRawFd;
    #[allow(
        unsafe_code,
        reason = "TUNSETIFF has no safe wrapper: it reads a struct ifreq that lives across the call"
    )]
    // SAFETY: `fd` is an open /dev/net/tun; `req` is a valid, initialised
    // ifreq-sized struct the kernel only reads and writes within its size.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, &mut req as *mut IfReq) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::EINVAL)) {
            bail!("vipd_announce {name}: a device named {name} already exists (another vipd's, or one that would outlive vipd and keep its VIPs announced): remove it (`ip link del {name}`) or choose another name");
        }
        return Err(e).with_context(|| format!("creating the TUN device {name}"));
    }
    Ok(fd)
}

impl AnnouncePart {
    /// Creates the device (up, no address yet: nothing is announced before
    /// the first [`update`](Self::update)).
    pub async fn start(plan: AnnouncePlan) -> anyhow::Result<Self> {
        let tun = open_tun(&plan.device)?;
        let (conn, handle, _) = rtnetlink::new_connection().context("opening rtnetlink")?;
        tokio::spawn(conn);
        let link = netlink::link(&handle, &plan.device).await?;
        handle
            .link()
            .set(
                rtnetlink::LinkUnspec::new_with_index(link.index)
                    .up()
                    .build(),
            )
            .execute()
            .await
            .with_context(|| format!("setting {} up", plan.device))?;
        info!(
            "vipd_announce: device {} created; it carries the VIPs this director serves ({})",
            plan.device,
            plan.vips
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(Self {
            plan,
            tun: Some(tun),
            index: link.index,
            handle,
            held: BTreeSet::new(),
            verdicts: BTreeMap::new(),
        })
    }

    /// Whether the XDP program `prog_id` is attached to `iface` now (it can
    /// be detached behind vipd's back, e.g. `bpftool link detach`).
    pub async fn attached(&self, iface: &str, prog_id: Option<u32>) -> bool {
        let Some(want) = prog_id else {
            return false;
        };
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(iface.to_owned())
            .execute();
        let Ok(Some(msg)) = links.try_next().await else {
            return false;
        };
        msg.attributes.iter().any(|a| match a {
            LinkAttribute::Xdp(x) => x
                .iter()
                .any(|x| matches!(x, LinkXdp::ProgId(id) if *id == want)),
            _ => false,
        })
    }

    /// Makes the device hold exactly the VIPs to announce, logging each
    /// change of a VIP's state with its reason.
    pub async fn update(&mut self, attached: bool, services: &[ServiceState]) {
        let verdicts = announce::verdicts(&self.plan, attached, services);
        for (vip, why) in &verdicts {
            if self.verdicts.get(vip) != Some(why) {
                if why.announced() {
                    info!("vipd_announce: {vip} {why}");
                } else {
                    warn!("vipd_announce: {vip} {why}");
                }
            }
        }
        let (add, del) = announce::changes(&self.held, &verdicts);
        for vip in del {
            let IpAddr::V4(a) = vip else { continue };
            match netlink::del_address(&self.handle, self.index, a.into(), 32).await {
                Ok(()) => {
                    self.held.remove(&vip);
                }
                Err(e) => warn!("vipd_announce: cannot withdraw {vip}: {e}"),
            }
        }
        for vip in add {
            let IpAddr::V4(a) = vip else { continue };
            match netlink::add_address(&self.handle, self.index, a.into(), 32, None, false).await {
                Ok(()) => {
                    self.held.insert(vip);
                }
                Err(e) => warn!("vipd_announce: cannot announce {vip}: {e}"),
            }
        }
        self.verdicts = verdicts;
    }

    /// A reload: the same device takes the new VIPs (the next update
    /// applies them); another device name needs a restart of vipd.
    pub fn reload(&mut self, plan: AnnouncePlan) -> Result<(), String> {
        if plan.device != self.plan.device {
            return Err(format!(
                "vipd_announce changed from {} to {}: restart vipd to use another device",
                self.plan.device, plan.device
            ));
        }
        self.plan = plan;
        Ok(())
    }

    /// Withdraws everything at once: the device goes with its file.
    pub fn stop(mut self) {
        self.tun.take();
        info!(
            "vipd_announce: device {} removed, every VIP withdrawn",
            self.plan.device
        );
    }

    /// The announcement in `vipd status`.
    pub fn fill(&self, st: &mut status::Status) {
        st.announce = Some(status::Announce {
            device: self.plan.device.clone(),
            vips: self
                .plan
                .vips
                .iter()
                .map(|v| status::AnnouncedVip {
                    vip: *v,
                    announced: self.held.contains(v),
                    why: self
                        .verdicts
                        .get(v)
                        .map_or_else(|| "not decided yet".to_owned(), ToString::to_string),
                })
                .collect(),
        });
    }
}
