//! In-process cost of resolving names in a three-layer lower stack: strata's
//! merged per-directory index (built once, then one hash probe) against
//! probing every layer with fstatat plus a `.wh.` probe per layer, which is
//! what a union without an index does on every lookup.
//!
//! `cargo bench --bench lower_lookup`

use std::fs;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use unionfs::lowerindex::LowerStack;
use unionfs::{DirLower, Lower};

const DIRS: usize = 50;
const FILES: usize = 40;

fn build(base: &Path) -> Vec<std::path::PathBuf> {
    let mut layers = Vec::new();
    for l in 0..3 {
        let root = base.join(format!("l{l}"));
        for d in 0..DIRS {
            let dir = root.join(format!("d{d}"));
            fs::create_dir_all(&dir).unwrap();
            for f in 0..FILES {
                fs::write(dir.join(format!("l{l}-f{f}")), b"").unwrap();
            }
        }
        layers.push(root);
    }
    layers
}

fn names() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for d in 0..DIRS {
        for l in 0..3 {
            for f in 0..FILES {
                v.push(format!("d{d}/l{l}-f{f}").into_bytes());
            }
        }
    }
    v
}

fn open_stack(layers: &[std::path::PathBuf]) -> LowerStack {
    LowerStack::new(
        layers
            .iter()
            .map(|p| Box::new(DirLower::open(p).unwrap()) as Box<dyn Lower>)
            .collect(),
    )
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let layers = build(tmp.path());
    let names = names();
    let mut g = c.benchmark_group("resolve 6000 names in 3 layers");
    g.sample_size(20);
    g.bench_function("merged index, cold (includes building it)", |b| {
        b.iter(|| {
            let stack = open_stack(&layers);
            for n in &names {
                assert!(stack.hit(n).unwrap().is_some());
            }
        })
    });
    let warm = open_stack(&layers);
    g.bench_function("merged index, warm", |b| {
        b.iter(|| {
            for n in &names {
                assert!(warm.hit(n).unwrap().is_some());
            }
        })
    });
    let plain: Vec<DirLower> = layers.iter().map(|p| DirLower::open(p).unwrap()).collect();
    g.bench_function("probe every layer (stat + .wh. stat)", |b| {
        b.iter(|| {
            for n in &names {
                let (dir, file) = n.split_at(n.iter().position(|&c| c == b'/').unwrap() + 1);
                let mut wh = dir.to_vec();
                wh.extend_from_slice(b".wh.");
                wh.extend_from_slice(file);
                let mut found = false;
                for l in &plain {
                    if l.stat(&wh).is_ok() {
                        break;
                    }
                    if l.stat(n).is_ok() {
                        found = true;
                        break;
                    }
                }
                assert!(found);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
