//! `vipd genhash`: print the MD5 digest of a URL's body exactly as keepalived's
//! `genhash` (`keepalived --genhash`) does, to paste into a `digest` line.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::Args;
use vipd_core::check::http::hex;
use vipd_core::check::{ConnectSpec, HttpProtocol, HttpSpec, UrlSpec};

use super::tls::TlsConfigs;

/// Arguments of `vipd genhash` (keepalived's genhash flags).
#[derive(Debug, Args)]
pub struct GenhashArgs {
    /// Server address (an IP address, as keepalived requires).
    #[arg(short = 's', long = "server")]
    pub server: IpAddr,
    /// Server port.
    #[arg(short = 'p', long = "port")]
    pub port: u16,
    /// URL path to fetch, e.g. /index.html.
    #[arg(short = 'u', long = "url")]
    pub url: String,
    /// Use TLS (as SSL_GET does); the certificate is not verified.
    #[arg(short = 'S', long = "use-ssl")]
    pub ssl: bool,
    /// Send SNI during the TLS handshake (the virtual host).
    #[arg(short = 'I', long = "use-sni")]
    pub sni: bool,
    /// Host header to send instead of SERVER:PORT.
    #[arg(short = 'V', long = "virtualhost", visible_alias = "use-virtualhost")]
    pub virtualhost: Option<String>,
    /// HTTP protocol: 1.0 (default), 1.0c (1.0 with Connection: close) or 1.1.
    #[arg(short = 'P', long = "protocol", default_value = "1.0", value_parser = parse_protocol)]
    pub protocol: HttpProtocol,
    /// Timeout in seconds.
    #[arg(short = 't', long = "timeout", default_value_t = 5)]
    pub timeout: u64,
    /// Also print the status code and body length (on stderr).
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
}

fn parse_protocol(s: &str) -> Result<HttpProtocol, String> {
    match s {
        "1.0" => Ok(HttpProtocol::Http10),
        "1.0c" | "1.0C" => Ok(HttpProtocol::Http10Close),
        "1.1" => Ok(HttpProtocol::Http11),
        _ => Err(format!("invalid HTTP protocol `{s}`: use 1.0, 1.0c or 1.1")),
    }
}

/// Why `vipd genhash` could not produce a digest.
#[derive(Debug, thiserror::Error)]
pub enum GenhashError {
    /// The fetch failed (connection, TLS, timeout, read).
    #[error("cannot fetch {url} from {target}: {reason}")]
    Fetch {
        /// Path fetched.
        url: String,
        /// Server.
        target: SocketAddr,
        /// What went wrong.
        reason: String,
    },
    /// The server answered nothing usable.
    #[error("no data received from remote webserver {0} (no complete HTTP header)")]
    NoData(SocketAddr),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

/// Fetch and return the digest (and, for `--verbose`, status and body length).
pub async fn digest(args: &GenhashArgs) -> Result<([u8; 16], Option<u16>, usize), GenhashError> {
    let target = SocketAddr::new(args.server, args.port);
    let conn = ConnectSpec {
        connect_timeout: Duration::from_secs(args.timeout),
        ..ConnectSpec::to(target)
    };
    let spec = HttpSpec {
        tls: args.ssl,
        virtualhost: args.virtualhost.clone(),
        protocol: args.protocol,
        sni: if args.sni {
            args.virtualhost.clone()
        } else {
            None
        },
        ..HttpSpec::get(Vec::new())
    };
    let url = UrlSpec::path(args.url.clone());
    let tls = TlsConfigs::default();
    let fetched = tokio::time::timeout(
        conn.connect_timeout,
        super::http::fetch(&conn, &spec, &url, &tls),
    )
    .await
    .unwrap_or_else(|_| Err(format!("timed out after {}s", args.timeout)));
    let reply = fetched.map_err(|reason| GenhashError::Fetch {
        url: args.url.clone(),
        target,
        reason,
    })?;
    if !reply.header_complete {
        return Err(GenhashError::NoData(target));
    }
    Ok((reply.digest, reply.status, reply.body_len))
}

/// `vipd genhash`: print the digest as lower-case hex on one line, as keepalived.
pub fn main(args: GenhashArgs) -> Result<(), GenhashError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (d, status, len) = rt.block_on(digest(&args))?;
    if args.verbose {
        eprintln!(
            "status {}, body {len} bytes",
            status.map_or("?".to_string(), |s| s.to_string())
        );
    }
    println!("{}", hex(&d));
    Ok(())
}
