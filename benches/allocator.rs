//! Allocation time of one control cycle (`balance::plan_cycle`) for 10, 100 and 1,000 chargers
//! in a 3-level circuit tree (grid -> 10 boards -> 4 sub-boards each), every car connected and
//! wanting more than there is, mixed 1-phase and rotated 3-phase wiring, three priorities, a
//! fresh meter on every board.
//!
//! Run: `cargo bench --bench allocator`

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hubgate::balance::{
    ChargerNode, ChargerObs, CircuitNode, ControlState, MeterObs, Settings, SiteModel, Snapshot,
    path_of, plan_cycle,
};
use hubgate::phase::{PerPhase, Phase};
use std::hint::black_box;

fn site(n: usize) -> (SiteModel, Snapshot) {
    let mut circuits = vec![CircuitNode {
        name: "grid".into(),
        parent: None,
        limit_a: PerPhase::splat(4000.0),
        meter: Some(0),
        depth: 0,
    }];
    let mut meters = vec!["grid".to_string()];
    for b in 0..10 {
        let board = circuits.len();
        circuits.push(CircuitNode {
            name: format!("board{b}"),
            parent: Some(0),
            limit_a: PerPhase::splat(630.0),
            meter: Some(meters.len()),
            depth: 1,
        });
        meters.push(format!("m{b}"));
        for s in 0..4 {
            circuits.push(CircuitNode {
                name: format!("board{b}.{s}"),
                parent: Some(board),
                limit_a: PerPhase::splat(160.0),
                meter: None,
                depth: 2,
            });
        }
    }
    let leaves: Vec<usize> = (0..circuits.len())
        .filter(|&c| circuits[c].depth == 2)
        .collect();
    let wirings = [
        vec![Phase::L1, Phase::L2, Phase::L3],
        vec![Phase::L2, Phase::L3, Phase::L1],
        vec![Phase::L3, Phase::L1, Phase::L2],
        vec![Phase::L1],
        vec![Phase::L2],
        vec![Phase::L3],
    ];
    let chargers: Vec<ChargerNode> = (0..n)
        .map(|i| {
            let circuit = leaves[i % leaves.len()];
            let wiring = wirings[i % wirings.len()].clone();
            let mut per_phase = PerPhase::ZERO;
            for p in &wiring {
                per_phase.0[*p as usize] += 1.0;
            }
            ChargerNode {
                name: format!("c{i}"),
                circuit,
                wiring,
                min_a: 6.0,
                max_a: [16.0, 32.0, 24.0][i % 3],
                priority: (i % 3) as i32,
                path: path_of(&circuits, circuit),
                per_phase,
                failsafe: None,
            }
        })
        .collect();
    let model = SiteModel {
        circuits,
        chargers,
        settings: Settings {
            margin_a: 2.0,
            fallback_a: 6.0,
            stale_after_s: 5.0,
            ramp_a_per_s: 8.0,
            hysteresis_a: 0.5,
            rotation_period_s: 900.0,
            lost_counts_max: false,
            detect_car_phases: false,
        },
        meters: meters.clone(),
    };
    let snapshot = Snapshot {
        meters: meters
            .iter()
            .map(|_| MeterObs {
                current_a: Some(PerPhase([120.0, 80.0, 100.0])),
                age_s: Some(0.3),
                invalid: None,
            })
            .collect(),
        chargers: (0..n)
            .map(|i| ChargerObs {
                answering: true,
                connected: true,
                draw_a: PerPhase::splat((i % 7) as f64),
                ..ChargerObs::default()
            })
            .collect(),
        site_cap: None,
    };
    (model, snapshot)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("plan_cycle");
    for n in [10usize, 100, 1000] {
        let (model, snapshot) = site(n);
        let mut state = ControlState::new(&model);
        let mut t = 0.0;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                t += 1.0;
                black_box(plan_cycle(&model, &snapshot, &mut state, t))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
