//! Fuzz the whole keepalived.conf front end: preprocessor (includes, `$NAME`,
//! `@id`, `~SEQ`), lexer, parser and model builder must never panic, whatever
//! the bytes. When the input is valid, the canonical dump must parse back to
//! the same model.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vipd_core::config::{self, dump, LoadOptions, MemLoader};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The same text is reachable as an include, so include cycles and
    // self-inclusion are exercised too.
    let mut loader = MemLoader::single("/k/keepalived.conf", &text).with("/k/inc.conf", &text);
    let opts = LoadOptions {
        config_id: "main".into(),
        host: None,
    };
    let Ok(loaded) = config::load("/k/keepalived.conf", &mut loader, &opts) else {
        return;
    };
    for d in loaded.diagnostics.iter() {
        let _ = d.render(&loaded.sources);
    }
    if !loaded.diagnostics.has_errors() {
        let conf = dump::to_conf(&loaded.config);
        let again = config::parse_str("dump.conf", &conf);
        assert!(
            !again.diagnostics.has_errors(),
            "dump does not parse:\n{conf}\n{}",
            again.diagnostics.render(&again.sources)
        );
        assert_eq!(again.config, loaded.config, "dump changes the model:\n{conf}");
    }
});
