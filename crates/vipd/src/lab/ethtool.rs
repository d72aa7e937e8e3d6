//! The two ethtool settings the lab needs, through the `SIOCETHTOOL` ioctl (the
//! interface `ethtool -K` uses), so the lab does not depend on the ethtool binary.
//!
//! - TX checksum offload off on the bridge port that feeds a director: a veth hands
//!   locally generated TCP on with `CHECKSUM_PARTIAL` (checksum not yet computed);
//!   after a native-XDP director re-encapsulates and XDP_TXes it, nobody computes it
//!   and the real server drops the segment. With `tx off` on the port, the kernel
//!   computes the checksum in software before the frame reaches the director, as a
//!   real NIC on a real wire would deliver it.
//! - GRO off on that port: the director must see frames as sent, not GRO-merged
//!   super-frames, and IPIP frames it sends back must not be merged on the way.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::netns;

/// `ETHTOOL_STXCSUM` from `<linux/ethtool.h>`: set TX checksum offload.
const ETHTOOL_STXCSUM: u32 = 0x17;
/// `ETHTOOL_SGRO` from `<linux/ethtool.h>`: set generic receive offload.
const ETHTOOL_SGRO: u32 = 0x2c;

/// `struct ethtool_value` from `<linux/ethtool.h>`.
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

/// Turns TX checksum offload and GRO off on `iface` inside namespace `ns`
/// (`ip netns exec NS ethtool -K IFACE tx off gro off`).
pub fn tx_csum_and_gro_off(ns: &str, iface: &str) -> Result<(), std::io::Error> {
    netns::run_in(ns, || -> std::io::Result<()> {
        let sock = socket()?;
        set(&sock, iface, ETHTOOL_STXCSUM, false)?;
        set(&sock, iface, ETHTOOL_SGRO, false)
    })
    .map_err(std::io::Error::other)?
}

/// Turns GRO on on `iface` inside namespace `ns`: a veth has a NAPI
/// instance (which threaded NAPI needs) only with GRO or an XDP program.
pub fn gro_on(ns: &str, iface: &str) -> Result<(), std::io::Error> {
    netns::run_in(ns, || -> std::io::Result<()> {
        set(&socket()?, iface, ETHTOOL_SGRO, true)
    })
    .map_err(std::io::Error::other)?
}

#[expect(
    unsafe_code,
    reason = "socket(2) through libc; the fd is owned right away"
)]
fn socket() -> std::io::Result<OwnedFd> {
    // SAFETY: plain system call; a non-negative return value is a new fd we own.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by socket(2) and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[expect(
    unsafe_code,
    reason = "SIOCETHTOOL ioctl: ifreq carries a pointer to ethtool_value"
)]
fn set(sock: &OwnedFd, iface: &str, cmd: u32, on: bool) -> std::io::Result<()> {
    let name = iface.as_bytes();
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("bad interface name {iface:?}"),
        ));
    }
    let mut value = EthtoolValue {
        cmd,
        data: u32::from(on),
    };
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in ifr.ifr_name.iter_mut().zip(name) {
        *dst = src as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = (&raw mut value).cast::<libc::c_char>();
    // SAFETY: ifr is a valid ifreq whose data pointer points at `value`, which
    // outlives the call; the kernel reads/writes only sizeof(ethtool_value) there.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &mut ifr) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
