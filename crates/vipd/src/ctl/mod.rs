//! The control socket: how `vipd status` (and scripts) talk to a running daemon.
//!
//! A Unix stream socket under `/run/vipd/` (mode 0600, and the daemon also checks
//! that the peer is root, so that only root reads or changes the director's
//! state). One request per connection: the client writes one line of JSON
//! ([`Request`]) and reads one line of JSON back ([`Response`]).
//!
//! Each network namespace gets its own socket name, so that two directors in two
//! namespaces of one machine (the lab's `dir1` and `dir2`) never clash, and
//! `vipd lab exec dir1 -- vipd status` finds dir1's daemon with no flag:
//! `/run/vipd/vipd.sock` in the host's namespace, `/run/vipd/vipd-NETNS.sock` in a
//! namespace named `NETNS` by `ip netns`.
//!
//! # Layout
//! - [`server`]: the daemon's side (accepts, checks the peer, answers).
//! - [`client`]: `vipd status [--json] [--watch]`, and `-Ln [--stats|--rate]`,
//!   `-Lnc`.
//! - [`render`]: the text table, in the style of `ipvsadm -Ln --stats`, with
//!   VRRP and the checks.
//! - [`ipvsadm`]: `ipvsadm -L`'s own layouts, byte for byte.

pub mod client;
pub mod ipvsadm;
pub mod render;
pub mod server;

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::daemon::status::Status;

/// Where vipd keeps its runtime files.
pub const RUN_DIR: &str = "/run/vipd";

/// Errors of the control socket, on either side.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// No daemon listens on the socket.
    #[error("cannot connect to {path}: {reason}; is `vipd -f FILE` running in this network namespace? (or give --socket PATH)")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// What the kernel said (not a `source`: the message already says it).
        reason: std::io::Error,
    },
    /// The socket could not be created.
    #[error(
        "cannot listen on {path}: {reason} (vipd needs root to create sockets under /run/vipd)"
    )]
    Listen {
        /// The socket path.
        path: PathBuf,
        /// What the kernel said (not a `source`: the message already says it).
        reason: std::io::Error,
    },
    /// Another daemon already answers on the socket.
    #[error("another vipd already runs in this network namespace (it answers on {path}); stop it first, or give --socket PATH")]
    InUse {
        /// The socket path.
        path: PathBuf,
    },
    /// Reading or writing the socket failed.
    #[error("control socket {path}: {reason}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// What happened.
        reason: std::io::Error,
    },
    /// The daemon answered something that is not a [`Response`].
    #[error("control socket {path}: unexpected answer: {detail}")]
    Protocol {
        /// The socket path.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// The daemon refused the request.
    #[error("{0}")]
    Refused(String),
}

/// Rows `vipd status -Lnc` lists at most.
pub const MAX_CONN_ROWS: usize = 100_000;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Request {
    /// The daemon's [`Status`].
    Status,
    /// Reload the configuration, as SIGHUP does; answers with the outcome.
    Reload,
    /// The connection tables, as `ipvsadm -Lnc` lists them.
    Conns,
}

/// What the daemon answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Response {
    /// The status.
    Status(Box<Status>),
    /// The connection tables (at most [`MAX_CONN_ROWS`] rows). A struct
    /// variant: serde cannot write a sequence inside an internally tagged
    /// newtype variant (it failed, and the client read an empty answer).
    Conns {
        /// The rows, established connections first.
        rows: Vec<crate::daemon::status::ConnRow>,
    },
    /// A reload's outcome.
    Reload {
        /// Applied?
        ok: bool,
        /// What changed, or why it was refused.
        message: String,
    },
    /// The request was refused (e.g. the peer is not root).
    Error {
        /// Why.
        message: String,
    },
}

/// The name of the network namespace this process runs in, when it is one
/// that `ip netns` named (found by comparing `/proc/self/ns/net` with the
/// bind mounts in `/run/netns`). None in the host's own namespace.
pub fn netns_name() -> Option<String> {
    let me = std::fs::metadata("/proc/self/ns/net").ok()?;
    let init = std::fs::metadata("/proc/1/ns/net").ok();
    if init.is_some_and(|i| i.ino() == me.ino() && i.dev() == me.dev()) {
        return None;
    }
    let mut names: Vec<String> = std::fs::read_dir("/run/netns")
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            std::fs::metadata(e.path()).is_ok_and(|m| m.ino() == me.ino() && m.dev() == me.dev())
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().next()
}

/// `vipd` in the host's namespace, `vipd-NETNS` in a named one: the stem of the
/// socket, pid file and dump file names.
pub fn instance_stem() -> String {
    match netns_name() {
        Some(ns) => format!("vipd-{ns}"),
        None => "vipd".to_owned(),
    }
}

/// The default control socket path of this network namespace.
pub fn default_socket() -> PathBuf {
    PathBuf::from(RUN_DIR).join(format!("{}.sock", instance_stem()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::status::ConnRow;

    #[test]
    fn every_response_goes_through_json() {
        let row = ConnRow {
            proto: "TCP".into(),
            expire_secs: 898,
            state: "ESTABLISHED".into(),
            source: "203.0.113.2:40112".parse().unwrap(),
            virtual_addr: "10.253.85.250:80".parse().unwrap(),
            destination: "10.253.26.1:80".parse().unwrap(),
            table: "established".into(),
            from_peer: false,
        };
        for r in [
            Response::Status(Box::default()),
            Response::Conns { rows: vec![row] },
            Response::Conns { rows: Vec::new() },
            Response::Reload {
                ok: true,
                message: "applied".into(),
            },
            Response::Error {
                message: "no".into(),
            },
        ] {
            let line = serde_json::to_string(&r).expect("serializes");
            assert_eq!(
                serde_json::from_str::<Response>(&line).unwrap(),
                r,
                "{line}"
            );
        }
        for q in [Request::Status, Request::Reload, Request::Conns] {
            let line = serde_json::to_string(&q).unwrap();
            assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), q);
        }
    }
}
