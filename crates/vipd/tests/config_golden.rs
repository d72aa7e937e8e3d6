//! Golden tests: `vipd check` on broken configurations, one file per kind of
//! problem the validation policy names (docs/CONFIG.md). Each
//! `tests/config_golden/NAME.conf` has its expected exit code and stderr in
//! `NAME.out`. After an intended change of wording, regenerate with
//! `VIPD_UPDATE_GOLDEN=1 cargo test -p vipd --test config_golden` and review the diff.

use std::path::Path;
use std::process::Command;

#[test]
fn diagnostics_match_golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config_golden");
    let update = std::env::var_os("VIPD_UPDATE_GOLDEN").is_some();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    names.sort();
    assert!(names.len() >= 13, "golden inputs missing: {names:?}");
    let mut failures = Vec::new();
    for name in names {
        let out = Command::new(env!("CARGO_BIN_EXE_vipd"))
            .args(["check", "--no-host-checks", "-f", &name])
            .current_dir(&dir)
            .output()
            .expect("run vipd");
        let got = format!(
            "exit: {}\n{}",
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr)
        );
        let golden = dir.join(name.replace(".conf", ".out"));
        if update {
            std::fs::write(&golden, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_else(|_| {
            panic!(
                "{} missing: run with VIPD_UPDATE_GOLDEN=1 to create it",
                golden.display()
            )
        });
        if got != want {
            failures.push(format!("--- {name}: expected\n{want}\n--- got\n{got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
