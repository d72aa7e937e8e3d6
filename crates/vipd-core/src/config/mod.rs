//! keepalived.conf: from text to a typed, validated [`Config`].
//!
//! The pipeline, one module per stage:
//! 1. [`preprocess`]: comments, `include` (through a [`Loader`], so this crate
//!    never touches the file system), `@id` conditionals, `$NAME` parameters,
//!    `~SEQ` / `~LST` generators -> logical lines with their origin;
//! 2. [`lexer`]: words and braces with file:line:column spans; Unicode white
//!    space (the seed's U+00A0) is white space, with one warning per file;
//! 3. [`ast`]: statements and blocks, brace balance;
//! 4. [`parse`]: the typed [`model`], with the validation policy of
//!    docs/CONFIG.md; [`keywords`] lists every keepalived keyword and its
//!    status in vipd;
//! 5. [`dump`]: the model back to canonical keepalived.conf.
//!
//! Every problem is a [`Diagnostic`] with a location; [`diag`] renders them the
//! way rustc does.
//!
//! ```
//! use vipd_core::config;
//! let text = "vrrp_instance VI_1 {\n state MASTER\n interface eth1\n virtual_router_id 51\n}\n";
//! let loaded = config::parse_str("example.conf", text);
//! assert!(!loaded.diagnostics.has_errors());
//! assert_eq!(loaded.config.vrrp_instances[0].virtual_router_id, 51);
//! ```

pub mod ast;
pub mod diag;
pub mod dump;
pub mod keywords;
pub mod lexer;
pub mod model;
pub mod parse;
pub mod preprocess;

pub use diag::{Diagnostic, Diagnostics, FileId, Loc, Severity, SourceMap, Span};
pub use model::*;
pub use parse::HostCheck;
pub use preprocess::{LoadError, Loader, MemLoader};

/// Options for [`load`].
#[derive(Debug, Default)]
pub struct LoadOptions<'a> {
    /// The config id for `@id` lines (keepalived's `-i`; default: the host name
    /// up to its first dot, which the caller supplies).
    pub config_id: String,
    /// Host facts to check against (interfaces), if any.
    pub host: Option<HostCheck<'a>>,
}

/// The result of reading a configuration.
#[derive(Debug)]
pub struct Loaded {
    /// The model (best effort when there are errors: the parts that were valid).
    pub config: Config,
    /// Everything worth telling the operator, in order.
    pub diagnostics: Diagnostics,
    /// The files read, for rendering diagnostics.
    pub sources: SourceMap,
}

/// Reads the configuration at `root` (and its includes) through `loader`.
/// Fails only when `root` itself cannot be read; every other problem is a
/// diagnostic.
pub fn load(
    root: &str,
    loader: &mut dyn Loader,
    opts: &LoadOptions<'_>,
) -> Result<Loaded, LoadError> {
    let mut diagnostics = Diagnostics::default();
    let pre = preprocess::preprocess(root, loader, &opts.config_id, &mut diagnostics)?;
    // Lexing and parsing stream: one top-level block at a time becomes part
    // of the model, so memory stays near the size of the model itself.
    let mut parser = ast::Parser::new(&pre.lines);
    let tree = std::iter::from_fn(|| parser.next_top());
    let config = parse::build(tree, opts.host.as_ref(), &mut diagnostics);
    parser.finish(&mut diagnostics);
    drop(pre.lines);
    // Report in reading order, whichever stage found the problem.
    diagnostics.items.sort_by_key(|d| {
        d.span
            .map_or((u32::MAX, 0, 0), |s| (s.file.0, s.line, s.col))
    });
    Ok(Loaded {
        config,
        diagnostics,
        sources: pre.sources,
    })
}

/// Parses one in-memory file (no includes resolve unless they name itself),
/// with an empty config id and no host checks. Handy for tests and tools.
pub fn parse_str(name: &str, text: &str) -> Loaded {
    let mut loader = MemLoader::single(name, text);
    match load(name, &mut loader, &LoadOptions::default()) {
        Ok(l) => l,
        // The file is in the loader, so reading it cannot fail.
        Err(e) => Loaded {
            config: Config::default(),
            diagnostics: Diagnostics {
                items: vec![Diagnostic::error(e.to_string())],
            },
            sources: SourceMap::new(),
        },
    }
}
