//! From the syntax tree to the typed [`Config`], with validation.
//!
//! Policy (see docs/CONFIG.md): an unknown keyword is a warning and parsing goes
//! on (keepalived's behaviour); a value vipd cannot honour exactly (one that
//! keepalived would quietly replace by a default that changes where traffic
//! goes) is an error; softer problems are warnings.

use super::ast::{Node, Word};
use super::diag::{Diagnostic, Diagnostics, Loc, Span};
use super::keywords::{self, Ctx, Status};
use super::model::*;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

/// Host facts the parser may consult (the `vipd` crate fills them in; tests
/// and fuzzing leave them empty).
pub struct HostCheck<'a> {
    /// Returns whether a network interface exists on this host.
    pub interface_exists: &'a dyn Fn(&str) -> bool,
}

impl std::fmt::Debug for HostCheck<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostCheck")
    }
}

/// Builds the model from the tree.
pub fn build(
    nodes: impl IntoIterator<Item = Node>,
    host: Option<&HostCheck<'_>>,
    diags: &mut Diagnostics,
) -> Config {
    let mut cx = Cx {
        diags,
        host,
        missing_ifs: Vec::new(),
        sync_iface: None,
    };
    let mut cfg = Config::default();
    for n in nodes {
        let n = &n;
        not_honoured(Ctx::Top, n, cx.diags);
        let kw = n.keyword.text.as_str();
        match kw {
            "global_defs" => {
                if let Some(b) = cx.block(n) {
                    cx.global_defs(b, &mut cfg.global_defs);
                }
            }
            "static_ipaddress" => {
                if let Some(b) = cx.block(n) {
                    for l in b {
                        if let Some(v) = cx.vip(l, true) {
                            cfg.static_ipaddress.push(v);
                        }
                    }
                }
            }
            "static_routes" => {
                if let Some(b) = cx.block(n) {
                    for l in b {
                        if let Some(r) = cx.route(l) {
                            cfg.static_routes.push(r);
                        }
                    }
                }
            }
            "static_rules" => {
                if let Some(b) = cx.block(n) {
                    for l in b {
                        if let Some(r) = cx.rule(l) {
                            cfg.static_rules.push(r);
                        }
                    }
                }
            }
            "vrrp_script" => {
                if let Some(s) = cx.vrrp_script(n) {
                    cfg.vrrp_scripts.push(s);
                }
            }
            "track_file" | "vrrp_track_file" => {
                if let Some(t) = cx.track_file(n) {
                    cfg.track_files.push(t);
                }
            }
            "vrrp_sync_group" => {
                if let Some(s) = cx.sync_group(n) {
                    cfg.vrrp_sync_groups.push(s);
                }
            }
            "vrrp_instance" => {
                if let Some(s) = cx.instance(n, &cfg.global_defs) {
                    cfg.vrrp_instances.push(s);
                }
            }
            "virtual_server_group" => {
                if let Some(g) = cx.vs_group(n) {
                    cfg.virtual_server_groups.push(g);
                }
            }
            "virtual_server" => {
                if let Some(v) = cx.virtual_server(n) {
                    cfg.virtual_servers.push(v);
                }
            }
            _ => cx.other(Ctx::Top, n),
        }
    }
    // keepalived 1.2.x's `lvs_sync_daemon_interface IFACE` in an instance is
    // today's `lvs_sync_daemon IFACE INSTANCE` (unless that is given).
    if cfg.global_defs.lvs_sync_daemon.is_none() {
        if let Some((interface, instance)) = cx.sync_iface.take() {
            cfg.global_defs.lvs_sync_daemon = Some(LvsSyncDaemon {
                interface,
                instance: Some(instance),
                ..LvsSyncDaemon::default()
            });
        }
    }
    cx.cross_checks(&cfg);
    cfg
}

/// The block a keyword of `ctx` opens, for the keyword table.
fn child_ctx(ctx: Ctx, kw: &str) -> Option<Ctx> {
    Some(match (ctx, kw) {
        (Ctx::Top, "global_defs") => Ctx::GlobalDefs,
        (Ctx::Top, "vrrp_script") => Ctx::VrrpScript,
        (Ctx::Top, "track_file" | "vrrp_track_file") => Ctx::TrackFile,
        (Ctx::Top, "vrrp_sync_group") => Ctx::SyncGroup,
        (Ctx::Top, "vrrp_instance") => Ctx::Instance,
        (Ctx::Top, "virtual_server") => Ctx::VirtualServer,
        (Ctx::Instance, "authentication") => Ctx::Auth,
        (Ctx::VirtualServer, "real_server") => Ctx::RealServer,
        (Ctx::RealServer, "HTTP_GET" | "SSL_GET") => Ctx::HttpGet,
        (Ctx::RealServer, "SMTP_CHECK") => Ctx::Smtp,
        (Ctx::RealServer, "DNS_CHECK") => Ctx::Dns,
        (Ctx::RealServer, "MISC_CHECK") => Ctx::Misc,
        (Ctx::RealServer, "UDP_CHECK") => Ctx::Udp,
        (Ctx::RealServer, "FILE_CHECK") => Ctx::File,
        (Ctx::RealServer, "BFD_CHECK") => Ctx::Bfd,
        (Ctx::RealServer, "TCP_CHECK" | "PING_CHECK") => Ctx::Checker,
        (Ctx::HttpGet, "url") => Ctx::Url,
        _ => return None,
    })
}

/// Every keyword the table says vipd does not honour (unsupported, or
/// parsed but not acted on yet) gets a warning that names it, wherever it is
/// and whether or not the parser models it: what the file says is what runs,
/// or vipd says what it leaves out.
fn not_honoured(ctx: Ctx, n: &Node, diags: &mut Diagnostics) {
    let kw = n.keyword.text.as_str();
    let looked = keywords::lookup(ctx, kw).or_else(|| match ctx {
        Ctx::HttpGet | Ctx::Smtp | Ctx::Dns | Ctx::Misc | Ctx::Udp | Ctx::File | Ctx::Bfd => {
            keywords::lookup(Ctx::Checker, kw)
        }
        _ => None,
    });
    let (what, label) = match looked {
        Some((Status::Unsupported, _)) => ("is not supported by vipd", "unsupported"),
        Some((Status::Planned, _)) => ("is not acted on by vipd yet", "not implemented yet"),
        _ => ("", ""),
    };
    if !what.is_empty() {
        let note = looked.map_or("", |(_, n)| n);
        let mut d = Diagnostic::warning(format!("`{kw}` {what}; ignored"))
            .at(n.line_span())
            .label(label);
        if !note.is_empty() {
            d = d.note(note);
        }
        diags.push(d);
    }
    // A block vipd ignores as a whole is named once, not line by line.
    if !what.is_empty() {
        return;
    }
    if let (Some(child), Some(b)) = (child_ctx(ctx, kw), &n.block) {
        for c in &b.nodes {
            not_honoured(child, c, diags);
        }
    }
}

struct Cx<'a, 'h> {
    diags: &'a mut Diagnostics,
    host: Option<&'a HostCheck<'h>>,
    /// Interfaces already reported missing (one warning per name).
    missing_ifs: Vec<String>,
    /// The first 1.2.x `lvs_sync_daemon_interface`: (interface, instance).
    sync_iface: Option<(String, String)>,
}

impl Cx<'_, '_> {
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// A keyword this block does not model: look it up in the table.
    fn other(&mut self, ctx: Ctx, n: &Node) {
        let kw = n.keyword.text.as_str();
        let looked = keywords::lookup(ctx, kw).or_else(|| match ctx {
            Ctx::HttpGet | Ctx::Smtp | Ctx::Dns | Ctx::Misc | Ctx::Udp => {
                keywords::lookup(Ctx::Checker, kw)
            }
            _ => None,
        });
        match looked {
            Some((Status::Ignored, _)) => {}
            // Reported by `not_honoured`, for every block.
            Some((Status::Unsupported | Status::Planned, _)) => {}
            Some(_) => {
                // Listed as handled but reached here: wrong block shape.
                self.err(
                    Diagnostic::warning(format!("`{kw}` is not valid here; ignored"))
                        .at(n.keyword.span),
                );
            }
            None => {
                let mut d = Diagnostic::warning(format!(
                    "unknown keyword `{kw}` in {}; ignored",
                    ctx.name()
                ))
                .at(n.keyword.span)
                .label("unknown keyword");
                if kw.contains('@') {
                    d = d.help("this looks like an e-mail address: a line of a commented-out `notification_email` block that lost its `!`? Comment it out.");
                } else if let Some(s) = keywords::suggest(ctx, kw) {
                    d = d.help(format!("did you mean `{s}`?"));
                } else if let Some(c) = [
                    Ctx::Top,
                    Ctx::GlobalDefs,
                    Ctx::Instance,
                    Ctx::VirtualServer,
                    Ctx::RealServer,
                    Ctx::Checker,
                ]
                .into_iter()
                .find(|c| *c != ctx && keywords::lookup(*c, kw).is_some())
                {
                    d = d.help(format!("`{kw}` belongs in {}", c.name()));
                }
                self.err(d);
            }
        }
    }

    /// The block of a node that must have one.
    fn block<'n>(&mut self, n: &'n Node) -> Option<&'n [Node]> {
        match &n.block {
            Some(b) => Some(&b.nodes),
            None => {
                self.err(
                    Diagnostic::error(format!("`{}` needs a block", n.keyword.text))
                        .at(n.keyword.span)
                        .help(format!("write `{} {{ ... }}`", n.keyword.text)),
                );
                None
            }
        }
    }

    /// Warns about a block given to a keyword that takes none.
    fn no_block(&mut self, n: &Node) {
        if let Some(b) = &n.block {
            self.err(
                Diagnostic::warning(format!(
                    "`{}` takes no block; block ignored",
                    n.keyword.text
                ))
                .at(b.open),
            );
        }
    }

    /// The single argument of `n`, or an error.
    fn arg<'n>(&mut self, n: &'n Node) -> Option<&'n Word> {
        self.no_block(n);
        match n.args.first() {
            Some(w) => {
                if n.args.len() > 1 {
                    let extra = &n.args[1];
                    self.err(
                        Diagnostic::warning(format!(
                            "`{}` takes one value; extra words ignored",
                            n.keyword.text
                        ))
                        .at(extra.span),
                    );
                }
                Some(w)
            }
            None => {
                self.err(
                    Diagnostic::error(format!("`{}` needs a value", n.keyword.text))
                        .at(n.keyword.span)
                        .help(format!("write `{} VALUE`", n.keyword.text)),
                );
                None
            }
        }
    }

    fn flag(&mut self, n: &Node) -> bool {
        self.no_block(n);
        if let Some(w) = n.args.first() {
            self.err(
                Diagnostic::warning(format!(
                    "`{}` takes no value; `{}` ignored",
                    n.keyword.text, w.text
                ))
                .at(w.span),
            );
        }
        true
    }

    fn int<T: FromStr + Copy + Into<i64>>(
        &mut self,
        w: &Word,
        what: &str,
        min: i64,
        max: i64,
    ) -> Option<T> {
        match w.text.parse::<i64>() {
            Ok(v) if v >= min && v <= max => T::from_str(&w.text).ok(),
            Ok(_) | Err(_) => {
                self.err(
                    Diagnostic::error(format!(
                        "invalid {what} `{}`: must be an integer in {min}..={max}",
                        w.text
                    ))
                    .at(w.span)
                    .label("out of range or not a number"),
                );
                None
            }
        }
    }

    /// `lvs_timeouts [tcp N] [tcpfin N] [udp N]`.
    fn lvs_timeouts(&mut self, n: &Node) -> Option<LvsTimeouts> {
        self.no_block(n);
        let mut t = LvsTimeouts::default();
        let mut args = n.args.iter();
        while let Some(k) = args.next() {
            let Some(v) = args.next() else {
                self.err(
                    Diagnostic::error(format!(
                        "`lvs_timeouts {}` needs a number of seconds",
                        k.text
                    ))
                    .at(k.span)
                    .help("write e.g. `lvs_timeouts tcp 900 tcpfin 120 udp 300`"),
                );
                break;
            };
            let secs = self.int::<u32>(v, &format!("`lvs_timeouts {}`", k.text), 1, 31_536_000);
            match k.text.as_str() {
                "tcp" => t.tcp = secs,
                "tcpfin" => t.tcpfin = secs,
                "udp" => t.udp = secs,
                other => self.err(
                    Diagnostic::error(format!("unknown `lvs_timeouts` field `{other}`"))
                        .at(k.span)
                        .help("the fields are tcp, tcpfin and udp"),
                ),
            }
        }
        Some(t)
    }

    fn arg_u32(&mut self, n: &Node, min: i64, max: i64) -> Option<u32> {
        let w = self.arg(n)?.clone();
        self.int::<u32>(&w, &format!("`{}`", n.keyword.text), min, max)
    }

    fn arg_dur(&mut self, n: &Node) -> Option<Duration> {
        let w = self.arg(n)?.clone();
        self.duration(&w, &n.keyword.text)
    }

    fn duration(&mut self, w: &Word, what: &str) -> Option<Duration> {
        match parse_duration(&w.text) {
            Some(d) => Some(d),
            None => {
                self.err(
                    Diagnostic::error(format!(
                        "invalid `{what}` `{}`: expected seconds, e.g. 3 or 0.5",
                        w.text
                    ))
                    .at(w.span),
                );
                None
            }
        }
    }

    fn ip(&mut self, w: &Word) -> Option<IpAddr> {
        match w.text.parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(
                    Diagnostic::error(format!("`{}` is not an IP address", w.text))
                        .at(w.span)
                        .label("expected an IPv4 or IPv6 address"),
                );
                None
            }
        }
    }

    fn prefix(&mut self, w: &Word) -> Option<IpPrefix> {
        match parse_prefix(&w.text) {
            Some(p) => Some(p),
            None => {
                self.err(
                    Diagnostic::error(format!("`{}` is not an IP address or prefix", w.text))
                        .at(w.span)
                        .label("expected ADDRESS or ADDRESS/LENGTH")
                        .help("write e.g. 192.168.1.0/24"),
                );
                None
            }
        }
    }

    fn port(&mut self, w: &Word) -> Option<u16> {
        match w.text.parse::<u16>() {
            Ok(p) => Some(p),
            Err(_) => {
                self.err(
                    Diagnostic::error(format!("invalid port `{}`", w.text))
                        .at(w.span)
                        .label("must be 0..=65535"),
                );
                None
            }
        }
    }

    /// `<BOOL>` that may be omitted (meaning true).
    fn opt_bool(&mut self, n: &Node) -> Option<bool> {
        self.no_block(n);
        match n.args.first() {
            None => Some(true),
            Some(w) => match w.text.to_ascii_lowercase().as_str() {
                "on" | "true" | "yes" => Some(true),
                "off" | "false" | "no" => Some(false),
                _ => {
                    self.err(
                        Diagnostic::error(format!("`{}` is not a boolean", w.text))
                            .at(w.span)
                            .help("write on|off|true|false|yes|no"),
                    );
                    None
                }
            },
        }
    }

    fn notify(&mut self, n: &Node) -> Option<Notify> {
        self.no_block(n);
        let Some(script) = n.args.first() else {
            self.err(
                Diagnostic::error(format!("`{}` needs a script", n.keyword.text))
                    .at(n.keyword.span)
                    .help(format!(
                        "write `{} \"/path/to/script arg\"`",
                        n.keyword.text
                    )),
            );
            return None;
        };
        Some(Notify {
            script: script.text.clone(),
            user: n.args.get(1).map(|u| ScriptUser {
                user: u.text.clone(),
                group: n.args.get(2).map(|g| g.text.clone()),
            }),
        })
    }

    fn interface(&mut self, w: &Word) {
        if let Some(h) = self.host {
            if !self.missing_ifs.contains(&w.text) && !(h.interface_exists)(&w.text) {
                self.missing_ifs.push(w.text.clone());
                self.err(
                    Diagnostic::warning(format!("interface `{}` does not exist on this host", w.text))
                        .at(w.span)
                        .note("fine if this configuration is for another host; the daemon refuses to start without it"),
                );
            }
        }
    }

    /// `name weight N [reverse|noreverse]` lines of track_* blocks.
    fn tracks(&mut self, n: &Node) -> Vec<Track> {
        let mut out = Vec::new();
        let Some(b) = self.block(n) else { return out };
        for l in b {
            let mut t = Track {
                name: l.keyword.text.clone(),
                weight: None,
                reverse: false,
            };
            let mut i = 0;
            while i < l.args.len() {
                let a = &l.args[i];
                match a.text.as_str() {
                    "weight" => match l.args.get(i + 1) {
                        Some(v) => {
                            let v = v.clone();
                            t.weight = self.int::<i32>(&v, "track weight", -254, 254);
                            i += 1;
                        }
                        None => self.err(Diagnostic::error("`weight` needs a value").at(a.span)),
                    },
                    "reverse" => t.reverse = true,
                    "noreverse" | "no_reverse" => t.reverse = false,
                    _ => self.err(
                        Diagnostic::warning(format!(
                            "unexpected `{}` in {}; ignored",
                            a.text, n.keyword.text
                        ))
                        .at(a.span),
                    ),
                }
                i += 1;
            }
            out.push(t);
        }
        out
    }

    // ---------------------------------------------------------------- global_defs

    fn global_defs(&mut self, b: &[Node], g: &mut GlobalDefs) {
        for n in b {
            match n.keyword.text.as_str() {
                "router_id" => g.router_id = self.arg(n).map(|w| w.text.clone()),
                "notification_email" => {
                    if let Some(b) = self.block(n) {
                        g.notification_email = b.iter().map(|l| l.keyword.text.clone()).collect();
                    }
                }
                "notification_email_from" => {
                    g.notification_email_from = self.arg(n).map(|w| w.text.clone())
                }
                "smtp_server" => {
                    g.smtp_server = n.args.first().map(|_| {
                        n.args
                            .iter()
                            .map(|w| w.text.as_str())
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                }
                "smtp_connect_timeout" => g.smtp_connect_timeout = self.arg_dur(n),
                "vrrp_mcast_group4" => {
                    if let Some(w) = self.arg(n).cloned() {
                        match self.ip(&w) {
                            Some(IpAddr::V4(a)) => g.vrrp_mcast_group4 = Some(a),
                            Some(_) => self.err(
                                Diagnostic::error("vrrp_mcast_group4 needs an IPv4 address")
                                    .at(w.span),
                            ),
                            None => {}
                        }
                    }
                }
                "vrrp_mcast_group6" => {
                    if let Some(w) = self.arg(n).cloned() {
                        match self.ip(&w) {
                            Some(IpAddr::V6(a)) => g.vrrp_mcast_group6 = Some(a),
                            Some(_) => self.err(
                                Diagnostic::error("vrrp_mcast_group6 needs an IPv6 address")
                                    .at(w.span),
                            ),
                            None => {}
                        }
                    }
                }
                "default_interface" => g.default_interface = self.arg(n).map(|w| w.text.clone()),
                "vrrp_version" => g.vrrp_version = self.arg_u32(n, 2, 3).map(|v| v as u8),
                "vrrp_garp_master_delay" => g.vrrp_garp_master_delay = self.arg_dur(n),
                "vrrp_garp_master_repeat" => {
                    g.vrrp_garp_master_repeat = self.arg_u32(n, 0, 1_000_000)
                }
                "vrrp_garp_master_refresh" => g.vrrp_garp_master_refresh = self.arg_dur(n),
                "vrrp_garp_master_refresh_repeat" => {
                    g.vrrp_garp_master_refresh_repeat = self.arg_u32(n, 0, 1_000_000)
                }
                "vrrp_garp_lower_prio_delay" => g.vrrp_garp_lower_prio_delay = self.arg_dur(n),
                "vrrp_garp_lower_prio_repeat" => {
                    g.vrrp_garp_lower_prio_repeat = self.arg_u32(n, 0, 1_000_000)
                }
                "vrrp_garp_interval" => g.vrrp_garp_interval = self.arg_dur(n),
                "vrrp_gna_interval" => g.vrrp_gna_interval = self.arg_dur(n),
                "vrrp_min_garp" => g.vrrp_min_garp = self.opt_bool(n),
                "vrrp_lower_prio_no_advert" => g.vrrp_lower_prio_no_advert = self.opt_bool(n),
                "vrrp_higher_prio_send_advert" => g.vrrp_higher_prio_send_advert = self.opt_bool(n),
                "vrrp_down_timer_adverts" => g.vrrp_down_timer_adverts = self.arg_u32(n, 1, 100),
                "vrrp_strict" => g.vrrp_strict = self.flag(n),
                "vrrp_skip_check_adv_addr" => g.vrrp_skip_check_adv_addr = self.flag(n),
                "vrrp_check_unicast_src" => g.vrrp_check_unicast_src = self.flag(n),
                "vrrp_startup_delay" => g.vrrp_startup_delay = self.arg_dur(n),
                "enable_script_security" => g.enable_script_security = self.flag(n),
                "script_user" => {
                    g.script_user = n.args.first().map(|u| ScriptUser {
                        user: u.text.clone(),
                        group: n.args.get(1).map(|x| x.text.clone()),
                    });
                    if g.script_user.is_none() {
                        self.arg(n);
                    }
                }
                "lvs_flush" => g.lvs_flush = self.flag(n),
                "lvs_timeouts" => g.lvs_timeouts = self.lvs_timeouts(n),
                "checker_log_all_failures" => g.checker_log_all_failures = self.opt_bool(n),
                "lvs_sync_daemon" => g.lvs_sync_daemon = self.lvs_sync_daemon(n),
                "vipd_announce" => {
                    if let Some(w) = self.arg(n).cloned() {
                        let t = &w.text;
                        if t.is_empty()
                            || t.len() > 15
                            || t.contains(['/', ':', '%'])
                            || t.contains(char::is_whitespace)
                            || t == "."
                            || t == ".."
                        {
                            self.err(
                                Diagnostic::error(format!(
                                    "vipd_announce {t}: not an interface name (at most 15 characters, no `/`, `:`, `%` or spaces)"
                                ))
                                .at(w.span),
                            );
                        } else {
                            g.vipd_announce = Some(t.clone());
                        }
                    }
                }
                _ => self.other(Ctx::GlobalDefs, n),
            }
        }
    }

    /// `lvs_sync_daemon IFACE [INSTANCE] [id N] [maxlen N] [port N] [ttl N]
    /// [group ADDR]`.
    fn lvs_sync_daemon(&mut self, n: &Node) -> Option<LvsSyncDaemon> {
        self.no_block(n);
        let Some(iface) = n.args.first() else {
            self.err(
                Diagnostic::error("`lvs_sync_daemon` needs an interface")
                    .at(n.keyword.span)
                    .help("write `lvs_sync_daemon eth1` (the interface the directors share)"),
            );
            return None;
        };
        let mut d = LvsSyncDaemon {
            interface: iface.text.clone(),
            ..LvsSyncDaemon::default()
        };
        let mut i = 1;
        let args = &n.args;
        while i < args.len() {
            let a = &args[i];
            let takes = matches!(
                a.text.as_str(),
                "id" | "maxlen" | "port" | "ttl" | "group" | "syncid"
            );
            if !takes {
                if i == 1 {
                    d.instance = Some(a.text.clone());
                    i += 1;
                    continue;
                }
                self.err(
                    Diagnostic::error(format!("unknown `lvs_sync_daemon` option `{}`", a.text))
                        .at(a.span)
                        .help("options are: id N, maxlen N, port N, ttl N, group ADDR"),
                );
                return None;
            }
            let Some(v) = args.get(i + 1).cloned() else {
                self.err(Diagnostic::error(format!("`{}` needs a value", a.text)).at(a.span));
                return None;
            };
            match a.text.as_str() {
                "id" | "syncid" => d.id = self.int::<u32>(&v, "sync id", 0, 255),
                "maxlen" => d.maxlen = self.int::<u32>(&v, "maxlen", 256, 65507),
                "port" => d.port = self.int::<u16>(&v, "port", 1, 65535),
                "ttl" => d.ttl = self.int::<u8>(&v, "ttl", 1, 255),
                _ => match self.ip(&v) {
                    Some(g) if g.is_multicast() => d.group = Some(g),
                    Some(g) => self.err(
                        Diagnostic::error(format!("`group {g}` is not a multicast address"))
                            .at(v.span)
                            .help("write e.g. `group 224.0.0.81`, or leave it out"),
                    ),
                    None => {}
                },
            }
            i += 2;
        }
        Some(d)
    }

    // ---------------------------------------------------------------- addresses

    /// One `virtual_ipaddress` / `static_ipaddress` line.
    fn vip(&mut self, l: &Node, is_static: bool) -> Option<VirtualIp> {
        let addr = self.prefix(&l.keyword)?;
        let mut v = VirtualIp {
            addr,
            brd: None,
            dev: None,
            label: None,
            scope: None,
            peer: None,
            no_track: false,
            flags: Vec::new(),
            preferred_lft: None,
            track_group: None,
        };
        let mut i = 0;
        let args = &l.args;
        while i < args.len() {
            let a = &args[i];
            let val = args.get(i + 1);
            let takes_value = matches!(
                a.text.as_str(),
                "brd"
                    | "broadcast"
                    | "dev"
                    | "label"
                    | "scope"
                    | "peer"
                    | "preferred_lft"
                    | "track_group"
            );
            if takes_value && val.is_none() {
                self.err(Diagnostic::error(format!("`{}` needs a value", a.text)).at(a.span));
                break;
            }
            match (a.text.as_str(), val) {
                ("brd" | "broadcast", Some(w)) => {
                    v.brd = match w.text.as_str() {
                        "-" => Some(Broadcast::Clear),
                        "+" => Some(Broadcast::Set),
                        _ => self.ip(w).map(Broadcast::Addr),
                    };
                    i += 1;
                }
                ("dev", Some(w)) => {
                    self.interface(w);
                    v.dev = Some(w.text.clone());
                    i += 1;
                }
                ("label", Some(w)) => {
                    v.label = Some(w.text.clone());
                    i += 1;
                }
                ("scope", Some(w)) => {
                    v.scope = self.scope(w);
                    i += 1;
                }
                ("peer", Some(w)) => {
                    v.peer = self.ip(w);
                    i += 1;
                }
                ("preferred_lft", Some(w)) => {
                    v.preferred_lft = Some(w.text.clone());
                    i += 1;
                }
                ("track_group", Some(w)) => {
                    if !is_static {
                        self.err(Diagnostic::warning("`track_group` applies to static addresses only; ignored").at(a.span));
                    } else {
                        v.track_group = Some(w.text.clone());
                    }
                    i += 1;
                }
                ("no_track", _) => v.no_track = true,
                ("home" | "-nodad" | "nodad" | "mngtmpaddr" | "noprefixroute" | "autojoin", _) => {
                    v.flags.push(a.text.clone())
                }
                ("use_vmac", _) => self.err(
                    Diagnostic::warning("`use_vmac` is not supported by vipd; ignored").at(a.span),
                ),
                _ => self.err(
                    Diagnostic::error(format!("unknown address option `{}`", a.text))
                        .at(a.span)
                        .help("options are brd, dev, label, scope, peer, no_track, home, -nodad, mngtmpaddr, noprefixroute, autojoin, preferred_lft"),
                ),
            }
            i += 1;
        }
        self.no_block(l);
        Some(v)
    }

    fn scope(&mut self, w: &Word) -> Option<Scope> {
        match w.text.as_str() {
            "global" => Some(Scope::Global),
            "site" => Some(Scope::Site),
            "link" => Some(Scope::Link),
            "host" => Some(Scope::Host),
            "nowhere" => Some(Scope::Nowhere),
            _ => {
                self.err(
                    Diagnostic::error(format!("unknown scope `{}`", w.text))
                        .at(w.span)
                        .help("scope is one of global, site, link, host, nowhere"),
                );
                None
            }
        }
    }

    /// One route line.
    fn route(&mut self, l: &Node) -> Option<Route> {
        let words: Vec<&Word> = std::iter::once(&l.keyword).chain(l.args.iter()).collect();
        let mut r = Route {
            kind: None,
            to: IpPrefix {
                addr: IpAddr::from([0, 0, 0, 0]),
                len: 0,
            },
            src: None,
            via: None,
            dev: None,
            table: None,
            metric: None,
            scope: None,
            no_track: false,
            options: Vec::new(),
        };
        let mut have_to = false;
        let mut in_options = false;
        let mut ok = true;
        let mut i = 0;
        while i < words.len() {
            let w = words[i];
            let next = words.get(i + 1).copied();
            let t = w.text.as_str();
            if in_options {
                r.options.push(w.text.clone());
                if looks_like_ip(t) && t.parse::<IpAddr>().is_err() && parse_prefix(t).is_none() {
                    self.prefix(w);
                    ok = false;
                }
                i += 1;
                continue;
            }
            match (t, next) {
                ("src", Some(v)) => {
                    r.src = self.ip(v);
                    ok &= r.src.is_some();
                    i += 1;
                }
                ("via" | "gw", Some(v)) => {
                    if t == "gw" {
                        self.err(
                            Diagnostic::warning("`gw` is deprecated; it means `via`")
                                .at(w.span)
                                .help("write `via`"),
                        );
                    }
                    r.via = self.ip(v);
                    ok &= r.via.is_some();
                    i += 1;
                }
                ("dev" | "oif", Some(v)) => {
                    self.interface(v);
                    r.dev = Some(v.text.clone());
                    i += 1;
                }
                ("table", Some(v)) => {
                    r.table = Some(v.text.clone());
                    i += 1;
                }
                ("metric" | "priority" | "preference", Some(v)) => {
                    r.metric = self.int::<u32>(v, "route metric", 0, u32::MAX as i64);
                    i += 1;
                }
                ("scope", Some(v)) => {
                    r.scope = self.scope(v);
                    i += 1;
                }
                ("to", Some(v)) if !have_to => {
                    if let Some(p) = self.prefix(v) {
                        r.to = p;
                        have_to = true;
                    } else {
                        ok = false;
                    }
                    i += 1;
                }
                ("no_track", _) => r.no_track = true,
                ("or", Some(v)) => {
                    self.err(
                        Diagnostic::warning("`or` (an alternative gateway) is deprecated")
                            .at(w.span)
                            .help("use `nexthop via A nexthop via B`"),
                    );
                    if self.ip(v).is_none() {
                        ok = false;
                    }
                    r.options.push("or".into());
                    r.options.push(v.text.clone());
                    i += 1;
                }
                ("nexthop", _) => {
                    in_options = true;
                    r.options.push(w.text.clone());
                }
                (
                    "blackhole" | "unreachable" | "prohibit" | "throw" | "local" | "broadcast"
                    | "anycast" | "multicast" | "unicast",
                    _,
                ) if !have_to && r.kind.is_none() => r.kind = Some(w.text.clone()),
                ("default", _) if !have_to => {
                    have_to = true;
                }
                _ if !have_to && (looks_like_ip(t) || t.contains('/')) => {
                    if let Some(p) = self.prefix(w) {
                        r.to = p;
                        have_to = true;
                    } else {
                        ok = false;
                    }
                }
                _ => {
                    if looks_like_ip(t) && parse_prefix(t).is_none() {
                        self.prefix(w);
                        ok = false;
                    }
                    r.options.push(w.text.clone());
                }
            }
            i += 1;
        }
        self.no_block(l);
        if !have_to {
            if ok {
                self.err(
                    Diagnostic::error("route without a destination")
                        .at(l.line_span())
                        .help("write e.g. `192.168.2.0/24 via 192.168.1.1 dev eth0`"),
                );
            }
            return None;
        }
        ok.then_some(r)
    }

    /// One rule line.
    fn rule(&mut self, l: &Node) -> Option<Rule> {
        let words: Vec<&Word> = std::iter::once(&l.keyword).chain(l.args.iter()).collect();
        let mut r = Rule {
            from: None,
            to: None,
            table: None,
            preference: None,
            no_track: false,
            options: Vec::new(),
        };
        let mut ok = true;
        let mut i = 0;
        while i < words.len() {
            let w = words[i];
            let next = words.get(i + 1).copied();
            match (w.text.as_str(), next) {
                ("from", Some(v)) => {
                    r.from = self.prefix(v);
                    ok &= r.from.is_some();
                    i += 1;
                }
                ("to", Some(v)) => {
                    r.to = self.prefix(v);
                    ok &= r.to.is_some();
                    i += 1;
                }
                ("table" | "lookup", Some(v)) => {
                    r.table = Some(v.text.clone());
                    i += 1;
                }
                ("preference" | "priority" | "prio" | "pref", Some(v)) => {
                    r.preference = self.int::<u32>(v, "rule preference", 0, u32::MAX as i64);
                    i += 1;
                }
                ("no_track", _) => r.no_track = true,
                (t, _) => {
                    if looks_like_ip(t) && parse_prefix(t).is_none() {
                        self.prefix(w);
                        ok = false;
                    }
                    r.options.push(w.text.clone())
                }
            }
            i += 1;
        }
        self.no_block(l);
        if ok && r.preference.is_none() {
            self.err(
                Diagnostic::warning("rule without a preference")
                    .at(l.line_span())
                    .note("rules without preferences may be added in a different order each time")
                    .help("add `preference N`"),
            );
        }
        ok.then_some(r)
    }

    // ---------------------------------------------------------------- vrrp

    fn name<'n>(&mut self, n: &'n Node) -> Option<&'n Word> {
        match n.args.first() {
            Some(w) => Some(w),
            None => {
                self.err(
                    Diagnostic::error(format!("`{}` needs a name", n.keyword.text))
                        .at(n.keyword.span)
                        .help(format!("write `{} NAME {{ ... }}`", n.keyword.text)),
                );
                None
            }
        }
    }

    fn vrrp_script(&mut self, n: &Node) -> Option<VrrpScript> {
        let name = self.name(n)?.text.clone();
        let b = self.block(n)?;
        let mut s = VrrpScript {
            name,
            script: None,
            interval: Duration::from_secs(1),
            timeout: None,
            weight: 0,
            weight_reverse: false,
            rise: 1,
            fall: 1,
            user: None,
            init_fail: false,
            loc: n.keyword.span.into(),
        };
        for l in b {
            match l.keyword.text.as_str() {
                "script" => {
                    self.no_block(l);
                    match l.args.len() {
                        0 => {
                            self.arg(l);
                        }
                        _ => {
                            s.script = Some(
                                l.args
                                    .iter()
                                    .map(|w| w.text.as_str())
                                    .collect::<Vec<_>>()
                                    .join(" "),
                            )
                        }
                    }
                }
                "interval" => s.interval = self.arg_dur(l).unwrap_or(s.interval),
                "timeout" => s.timeout = self.arg_dur(l),
                "weight" => {
                    if let Some(w) = l.args.first().cloned() {
                        s.weight = self.int::<i32>(&w, "`weight`", -253, 253).unwrap_or(0);
                        s.weight_reverse = l.args.get(1).is_some_and(|r| r.text == "reverse");
                    } else {
                        self.arg(l);
                    }
                }
                "rise" => s.rise = self.arg_u32(l, 1, 1_000_000).unwrap_or(1),
                "fall" => s.fall = self.arg_u32(l, 1, 1_000_000).unwrap_or(1),
                "user" => {
                    s.user = l.args.first().map(|u| ScriptUser {
                        user: u.text.clone(),
                        group: l.args.get(1).map(|g| g.text.clone()),
                    })
                }
                "init_fail" => s.init_fail = self.flag(l),
                _ => self.other(Ctx::VrrpScript, l),
            }
        }
        if s.script.is_none() {
            self.err(
                Diagnostic::warning(format!(
                    "vrrp_script `{}` has no `script`; it will never succeed",
                    s.name
                ))
                .at(n.keyword.span)
                .help("add `script \"/path/to/check\"`"),
            );
        }
        Some(s)
    }

    fn track_file(&mut self, n: &Node) -> Option<TrackFile> {
        let name = self.name(n)?.text.clone();
        let b = self.block(n)?;
        let mut t = TrackFile {
            name,
            file: None,
            weight: 1,
            reverse: false,
            init_file: None,
            loc: n.keyword.span.into(),
        };
        for l in b {
            match l.keyword.text.as_str() {
                "file" => t.file = self.arg(l).map(|w| w.text.clone()),
                "weight" => {
                    if let Some(w) = l.args.first().cloned() {
                        t.weight = self.int::<i32>(&w, "`weight`", -254, 254).unwrap_or(1);
                        t.reverse = l.args.get(1).is_some_and(|r| r.text == "reverse");
                    } else {
                        self.arg(l);
                    }
                }
                "init_file" => {
                    let mut value = 0;
                    let mut overwrite = false;
                    for a in &l.args {
                        if a.text == "overwrite" {
                            overwrite = true;
                        } else if let Some(v) =
                            self.int::<i64>(a, "`init_file`", i32::MIN.into(), i32::MAX.into())
                        {
                            value = v;
                        }
                    }
                    t.init_file = Some((value, overwrite));
                }
                _ => self.other(Ctx::TrackFile, l),
            }
        }
        if t.file.is_none() {
            self.err(
                Diagnostic::error(format!("track_file `{}` has no `file`", t.name))
                    .at(n.keyword.span)
                    .help("add `file /path/to/file`"),
            );
        }
        Some(t)
    }

    fn sync_group(&mut self, n: &Node) -> Option<VrrpSyncGroup> {
        let name = self.name(n)?.text.clone();
        let b = self.block(n)?;
        let mut g = VrrpSyncGroup {
            name,
            group: Vec::new(),
            track_interface: Vec::new(),
            track_script: Vec::new(),
            notify_master: None,
            notify_backup: None,
            notify_fault: None,
            notify_stop: None,
            notify: None,
            smtp_alert: None,
            loc: n.keyword.span.into(),
        };
        for l in b {
            match l.keyword.text.as_str() {
                "group" => {
                    if let Some(b) = self.block(l) {
                        g.group = b
                            .iter()
                            .flat_map(|x| std::iter::once(&x.keyword).chain(x.args.iter()))
                            .map(|w| w.text.clone())
                            .collect();
                    }
                }
                "track_interface" => g.track_interface = self.tracks(l),
                "track_script" => g.track_script = self.tracks(l),
                "notify_master" => g.notify_master = self.notify(l),
                "notify_backup" => g.notify_backup = self.notify(l),
                "notify_fault" => g.notify_fault = self.notify(l),
                "notify_stop" => g.notify_stop = self.notify(l),
                "notify" => g.notify = self.notify(l),
                "smtp_alert" => g.smtp_alert = self.opt_bool(l),
                _ => self.other(Ctx::SyncGroup, l),
            }
        }
        if g.group.is_empty() {
            self.err(
                Diagnostic::warning(format!(
                    "vrrp_sync_group `{}` has no `group {{ ... }}` of instances",
                    g.name
                ))
                .at(n.keyword.span)
                .help("list the member instances in `group { VI_1 VI_2 }`"),
            );
        }
        Some(g)
    }

    fn instance(&mut self, n: &Node, globals: &GlobalDefs) -> Option<VrrpInstance> {
        let name_w = self.name(n)?.clone();
        let b = self.block(n)?;
        let mut v = VrrpInstance {
            name: name_w.text.clone(),
            state: None,
            interface: None,
            virtual_router_id: 0,
            priority: 100,
            advert_int: Duration::from_secs(1),
            version: None,
            authentication: None,
            virtual_ipaddress: Vec::new(),
            virtual_ipaddress_excluded: Vec::new(),
            virtual_routes: Vec::new(),
            virtual_rules: Vec::new(),
            mcast_src_ip: None,
            unicast_src_ip: None,
            unicast_peer: Vec::new(),
            mcast_dst_ip: None,
            unicast_ttl: None,
            nopreempt: false,
            preempt_delay: None,
            accept: None,
            dont_track_primary: false,
            track_interface: Vec::new(),
            track_script: Vec::new(),
            garp_master_delay: None,
            garp_master_repeat: None,
            garp_master_refresh: None,
            garp_master_refresh_repeat: None,
            garp_lower_prio_delay: None,
            garp_lower_prio_repeat: None,
            down_timer_adverts: None,
            lower_prio_no_advert: None,
            higher_prio_send_advert: None,
            skip_check_adv_addr: None,
            strict_mode: None,
            check_unicast_src: false,
            promote_secondaries: false,
            notify_master: None,
            notify_backup: None,
            notify_fault: None,
            notify_stop: None,
            notify: None,
            notify_master_rx_lower_pri: None,
            smtp_alert: None,
            loc: n.keyword.span.into(),
            interface_loc: Loc::default(),
        };
        let mut vrid_seen = false;
        let mut state_span = None;
        let mut nopreempt_span = None;
        let mut auth_span = None;
        for l in b {
            match l.keyword.text.as_str() {
                "state" => {
                    if let Some(w) = self.arg(l).cloned() {
                        state_span = Some(w.span);
                        v.state = match w.text.as_str() {
                            "MASTER" => Some(VrrpState::Master),
                            "BACKUP" => Some(VrrpState::Backup),
                            _ => {
                                self.err(
                                    Diagnostic::error(format!("unknown state `{}`", w.text))
                                        .at(w.span)
                                        .label("expected MASTER or BACKUP")
                                        .help(
                                            "write `state MASTER` or `state BACKUP` (upper case)",
                                        ),
                                );
                                None
                            }
                        };
                    }
                }
                "interface" => {
                    if let Some(w) = self.arg(l).cloned() {
                        self.interface(&w);
                        v.interface_loc = w.span.into();
                        v.interface = Some(w.text);
                    }
                }
                "virtual_router_id" => {
                    vrid_seen = true;
                    if let Some(w) = self.arg(l).cloned() {
                        match self.int::<u8>(&w, "`virtual_router_id`", 1, 255) {
                            Some(x) => v.virtual_router_id = x,
                            None => vrid_seen = false,
                        }
                        if v.virtual_router_id == 0 {
                            // Error already reported; do not report "missing" too.
                            vrid_seen = true;
                        }
                    }
                }
                "priority" => {
                    if let Some(w) = self.arg(l).cloned() {
                        if let Some(p) = self.int::<u8>(&w, "`priority`", 1, 255) {
                            v.priority = p;
                        }
                    }
                }
                "advert_int" => {
                    if let Some(d) = self.arg_dur(l) {
                        if d.is_zero() || d > Duration::from_secs(255) {
                            self.err(
                                Diagnostic::error(format!(
                                    "advert_int {} is out of range",
                                    fmt_duration(d)
                                ))
                                .at(l.line_span())
                                .help("advert_int is 0.01..255 seconds"),
                            );
                        } else {
                            v.advert_int = d;
                        }
                    }
                }
                "version" => v.version = self.arg_u32(l, 2, 3).map(|x| x as u8),
                "authentication" => {
                    auth_span = Some(l.keyword.span);
                    v.authentication = self.auth(l);
                }
                "virtual_ipaddress" => {
                    if let Some(b) = self.block(l) {
                        v.virtual_ipaddress = b.iter().filter_map(|x| self.vip(x, false)).collect();
                    }
                }
                "virtual_ipaddress_excluded" => {
                    if let Some(b) = self.block(l) {
                        v.virtual_ipaddress_excluded =
                            b.iter().filter_map(|x| self.vip(x, false)).collect();
                    }
                }
                "virtual_routes" => {
                    if let Some(b) = self.block(l) {
                        v.virtual_routes = b.iter().filter_map(|x| self.route(x)).collect();
                    }
                }
                "virtual_rules" => {
                    if let Some(b) = self.block(l) {
                        v.virtual_rules = b.iter().filter_map(|x| self.rule(x)).collect();
                    }
                }
                "mcast_src_ip" => v.mcast_src_ip = self.arg(l).cloned().and_then(|w| self.ip(&w)),
                "unicast_src_ip" => {
                    v.unicast_src_ip = self.arg(l).cloned().and_then(|w| self.ip(&w))
                }
                "mcast_dst_ip" => v.mcast_dst_ip = self.arg(l).cloned().and_then(|w| self.ip(&w)),
                "unicast_ttl" => v.unicast_ttl = self.arg_u32(l, 0, 255).map(|x| x as u8),
                "unicast_peer" => {
                    if let Some(b) = self.block(l) {
                        for p in b {
                            if let Some(addr) = self.ip(&p.keyword) {
                                let mut peer = UnicastPeer {
                                    addr,
                                    min_ttl: None,
                                    max_ttl: None,
                                };
                                let mut i = 0;
                                while i < p.args.len() {
                                    let a = &p.args[i];
                                    let val = p.args.get(i + 1).cloned();
                                    match (a.text.as_str(), val) {
                                        ("min_ttl", Some(w)) => {
                                            peer.min_ttl = self.int::<u8>(&w, "`min_ttl`", 0, 255);
                                            i += 1;
                                        }
                                        ("max_ttl", Some(w)) => {
                                            peer.max_ttl = self.int::<u8>(&w, "`max_ttl`", 0, 255);
                                            i += 1;
                                        }
                                        _ => self.err(
                                            Diagnostic::warning(format!(
                                                "unexpected `{}` after a unicast peer; ignored",
                                                a.text
                                            ))
                                            .at(a.span),
                                        ),
                                    }
                                    i += 1;
                                }
                                v.unicast_peer.push(peer);
                            }
                        }
                    }
                }
                "nopreempt" => {
                    v.nopreempt = self.flag(l);
                    nopreempt_span = Some(l.keyword.span);
                }
                // The default; written after `nopreempt`, it undoes it
                // (keepalived: the last one wins).
                "preempt" => {
                    if self.flag(l) {
                        v.nopreempt = false;
                        nopreempt_span = None;
                    }
                }
                "preempt_delay" => {
                    if let Some(d) = self.arg_dur(l) {
                        if d > Duration::from_secs(1000) {
                            self.err(
                                Diagnostic::error("preempt_delay is at most 1000 seconds")
                                    .at(l.line_span()),
                            );
                        } else {
                            v.preempt_delay = Some(d);
                        }
                    }
                }
                "accept" => v.accept = Some(self.flag(l)),
                "no_accept" => v.accept = Some(!self.flag(l)),
                "dont_track_primary" => v.dont_track_primary = self.flag(l),
                "track_interface" => {
                    v.track_interface = self.tracks(l);
                    if let Some(b) = &l.block {
                        for t in &b.nodes {
                            self.interface(&t.keyword);
                        }
                    }
                }
                "track_script" => v.track_script = self.tracks(l),
                "garp_master_delay" => v.garp_master_delay = self.arg_dur(l),
                "garp_master_repeat" => v.garp_master_repeat = self.arg_u32(l, 0, 1_000_000),
                "garp_master_refresh" => v.garp_master_refresh = self.arg_dur(l),
                "garp_master_refresh_repeat" => {
                    v.garp_master_refresh_repeat = self.arg_u32(l, 0, 1_000_000)
                }
                "garp_lower_prio_delay" => v.garp_lower_prio_delay = self.arg_dur(l),
                "garp_lower_prio_repeat" => {
                    v.garp_lower_prio_repeat = self.arg_u32(l, 0, 1_000_000)
                }
                "down_timer_adverts" => v.down_timer_adverts = self.arg_u32(l, 1, 100),
                "lower_prio_no_advert" => v.lower_prio_no_advert = self.opt_bool(l),
                "higher_prio_send_advert" => v.higher_prio_send_advert = self.opt_bool(l),
                "skip_check_adv_addr" => v.skip_check_adv_addr = self.opt_bool(l),
                "strict_mode" => v.strict_mode = self.opt_bool(l),
                "check_unicast_src" => v.check_unicast_src = self.flag(l),
                "promote_secondaries" => v.promote_secondaries = self.flag(l),
                "notify_master" => v.notify_master = self.notify(l),
                "notify_backup" => v.notify_backup = self.notify(l),
                "notify_fault" => v.notify_fault = self.notify(l),
                "notify_stop" => v.notify_stop = self.notify(l),
                "notify" => v.notify = self.notify(l),
                "notify_master_rx_lower_pri" => v.notify_master_rx_lower_pri = self.notify(l),
                "smtp_alert" => v.smtp_alert = self.opt_bool(l),
                "lvs_sync_daemon_interface" => {
                    let iface = self.arg(l).map(|w| w.text.clone());
                    self.err(
                        Diagnostic::warning(
                            "`lvs_sync_daemon_interface` is keepalived 1.2.x's spelling of `lvs_sync_daemon`",
                        )
                        .at(l.keyword.span)
                        .note("keepalived 2.x no longer knows it; vipd reads it as `lvs_sync_daemon IFACE INSTANCE` in global_defs")
                        .help(format!(
                            "write `lvs_sync_daemon {} {}` in global_defs",
                            iface.as_deref().unwrap_or("IFACE"),
                            v.name
                        )),
                    );
                    if let Some(i) = iface {
                        if self.sync_iface.is_none() {
                            self.sync_iface = Some((i, v.name.clone()));
                        }
                    }
                }
                _ => self.other(Ctx::Instance, l),
            }
        }
        if !vrid_seen {
            self.err(
                Diagnostic::error(format!(
                    "vrrp_instance `{}` has no virtual_router_id",
                    v.name
                ))
                .at(name_w.span)
                .label("this instance")
                .help("add `virtual_router_id N` (1..255, the same on every director of this VIP)"),
            );
        }
        if v.nopreempt && v.state == Some(VrrpState::Master) {
            v.nopreempt = false;
            self.err(
                Diagnostic::warning(
                    "`nopreempt` has no effect with `state MASTER`; ignored (as keepalived does)",
                )
                .at(nopreempt_span.or(state_span).unwrap_or(name_w.span))
                .help("use `state BACKUP` on every director together with `nopreempt`"),
            );
        }
        let version = v.version.or(globals.vrrp_version).unwrap_or(2);
        if version == 3 && v.authentication.is_some() {
            v.authentication = None;
            self.err(
                Diagnostic::warning(
                    "VRRP version 3 has no authentication; the `authentication` block is ignored",
                )
                .at(auth_span.unwrap_or(name_w.span))
                .help("remove the authentication block, or use `version 2`"),
            );
        }
        if let (Some(VrrpState::Master), Some(a)) = (v.state, &v.authentication) {
            if a.auth_type == AuthType::Ah {
                self.err(
                    Diagnostic::warning(
                        "initial state MASTER is incompatible with AH authentication",
                    )
                    .at(state_span.unwrap_or(name_w.span))
                    .note("keepalived starts such an instance as BACKUP")
                    .help("use `state BACKUP` or `auth_type PASS`"),
                );
            }
        }
        if version == 2 && v.advert_int.subsec_nanos() != 0 {
            self.err(
                Diagnostic::warning(format!(
                    "VRRP version 2 advertises whole seconds; advert_int {} is sent as {} s",
                    fmt_duration(v.advert_int),
                    v.advert_int.as_secs().max(1)
                ))
                .at(name_w.span)
                .help("use `version 3` for sub-second advertisement intervals"),
            );
        }
        Some(v)
    }

    fn auth(&mut self, n: &Node) -> Option<Authentication> {
        let b = self.block(n)?;
        let mut ty = None;
        let mut pass = None;
        for l in b {
            match l.keyword.text.as_str() {
                "auth_type" => {
                    if let Some(w) = self.arg(l).cloned() {
                        ty = match w.text.as_str() {
                            "PASS" => Some(AuthType::Pass),
                            "AH" => Some(AuthType::Ah),
                            _ => {
                                self.err(
                                    Diagnostic::error(format!("unknown auth_type `{}`", w.text))
                                        .at(w.span)
                                        .label("expected PASS or AH")
                                        .help("write `auth_type PASS`"),
                                );
                                return None;
                            }
                        };
                    }
                }
                "auth_pass" => {
                    if let Some(w) = self.arg(l).cloned() {
                        let mut p = w.text.clone();
                        if p.len() > 8 {
                            let mut cut = 8;
                            while !p.is_char_boundary(cut) {
                                cut -= 1;
                            }
                            p.truncate(cut);
                            self.err(
                                Diagnostic::warning(format!(
                                    "auth_pass is longer than 8 characters; only `{p}` is used"
                                ))
                                .at(w.span)
                                .note("keepalived truncates it the same way, so peers still agree")
                                .help(format!("write `auth_pass {p}`")),
                            );
                        }
                        pass = Some(p);
                    }
                }
                _ => self.other(Ctx::Auth, l),
            }
        }
        match (ty, pass) {
            (Some(t), Some(p)) => Some(Authentication {
                auth_type: t,
                auth_pass: p,
            }),
            (Some(t), None) => {
                self.err(
                    Diagnostic::warning(
                        "authentication without `auth_pass`: an empty password is used",
                    )
                    .at(n.keyword.span),
                );
                Some(Authentication {
                    auth_type: t,
                    auth_pass: String::new(),
                })
            }
            (None, Some(_)) => {
                self.err(
                    Diagnostic::error("authentication without `auth_type`")
                        .at(n.keyword.span)
                        .help("add `auth_type PASS`"),
                );
                None
            }
            (None, None) => None,
        }
    }

    // ---------------------------------------------------------------- LVS

    fn vs_group(&mut self, n: &Node) -> Option<VirtualServerGroup> {
        let name = self.name(n)?.text.clone();
        let b = self.block(n)?;
        let mut g = VirtualServerGroup {
            name,
            entries: Vec::new(),
            loc: n.keyword.span.into(),
        };
        for l in b {
            if l.keyword.text == "fwmark" {
                let Some(w) = l.args.first() else {
                    self.arg(l);
                    continue;
                };
                let Some(mark) = self.int::<u32>(w, "fwmark", 1, u32::MAX as i64) else {
                    continue;
                };
                let family = match l.args.get(1).map(|w| w.text.as_str()) {
                    None => None,
                    Some("inet") => Some(Family::Inet),
                    Some("inet6") => Some(Family::Inet6),
                    Some(_) => {
                        self.err(
                            Diagnostic::error("fwmark family must be inet or inet6")
                                .at(l.args[1].span),
                        );
                        None
                    }
                };
                g.entries.push(VsgEntry::Fwmark { mark, family });
                continue;
            }
            let Some((first, last)) = parse_range(&l.keyword.text) else {
                self.err(
                    Diagnostic::error(format!(
                        "`{}` is not an address or address range",
                        l.keyword.text
                    ))
                    .at(l.keyword.span)
                    .help(
                        "write ADDR, ADDR-LASTOCTET, ADDR-ADDR or ADDR/LEN, then an optional port",
                    ),
                );
                continue;
            };
            let port = match l.args.first() {
                Some(w) => match self.port(w) {
                    Some(p) => p,
                    None => continue,
                },
                None => 0,
            };
            g.entries.push(VsgEntry::Range { first, last, port });
        }
        Some(g)
    }

    fn virtual_server(&mut self, n: &Node) -> Option<VirtualServer> {
        // A bad key still gets its block checked, so one run reports every
        // problem; the virtual server is dropped at the end.
        let mut key_ok = true;
        let key = match n.args.first().map(|w| w.text.as_str()) {
            None => {
                self.err(
                    Diagnostic::error(
                        "`virtual_server` needs an address and port, `fwmark N` or `group NAME`",
                    )
                    .at(n.keyword.span)
                    .help("write `virtual_server 10.0.0.1 80 { ... }`"),
                );
                key_ok = false;
                VsKey::Fwmark(0)
            }
            Some("fwmark") => match n.args.get(1) {
                None => {
                    self.err(
                        Diagnostic::error("`virtual_server fwmark` needs a mark")
                            .at(n.keyword.span),
                    );
                    key_ok = false;
                    VsKey::Fwmark(0)
                }
                Some(w) => match self.int::<u32>(w, "fwmark", 1, u32::MAX as i64) {
                    Some(m) => VsKey::Fwmark(m),
                    None => {
                        key_ok = false;
                        VsKey::Fwmark(0)
                    }
                },
            },
            Some("group") => match n.args.get(1) {
                None => {
                    self.err(
                        Diagnostic::error("`virtual_server group` needs a group name")
                            .at(n.keyword.span),
                    );
                    key_ok = false;
                    VsKey::Fwmark(0)
                }
                Some(w) => VsKey::Group(w.text.clone()),
            },
            Some(_) => {
                let ip = self.ip(&n.args[0]);
                let port = match n.args.get(1) {
                    Some(w) => self.port(w),
                    None => Some(0),
                };
                match (ip, port) {
                    (Some(ip), Some(port)) => VsKey::Addr { ip, port },
                    _ => {
                        key_ok = false;
                        VsKey::Fwmark(0)
                    }
                }
            }
        };
        let b = self.block(n)?;
        let mut vs = VirtualServer {
            key,
            protocol: Protocol::Tcp,
            lb_algo: LbAlgo::Wlc,
            lb_kind: LbKind::Nat,
            tunnel_type: None,
            delay_loop: Duration::from_secs(60),
            persistence_timeout: None,
            persistence_granularity: None,
            persistence_engine: None,
            sched_flags: Vec::new(),
            ha_suspend: false,
            alpha: false,
            omega: false,
            quorum: 1,
            hysteresis: 0,
            quorum_up: None,
            quorum_down: None,
            inhibit_on_failure: false,
            sorry_server: None,
            sorry_server_inhibit: false,
            sorry_server_lvs_method: None,
            virtualhost: None,
            ip_family: None,
            smtp_alert: None,
            connect_timeout: None,
            retry: None,
            delay_before_retry: None,
            warmup: None,
            real_servers: Vec::new(),
            loc: n.keyword.span.into(),
            lb_algo_loc: Loc::default(),
            lb_kind_loc: Loc::default(),
        };
        let mut protocol_span = None;
        let mut rs_nodes = Vec::new();
        for l in b {
            let kw = l.keyword.text.as_str();
            match kw {
                "lvs_sched" | "lb_algo" => {
                    if kw == "lb_algo" {
                        self.old_spelling(l, "lvs_sched");
                    }
                    if let Some(w) = self.arg(l).cloned() {
                        vs.lb_algo_loc = w.span.into();
                        match LbAlgo::parse(&w.text) {
                            Some(a) => vs.lb_algo = a,
                            None => self.err(
                                Diagnostic::error(format!("unknown scheduler `{}`", w.text))
                                    .at(w.span)
                                    .label("not an IPVS scheduler")
                                    .note("keepalived would silently use its default scheduler")
                                    .help(format!(
                                        "use one of {}",
                                        LbAlgo::ALL.map(LbAlgo::as_str).join(" ")
                                    )),
                            ),
                        }
                    }
                }
                "lvs_method" | "lb_kind" => {
                    if kw == "lb_kind" {
                        self.old_spelling(l, "lvs_method");
                    }
                    if let Some((k, t, span)) = self.lvs_method(l) {
                        vs.lb_kind = k;
                        vs.tunnel_type = t;
                        vs.lb_kind_loc = span.into();
                    }
                }
                "protocol" => {
                    if let Some(w) = self.arg(l).cloned() {
                        protocol_span = Some(l.line_span());
                        match w.text.to_ascii_uppercase().as_str() {
                            "TCP" => vs.protocol = Protocol::Tcp,
                            "UDP" => vs.protocol = Protocol::Udp,
                            "SCTP" => vs.protocol = Protocol::Sctp,
                            _ => self.err(
                                Diagnostic::error(format!("unknown protocol `{}`", w.text))
                                    .at(w.span)
                                    .label("expected TCP, UDP or SCTP")
                                    .note("keepalived would silently use TCP"),
                            ),
                        }
                    }
                }
                "delay_loop" => {
                    if let Some(d) = self.arg_dur(l) {
                        vs.delay_loop = d;
                    }
                }
                "persistence_timeout" => {
                    self.no_block(l);
                    match l.args.first() {
                        None => vs.persistence_timeout = Some(360),
                        Some(w) => {
                            if let Some(t) =
                                self.int::<u32>(w, "`persistence_timeout`", 0, u32::MAX as i64)
                            {
                                if t == 0 {
                                    self.err(
                                        Diagnostic::warning("`persistence_timeout 0` is keepalived 1.2.x's way to turn persistence off")
                                            .at(l.line_span())
                                            .note("vipd reads it as no persistence; keepalived 2.x rejects it")
                                            .help("remove the line: no persistence_timeout means no persistence"),
                                    );
                                    vs.persistence_timeout = None;
                                } else {
                                    vs.persistence_timeout = Some(t);
                                }
                            }
                        }
                    }
                }
                "persistence_granularity" => {
                    vs.persistence_granularity = self.arg(l).cloned().and_then(|w| self.ip(&w))
                }
                "persistence_engine" => {
                    vs.persistence_engine = self.arg(l).map(|w| w.text.clone());
                    self.other(Ctx::VirtualServer, l);
                }
                "flag-1" | "flag-2" | "flag-3" | "sh-port" | "sh-fallback" | "mh-port"
                | "mh-fallback" | "ops" => {
                    self.flag(l);
                    if !vs.sched_flags.iter().any(|f| f == kw) {
                        vs.sched_flags.push(kw.to_owned());
                    }
                }
                "ha_suspend" => vs.ha_suspend = self.flag(l),
                "alpha" => vs.alpha = self.flag(l),
                "omega" => vs.omega = self.flag(l),
                "quorum" => vs.quorum = self.arg_u32(l, 0, u32::MAX as i64).unwrap_or(1),
                "hysteresis" => vs.hysteresis = self.arg_u32(l, 0, u32::MAX as i64).unwrap_or(0),
                "quorum_up" => vs.quorum_up = self.notify(l),
                "quorum_down" => vs.quorum_down = self.notify(l),
                "inhibit_on_failure" => vs.inhibit_on_failure = self.flag(l),
                "sorry_server" => {
                    self.no_block(l);
                    match l.args.first() {
                        None => {
                            self.arg(l);
                        }
                        Some(w) => {
                            if let Some(ip) = self.ip(w) {
                                let port = l.args.get(1).and_then(|p| self.port(p));
                                vs.sorry_server = Some(SorryServer { ip, port });
                            }
                        }
                    }
                }
                "sorry_server_inhibit" => vs.sorry_server_inhibit = self.flag(l),
                "sorry_server_lvs_method" => {
                    vs.sorry_server_lvs_method = self.lvs_method(l).map(|(k, _, _)| k)
                }
                "virtualhost" => vs.virtualhost = self.arg(l).map(|w| w.text.clone()),
                "ip_family" => {
                    if let Some(w) = self.arg(l).cloned() {
                        vs.ip_family = match w.text.as_str() {
                            "inet" => Some(Family::Inet),
                            "inet6" => Some(Family::Inet6),
                            _ => {
                                self.err(
                                    Diagnostic::error("ip_family must be inet or inet6").at(w.span),
                                );
                                None
                            }
                        }
                    }
                }
                "smtp_alert" => vs.smtp_alert = self.opt_bool(l),
                "connect_timeout" => vs.connect_timeout = self.arg_dur(l),
                "retry" => vs.retry = self.arg_u32(l, 0, u32::MAX as i64),
                "delay_before_retry" => vs.delay_before_retry = self.arg_dur(l),
                "warmup" => vs.warmup = self.arg_dur(l),
                "nat_mask" => {
                    self.err(
                        Diagnostic::warning("`nat_mask` is a keepalived 1.2.x keyword; ignored")
                            .at(l.line_span())
                            .note("keepalived 2.x no longer knows it")
                            .help("remove the line"),
                    );
                }
                "real_server" => rs_nodes.push(l),
                _ => self.other(Ctx::VirtualServer, l),
            }
        }
        if let (VsKey::Fwmark(_), Some(span)) = (&vs.key, protocol_span) {
            self.err(
                Diagnostic::warning("`protocol` is ignored for an fwmark service")
                    .at(span)
                    .note("the firewall mark selects the packets, whatever their protocol")
                    .help("remove the line"),
            );
        }
        let vs_port = match vs.key {
            VsKey::Addr { port, .. } => port,
            _ => 0,
        };
        for l in rs_nodes {
            if let Some(rs) = self.real_server(l, vs_port) {
                vs.real_servers.push(rs);
            }
        }
        key_ok.then_some(vs)
    }

    fn old_spelling(&mut self, l: &Node, new: &str) {
        let mut help = format!("write `{new}");
        for a in &l.args {
            help.push(' ');
            help.push_str(&a.text);
        }
        help.push('`');
        self.err(
            Diagnostic::warning(format!(
                "`{}` is the old spelling of `{new}`",
                l.keyword.text
            ))
            .at(l.keyword.span)
            .help(help),
        );
    }

    /// `lvs_method NAT|DR|TUN [type ipip|gue port N|gre] [csum...]`
    fn lvs_method(&mut self, l: &Node) -> Option<(LbKind, Option<TunnelType>, Span)> {
        self.no_block(l);
        let Some(w) = l.args.first() else {
            self.arg(l);
            return None;
        };
        let Some(kind) = LbKind::parse(&w.text) else {
            self.err(
                Diagnostic::error(format!("unknown forwarding method `{}`", w.text))
                    .at(w.span)
                    .label("expected NAT, DR or TUN")
                    .note("keepalived would silently use NAT, which changes where replies go"),
            );
            return None;
        };
        let mut tunnel = None;
        if l.args.len() > 1 {
            if kind != LbKind::Tun || l.args[1].text != "type" {
                self.err(
                    Diagnostic::warning("extra words after the forwarding method; ignored")
                        .at(l.args[1].span),
                );
            } else {
                match l.args.get(2).map(|w| w.text.as_str()) {
                    Some("ipip") => tunnel = Some(TunnelType::Ipip),
                    Some("gre") => tunnel = Some(TunnelType::Gre),
                    Some("gue") => match (l.args.get(3).map(|w| w.text.as_str()), l.args.get(4)) {
                        (Some("port"), Some(p)) => {
                            let p = p.clone();
                            tunnel = self.port(&p).map(|port| TunnelType::Gue { port });
                        }
                        _ => self.err(
                            Diagnostic::error("tunnel type gue needs `port N`").at(l.args[2].span),
                        ),
                    },
                    _ => self.err(
                        Diagnostic::error("unknown tunnel type")
                            .at(l.line_span())
                            .help("write `type ipip`, `type gre` or `type gue port N`"),
                    ),
                }
            }
        }
        Some((kind, tunnel, w.span))
    }

    fn real_server(&mut self, n: &Node, vs_port: u16) -> Option<RealServer> {
        let Some(ipw) = n.args.first() else {
            self.err(
                Diagnostic::error("`real_server` needs an address")
                    .at(n.keyword.span)
                    .help("write `real_server 10.0.0.2 80 { ... }`"),
            );
            return None;
        };
        let ip = self.ip(ipw)?;
        let port = match n.args.get(1) {
            Some(w) => self.port(w)?,
            None => vs_port,
        };
        let mut rs = RealServer {
            ip,
            port,
            weight: 1,
            lvs_method: None,
            inhibit_on_failure: None,
            alpha: None,
            notify_up: None,
            notify_down: None,
            uthreshold: None,
            lthreshold: None,
            virtualhost: None,
            smtp_alert: None,
            connect_timeout: None,
            retry: None,
            delay_before_retry: None,
            warmup: None,
            delay_loop: None,
            checkers: Vec::new(),
            loc: n.keyword.span.into(),
        };
        let b = self.block(n)?;
        for l in b {
            let kw = l.keyword.text.as_str();
            match kw {
                "weight" => {
                    if let Some(w) = self.arg(l).cloned() {
                        match w.text.parse::<i64>() {
                            Ok(x) if (0..=65535).contains(&x) => rs.weight = x as u32,
                            Ok(x) if x < 0 => self.err(
                                Diagnostic::error(format!("negative weight {x}"))
                                    .at(w.span)
                                    .help("weight is 0..65535; 0 takes the server out of rotation"),
                            ),
                            _ => self.err(
                                Diagnostic::error(format!("invalid weight `{}`", w.text))
                                    .at(w.span)
                                    .help("weight is an integer 0..65535"),
                            ),
                        }
                    }
                }
                "lvs_method" => rs.lvs_method = self.lvs_method(l).map(|(k, _, _)| k),
                "inhibit_on_failure" => rs.inhibit_on_failure = self.opt_bool(l),
                "alpha" => rs.alpha = self.opt_bool(l),
                "notify_up" => rs.notify_up = self.notify(l),
                "notify_down" => rs.notify_down = self.notify(l),
                "uthreshold" => rs.uthreshold = self.arg_u32(l, 0, u32::MAX as i64),
                "lthreshold" => rs.lthreshold = self.arg_u32(l, 0, u32::MAX as i64),
                "virtualhost" => rs.virtualhost = self.arg(l).map(|w| w.text.clone()),
                "smtp_alert" => rs.smtp_alert = self.opt_bool(l),
                "connect_timeout" => rs.connect_timeout = self.arg_dur(l),
                "retry" => rs.retry = self.arg_u32(l, 0, u32::MAX as i64),
                "delay_before_retry" => rs.delay_before_retry = self.arg_dur(l),
                "warmup" => rs.warmup = self.arg_dur(l),
                "delay_loop" => rs.delay_loop = self.arg_dur(l),
                "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "SMTP_CHECK" | "DNS_CHECK"
                | "MISC_CHECK" | "UDP_CHECK" | "PING_CHECK" | "FILE_CHECK" | "BFD_CHECK" => {
                    rs.checkers.extend(self.checker(l));
                }
                _ => self.other(Ctx::RealServer, l),
            }
        }
        for c in &rs.checkers {
            self.check_endpoints(&rs, c);
        }
        Some(rs)
    }

    /// A checker's `bindto` must be of its target's family, and a link-local
    /// address needs `bind_if` (`crate::check::endpoint`, the probes' rules).
    fn check_endpoints(&mut self, rs: &RealServer, c: &Checker) {
        use crate::check::endpoint::{family, validate, EndpointError};
        if matches!(
            c.kind,
            CheckKind::File { .. } | CheckKind::Bfd { .. } | CheckKind::Misc { .. }
        ) {
            return;
        }
        let cm = &c.common;
        let target = cm.connect_ip.unwrap_or(rs.ip);
        let Err(mut e) = validate(target, cm.bindto, cm.bind_if.is_some()) else {
            return;
        };
        if let EndpointError::LinkLocalNeedsInterface { keyword, .. } = &mut e {
            if *keyword == "connect_ip" && cm.connect_ip.is_none() {
                *keyword = "real_server";
            }
        }
        let whose = if cm.connect_ip.is_some() {
            "its `connect_ip`"
        } else {
            "the real server's address"
        };
        let (span, label) = match &e {
            EndpointError::Family { .. } => (
                cm.bindto_loc.0,
                format!(
                    "{} source for an {} target ({whose})",
                    family(cm.bindto.unwrap_or(target)),
                    family(target)
                ),
            ),
            EndpointError::LinkLocalNeedsInterface {
                keyword: "bindto", ..
            } => (
                cm.bindto_loc.0,
                "link-local: on which interface?".to_string(),
            ),
            EndpointError::LinkLocalNeedsInterface { .. } => (
                cm.connect_ip_loc.0.or(rs.loc.0),
                "link-local: on which interface?".to_string(),
            ),
        };
        self.err(
            Diagnostic::error(format!("{}: {e}", c.kind.keyword()))
                .at_loc(Loc(span.or(c.loc.0)))
                .label(label)
                .help(e.help()),
        );
    }

    /// One checker block; an SMTP_CHECK with keepalived 1.x `host { ... }`
    /// sub-blocks becomes one SMTP_CHECK per host.
    fn checker(&mut self, n: &Node) -> Vec<Checker> {
        let mut hosts = Vec::new();
        let Some(base) = self.checker_one(n, Some(&mut hosts)) else {
            return Vec::new();
        };
        if hosts.is_empty() {
            return vec![base];
        }
        let mut out = Vec::new();
        for h in hosts {
            self.err(
                Diagnostic::warning("`host` blocks in SMTP_CHECK are keepalived 1.x style; vipd makes one SMTP_CHECK per host")
                    .at(h.keyword.span)
                    .help("write a separate SMTP_CHECK with `connect_ip` for each host"),
            );
            let Some(b) = &h.block else {
                self.block(h);
                continue;
            };
            let sub = Node {
                keyword: n.keyword.clone(),
                args: Vec::new(),
                block: Some(b.clone()),
            };
            if let Some(c) = self.checker_one(&sub, None) {
                let mut merged = base.clone();
                let (m, o) = (&mut merged.common, c.common);
                if o.connect_ip.is_some() {
                    m.connect_ip_loc = o.connect_ip_loc;
                }
                if o.bindto.is_some() {
                    m.bindto_loc = o.bindto_loc;
                }
                m.connect_ip = o.connect_ip.or(m.connect_ip);
                m.connect_port = o.connect_port.or(m.connect_port);
                m.bindto = o.bindto.or(m.bindto);
                m.bind_if = o.bind_if.or(m.bind_if.take());
                m.bind_port = o.bind_port.or(m.bind_port);
                m.fwmark = o.fwmark.or(m.fwmark);
                m.connect_timeout = o.connect_timeout.or(m.connect_timeout);
                m.retry = o.retry.or(m.retry);
                m.delay_before_retry = o.delay_before_retry.or(m.delay_before_retry);
                m.warmup = o.warmup.or(m.warmup);
                m.delay_loop = o.delay_loop.or(m.delay_loop);
                m.alpha = o.alpha.or(m.alpha);
                m.log_all_failures = o.log_all_failures.or(m.log_all_failures);
                merged.loc = h.keyword.span.into();
                out.push(merged);
            }
        }
        out
    }

    fn checker_one<'n>(
        &mut self,
        n: &'n Node,
        mut hosts: Option<&mut Vec<&'n Node>>,
    ) -> Option<Checker> {
        let kw = n.keyword.text.as_str();
        let mut kind = match kw {
            "TCP_CHECK" => CheckKind::Tcp,
            "HTTP_GET" => CheckKind::Http(HttpCheck::default()),
            "SSL_GET" => CheckKind::Ssl(HttpCheck::default()),
            "SMTP_CHECK" => CheckKind::Smtp { helo_name: None },
            "DNS_CHECK" => CheckKind::Dns {
                r#type: None,
                name: None,
            },
            "MISC_CHECK" => CheckKind::Misc {
                misc_path: None,
                misc_timeout: None,
                misc_dynamic: false,
                user: None,
            },
            "UDP_CHECK" => CheckKind::Udp {
                payload: None,
                require_reply: None,
                min_reply_length: None,
                max_reply_length: None,
            },
            "PING_CHECK" => CheckKind::Ping,
            "FILE_CHECK" => CheckKind::File {
                track_file: None,
                dynamic: false,
                weight: None,
                reverse: false,
            },
            _ => CheckKind::Bfd { name: None },
        };
        let mut c = CheckerCommon::default();
        // An empty block may be omitted (`PING_CHECK` alone on its line).
        let b: &'n [Node] = match &n.block {
            Some(b) => &b.nodes,
            None => &[],
        };
        let ctx = match kw {
            "HTTP_GET" | "SSL_GET" => Ctx::HttpGet,
            "SMTP_CHECK" => Ctx::Smtp,
            "DNS_CHECK" => Ctx::Dns,
            "MISC_CHECK" => Ctx::Misc,
            "UDP_CHECK" => Ctx::Udp,
            "FILE_CHECK" => Ctx::File,
            "BFD_CHECK" => Ctx::Bfd,
            _ => Ctx::Checker,
        };
        for l in b {
            let k = l.keyword.text.as_str();
            // Kind-specific keywords first.
            let handled = match (&mut kind, k) {
                (CheckKind::Http(h) | CheckKind::Ssl(h), "url") => {
                    if let Some(u) = self.url(l) {
                        h.urls.push(u);
                    }
                    true
                }
                (CheckKind::Http(h) | CheckKind::Ssl(h), "http_protocol") => {
                    if let Some(w) = self.arg(l).cloned() {
                        if ["1.0", "1.0C", "1.1"].contains(&w.text.as_str()) {
                            h.http_protocol = Some(w.text.clone());
                        } else {
                            self.err(
                                Diagnostic::error(format!("unknown http_protocol `{}`", w.text))
                                    .at(w.span)
                                    .help("use 1.0, 1.0C or 1.1"),
                            );
                        }
                    }
                    true
                }
                (CheckKind::Http(h) | CheckKind::Ssl(h), "virtualhost") => {
                    h.virtualhost = self.arg(l).map(|w| w.text.clone());
                    true
                }
                (CheckKind::Http(h) | CheckKind::Ssl(h), "fast_recovery") => {
                    h.fast_recovery = self.opt_bool(l);
                    true
                }
                (CheckKind::Ssl(h), "enable_sni") => {
                    h.enable_sni = self.flag(l);
                    true
                }
                (CheckKind::Ssl(h), "verify_cert") => {
                    self.no_block(l);
                    h.verify_cert = Some(VerifyCert {
                        ca_file: l.args.first().map(|w| w.text.clone()),
                    });
                    true
                }
                (CheckKind::Smtp { helo_name }, "helo_name") => {
                    *helo_name = self.arg(l).map(|w| w.text.clone());
                    true
                }
                (CheckKind::Dns { r#type, .. }, "type") => {
                    if let Some(w) = self.arg(l).cloned() {
                        let t = w.text.to_ascii_uppercase();
                        if ["A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"].contains(&t.as_str()) {
                            *r#type = Some(t);
                        } else {
                            self.err(
                                Diagnostic::error(format!("unknown DNS query type `{}`", w.text))
                                    .at(w.span)
                                    .help("use A, NS, CNAME, SOA, MX, TXT or AAAA"),
                            );
                        }
                    }
                    true
                }
                (CheckKind::Dns { name, .. }, "name") => {
                    *name = self.arg(l).map(|w| w.text.clone());
                    true
                }
                (CheckKind::Misc { misc_path, .. }, "misc_path") => {
                    *misc_path = l.args.first().map(|_| {
                        l.args
                            .iter()
                            .map(|w| w.text.as_str())
                            .collect::<Vec<_>>()
                            .join(" ")
                    });
                    if misc_path.is_none() {
                        self.arg(l);
                    }
                    true
                }
                (CheckKind::Misc { misc_timeout, .. }, "misc_timeout") => {
                    *misc_timeout = self.arg_dur(l);
                    true
                }
                (CheckKind::Misc { misc_dynamic, .. }, "misc_dynamic") => {
                    *misc_dynamic = self.flag(l);
                    true
                }
                (CheckKind::Misc { user, .. }, "user") => {
                    *user = l.args.first().map(|u| ScriptUser {
                        user: u.text.clone(),
                        group: l.args.get(1).map(|g| g.text.clone()),
                    });
                    true
                }
                (CheckKind::Udp { payload, .. }, "payload") => {
                    *payload = Some(
                        l.args
                            .iter()
                            .map(|w| w.text.as_str())
                            .collect::<Vec<_>>()
                            .join(" "),
                    );
                    true
                }
                (CheckKind::Udp { require_reply, .. }, "require_reply") => {
                    *require_reply = Some(
                        l.args
                            .iter()
                            .map(|w| w.text.as_str())
                            .collect::<Vec<_>>()
                            .join(" "),
                    );
                    true
                }
                (
                    CheckKind::Udp {
                        min_reply_length, ..
                    },
                    "min_reply_length",
                ) => {
                    *min_reply_length = self.arg_u32(l, 0, 65535);
                    true
                }
                (
                    CheckKind::Udp {
                        max_reply_length, ..
                    },
                    "max_reply_length",
                ) => {
                    *max_reply_length = self.arg_u32(l, 0, 65535);
                    true
                }
                (CheckKind::File { track_file, .. }, "track_file") => {
                    *track_file = self.arg(l).map(|w| w.text.clone());
                    true
                }
                (CheckKind::File { dynamic, .. }, "dynamic") => {
                    *dynamic = self.flag(l);
                    true
                }
                (
                    CheckKind::File {
                        weight, reverse, ..
                    },
                    "weight",
                ) => {
                    if let Some(w) = l.args.first().cloned() {
                        *weight =
                            self.int::<i32>(&w, "`weight`", -(i32::MAX as i64), i32::MAX as i64);
                        *reverse = l.args.get(1).is_some_and(|r| r.text == "reverse");
                    } else {
                        self.arg(l);
                    }
                    true
                }
                (CheckKind::Bfd { name }, "name") => {
                    *name = self.arg(l).map(|w| w.text.clone());
                    true
                }
                _ => false,
            };
            if handled {
                continue;
            }
            if let (CheckKind::Smtp { .. }, "host", Some(h)) = (&kind, k, hosts.as_deref_mut()) {
                h.push(l);
                continue;
            }
            if matches!(kind, CheckKind::File { .. } | CheckKind::Bfd { .. }) {
                self.other(ctx, l);
                continue;
            }
            match k {
                "connect_ip" => {
                    c.connect_ip = self.arg(l).cloned().and_then(|w| self.ip(&w));
                    c.connect_ip_loc = l.keyword.span.into();
                }
                "connect_port" => c.connect_port = self.arg(l).cloned().and_then(|w| self.port(&w)),
                "bindto" => {
                    c.bindto = self.arg(l).cloned().and_then(|w| self.ip(&w));
                    c.bindto_loc = l.keyword.span.into();
                }
                "bind_if" => {
                    if let Some(w) = self.arg(l).cloned() {
                        self.interface(&w);
                        c.bind_if = Some(w.text);
                    }
                }
                "bind_port" => c.bind_port = self.arg(l).cloned().and_then(|w| self.port(&w)),
                "fwmark" => c.fwmark = self.arg_u32(l, 0, u32::MAX as i64),
                "connect_timeout" => c.connect_timeout = self.arg_dur(l),
                "retry" => c.retry = self.arg_u32(l, 0, u32::MAX as i64),
                "nb_get_retry" => {
                    self.err(
                        Diagnostic::warning(
                            "`nb_get_retry` is keepalived 1.2.x's spelling of `retry`",
                        )
                        .at(l.keyword.span)
                        .note("keepalived 2.x no longer knows it and ignores the line")
                        .help(format!(
                            "write `retry {}`",
                            l.args.first().map(|w| w.text.as_str()).unwrap_or("N")
                        )),
                    );
                    c.retry = self.arg_u32(l, 0, u32::MAX as i64);
                }
                "delay_before_retry" => c.delay_before_retry = self.arg_dur(l),
                "warmup" => c.warmup = self.arg_dur(l),
                "delay_loop" => c.delay_loop = self.arg_dur(l),
                "alpha" => c.alpha = self.opt_bool(l),
                "log_all_failures" => c.log_all_failures = self.opt_bool(l),
                _ => self.other(ctx, l),
            }
        }
        if let CheckKind::Misc {
            misc_path: None, ..
        } = kind
        {
            self.err(
                Diagnostic::error("MISC_CHECK without `misc_path`")
                    .at(n.keyword.span)
                    .help("add `misc_path \"/path/to/check args\"`"),
            );
            return None;
        }
        if let CheckKind::Http(h) | CheckKind::Ssl(h) = &kind {
            if h.urls.is_empty() {
                self.err(
                    Diagnostic::error(format!("{kw} without a `url` block"))
                        .at(n.keyword.span)
                        .help("add `url { path / status_code 200 }`"),
                );
                return None;
            }
        }
        Some(Checker {
            kind,
            common: c,
            loc: n.keyword.span.into(),
        })
    }

    fn url(&mut self, n: &Node) -> Option<Url> {
        let b = self.block(n)?;
        let mut u = Url::default();
        let mut path = false;
        for l in b {
            match l.keyword.text.as_str() {
                "path" => {
                    if let Some(w) = self.arg(l) {
                        u.path = w.text.clone();
                        path = true;
                    }
                }
                "digest" => {
                    if let Some(w) = self.arg(l).cloned() {
                        if w.text.len() == 32 && w.text.chars().all(|c| c.is_ascii_hexdigit()) {
                            u.digest = Some(w.text.to_ascii_lowercase());
                        } else {
                            self.err(
                                Diagnostic::error(format!("`{}` is not an MD5 digest", w.text))
                                    .at(w.span)
                                    .label("expected 32 hex digits")
                                    .help("compute it with `genhash` or `curl -s URL | md5sum`"),
                            );
                        }
                    }
                }
                "status_code" => {
                    self.no_block(l);
                    if l.args.is_empty() {
                        self.arg(l);
                    }
                    for w in &l.args {
                        match parse_status(&w.text) {
                            Some(r) => u.status_code.push(r),
                            None => self.err(
                                Diagnostic::error(format!("invalid status_code `{}`", w.text))
                                    .at(w.span)
                                    .help("write codes 100..599 or ranges like 200-299"),
                            ),
                        }
                    }
                }
                "virtualhost" => u.virtualhost = self.arg(l).map(|w| w.text.clone()),
                "regex" => u.regex = self.arg(l).map(|w| w.text.clone()),
                "regex_no_match" => u.regex_no_match = self.flag(l),
                _ => self.other(Ctx::Url, l),
            }
        }
        if !path {
            self.err(
                Diagnostic::error("`url` without `path`")
                    .at(n.keyword.span)
                    .help("add `path /`"),
            );
            return None;
        }
        Some(u)
    }

    // ---------------------------------------------------------------- whole config

    fn cross_checks(&mut self, cfg: &Config) {
        for vs in &cfg.virtual_servers {
            for c in vs.real_servers.iter().flat_map(|r| &r.checkers) {
                if let CheckKind::File {
                    track_file: Some(t),
                    ..
                } = &c.kind
                {
                    if !cfg.track_files.iter().any(|f| &f.name == t) {
                        self.err(
                            Diagnostic::error(format!(
                                "FILE_CHECK follows track_file `{t}`, which is not defined"
                            ))
                            .at_loc(c.loc)
                            .help(format!(
                                "define it at the top level: track_file {t} {{ file /path }}"
                            )),
                        );
                    }
                }
            }
            if let VsKey::Group(g) = &vs.key {
                if !cfg.virtual_server_groups.iter().any(|x| &x.name == g) {
                    self.err(
                        Diagnostic::error(format!("virtual_server_group `{g}` is not defined"))
                            .at_loc(vs.loc)
                            .help(format!("define `virtual_server_group {g} {{ ... }}`")),
                    );
                }
            }
        }
        for (i, vs) in cfg.virtual_servers.iter().enumerate() {
            if cfg.virtual_servers[..i]
                .iter()
                .any(|o| o.key == vs.key && o.protocol == vs.protocol)
            {
                self.err(
                    Diagnostic::error(format!(
                        "virtual_server {} {} is defined twice",
                        vs.key,
                        vs.protocol.as_str()
                    ))
                    .at_loc(vs.loc)
                    .help("merge the two blocks"),
                );
            }
            for (j, rs) in vs.real_servers.iter().enumerate() {
                if vs.real_servers[..j]
                    .iter()
                    .any(|o| o.ip == rs.ip && o.port == rs.port)
                {
                    self.err(
                        Diagnostic::error(format!(
                            "real_server {} {} appears twice in this virtual_server",
                            rs.ip, rs.port
                        ))
                        .at_loc(rs.loc)
                        .help("remove one of them"),
                    );
                }
            }
        }
        for (i, vi) in cfg.vrrp_instances.iter().enumerate() {
            if cfg.vrrp_instances[..i].iter().any(|o| o.name == vi.name) {
                self.err(
                    Diagnostic::error(format!("vrrp_instance `{}` is defined twice", vi.name))
                        .at_loc(vi.loc),
                );
            }
            for ts in &vi.track_script {
                if !cfg.vrrp_scripts.iter().any(|s| s.name == ts.name) {
                    self.err(
                        Diagnostic::warning(format!(
                            "track_script `{}` refers to no vrrp_script; ignored",
                            ts.name
                        ))
                        .at_loc(vi.loc),
                    );
                }
            }
        }
        for g in &cfg.vrrp_sync_groups {
            for m in &g.group {
                if !cfg.vrrp_instances.iter().any(|v| &v.name == m) {
                    self.err(
                        Diagnostic::warning(format!(
                            "vrrp_sync_group `{}` names unknown instance `{m}`",
                            g.name
                        ))
                        .at_loc(g.loc),
                    );
                }
            }
        }
    }
}

fn looks_like_ip(t: &str) -> bool {
    let t = t.split('/').next().unwrap_or("");
    (t.contains('.') && t.starts_with(|c: char| c.is_ascii_digit()))
        || (t.contains(':')
            && t.chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.'))
}

/// Parses decimal seconds with microsecond resolution: `3`, `0.5`, `2.71828`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if (int.is_empty() && frac.is_empty())
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let secs: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    if secs > 100_000_000 {
        return None;
    }
    let mut micros: u32 = 0;
    for (i, c) in frac.chars().take(6).enumerate() {
        micros += c.to_digit(10)? * 10u32.pow(5 - i as u32);
    }
    Some(Duration::from_secs(secs) + Duration::from_micros(micros.into()))
}

/// Formats a duration the way [`parse_duration`] reads it back.
pub fn fmt_duration(d: Duration) -> String {
    let micros = d.subsec_micros();
    if micros == 0 {
        d.as_secs().to_string()
    } else {
        let f = format!("{micros:06}");
        format!("{}.{}", d.as_secs(), f.trim_end_matches('0'))
    }
}

/// `ADDR[/LEN]`; LEN defaults to the full length.
pub fn parse_prefix(s: &str) -> Option<IpPrefix> {
    let (a, l) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match l {
        Some(l) => {
            let v: u8 = l.parse().ok()?;
            if v > max || !l.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            v
        }
        None => max,
    };
    Some(IpPrefix { addr, len })
}

/// `200` or `200-299`, codes 100..=599.
fn parse_status(s: &str) -> Option<StatusRange> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let from: u16 = a.parse().ok()?;
    let to: u16 = b.parse().ok()?;
    ((100..=599).contains(&from) && (100..=599).contains(&to) && from <= to)
        .then_some(StatusRange { from, to })
}

/// Virtual server group address forms: `A`, `A-N` (last octet / group),
/// `A-B`, `A/LEN`.
pub fn parse_range(s: &str) -> Option<(IpAddr, IpAddr)> {
    if let Some((a, len)) = s.split_once('/') {
        let p = parse_prefix(s)?;
        let _ = (a, len);
        return Some(match p.addr {
            IpAddr::V4(v) => {
                let bits = u32::from(v);
                let mask = if p.len == 0 {
                    0
                } else {
                    u32::MAX << (32 - p.len)
                };
                (
                    IpAddr::from(std::net::Ipv4Addr::from(bits & mask)),
                    IpAddr::from(std::net::Ipv4Addr::from(bits | !mask)),
                )
            }
            IpAddr::V6(v) => {
                let bits = u128::from(v);
                let mask = if p.len == 0 {
                    0
                } else {
                    u128::MAX << (128 - p.len)
                };
                (
                    IpAddr::from(std::net::Ipv6Addr::from(bits & mask)),
                    IpAddr::from(std::net::Ipv6Addr::from(bits | !mask)),
                )
            }
        });
    }
    let Some((a, b)) = s.split_once('-') else {
        let ip: IpAddr = s.parse().ok()?;
        return Some((ip, ip));
    };
    let first: IpAddr = a.parse().ok()?;
    let last: IpAddr = if let Ok(full) = b.parse::<IpAddr>() {
        full
    } else {
        match first {
            IpAddr::V4(v) => {
                let n: u8 = b.parse().ok()?;
                let mut o = v.octets();
                o[3] = n;
                IpAddr::from(o)
            }
            IpAddr::V6(v) => {
                let n = u16::from_str_radix(b, 16).ok()?;
                let mut seg = v.segments();
                seg[7] = n;
                IpAddr::from(seg)
            }
        }
    };
    let ordered = match (first, last) {
        (IpAddr::V4(x), IpAddr::V4(y)) => x <= y,
        (IpAddr::V6(x), IpAddr::V6(y)) => x <= y,
        _ => false,
    };
    ordered.then_some((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration(".25"), Some(Duration::from_millis(250)));
        assert_eq!(
            parse_duration("2.7182818"),
            Some(Duration::from_micros(2_718_281))
        );
        assert_eq!(parse_duration("-1"), None);
        assert_eq!(parse_duration("1s"), None);
        assert_eq!(parse_duration("."), None);
        for s in ["3", "0.5", "2.718281", "0.000001"] {
            assert_eq!(fmt_duration(parse_duration(s).unwrap()), s);
        }
    }

    #[test]
    fn ranges() {
        let r = |s| parse_range(s).map(|(a, b)| format!("{a}-{b}"));
        assert_eq!(
            r("192.168.200.3-10").unwrap(),
            "192.168.200.3-192.168.200.10"
        );
        assert_eq!(r("10.0.0.8/29").unwrap(), "10.0.0.8-10.0.0.15");
        assert_eq!(r("10.0.0.1").unwrap(), "10.0.0.1-10.0.0.1");
        assert_eq!(r("2001::1-a").unwrap(), "2001::1-2001::a");
        assert!(r("10.0.0.9-3").is_none());
        assert!(r("10.0.0.1-300").is_none());
    }

    #[test]
    fn prefixes() {
        assert_eq!(parse_prefix("10.0.0.1").unwrap().len, 32);
        assert_eq!(parse_prefix("::1").unwrap().len, 128);
        assert!(parse_prefix("192.168.100./24").is_none());
        assert!(parse_prefix("10.0.0.0/33").is_none());
    }
}
