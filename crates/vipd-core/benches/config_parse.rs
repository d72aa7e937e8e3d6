//! How long parsing a large keepalived.conf takes: 1,000 virtual servers with
//! 100 real servers each (100,000 real servers, each with a TCP_CHECK), in the
//! seed's style. Target: well under one second. Results: docs/BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vipd_core::config;

#[path = "support/synthetic.rs"]
mod synthetic;
use synthetic::synthetic;

fn bench(c: &mut Criterion) {
    let text = synthetic(1000, 100);
    let mut g = c.benchmark_group("config");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("parse 1000 vs x 100 rs", |b| {
        b.iter(|| {
            let l = config::parse_str("big.conf", &text);
            assert!(!l.diagnostics.has_errors());
            assert_eq!(l.config.virtual_servers.len(), 1000);
            l
        })
    });
    let seed = include_str!("../../../examples/seed/keepalived-master.conf");
    g.throughput(Throughput::Bytes(seed.len() as u64));
    g.sample_size(100);
    g.bench_function("parse seed master", |b| {
        b.iter(|| config::parse_str("seed.conf", seed))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
