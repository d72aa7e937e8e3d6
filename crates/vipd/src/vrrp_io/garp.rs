//! Gratuitous ARP through a packet socket (AF_PACKET), the frame built by
//! `vipd_core::vrrp::arp`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use vipd_core::vrrp::arp::ArpRepr;
use vipd_core::vrrp::frame::{BROADCAST_MAC, ETHERTYPE_ARP};

/// A packet socket that sends whole Ethernet frames out of one interface.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
}

impl PacketSocket {
    /// Opens a packet socket for interface `ifindex` (needs CAP_NET_RAW).
    #[expect(
        unsafe_code,
        reason = "socket(2) for AF_PACKET: no safe wrapper builds sockaddr_ll"
    )]
    pub fn open(ifindex: u32) -> io::Result<Self> {
        // SAFETY: plain socket(2) call; the returned fd is checked and owned.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(ETHERTYPE_ARP.to_be()),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh, valid descriptor that nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self { fd, ifindex })
    }

    /// Sends one frame to the broadcast address.
    #[expect(unsafe_code, reason = "sendto(2) with a sockaddr_ll")]
    pub fn send_broadcast(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain old data; zeroed is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        // The frame's own ethertype (ARP, or IPv6 for a neighbour
        // advertisement): the kernel labels the frame with it.
        addr.sll_protocol = match frame.get(12..14) {
            Some(t) => u16::from_be_bytes([t[0], t[1]]).to_be(),
            None => ETHERTYPE_ARP.to_be(),
        };
        addr.sll_ifindex = self.ifindex as i32;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&BROADCAST_MAC);
        // SAFETY: the buffer and the address are valid for the lengths given.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Announces `vip` at `mac` with `count` gratuitous ARP requests.
    pub fn announce(&self, mac: [u8; 6], vip: std::net::Ipv4Addr, count: u32) -> io::Result<()> {
        let frame = ArpRepr::gratuitous(mac, vip).to_broadcast_frame(mac);
        for _ in 0..count {
            self.send_broadcast(&frame)?;
        }
        Ok(())
    }
}
