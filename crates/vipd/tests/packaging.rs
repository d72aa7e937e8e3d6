//! The Debian package (root): `make deb` builds it, it holds what it should,
//! installs with `dpkg -i`, systemd-analyze accepts its unit, every man page
//! renders, the bash completion loads and completes, and `dpkg --purge`
//! leaves nothing behind. The service is never started (the package neither
//! enables nor starts it, and this test starts nothing).
//!
//! It packages the debug build `cargo test` just made (`make deb
//! DEB_PROFILE=dev`), so CI does not pay for a release build; `make deb`
//! makes the release package the same way.
//!
//! Every tool it needs is in the Makefile's APT_PACKAGES (systemd, man-db,
//! dpkg-dev) or installed by `make deb` (cargo-deb): a missing one fails the
//! test with its name, it never skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn vipd() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vipd"))
}

/// The target directory `cargo test` builds in (`TARGET/debug/vipd`).
fn target_dir() -> PathBuf {
    vipd()
        .parent()
        .and_then(Path::parent)
        .expect("CARGO_BIN_EXE_vipd is TARGET/debug/vipd")
        .to_owned()
}

fn run(cmd: &mut Command) -> Output {
    let what = format!("{cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(run(cmd).stdout).expect("UTF-8")
}

/// Fails loudly when a tool is missing, naming the Debian package.
fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{tool}` is missing: apt-get install {package} (make deps installs it)"
    );
}

fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}", "vipd"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("ok installed"))
}

/// `dpkg ARGS`, waiting for the dpkg lock while another install holds it.
fn dpkg(args: &[&str]) -> Output {
    let t0 = Instant::now();
    loop {
        let out = Command::new("dpkg").args(args).output().expect("dpkg");
        let err = String::from_utf8_lossy(&out.stderr);
        let locked = !out.status.success() && err.contains("lock");
        if !locked || t0.elapsed() > Duration::from_secs(300) {
            assert!(
                out.status.success(),
                "dpkg {args:?} failed ({}):\n{}\n{err}",
                out.status,
                String::from_utf8_lossy(&out.stdout)
            );
            return out;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Purges the package if the test stops between install and purge.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        if installed() {
            let _ = Command::new("dpkg").args(["--purge", "vipd"]).output();
        }
    }
}

#[test]
fn deb_builds_installs_verifies_and_purges() {
    for (tool, package) in [
        ("make", "make"),
        ("dpkg-deb", "dpkg"),
        ("dpkg-shlibdeps", "dpkg-dev"),
        ("systemd-analyze", "systemd"),
        ("man", "man-db"),
        ("gzip", "gzip"),
        ("bash", "bash"),
    ] {
        require(tool, package);
    }
    assert!(
        !installed(),
        "a vipd package is installed on this machine: this test installs and purges its own build, remove it first (dpkg --purge vipd)"
    );

    // make deb, with the debug build cargo test made.
    let scratch = std::env::temp_dir().join(format!("vipd-test-deb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let out_dir = scratch.join("out");
    let t0 = Instant::now();
    run(Command::new("make")
        .current_dir(REPO)
        .args(["-s", "deb", "DEB_PROFILE=dev"])
        .arg(format!("DEB_OUT={}", out_dir.display()))
        .env("CARGO_TARGET_DIR", target_dir())
        // Under `make test`, the outer make's jobserver is not ours.
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL"));
    eprintln!(
        "make deb DEB_PROFILE=dev: {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let debs: Vec<PathBuf> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "one .deb in {}: {debs:?}", out_dir.display());
    let deb = &debs[0];
    assert_eq!(
        deb.file_name().unwrap().to_str().unwrap(),
        format!("vipd_{VERSION}-1_amd64.deb")
    );
    eprintln!(
        "{}: {} bytes",
        deb.display(),
        std::fs::metadata(deb).unwrap().len()
    );

    // What it holds.
    let listing = stdout(Command::new("dpkg-deb").arg("-c").arg(deb));
    let paths: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .collect();
    for want in [
        "./usr/sbin/vipd",
        "./usr/lib/systemd/system/vipd.service",
        "./usr/lib/systemd/system/vipd.service.d/keepalived.conf",
        "./etc/default/vipd",
        "./usr/share/man/man8/vipd.8.gz",
        "./usr/share/man/man8/vipd-status.8.gz",
        "./usr/share/man/man8/vipd-check.8.gz",
        "./usr/share/man/man8/vipd-realserver-up.8.gz",
        "./usr/share/man/man8/vipd-datapath-run.8.gz",
        "./usr/share/man/man5/vipd.conf.5.gz",
        "./usr/share/bash-completion/completions/vipd",
        "./usr/share/zsh/vendor-completions/_vipd",
        "./usr/share/fish/vendor_completions.d/vipd.fish",
        "./usr/share/doc/vipd/examples/keepalived-master.conf",
        "./usr/share/doc/vipd/examples/keepalived-backup.conf",
        "./usr/share/doc/vipd/examples/realserver.sh",
        "./usr/share/doc/vipd/OPERATIONS.md",
        "./usr/share/doc/vipd/copyright",
    ] {
        assert!(
            paths.contains(&want),
            "{want} not in the package:\n{listing}"
        );
    }
    let pages: Vec<&str> = paths
        .iter()
        .copied()
        .filter(|p| p.starts_with("./usr/share/man/") && p.ends_with(".gz"))
        .collect();
    assert!(pages.len() >= 20, "a page per subcommand: {pages:?}");
    assert!(
        !paths.iter().any(|p| p.contains("generate")),
        "vipd generate is no documented subcommand"
    );

    let field = |name: &str| stdout(Command::new("dpkg-deb").arg("-f").arg(deb).arg(name));
    let depends = field("Depends");
    for want in ["iproute2", "libc6", "init-system-helpers", "procps"] {
        assert!(depends.contains(want), "Depends: {depends}");
    }
    assert_eq!(field("Package").trim(), "vipd");
    assert_eq!(field("Architecture").trim(), "amd64");
    let conffiles = stdout(Command::new("dpkg-deb").arg("-I").arg(deb).arg("conffiles"));
    assert!(conffiles.contains("/etc/default/vipd"), "{conffiles}");
    let postinst = stdout(Command::new("dpkg-deb").arg("-I").arg(deb).arg("postinst"));
    assert!(
        !postinst.contains("deb-systemd-invoke"),
        "installing must not start vipd: {postinst}"
    );

    // The extracted binary runs.
    let root = scratch.join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&root));
    let help = stdout(Command::new(root.join("usr/sbin/vipd")).arg("--help"));
    assert!(help.contains("keepalived"), "{help}");

    // Install for real, verify, purge.
    dpkg(&["-i", deb.to_str().unwrap()]);
    let guard = Installed;
    assert!(installed());
    let files: Vec<String> = stdout(Command::new("dpkg").args(["-L", "vipd"]))
        .lines()
        .map(str::to_owned)
        .collect();
    let help = stdout(Command::new("/usr/sbin/vipd").arg("--version"));
    assert!(help.contains(VERSION), "{help}");

    // systemd-analyze verify: the unit with its drop-in, the binary at
    // ExecStart and the Documentation= man pages. It exits 0 on unknown keys
    // and bad values, saying so on standard error: any word about vipd fails.
    let out = Command::new("systemd-analyze")
        .args(["verify", "vipd.service"])
        .output()
        .expect("systemd-analyze");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !err.contains("vipd"),
        "systemd-analyze verify vipd.service ({}):\n{err}",
        out.status
    );

    // Every man page renders without a warning.
    let installed_pages: Vec<&String> = files
        .iter()
        .filter(|f| f.starts_with("/usr/share/man/") && f.ends_with(".gz"))
        .collect();
    assert_eq!(installed_pages.len(), pages.len());
    for page in &installed_pages {
        let out = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(page)
            .env("MANWIDTH", "80")
            .output()
            .expect("man");
        let text = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && err.trim().is_empty() && text.contains("NAME"),
            "man -l {page} ({}):\n{err}\n{text}",
            out.status
        );
    }
    // ... and man finds them by name where they were installed.
    let page = stdout(
        Command::new("man")
            .args(["5", "vipd.conf"])
            .env("MANWIDTH", "80"),
    );
    assert!(page.contains("virtual_server"), "{page}");
    assert!(page.contains("implemented"), "{page}");

    // The bash completion loads and completes subcommands and flags.
    let script = r#"
        source /usr/share/bash-completion/completions/vipd || exit 1
        complete -p vipd || exit 1
        COMP_WORDS=(vipd sta); COMP_CWORD=1; COMP_LINE="vipd sta"; COMP_POINT=8
        _vipd vipd sta vipd
        echo "words: ${COMPREPLY[*]}"
        COMP_WORDS=(vipd check --st); COMP_CWORD=2; COMP_LINE="vipd check --st"; COMP_POINT=15
        _vipd vipd --st check
        echo "flags: ${COMPREPLY[*]}"
    "#;
    let out = stdout(Command::new("bash").args(["--norc", "-c", script]));
    assert!(out.contains("-F _vipd vipd"), "{out}");
    assert!(out.contains("words: status"), "{out}");
    assert!(out.contains("--strict"), "{out}");

    // Purge: nothing of the package is left.
    dpkg(&["--purge", "vipd"]);
    drop(guard);
    assert!(!installed());
    for f in &files {
        let p = Path::new(f);
        assert!(
            p.is_dir() || !p.exists(),
            "{f} is still there after dpkg --purge"
        );
    }
    for gone in [
        "/usr/sbin/vipd",
        "/etc/default/vipd",
        "/usr/lib/systemd/system/vipd.service",
        "/usr/lib/systemd/system/vipd.service.d",
        "/usr/share/doc/vipd",
        "/etc/systemd/system/vipd.service",
        "/var/lib/systemd/deb-systemd-helper-enabled/vipd.service.dsh-also",
        "/var/lib/systemd/deb-systemd-helper-masked/vipd.service",
    ] {
        assert!(
            !Path::new(gone).exists(),
            "{gone} is still there after dpkg --purge"
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
