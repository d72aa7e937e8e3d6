//! `vipd compare` end to end in a lab of its own (root; needs nftables, haproxy,
//! wrk): a short run measures every configuration, computes overheads against the
//! direct run, writes the table, JSON and chart, and leaves no namespace behind.

use std::process::Command;

#[test]
fn short_comparison_measures_every_configuration_and_cleans_up() {
    let out_dir = std::env::temp_dir().join(format!("vipd-compare-test-{}", std::process::id()));
    let docs = out_dir.join("BENCHMARKS.md");
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::write(
        &docs,
        format!(
            "# Title\n\nbefore\n{}\nold\n{}\nafter\n",
            vipd::bench::compare::DOCS_BEGIN,
            vipd::bench::compare::DOCS_END
        ),
    )
    .unwrap();
    // Other tests' labs come and go: look only at comparison labs (`cmp` + hex).
    let ours = || {
        vipd::lab::list()
            .into_iter()
            .filter(|n| n.starts_with("cmp"))
            .collect::<Vec<_>>()
    };
    let before = ours();
    let out = Command::new(env!("CARGO_BIN_EXE_vipd"))
        .args([
            "compare", "--rounds", "1", "--time", "1", "-c", "8", "--out",
        ])
        .arg(&out_dir)
        .arg("--docs")
        .arg(&docs)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    for row in [
        "| direct | keep-alive | vipd bench |",
        "| direct-rs1 | new-conn | wrk |",
        "| direct-rs1 | keep-alive | vipd bench |",
        "| haproxy | new-conn | vipd bench |",
        "| nftables | keep-alive | vipd bench |",
        "| vipd | new-conn | vipd bench |",
        "| tun-floor | new-conn | vipd bench |",
    ] {
        assert!(stdout.contains(row), "missing `{row}` in:\n{stdout}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("results.json")).unwrap())
            .unwrap();
    let summaries = json["summaries"].as_array().unwrap();
    for s in summaries {
        assert_eq!(s["failed"], 0, "{s}");
        assert!(s["requests_per_sec"].as_f64().unwrap() > 100.0, "{s}");
        if s["config"] != "direct" && s["tool"] == "vipd bench" {
            // Compared against the direct run of the same mode: a number, not NaN
            // (null). wrk runs against rs1 only, so it has no direct run of its own.
            assert!(s["lab_overhead_us"].is_number(), "{s}");
        }
    }
    let svg = std::fs::read_to_string(out_dir.join("compare.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("HAProxy mode tcp"));
    let doc = std::fs::read_to_string(&docs).unwrap();
    assert!(
        doc.starts_with("# Title\n\nbefore\n")
            && doc.ends_with(&format!("{}\nafter\n", vipd::bench::compare::DOCS_END))
    );
    assert!(
        !doc.contains("\nold\n")
            && doc.contains("| haproxy | new-conn |")
            && doc.contains("benchmarks-compare.svg")
    );
    assert!(out_dir.join("benchmarks-compare.svg").is_file());
    assert_eq!(ours(), before, "the comparison's lab was removed");
    let _ = std::fs::remove_dir_all(&out_dir);
}
