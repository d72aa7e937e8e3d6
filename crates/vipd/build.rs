//! Compiles every `bpf/*.bpf.c` of the repository with clang into `$OUT_DIR/NAME.bpf.o`,
//! which the crate embeds with `aya::include_bytes_aligned!`.
//!
//! The BPF side is C because the stable Rust toolchain cannot build BPF targets.
//! If clang is missing the build stops here with a message that says what to install.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let bpf_dir = manifest.join("../../bpf");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    println!("cargo:rerun-if-changed={}", bpf_dir.display());
    println!("cargo:rerun-if-env-changed=VIPD_CLANG");

    let clang = std::env::var("VIPD_CLANG").unwrap_or_else(|_| "clang".into());
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&bpf_dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    sources.sort();
    for entry in &sources {
        println!("cargo:rerun-if-changed={}", entry.display());
    }
    let programs: Vec<&PathBuf> = sources
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".bpf.c"))
        .collect();
    if programs.is_empty() {
        return;
    }
    if Command::new(&clang).arg("--version").output().is_err() {
        panic!(
            "\n\nerror: `{clang}` not found: vipd's data plane is C compiled with clang -target bpf.\n\
             help: install it with `apt-get install -y clang llvm libbpf-dev linux-libc-dev` \
             (or run `make deps`), or point VIPD_CLANG at a clang binary.\n"
        );
    }
    for src in programs {
        compile(&clang, src, &bpf_dir, &out);
    }
}

fn compile(clang: &str, src: &Path, include: &Path, out: &Path) {
    let name = src
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace(".bpf.c", ".bpf.o");
    let obj = out.join(name);
    let arch_include = format!("/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let status = Command::new(clang)
        .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
        .arg(format!("-I{}", include.display()))
        .arg(format!("-I{arch_include}"))
        .arg("-c")
        .arg(src)
        .arg("-o")
        .arg(&obj)
        .status()
        .unwrap_or_else(|e| panic!("running {clang}: {e}"));
    if !status.success() {
        panic!(
            "\n\nerror: clang failed to compile {} (see its messages above).\n\
             help: if headers such as <linux/bpf.h> or <bpf/bpf_helpers.h> are missing, \
             install `libbpf-dev linux-libc-dev` (`make deps`).\n",
            src.display()
        );
    }
}
