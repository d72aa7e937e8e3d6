//! The raw IPv4 socket for protocol 112 of one instance: bound to its interface
//! (SO_BINDTODEVICE) and source address, joined to 224.0.0.18 there, sending with
//! TTL 255 (RFC 3768 §5.2.3) and TOS 0xc0 like keepalived, no multicast loopback.

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;

use vipd_core::vrrp::frame::TOS_INTERNETWORK_CONTROL;
use vipd_core::vrrp::packet::{PROTOCOL, TTL};

#[expect(
    unsafe_code,
    reason = "tokio's AsyncFd::register is unsafe (I/O safety); AsyncFd::new is deprecated"
)]
fn register(socket: Socket) -> io::Result<AsyncFd<Socket>> {
    // SAFETY: the Socket owns its descriptor and AsyncFd owns the Socket: the fd
    // is neither closed nor replaced while registered.
    Ok(unsafe { AsyncFd::register(socket) }?)
}

#[expect(
    unsafe_code,
    reason = "setsockopt(IP_MTU_DISCOVER): neither socket2 nor nix wrap it"
)]
fn no_dont_fragment(socket: &Socket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let value: libc::c_int = libc::IP_PMTUDISC_DONT;
    // SAFETY: a valid descriptor and a pointer to an int of the length given.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The raw VRRP sockets of one instance, registered with tokio.
///
/// Two sockets, because a raw socket bound to an address only receives datagrams
/// *to* that address: the sending one is bound to the source address (so that
/// `unicast_src_ip` is the source of every advert), the receiving one is not
/// (so that it sees adverts to 224.0.0.18 and to us).
#[derive(Debug)]
pub struct VrrpSocket {
    send: Socket,
    inner: AsyncFd<Socket>,
}

fn raw(interface: &str) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::IPV4,
        Type::RAW,
        Some(Protocol::from(i32::from(PROTOCOL))),
    )?;
    socket.bind_device(Some(interface.as_bytes()))?;
    Ok(socket)
}

impl VrrpSocket {
    /// Opens the sockets on `interface` (index `ifindex`), sending from `src`;
    /// joins the multicast `group` (224.0.0.18 unless `vrrp_mcast_group4`)
    /// unless `unicast`.
    pub fn open(
        interface: &str,
        ifindex: u32,
        src: Ipv4Addr,
        unicast: bool,
        group: Ipv4Addr,
    ) -> io::Result<Self> {
        let send = raw(interface)?;
        send.bind(&SockAddr::from(SocketAddrV4::new(src, 0)))?;
        send.set_ttl_v4(u32::from(TTL))?;
        send.set_multicast_ttl_v4(u32::from(TTL))?;
        send.set_tos_v4(u32::from(TOS_INTERNETWORK_CONTROL))?;
        send.set_multicast_loop_v4(false)?;
        send.set_multicast_if_v4(&src)?;
        // keepalived's adverts carry no DF bit; path MTU discovery means nothing
        // on a link-local protocol.
        no_dont_fragment(&send)?;
        // Nothing is ever read from it: keep what it queues small.
        send.set_recv_buffer_size(0)?;
        send.set_nonblocking(true)?;

        let recv = raw(interface)?;
        // Only the groups joined on this socket, not every group of the host.
        recv.set_multicast_all_v4(false)?;
        if !unicast {
            recv.join_multicast_v4_n(&group, &InterfaceIndexOrAddress::Index(ifindex))?;
        }
        recv.set_nonblocking(true)?;
        Ok(Self {
            send,
            inner: register(recv)?,
        })
    }

    /// Sends a VRRP message to `dst` (the kernel adds the IPv4 header).
    pub fn send_to(&self, msg: &[u8], dst: Ipv4Addr) -> io::Result<()> {
        self.send
            .send_to(msg, &SockAddr::from(SocketAddrV4::new(dst, 0)))?;
        Ok(())
    }

    /// Receives one IPv4 datagram (header included, as raw sockets deliver it).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.inner.readable().await?;
            match guard.try_io(|s| s.get_ref().read(buf)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}

/// The raw IPv6 sockets of one IPv6 instance (RFC 5798 §5.1.2): adverts from
/// the interface's link-local address to ff02::12 (or the unicast peers), hop
/// limit 255, traffic class 0xc0 like keepalived; the receiving socket reports
/// each advert's source, destination and hop limit (a raw IPv6 socket hands
/// over no IPv6 header). The checksum (over the IPv6 pseudo-header) is ours.
#[derive(Debug)]
pub struct VrrpSocket6 {
    send: Socket,
    ifindex: u32,
    inner: AsyncFd<Socket>,
}

/// An advert received over IPv6.
#[derive(Debug, Clone, Copy)]
pub struct Received6 {
    /// Bytes of the VRRP message in the buffer.
    pub len: usize,
    /// Sender.
    pub src: std::net::Ipv6Addr,
    /// Destination (the group, or our address).
    pub dst: std::net::Ipv6Addr,
    /// Hop limit as received.
    pub hop_limit: u8,
}

fn raw6(interface: &str) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::IPV6,
        Type::RAW,
        Some(Protocol::from(i32::from(PROTOCOL))),
    )?;
    socket.bind_device(Some(interface.as_bytes()))?;
    Ok(socket)
}

impl VrrpSocket6 {
    /// Opens the sockets on `interface` (index `ifindex`), sending from `src`
    /// (its link-local address); joins `group` unless `unicast`.
    pub fn open(
        interface: &str,
        ifindex: u32,
        src: std::net::Ipv6Addr,
        unicast: bool,
        group: std::net::Ipv6Addr,
    ) -> io::Result<Self> {
        use nix::sys::socket::{setsockopt, sockopt};
        let send = raw6(interface)?;
        send.bind(&SockAddr::from(std::net::SocketAddrV6::new(
            src, 0, 0, ifindex,
        )))?;
        send.set_multicast_hops_v6(u32::from(TTL))?;
        send.set_unicast_hops_v6(u32::from(TTL))?;
        send.set_multicast_if_v6(ifindex)?;
        send.set_multicast_loop_v6(false)?;
        send.set_tclass_v6(u32::from(TOS_INTERNETWORK_CONTROL))?;
        send.set_recv_buffer_size(0)?;
        send.set_nonblocking(true)?;

        let recv = raw6(interface)?;
        setsockopt(&recv, sockopt::Ipv6RecvPacketInfo, &true).map_err(io::Error::from)?;
        setsockopt(&recv, sockopt::Ipv6RecvHopLimit, &true).map_err(io::Error::from)?;
        if !unicast {
            recv.join_multicast_v6(&group, ifindex)?;
        }
        recv.set_nonblocking(true)?;
        Ok(Self {
            send,
            ifindex,
            inner: register(recv)?,
        })
    }

    /// Sends a VRRP message to `dst` (the kernel adds the IPv6 header).
    pub fn send_to(&self, msg: &[u8], dst: std::net::Ipv6Addr) -> io::Result<()> {
        let scope = if dst.is_unicast_link_local() || dst.is_multicast() {
            self.ifindex
        } else {
            0
        };
        self.send.send_to(
            msg,
            &SockAddr::from(std::net::SocketAddrV6::new(dst, 0, 0, scope)),
        )?;
        Ok(())
    }

    /// Receives one VRRP message with where it came from and went to.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Received6> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrIn6};
        use std::os::fd::AsRawFd;
        loop {
            let mut guard = self.inner.readable().await?;
            let fd = guard.get_ref().get_ref().as_raw_fd();
            let res = guard.try_io(|_| {
                let mut iov = [std::io::IoSliceMut::new(buf)];
                let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int);
                let msg =
                    recvmsg::<SockaddrIn6>(fd, &mut iov, Some(&mut cmsg), MsgFlags::MSG_DONTWAIT)
                        .map_err(io::Error::from)?;
                let mut dst = std::net::Ipv6Addr::UNSPECIFIED;
                let mut hop_limit = 0u8;
                for c in msg.cmsgs().map_err(io::Error::from)? {
                    match c {
                        ControlMessageOwned::Ipv6PacketInfo(p) => {
                            dst = std::net::Ipv6Addr::from(p.ipi6_addr.s6_addr);
                        }
                        ControlMessageOwned::Ipv6HopLimit(h) => hop_limit = h.clamp(0, 255) as u8,
                        _ => {}
                    }
                }
                let src = msg
                    .address
                    .map(|a| a.ip())
                    .unwrap_or(std::net::Ipv6Addr::UNSPECIFIED);
                Ok(Received6 {
                    len: msg.bytes,
                    src,
                    dst,
                    hop_limit,
                })
            });
            match res {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}
