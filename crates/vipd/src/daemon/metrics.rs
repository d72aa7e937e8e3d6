//! `--metrics ADDR:PORT`: the figures of `vipd status` in the Prometheus text
//! format on `GET /metrics`, named after Prometheus conventions (`_total` for
//! counters, base units, labels for the service, real server and instance).
//! Off by default; meant for a loopback address.

use std::convert::Infallible;
use std::fmt::Write;
use std::net::SocketAddr;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info};

use super::status::Status;
use crate::ctl::{server::Pending, Request as CtlRequest, Response as CtlResponse};

/// Binds `addr` and serves metrics until the task is aborted.
pub async fn spawn(
    addr: SocketAddr,
    to_daemon: mpsc::Sender<Pending>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("--metrics {addr}: cannot listen (port in use, or a typo?)"))?;
    info!("Prometheus metrics on http://{addr}/metrics");
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let tx = to_daemon.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let tx = tx.clone();
                        async move { Ok::<_, Infallible>(answer(req, tx).await) }
                    });
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    debug!("metrics connection: {e}");
                }
            });
        }
    }))
}

async fn answer<B>(req: Request<B>, tx: mpsc::Sender<Pending>) -> Response<Full<Bytes>> {
    let reply = |code: StatusCode, body: String, ctype: &'static str| {
        Response::builder()
            .status(code)
            .header("content-type", ctype)
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_default()
    };
    if req.uri().path() != "/metrics" {
        return reply(
            StatusCode::NOT_FOUND,
            "vipd serves /metrics only\n".into(),
            "text/plain",
        );
    }
    let (otx, orx) = oneshot::channel();
    let st = match tx
        .send(Pending {
            request: CtlRequest::Status,
            reply: otx,
        })
        .await
    {
        Ok(()) => orx.await.ok(),
        Err(_) => None,
    };
    match st {
        Some(CtlResponse::Status(st)) => reply(
            StatusCode::OK,
            render(&st),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        _ => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "vipd is shutting down\n".into(),
            "text/plain",
        ),
    }
}

/// One metric family: HELP, TYPE, samples.
struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        let l: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        if l.is_empty() {
            let _ = writeln!(self.out, "{name} {v}");
        } else {
            let _ = writeln!(self.out, "{name}{{{}}} {v}", l.join(","));
        }
    }
}

/// The Prometheus text exposition of a status.
pub fn render(st: &Status) -> String {
    let mut out = String::new();
    let mut f = Family { out: &mut out };
    f.head(
        "vipd_up_seconds",
        "gauge",
        "Seconds since the daemon started.",
    );
    f.sample("vipd_up_seconds", &[], st.uptime_secs);
    f.head(
        "vipd_reloads_total",
        "counter",
        "Configuration reloads by result.",
    );
    f.sample(
        "vipd_reloads_total",
        &[("result", "applied")],
        st.reloads.applied as f64,
    );
    f.sample(
        "vipd_reloads_total",
        &[("result", "refused")],
        st.reloads.refused as f64,
    );

    f.head(
        "vipd_vrrp_state",
        "gauge",
        "1 for the state each VRRP instance is in (INIT, BACKUP, MASTER, FAULT, STOPPED).",
    );
    for v in &st.vrrp {
        for s in ["INIT", "BACKUP", "MASTER", "FAULT", "STOPPED"] {
            f.sample(
                "vipd_vrrp_state",
                &[("instance", &v.name), ("state", s)],
                if v.state == s { 1.0 } else { 0.0 },
            );
        }
    }
    f.head(
        "vipd_vrrp_priority",
        "gauge",
        "Effective priority of each VRRP instance.",
    );
    for v in &st.vrrp {
        f.sample(
            "vipd_vrrp_priority",
            &[("instance", &v.name)],
            f64::from(v.effective_priority),
        );
    }

    type Pick = fn(&super::status::Traffic) -> u64;
    let fams: [(&str, &str, Pick); 5] = [
        ("connections_total", "Connections scheduled.", |t| t.conns),
        (
            "packets_total",
            "Packets forwarded (inbound; TUN/DR replies bypass the director).",
            |t| t.packets,
        ),
        ("bytes_total", "Bytes forwarded (inbound).", |t| t.bytes),
        (
            "out_packets_total",
            "NAT replies sent back to clients (IPVS's OutPkts).",
            |t| t.out_packets,
        ),
        (
            "out_bytes_total",
            "Bytes of NAT replies (IPVS's OutBytes).",
            |t| t.out_bytes,
        ),
    ];
    for (suffix, help, pick) in fams {
        let name = format!("vipd_service_{suffix}");
        f.head(&name, "counter", help);
        for s in &st.services {
            f.sample(&name, &[("service", &s.name)], pick(&s.traffic) as f64);
        }
        let name = format!("vipd_real_server_{suffix}");
        f.head(&name, "counter", help);
        for s in &st.services {
            for r in &s.reals {
                let real = r.addr.to_string();
                f.sample(
                    &name,
                    &[("service", &s.name), ("real_server", &real)],
                    pick(&r.traffic) as f64,
                );
            }
        }
    }
    type RealPick = fn(&super::status::Real) -> f64;
    let gauges: [(&str, &str, RealPick); 4] = [
        (
            "vipd_real_server_weight",
            "Weight in the data plane's table (0 quiesced; absent servers 0).",
            |r| if r.in_table { f64::from(r.weight) } else { 0.0 },
        ),
        (
            "vipd_real_server_up",
            "1 when all the real server's checkers pass (or it has none).",
            |r| {
                if r.alive.unwrap_or(r.checkers.is_empty()) {
                    1.0
                } else {
                    0.0
                }
            },
        ),
        (
            "vipd_real_server_active_connections",
            "Active connections in the connection table.",
            |r| r.active_conns as f64,
        ),
        (
            "vipd_real_server_inactive_connections",
            "Inactive connections in the connection table.",
            |r| r.inactive_conns as f64,
        ),
    ];
    for (name, help, pick) in gauges {
        f.head(name, "gauge", help);
        for s in &st.services {
            for r in &s.reals {
                let real = r.addr.to_string();
                f.sample(
                    name,
                    &[("service", &s.name), ("real_server", &real)],
                    pick(r),
                );
            }
        }
    }
    f.head(
        "vipd_service_quorum_up",
        "gauge",
        "1 while the service has quorum.",
    );
    for s in &st.services {
        f.sample(
            "vipd_service_quorum_up",
            &[("service", &s.name)],
            if s.quorum_up.unwrap_or(true) {
                1.0
            } else {
                0.0
            },
        );
    }
    f.head(
        "vipd_datapath_events_total",
        "counter",
        "Data-plane counters (drops by reason, totals).",
    );
    for (k, v) in &st.counters {
        f.sample("vipd_datapath_events_total", &[("event", k)], *v as f64);
    }
    if let Some(t) = &st.tables {
        f.head(
            "vipd_conn_table_entries",
            "gauge",
            "Live entries of the connection tables (established, half-open).",
        );
        f.sample(
            "vipd_conn_table_entries",
            &[("table", "established")],
            t.conns as f64,
        );
        f.sample(
            "vipd_conn_table_entries",
            &[("table", "half_open")],
            t.half_open as f64,
        );
        f.head(
            "vipd_half_open_evicted_total",
            "counter",
            "Half-open entries the LRU evicted (the table was full: a flood).",
        );
        f.sample(
            "vipd_half_open_evicted_total",
            &[],
            t.flood.evicted_total as f64,
        );
        f.head(
            "vipd_flood",
            "gauge",
            "1 while the half-open table is evicting.",
        );
        f.sample("vipd_flood", &[], f64::from(u8::from(t.flood.flood)));
    }
    if let Some(sh) = st.sharing.as_ref().filter(|s| s.on) {
        let c = &sh.counters;
        f.head(
            "vipd_sync_entries_total",
            "counter",
            "Connection sharing: entries sent, received, installed, waiting for their real server.",
        );
        for (what, v) in [
            ("sent", c.entries_sent),
            ("received", c.entries_received),
            ("installed", sh.installed),
            ("waited", sh.parked_total),
            ("ring_lost", sh.ring_lost),
            ("queue_dropped", c.queue_dropped),
        ] {
            f.sample("vipd_sync_entries_total", &[("what", what)], v as f64);
        }
        f.head(
            "vipd_sync_dropped_datagrams_total",
            "counter",
            "Connection sharing: received datagrams dropped, by reason.",
        );
        let d = &c.dropped;
        for (reason, v) in [
            ("truncated", d.truncated),
            ("malformed", d.malformed),
            ("bad_magic", d.bad_magic),
            ("version", d.version),
            ("wrong_sync_id", d.wrong_sync_id),
            ("key_mismatch", d.key_mismatch),
            ("bad_tag", d.bad_tag),
            ("stale", d.stale),
            ("replay", d.replay),
        ] {
            f.sample(
                "vipd_sync_dropped_datagrams_total",
                &[("reason", reason)],
                v as f64,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::status::{Checker, Real, Service, Traffic};
    use std::net::SocketAddr;

    fn real(addr: &str, conns: u64) -> Real {
        let addr: SocketAddr = addr.parse().unwrap();
        Real {
            addr,
            forward: "TUN".into(),
            in_table: true,
            weight: 2,
            configured_weight: 2,
            sorry: false,
            alive: Some(true),
            active_conns: 3,
            inactive_conns: 1,
            traffic: Traffic {
                conns,
                ..Default::default()
            },
            checkers: vec![Checker {
                kind: "TCP_CHECK".into(),
                target: addr,
                up: true,
                has_run: true,
                last_failure: None,
            }],
            last_failure: None,
        }
    }

    /// A dual-stack status whose service names come from the configuration,
    /// as the daemon names them.
    fn status() -> Status {
        let loaded = vipd_core::config::parse_str(
            "t.conf",
            "virtual_server 10.253.85.250 80 {\n real_server 10.253.26.1 80 {\n }\n}\n\
             virtual_server 2001:db8::250 80 {\n real_server 2001:db8:26::1 80 {\n }\n}\n",
        );
        let names: Vec<String> = loaded
            .config
            .virtual_servers
            .iter()
            .map(vipd_core::check::from_config::service_name)
            .collect();
        let svc = |name: &str, vip: &str, reals: Vec<Real>| Service {
            name: name.into(),
            vip: vip.parse().unwrap(),
            port: 80,
            group: Vec::new(),
            members: Vec::new(),
            protocol: "TCP".into(),
            lb_algo: "rr".into(),
            lb_kind: "TUN".into(),
            persistence_timeout: None,
            ops: false,
            quorum_up: Some(true),
            checks_suspended: false,
            sorry_active: false,
            traffic: Traffic::sum(reals.iter().map(|r| r.traffic)),
            reals,
        };
        Status {
            services: vec![
                svc(&names[0], "10.253.85.250", vec![real("10.253.26.1:80", 5)]),
                svc(
                    &names[1],
                    "2001:db8::250",
                    vec![real("[2001:db8:26::1]:80", 7)],
                ),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn ipv6_services_and_real_servers_are_labelled_as_ipvsadm_prints_them() {
        let text = render(&status());
        for want in [
            r#"vipd_service_connections_total{service="10.253.85.250:80/TCP"} 5"#,
            r#"vipd_service_connections_total{service="[2001:db8::250]:80/TCP"} 7"#,
            r#"vipd_real_server_connections_total{service="[2001:db8::250]:80/TCP",real_server="[2001:db8:26::1]:80"} 7"#,
            r#"vipd_real_server_weight{service="[2001:db8::250]:80/TCP",real_server="[2001:db8:26::1]:80"} 2"#,
            r#"vipd_real_server_up{service="[2001:db8::250]:80/TCP",real_server="[2001:db8:26::1]:80"} 1"#,
            r#"vipd_real_server_active_connections{service="[2001:db8::250]:80/TCP",real_server="[2001:db8:26::1]:80"} 3"#,
            r#"vipd_real_server_inactive_connections{service="10.253.85.250:80/TCP",real_server="10.253.26.1:80"} 1"#,
            r#"vipd_service_quorum_up{service="[2001:db8::250]:80/TCP"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == want), "no line {want} in\n{text}");
        }
        // Every sample line is name{labels} value, whatever the address.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = l.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{l}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        Family { out: &mut out }.sample("m", &[("service", "group \"a\\b\"/TCP")], 1.0);
        assert_eq!(out, "m{service=\"group \\\"a\\\\b\\\"/TCP\"} 1\n");
    }
}
