//! The pass XDP program for veth peers (`bpf/xdp_pass.bpf.c`).
//!
//! Why: on veth, a frame sent with native-mode `XDP_TX` (or `XDP_REDIRECT`) on one
//! end is delivered only if the *other* end has an XDP program of its own; otherwise
//! the kernel drops it and counts `xdp_tx_errors` (Linux 6.18; GRO on the peer is not
//! enough). A real NIC has no such rule, so the lab gives every director's cable a
//! pass program on its bridge-side end (router namespace, port `dirN`).
//!
//! [`attach_pass`] is public so the data plane can give the same to any other veth
//! peer it needs (e.g. when it XDP_TXes on an interface the lab did not plan for).
//!
//! The program is attached through rtnetlink (`IFLA_XDP`, driver mode), not a BPF
//! link: a link would be detached when the `vipd lab up` process exits, while a
//! netlink attachment stays with the interface until it is detached or deleted,
//! exactly like `ip link set dev IF xdp obj ...`, and needs no bpffs pin.

use std::os::fd::{AsFd, AsRawFd};

use aya::programs::Xdp;
use aya::Ebpf;
use futures::TryStreamExt;
use rtnetlink::packet_route::link::{LinkAttribute, LinkXdp};
use rtnetlink::LinkUnspec;

use super::netns;

/// `XDP_FLAGS_DRV_MODE` from `<linux/if_link.h>`: native (driver) mode.
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

static XDP_PASS_OBJ: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xdp_pass.bpf.o"));

/// Errors attaching the pass program.
#[derive(Debug, thiserror::Error)]
pub enum XdpPassError {
    /// The embedded object could not be loaded into the kernel.
    #[error("loading the pass XDP program: {0} (is the kernel built with CONFIG_BPF_SYSCALL and are you root?)")]
    Load(String),
    /// The namespace could not be entered.
    #[error(transparent)]
    Netns(#[from] netns::NetnsError),
    /// The interface does not exist in the namespace.
    #[error("no interface {iface:?} in network namespace {ns:?}")]
    NoInterface {
        /// Namespace.
        ns: String,
        /// Interface.
        iface: String,
    },
    /// The kernel refused the attachment.
    #[error("attaching the pass XDP program to {iface} in {ns}: {source}")]
    Attach {
        /// Namespace.
        ns: String,
        /// Interface.
        iface: String,
        /// What netlink said.
        source: rtnetlink::Error,
    },
}

/// Attaches the pass XDP program, native mode, to `iface` in namespace `ns`
/// (replacing any program it has). Call inside a tokio runtime. The attachment
/// outlives the process; it goes away with the interface or [`detach`].
pub async fn attach_pass(ns: &str, iface: &str) -> Result<(), XdpPassError> {
    let mut ebpf = Ebpf::load(XDP_PASS_OBJ).map_err(|e| XdpPassError::Load(e.to_string()))?;
    let prog: &mut Xdp = ebpf
        .program_mut("xdp_pass")
        .ok_or_else(|| XdpPassError::Load("program xdp_pass missing from the object".into()))?
        .try_into()
        .map_err(|e: aya::programs::ProgramError| XdpPassError::Load(e.to_string()))?;
    prog.load().map_err(|e| XdpPassError::Load(e.to_string()))?;
    let fd = prog
        .fd()
        .map_err(|e| XdpPassError::Load(e.to_string()))?
        .as_fd()
        .as_raw_fd();
    // `ebpf` (and with it the program fd) lives until the request is answered; the
    // kernel then holds its own reference through the interface.
    set_xdp_fd(ns, iface, fd).await
}

/// Detaches whatever native XDP program `iface` in `ns` has.
pub async fn detach(ns: &str, iface: &str) -> Result<(), XdpPassError> {
    set_xdp_fd(ns, iface, -1).await
}

async fn set_xdp_fd(ns: &str, iface: &str, fd: i32) -> Result<(), XdpPassError> {
    let handle = netns::rtnetlink(ns)?;
    let attach_err = |source| XdpPassError::Attach {
        ns: ns.to_string(),
        iface: iface.to_string(),
        source,
    };
    let link = handle
        .link()
        .get()
        .match_name(iface.to_string())
        .execute()
        .try_next()
        .await
        .ok()
        .flatten()
        .ok_or_else(|| XdpPassError::NoInterface {
            ns: ns.to_string(),
            iface: iface.to_string(),
        })?;
    let msg = LinkUnspec::new_with_index(link.header.index)
        .append_extra_attribute(LinkAttribute::Xdp(vec![
            LinkXdp::Fd(fd),
            LinkXdp::Flags(XDP_FLAGS_DRV_MODE),
        ]))
        .build();
    handle.link().set(msg).execute().await.map_err(attach_err)
}
