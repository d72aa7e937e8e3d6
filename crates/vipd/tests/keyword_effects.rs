//! A test the docs cannot fool: every keyword `docs/CONFIG.md` calls
//! implemented changes what vipd runs. `tests/keywords/every.conf` (and
//! `globals.conf` for global_defs) holds each of them with a value other than
//! its default, marked with its name after `# k:`; for each
//! marked line (or block) the file without it must translate into something
//! else (the data plane's and checkers' specs, VRRP's spec, the static items,
//! the sharing plan) than the whole file. Warnings do not count as an effect.

use std::collections::BTreeSet;
use std::path::Path;

use vipd::daemon::load::{translate, Parts};
use vipd_core::config::keywords::{Status, KEYWORDS};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keywords");

/// What vipd runs from `text` (written as `name` in `dir`).
fn runs(dir: &Path, name: &str, text: &str) -> String {
    let f = dir.join(name);
    std::fs::write(&f, text).unwrap();
    let loaded = vipd::config_io::load_file(f.to_str().unwrap(), Some("test"), false).unwrap();
    let t = translate(
        &loaded.config,
        Parts {
            vrrp: true,
            lvs: true,
        },
    );
    let share = vipd_core::sync::plan::plan(&loaded.config, t.vrrp.is_some(), false);
    let refusals: Vec<String> = t.refusals.iter().map(|d| format!("{d:?}")).collect();
    format!(
        "{:#?}\n{:#?}\n{:#?}\n{:#?}\n{:#?}\n{:#?}\n{:#?}\n{refusals:#?}",
        t.lvs, t.vrrp, t.statics, share, t.secure_scripts, t.init_files, t.announce
    )
}

/// `lines` without line `i` (and, when it opens a block, the whole block).
fn without(lines: &[&str], i: usize) -> String {
    let mut end = i;
    if lines[i].split('#').next().unwrap().contains('{') {
        let mut depth = 0i32;
        for (j, l) in lines.iter().enumerate().skip(i) {
            let code = l.split('#').next().unwrap();
            depth += code.matches('{').count() as i32 - code.matches('}').count() as i32;
            if depth <= 0 {
                end = j;
                break;
            }
        }
    }
    lines
        .iter()
        .enumerate()
        .filter(|(j, _)| *j < i || *j > end)
        .map(|(_, l)| format!("{l}\n"))
        .collect()
}

#[test]
fn every_implemented_keyword_changes_what_runs() {
    let dir = std::env::temp_dir().join(format!("vipd-keywords-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        Path::new(DIR).join("every-include.conf"),
        dir.join("every-include.conf"),
    )
    .unwrap();
    let mut marked = BTreeSet::new();
    let mut inert = Vec::new();
    for name in ["every.conf", "globals.conf", "announce.conf", "ipv6.conf"] {
        let text = std::fs::read_to_string(Path::new(DIR).join(name)).unwrap();
        let whole = runs(&dir, name, &text);
        assert!(
            !whole.contains("Diagnostic"),
            "{name} itself is refused:\n{whole}"
        );
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let Some((_, kw)) = l.split_once("# k:") else {
                continue;
            };
            let kw = kw.trim();
            marked.insert(kw.to_owned());
            if runs(&dir, name, &without(&lines, i)) == whole {
                inert.push(format!("{name}:{}: {kw}", i + 1));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let implemented: BTreeSet<String> = KEYWORDS
        .iter()
        .filter(|(_, _, s, _)| *s == Status::Implemented)
        .map(|(_, k, _, _)| (*k).to_owned())
        .collect();
    let missing: Vec<_> = implemented.difference(&marked).collect();
    assert!(
        missing.is_empty(),
        "implemented keywords without a line in every.conf / globals.conf / announce.conf: {missing:?}"
    );
    let extra: Vec<_> = marked.difference(&implemented).collect();
    assert!(
        extra.is_empty(),
        "marked in every.conf / globals.conf but not implemented: {extra:?}"
    );
    assert!(
        inert.is_empty(),
        "{} keyword line(s) change nothing vipd runs, yet docs/CONFIG.md calls them implemented:\n{}",
        inert.len(),
        inert.join("\n")
    );
}

/// Every keyword the table says vipd does not act on (unsupported, or not
/// yet) is named in a warning, wherever it is written.
#[test]
fn every_keyword_vipd_does_not_act_on_is_named_in_a_warning() {
    let mut named = 0;
    for name in ["every.conf", "globals.conf"] {
        let path = Path::new(DIR).join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let loaded =
            vipd::config_io::load_file(path.to_str().unwrap(), Some("test"), false).unwrap();
        let warnings: Vec<String> = loaded
            .diagnostics
            .iter()
            .filter(|d| !d.is_error())
            .map(|d| d.render(&loaded.sources))
            .collect();
        for (i, l) in text.lines().enumerate() {
            if !l.contains("# (not acted on") {
                continue;
            }
            let kw = l.split_whitespace().next().unwrap();
            let status = KEYWORDS
                .iter()
                .find(|(_, k, _, _)| *k == kw)
                .map(|(_, _, s, _)| *s)
                .unwrap();
            if !matches!(status, Status::Planned | Status::Unsupported) {
                continue;
            }
            let at = format!("{name}:{}:", i + 1);
            assert!(
                warnings
                    .iter()
                    .any(|w| w.contains(&format!("`{kw}`")) && w.contains(&at)),
                "{at} `{kw}` ({}) is not named in a warning",
                status.as_str()
            );
            named += 1;
        }
    }
    // bind_if (since the checkers run over IPv6) and vrrp_gna_interval (since
    // IPv6 instances pace their neighbour advertisements) are acted on.
    assert!(named >= 3, "only {named} keywords checked");
}
