//! docs/CONFIG.md lists every keyword with its status: the table there is the
//! one `keywords::markdown()` generates. Regenerate after changing the table
//! with `VIPD_UPDATE_GOLDEN=1 cargo test -p vipd-core --test config_docs`.

const BEGIN: &str =
    "<!-- keywords:begin (generated from crates/vipd-core/src/config/keywords.rs) -->\n";
const END: &str = "<!-- keywords:end -->\n";

#[test]
fn config_md_keyword_table_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/CONFIG.md");
    let doc = std::fs::read_to_string(path).expect("docs/CONFIG.md");
    let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("docs/CONFIG.md lacks the keyword table markers");
    };
    let current = &doc[b + BEGIN.len()..e];
    let want = vipd_core::config::keywords::markdown();
    if current != want {
        if std::env::var_os("VIPD_UPDATE_GOLDEN").is_some() {
            let new = format!("{}{BEGIN}{want}{}", &doc[..b], &doc[e..]);
            std::fs::write(path, new).unwrap();
        } else {
            panic!("docs/CONFIG.md's keyword table is stale: run VIPD_UPDATE_GOLDEN=1 cargo test -p vipd-core --test config_docs");
        }
    }
}
