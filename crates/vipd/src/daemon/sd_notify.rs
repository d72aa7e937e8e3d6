//! systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram
//! of `KEY=VALUE` lines to the Unix socket named by `$NOTIFY_SOCKET` (a path, or
//! an abstract name written `@name`). Without `$NOTIFY_SOCKET` (not started by
//! systemd with `Type=notify`) every call does nothing.
//!
//! The daemon says `READY=1` once the data plane is attached and VRRP runs
//! (the `vipd ... started` log line), `RELOADING=1` then `READY=1` around a HUP
//! reload, and `STOPPING=1` when it stops (TERM, INT or QUIT).

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

/// The variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Sends `state` to `$NOTIFY_SOCKET`, if set. Returns whether it was sent;
/// a failure is logged once per call as a warning (it never stops vipd).
pub fn notify(state: &str) -> bool {
    let Some(socket) = std::env::var_os(NOTIFY_SOCKET) else {
        return false;
    };
    match send_to(&socket, state) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(
                "sd_notify: cannot tell systemd {:?} on {}: {e}",
                state.lines().next().unwrap_or_default(),
                socket.to_string_lossy()
            );
            false
        }
    }
}

/// The service is up: data plane attached, VRRP started. `status` is shown by
/// `systemctl status`.
pub fn ready(status: &str) -> bool {
    notify(&format!("READY=1\nSTATUS={}", one_line(status)))
}

/// A reload starts (systemd waits for the next [`ready`]).
pub fn reloading() -> bool {
    notify(&format!(
        "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading",
        monotonic_usec()
    ))
}

/// The service stops.
pub fn stopping(why: &str) -> bool {
    notify(&format!("STOPPING=1\nSTATUS={}", one_line(why)))
}

/// Sends one datagram to the socket `addr` (`/path` or `@abstract`).
pub fn send_to(addr: &OsStr, state: &str) -> io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    let bytes = addr.as_bytes();
    let sent = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let a = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        sock.send_to_addr(state.as_bytes(), &a)?
    } else if bytes.starts_with(b"/") {
        sock.send_to(state.as_bytes(), Path::new(addr))?
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "neither an absolute path nor an abstract socket (@name)",
        ));
    };
    if sent != state.len() {
        return Err(io::Error::other("short datagram"));
    }
    Ok(())
}

/// STATUS= is one line.
fn one_line(s: &str) -> String {
    s.replace('\n', " ")
}

/// CLOCK_MONOTONIC in microseconds (systemd 253+ wants it with RELOADING=1).
fn monotonic_usec() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(t) => (t.tv_sec() as u64) * 1_000_000 + (t.tv_nsec() as u64) / 1_000,
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn path_socket() {
        let dir = std::env::temp_dir().join(format!("vipd-sdnotify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let sock = UnixDatagram::bind(&path).unwrap();
        send_to(path.as_os_str(), "READY=1\nSTATUS=up").unwrap();
        assert_eq!(recv(&sock), "READY=1\nSTATUS=up");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("vipd-sdnotify-test-{}", std::process::id());
        let a = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let sock = UnixDatagram::bind_addr(&a).unwrap();
        send_to(OsStr::new(&format!("@{name}")), "STOPPING=1").unwrap();
        assert_eq!(recv(&sock), "STOPPING=1");
    }

    #[test]
    fn relative_path_is_refused() {
        assert!(send_to(OsStr::new("notify"), "READY=1").is_err());
    }

    #[test]
    fn monotonic_is_plausible() {
        let a = monotonic_usec();
        let b = monotonic_usec();
        assert!(a > 0 && b >= a);
    }
}
