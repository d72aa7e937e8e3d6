//! `vipd status`: ask the daemon of this network namespace for its state and
//! print it as a table (`ipvsadm -Ln --stats` plus VRRP and checks) or JSON.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CtlError, Request, Response};
use crate::daemon::status::Status;

/// Arguments of `vipd status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Print the status as JSON (one object; the fields of `vipd::daemon::status::Status`).
    #[arg(long)]
    pub json: bool,
    /// Print again every SECS seconds (default 1) until interrupted; rates are
    /// computed by the daemon over its last sampling second.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "1")]
    pub watch: Option<f64>,
    /// List the connection tables instead, as `ipvsadm -Lnc` does (with
    /// `--json`: every field, including which table and whether the entry came
    /// from another director).
    #[arg(long)]
    pub conns: bool,
    /// The daemon's control socket (default: /run/vipd/vipd.sock, or
    /// /run/vipd/vipd-NETNS.sock inside a namespace named NETNS).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

/// Sends one request and reads the response.
pub fn request(path: &Path, req: &Request) -> Result<Response, CtlError> {
    let io = |reason| CtlError::Io {
        path: path.to_owned(),
        reason,
    };
    let mut s = UnixStream::connect(path).map_err(|reason| CtlError::Connect {
        path: path.to_owned(),
        reason,
    })?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io)?;
    let mut line = serde_json::to_vec(req).map_err(|e| io(std::io::Error::other(e)))?;
    line.push(b'\n');
    s.write_all(&line).map_err(io)?;
    let mut answer = String::new();
    BufReader::new(s).read_line(&mut answer).map_err(io)?;
    serde_json::from_str(answer.trim()).map_err(|e| CtlError::Protocol {
        path: path.to_owned(),
        detail: format!("{e}: {:?}", answer.trim()),
    })
}

/// Asks the daemon at `path` for its status.
pub fn status(path: &Path) -> Result<Status, CtlError> {
    match request(path, &Request::Status)? {
        Response::Status(s) => Ok(*s),
        Response::Error { message } => Err(CtlError::Refused(message)),
        other => Err(CtlError::Protocol {
            path: path.to_owned(),
            detail: format!("{other:?}"),
        }),
    }
}

/// Asks the daemon at `path` to reload; returns its one-line outcome.
pub fn reload(path: &Path) -> Result<(bool, String), CtlError> {
    match request(path, &Request::Reload)? {
        Response::Reload { ok, message } => Ok((ok, message)),
        Response::Error { message } => Err(CtlError::Refused(message)),
        other => Err(CtlError::Protocol {
            path: path.to_owned(),
            detail: format!("{other:?}"),
        }),
    }
}

/// Asks the daemon at `path` for its connection tables.
pub fn conns(path: &Path) -> Result<Vec<crate::daemon::status::ConnRow>, CtlError> {
    match request(path, &Request::Conns)? {
        Response::Conns(rows) => Ok(rows),
        Response::Error { message } => Err(CtlError::Refused(message)),
        other => Err(CtlError::Protocol {
            path: path.to_owned(),
            detail: format!("{other:?}"),
        }),
    }
}

/// Runs `vipd status`.
pub fn run(args: &StatusArgs) -> Result<(), CtlError> {
    let path = args.socket.clone().unwrap_or_else(super::default_socket);
    loop {
        let text = if args.conns {
            let rows = conns(&path)?;
            if args.json {
                serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n"
            } else {
                super::render::conns(&rows)
            }
        } else {
            let st = status(&path)?;
            if args.json {
                serde_json::to_string_pretty(&st).unwrap_or_default() + "\n"
            } else {
                super::render::text(&st)
            }
        };
        let mut out = std::io::stdout().lock();
        if args.watch.is_some() && !args.json {
            // Clear the screen and home the cursor, as watch(1) does.
            let _ = out.write_all(b"\x1b[H\x1b[2J");
        }
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        match args.watch {
            Some(secs) => std::thread::sleep(Duration::from_secs_f64(secs.max(0.1))),
            None => return Ok(()),
        }
    }
}
