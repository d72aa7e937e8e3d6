//! The one place vipd reads and writes sysctls (`/proc/sys`). Keys are paths
//! below `/proc/sys` (`net/ipv4/conf/eth1.100/forwarding`: slashes, so an
//! interface name may hold dots); [`dotted`] converts `net.ipv4.ip_forward`.
//! `/proc/sys/net` shows the network namespace of the thread that opens it.

use std::io;
use std::path::PathBuf;

/// `/proc/sys/KEY`.
pub fn path(key: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(key)
}

/// `net.ipv4.ip_forward` -> `net/ipv4/ip_forward` (no interface names with dots).
pub fn dotted(key: &str) -> String {
    key.replace('.', "/")
}

/// The value (trimmed); `None` when the sysctl does not exist (an interface
/// that is gone, a module not loaded).
pub fn read(key: &str) -> io::Result<Option<String>> {
    match std::fs::read_to_string(path(key)) {
        Ok(s) => Ok(Some(s.trim().to_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `value`.
pub fn write(key: &str, value: &str) -> io::Result<()> {
    std::fs::write(path(key), format!("{value}\n"))
}
