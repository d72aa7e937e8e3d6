//! `vipd status`: ask the daemon of this network namespace for its state and
//! print it as a table (services and real servers with their counters, VRRP
//! and checks), as JSON, or in ipvsadm's layouts (`-Ln`, `-Ln --stats`,
//! `-Ln --rate`, `-Lnc`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CtlError, Request, Response};
use crate::daemon::status::Status;

/// Arguments of `vipd status`.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "ipvsadm's views, byte for byte in its layout (for scripts that parse it):\n  \
    vipd status -Ln              ipvsadm -Ln\n  \
    vipd status -Ln --stats      ipvsadm -Ln --stats   (--exact: no K/M/G)\n  \
    vipd status -Ln --rate       ipvsadm -Ln --rate\n  \
    vipd status -Lnc             ipvsadm -Lnc (the connection tables)"
)]
pub struct StatusArgs {
    /// Print the status as JSON (one object; the fields of `vipd::daemon::status::Status`).
    #[arg(long)]
    pub json: bool,
    /// Print again every SECS seconds (default 1) until interrupted; rates are
    /// computed by the daemon over its last sampling second.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "1")]
    pub watch: Option<f64>,
    /// List the services as `ipvsadm -L` does, in its layout (`-Ln`, `-Ln
    /// --stats`, `-Ln --rate`; `-Lnc` for the connections).
    #[arg(short = 'L', long, short_alias = 'l')]
    pub list: bool,
    /// Numeric addresses and ports, as ipvsadm's `-n` (vipd never resolves
    /// names: accepted for ipvsadm's spelling, output is always numeric).
    #[arg(short = 'n', long)]
    pub numeric: bool,
    /// With -L: the counters, as `ipvsadm -Ln --stats` (Conns InPkts
    /// OutPkts InBytes OutBytes).
    #[arg(long)]
    pub stats: bool,
    /// With -L: the rates, as `ipvsadm -Ln --rate` (CPS InPPS OutPPS InBPS
    /// OutBPS).
    #[arg(long)]
    pub rate: bool,
    /// With -L: numbers in full, without ipvsadm's K/M/G/T (`ipvsadm --exact`).
    #[arg(short = 'X', long)]
    pub exact: bool,
    /// With -L: services and real servers in configuration order instead of
    /// sorted by protocol, address and port (`ipvsadm --nosort`).
    #[arg(long)]
    pub nosort: bool,
    /// List the connection tables, as `ipvsadm -Lnc` does (with `--json`:
    /// every field, including which table and whether the entry came from
    /// another director).
    #[arg(short = 'c', long, visible_alias = "conns", conflicts_with_all = ["stats", "rate"])]
    pub connection: bool,
    /// The daemon's control socket (default: /run/vipd/vipd.sock, or
    /// /run/vipd/vipd-NETNS.sock inside a namespace named NETNS).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

/// What `vipd status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// vipd's own table (VRRP, services, one line per real server with checks).
    Text,
    /// The status as JSON.
    Json,
    /// `ipvsadm -L[n]` with the given columns.
    List(super::ipvsadm::ListFormat),
    /// `ipvsadm -Lnc`.
    Connections,
    /// The connection rows as JSON.
    ConnectionsJson,
}

impl StatusArgs {
    /// The view these options ask for, or why they do not fit together.
    pub fn view(&self) -> Result<View, String> {
        if self.connection {
            return Ok(if self.json {
                View::ConnectionsJson
            } else {
                View::Connections
            });
        }
        let list = self.list || self.stats || self.rate;
        if !list && (self.exact || self.nosort) {
            return Err(
                "--exact and --nosort go with -L (e.g. `vipd status -Ln --stats --exact`)".into(),
            );
        }
        if list && self.json {
            return Err(
                "-L prints ipvsadm's layout; --json prints the status as JSON: give one".into(),
            );
        }
        Ok(if list {
            View::List(super::ipvsadm::ListFormat {
                stats: self.stats,
                rate: self.rate,
                exact: self.exact,
                nosort: self.nosort,
            })
        } else if self.json {
            View::Json
        } else {
            View::Text
        })
    }
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
        Response::Conns { rows } => Ok(rows),
        Response::Error { message } => Err(CtlError::Refused(message)),
        other => Err(CtlError::Protocol {
            path: path.to_owned(),
            detail: format!("{other:?}"),
        }),
    }
}

/// Runs `vipd status`.
pub fn run(args: &StatusArgs) -> Result<(), CtlError> {
    let view = args.view().map_err(CtlError::Refused)?;
    let path = args.socket.clone().unwrap_or_else(super::default_socket);
    loop {
        let text = match view {
            View::Connections => super::ipvsadm::connections(&conns(&path)?),
            View::ConnectionsJson => {
                serde_json::to_string_pretty(&conns(&path)?).unwrap_or_default() + "\n"
            }
            View::Json => serde_json::to_string_pretty(&status(&path)?).unwrap_or_default() + "\n",
            View::List(f) => super::ipvsadm::list(&status(&path)?, f),
            View::Text => super::render::text(&status(&path)?),
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        status: StatusArgs,
    }

    fn view(args: &[&str]) -> Result<View, String> {
        let cli = Cli::try_parse_from(std::iter::once("status").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.status.view()
    }

    fn list(stats: bool, rate: bool, exact: bool) -> View {
        View::List(super::super::ipvsadm::ListFormat {
            stats,
            rate,
            exact,
            nosort: false,
        })
    }

    #[test]
    fn ipvsadm_spellings() {
        assert_eq!(view(&[]), Ok(View::Text));
        assert_eq!(view(&["-n"]), Ok(View::Text));
        assert_eq!(view(&["--json"]), Ok(View::Json));
        assert_eq!(view(&["-Ln"]), Ok(list(false, false, false)));
        assert_eq!(view(&["-L"]), Ok(list(false, false, false)));
        assert_eq!(view(&["-ln"]), Ok(list(false, false, false)));
        assert_eq!(
            view(&["--list", "--numeric"]),
            Ok(list(false, false, false))
        );
        assert_eq!(view(&["-Ln", "--stats"]), Ok(list(true, false, false)));
        assert_eq!(view(&["-Ln", "--rate"]), Ok(list(false, true, false)));
        assert_eq!(
            view(&["-Ln", "--stats", "--exact"]),
            Ok(list(true, false, true))
        );
        assert_eq!(view(&["-LnX", "--stats"]), Ok(list(true, false, true)));
        assert_eq!(view(&["--stats"]), Ok(list(true, false, false)));
        assert_eq!(view(&["-Lnc"]), Ok(View::Connections));
        assert_eq!(view(&["-c"]), Ok(View::Connections));
        assert_eq!(view(&["--conns"]), Ok(View::Connections));
        assert_eq!(view(&["--connection", "--json"]), Ok(View::ConnectionsJson));
        assert!(
            view(&["-Lnc", "--stats"]).is_err(),
            "ipvsadm: options conflicts in the list command"
        );
        assert!(view(&["-Ln", "--json"]).is_err());
        assert!(view(&["--exact"]).is_err());
    }
}
