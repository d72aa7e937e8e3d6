//! The IO side of configuration loading: reading files and expanding include
//! globs for the pure preprocessor in `vipd_core::config`, the default config
//! id (the host name up to its first dot) and the host's interfaces.

use std::path::Path;
use vipd_core::config::{self, HostCheck, LoadError, LoadOptions, Loaded, Loader};

/// Reads configuration files from the file system.
#[derive(Debug, Default)]
pub struct FsLoader;

impl Loader for FsLoader {
    fn read(&mut self, path: &str) -> Result<String, String> {
        let meta = std::fs::metadata(path).map_err(|e| io_reason(&e))?;
        if meta.is_dir() {
            return Err("is a directory".to_owned());
        }
        let bytes = std::fs::read(path).map_err(|e| io_reason(&e))?;
        // keepalived reads bytes; a stray Latin-1 byte in a comment must not
        // make the whole file unreadable.
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    fn glob(&mut self, pattern: &str) -> Result<Vec<String>, String> {
        let paths = glob::glob(pattern).map_err(|e| e.to_string())?;
        let mut out: Vec<String> = paths
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        out.sort();
        Ok(out)
    }
}

/// The OS error text without Rust's " (os error N)" suffix.
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// keepalived's default config id: the node name up to its first dot.
pub fn default_config_id() -> String {
    // uname's nodename, as keepalived uses; /proc avoids an unsafe libc call.
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    name.trim().split('.').next().unwrap_or("").to_owned()
}

/// Whether a network interface of that name exists in this network namespace.
pub fn interface_exists(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && Path::new("/sys/class/net").join(name).exists()
}

/// Loads a configuration from the file system, checking interfaces against
/// this host when `check_host` is set.
pub fn load_file(
    path: &str,
    config_id: Option<&str>,
    check_host: bool,
) -> Result<Loaded, LoadError> {
    let exists = interface_exists;
    let opts = LoadOptions {
        config_id: config_id.map_or_else(default_config_id, str::to_owned),
        host: check_host.then_some(HostCheck {
            interface_exists: &exists,
        }),
    };
    config::load(path, &mut FsLoader, &opts)
}
