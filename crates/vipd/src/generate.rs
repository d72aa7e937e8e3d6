//! `vipd generate` (not in `--help`): the man pages and shell completions the Debian
//! package ships, generated from the same clap definitions as `--help`, so the
//! two never drift.
//!
//! - `vipd generate man DIR` writes `vipd.8`, one page per subcommand
//!   (`vipd-status.8`, `vipd-datapath-run.8`, ...) and `vipd.conf.5`, the
//!   keepalived.conf keywords and their status in vipd, from
//!   [`vipd_core::config::keywords::KEYWORDS`] (the table docs/CONFIG.md is
//!   generated from).
//! - `vipd generate completions bash|zsh|fish` prints the completion script.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use vipd_core::config::keywords::{Ctx, Status, KEYWORDS};

/// `vipd generate`: parsed on its own by `main` (it is not a subcommand of
/// the command line it documents, so no page or completion script offers it).
#[derive(Debug, Parser)]
#[command(name = "vipd generate")]
pub struct GenerateArgs {
    #[command(subcommand)]
    what: GenerateCommand,
}

/// What `vipd generate` writes.
#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// Write the man pages into DIR: vipd.8, one page per subcommand
    /// (vipd-status.8, ...) and vipd.conf.5.
    Man {
        /// The directory (created if missing).
        dir: PathBuf,
    },
    /// Print the completion script for SHELL on standard output.
    Completions {
        /// bash, zsh, fish (or elvish, powershell).
        shell: clap_complete::Shell,
    },
}

/// The man pages' section: vipd is an administrator's daemon and tool.
pub const SECTION: &str = "8";

/// `vipd generate ...`, from the process's arguments; `cli` is the command
/// line definition to document.
pub fn main(cli: clap::Command) -> anyhow::Result<()> {
    let args = GenerateArgs::parse_from(std::env::args_os().skip(1));
    run(args.what, cli)
}

/// Runs `vipd generate`; `cli` is the whole command line definition.
pub fn run(cmd: GenerateCommand, cli: clap::Command) -> anyhow::Result<()> {
    match cmd {
        GenerateCommand::Man { dir } => {
            for p in write_man_pages(cli, &dir)? {
                println!("{}", p.display());
            }
            Ok(())
        }
        GenerateCommand::Completions { shell } => {
            let mut cli = cli;
            let mut out = std::io::stdout().lock();
            clap_complete::generate(shell, &mut cli, "vipd", &mut out);
            out.flush()?;
            Ok(())
        }
    }
}

/// Writes every page into `dir`; returns their paths.
pub fn write_man_pages(cli: clap::Command, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, text) in man_pages(cli) {
        let p = dir.join(&name);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        written.push(p);
    }
    Ok(written)
}

/// Every page as (file name, roff text): the command's, its subcommands'
/// (recursively, hidden ones left out) and vipd.conf.5.
pub fn man_pages(cli: clap::Command) -> Vec<(String, String)> {
    let mut cli = cli.disable_help_subcommand(true);
    cli.build();
    let mut pages = Vec::new();
    let mut sub_names = Vec::new();
    collect_subcommands(&cli, &mut sub_names);
    add_pages(&cli, &sub_names, &mut pages);
    pages.push(("vipd.conf.5".to_owned(), config_page()));
    pages
}

/// The display names (`vipd-status`, `vipd-datapath-run`) of every visible
/// subcommand, depth first.
fn collect_subcommands(cmd: &clap::Command, out: &mut Vec<String>) {
    for s in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        out.push(display_name(s));
        collect_subcommands(s, out);
    }
}

fn display_name(cmd: &clap::Command) -> String {
    cmd.get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_owned()
}

fn add_pages(cmd: &clap::Command, subs: &[String], pages: &mut Vec<(String, String)>) {
    let name = display_name(cmd);
    let man = clap_mangen::Man::new(cmd.clone())
        .section(SECTION)
        .source(format!("vipd {}", env!("CARGO_PKG_VERSION")))
        .manual("vipd manual");
    let mut buf = Vec::new();
    man.render(&mut buf).expect("rendering into a Vec");
    let mut text = String::from_utf8(buf).expect("clap_mangen writes UTF-8");
    let extra = if name == "vipd" {
        main_page_extra(subs)
    } else {
        sub_page_extra(&name)
    };
    text.push_str(&extra.to_roff());
    pages.push((format!("{name}.{SECTION}"), text));
    for s in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        add_pages(s, subs, pages);
    }
}

/// `name(section)` as a man page reference.
fn xref(name: &str, section: &str) -> Vec<Inline> {
    vec![bold(name), roman(format!("({section})"))]
}

/// A comma-separated list of references, as one text line.
fn xrefs(refs: &[(&str, &str)]) -> Vec<Inline> {
    let mut line = Vec::new();
    for (i, (n, s)) in refs.iter().enumerate() {
        if i > 0 {
            line.push(roman(", "));
        }
        line.extend(xref(n, s));
    }
    line
}

/// FILES, ENVIRONMENT, EXIT STATUS and SEE ALSO of vipd(8).
fn main_page_extra(subs: &[String]) -> Roff {
    let mut r = Roff::new();
    r.control("SH", ["EXIT STATUS"]);
    for (code, what) in [
        ("0", "stopped cleanly (TERM, INT or QUIT); for -t and vipd check: no errors"),
        ("4", "the configuration file cannot be read"),
        (
            "5",
            "the configuration has errors, or does not fit this host (an interface that does not exist): the director refuses to start",
        ),
    ] {
        r.control("TP", []);
        r.text([bold(code)]);
        r.text([roman(what)]);
    }
    r.control("SH", ["FILES"]);
    for (path, what) in [
        (
            "/etc/keepalived/keepalived.conf",
            "the configuration, keepalived's file and format (see vipd.conf(5)); -f FILE reads another",
        ),
        (
            "/etc/default/vipd",
            "the Debian package's service settings: VIPD_CONFIG (the file) and VIPD_OPTS (more flags)",
        ),
        ("/etc/vipd/sync.key", "the key of connection sharing, if it exists (--sync-key)"),
        ("/run/vipd/vipd.pid", "the pid file (-p FILE)"),
        ("/run/vipd/vipd.sock", "the control socket vipd status talks to (--socket)"),
        (
            "/run/vipd/vipd.restart",
            "what a vipd stopped by QUIT leaves for the next one (VRRP states, the pinned data plane)",
        ),
        (
            "/sys/fs/bpf/vipd/",
            "the data plane's pins while no vipd runs after a QUIT (else /run/vipd/bpffs)",
        ),
    ] {
        r.control("TP", []);
        r.text([italic(path)]);
        r.text([roman(what)]);
    }
    r.control("SH", ["ENVIRONMENT"]);
    for (var, what) in [
        ("RUST_LOG", "overrides the log level (e.g. RUST_LOG=debug)"),
        (
            "NOTIFY_SOCKET",
            "set by systemd for Type=notify: vipd sends READY=1 once the data plane is attached and VRRP runs, RELOADING=1 and READY=1 around a HUP reload, STOPPING=1 when it stops",
        ),
    ] {
        r.control("TP", []);
        r.text([bold(var)]);
        r.text([roman(what)]);
    }
    r.control("SH", ["SEE ALSO"]);
    let mut refs: Vec<(&str, &str)> = vec![("vipd.conf", "5")];
    refs.extend(subs.iter().map(|s| (s.as_str(), SECTION)));
    refs.extend([
        ("keepalived", "8"),
        ("keepalived.conf", "5"),
        ("ipvsadm", "8"),
        ("systemctl", "1"),
    ]);
    r.text(xrefs(&refs));
    r.control("PP", []);
    r.text([roman(
        "/usr/share/doc/vipd/OPERATIONS.md (docs/OPERATIONS.md in the source): running the director, signals, restarts, the Debian package and its unit, migrating from keepalived one node at a time.",
    )]);
    r
}

fn sub_page_extra(_name: &str) -> Roff {
    let mut r = Roff::new();
    r.control("SH", ["SEE ALSO"]);
    r.text(xrefs(&[("vipd", SECTION), ("vipd.conf", "5")]));
    r
}

/// What each status word means (the doc comments of [`Status`]).
fn status_meaning(s: Status) -> &'static str {
    match s {
        Status::Implemented => "parsed into the model and honoured.",
        Status::Planned => {
            "parsed into the model; the part of vipd that honours it is not built yet."
        }
        Status::Ignored => {
            "recognised and ignored without a warning: it does not change where traffic goes (mail, SNMP, process tuning...)."
        }
        Status::Unsupported => "recognised; vipd will not implement it. A warning names it.",
    }
}

/// Text with `code` spans in bold.
fn with_code(text: &str) -> Vec<Inline> {
    text.split('`')
        .enumerate()
        .filter(|(_, part)| !part.is_empty())
        .map(
            |(i, part)| {
                if i % 2 == 1 {
                    bold(part)
                } else {
                    roman(part)
                }
            },
        )
        .collect()
}

/// vipd.conf(5): keepalived.conf as vipd reads it, every keyword by block.
pub fn config_page() -> String {
    let mut r = Roff::new();
    r.control(
        "TH",
        [
            "VIPD.CONF",
            "5",
            "",
            &format!("vipd {}", env!("CARGO_PKG_VERSION")),
            "vipd manual",
        ],
    );
    r.control("SH", ["NAME"]);
    r.text([roman(
        "vipd.conf - keepalived.conf as vipd reads it: every keyword and its status",
    )]);
    r.control("SH", ["SYNOPSIS"]);
    r.text([italic("/etc/keepalived/keepalived.conf")]);
    r.control("SH", ["DESCRIPTION"]);
    r.text(with_code(
        "vipd reads keepalived.conf (keepalived.conf(5), keepalived 2.2.x) as its only configuration language; there is no other file. Existing files, including keepalived 1.2.x ones, are read as their authors meant them: old spellings (`nb_get_retry`, `nat_mask`) are accepted with a warning that names today's spelling, and anything vipd cannot honour exactly is reported with the file, line and column before it can change where traffic goes.",
    ));
    r.control("PP", []);
    r.text(with_code(
        "`vipd check -f FILE` (or `vipd -t -f FILE`) prints rustc-style diagnostics and exits 0 (no errors, warnings allowed), 4 (the file cannot be read) or 5 (errors; with `--strict` warnings count). `--dump conf` prints the file back with today's spellings. A keyword vipd does not know is a warning with its location, with a suggestion when it is close to a known one, and parsing goes on, as in keepalived. Where keepalived would quietly substitute a default that changes where traffic goes (an unknown `lb_algo`, an address that does not parse, a vrid out of range), vipd stops with an error.",
    ));
    r.control("SH", ["STATUS"]);
    for s in [
        Status::Implemented,
        Status::Planned,
        Status::Ignored,
        Status::Unsupported,
    ] {
        r.control("TP", []);
        r.text([bold(s.as_str())]);
        r.text([roman(status_meaning(s))]);
    }
    r.control("SH", ["KEYWORDS"]);
    r.text([roman(
        "By block, in the order of keepalived.conf(5). The same table is docs/CONFIG.md in the source.",
    )]);
    let mut last: Option<Ctx> = None;
    for (ctx, kw, status, note) in KEYWORDS {
        if last != Some(*ctx) {
            r.control("SS", [ctx.name()]);
            last = Some(*ctx);
        }
        r.control("TP", []);
        r.text([bold(*kw)]);
        let mut line = vec![italic(status.as_str())];
        if !note.is_empty() {
            line.push(roman(": "));
            line.extend(with_code(note));
        }
        r.text(line);
    }
    r.control("SH", ["SEE ALSO"]);
    r.text(xrefs(&[
        ("vipd", SECTION),
        ("vipd-check", SECTION),
        ("keepalived.conf", "5"),
        ("keepalived", "8"),
    ]));
    r.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli() -> clap::Command {
        clap::Command::new("vipd")
            .version("1")
            .about("top")
            .subcommand(clap::Command::new("status").about("show"))
            .subcommand(
                clap::Command::new("datapath")
                    .about("dp")
                    .subcommand(clap::Command::new("run").about("run it")),
            )
            .subcommand(clap::Command::new("generate").hide(true))
    }

    #[test]
    fn one_page_per_visible_subcommand_and_the_config_page() {
        let names: Vec<String> = man_pages(cli()).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "vipd.8",
                "vipd-status.8",
                "vipd-datapath.8",
                "vipd-datapath-run.8",
                "vipd.conf.5"
            ]
        );
    }

    #[test]
    fn main_page_refers_to_every_subcommand() {
        let pages = man_pages(cli());
        let main = &pages[0].1;
        assert!(
            main.starts_with(".ie") || main.contains(".TH vipd 8"),
            "{main}"
        );
        assert!(main.contains("\\fBvipd\\-datapath\\-run\\fR(8)"), "{main}");
        assert!(main.contains(".SH \"SEE ALSO\""), "{main}");
        assert!(!main.contains("generate"), "hidden subcommands stay out");
    }

    #[test]
    fn config_page_lists_every_keyword_with_its_status() {
        let page = config_page();
        for (ctx, kw, status, _) in KEYWORDS {
            assert!(
                page.contains(&format!(".SS \"{}\"", ctx.name()))
                    || page.contains(&format!(".SS {}", ctx.name())),
                "{}",
                ctx.name()
            );
            let kw = kw.replace('-', "\\-");
            assert!(page.contains(&format!("\\fB{kw}\\fR")), "{kw}");
            assert!(page.contains(&format!("\\fI{}\\fR", status.as_str().replace('-', "\\-"))));
        }
        // No text line may start with a control character.
        for line in page.lines() {
            assert!(!line.starts_with('\''), "{line}");
        }
    }

    #[test]
    fn code_spans_are_bold() {
        assert_eq!(
            with_code("use `retry` now"),
            vec![roman("use "), bold("retry"), roman(" now")]
        );
        assert_eq!(with_code("`a`"), vec![bold("a")]);
    }
}
