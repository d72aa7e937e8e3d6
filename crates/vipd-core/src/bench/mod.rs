//! The pure half of `vipd bench`, the webbench-compatible load generator.
//!
//! Everything here decides and formats; nothing here touches a socket or the clock
//! (durations are passed in). The IO half lives in `vipd::bench`.
//!
//! # Layout
//! - [`url`]: the `http://host[:port]/path` target a run aims at.
//! - [`request`]: the bytes of the one request a run repeats.
//! - [`response`]: an incremental HTTP/1.x response parser (Content-Length,
//!   chunked, close-delimited, bodiless responses) that never panics.
//! - [`report`]: a run's results and their webbench-compatible text.
//! - [`compare`]: the side-by-side comparison's arithmetic (CPU per request, wrk, medians).
//! - [`chart`]: the SVG bar chart of docs/BENCHMARKS.md.

pub mod chart;
pub mod compare;
pub mod report;
pub mod request;
pub mod response;
pub mod url;
