//! Property tests: every schedule that `ScheduleSpec::build` accepts gives a finite, non-negative
//! learning rate at every step k (checked up to 10⁹ and at u64::MAX), for any finite base lr ≥ 0
//! and — for metric-driven ones — after any sequence of observed metrics (NaN and ±∞ included),
//! and its state round-trips through JSON to the same learning rates.
//!
//! Two generators: specs with arguments drawn from their documented ranges (which must all
//! build), and specs with arbitrary arguments (NaN, ±∞, 0, negative, subnormal, huge, unsorted
//! milestones), which must either be rejected or behave.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use optlab_optim::schedule::*;
use proptest::prelude::*;

fn steps() -> impl Strategy<Value = u64> {
    prop_oneof![
        1u64..1_000,
        1u64..=1_000_000_000,
        Just(u64::MAX),
        any::<u64>()
    ]
    .prop_map(|s| s.max(1))
}

fn milestones(strict: bool) -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(prop_oneof![0u64..200, 0u64..=2_000_000_000], 0..5).prop_map(
        move |mut v| {
            v.sort_unstable();
            if strict {
                v.dedup();
                v.retain(|&m| m >= 1);
            }
            v
        },
    )
}

/// Log-uniform in [10^lo, 10^hi].
fn log_uniform(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
    (lo..=hi).prop_map(|e| 10f64.powf(e))
}

fn gamma() -> impl Strategy<Value = f64> {
    prop_oneof![Just(1.0), log_uniform(-300.0, 0.0), 0.5f64..=1.0]
}

fn factor_open() -> impl Strategy<Value = f64> {
    prop_oneof![Just(1.0), log_uniform(-300.0, 0.0)]
}

fn factor_closed() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(1.0), 0.0f64..=1.0]
}

fn non_negative() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), log_uniform(-300.0, 300.0)]
}

fn anneal() -> impl Strategy<Value = AnnealStrategy> {
    prop_oneof![Just(AnnealStrategy::Cos), Just(AnnealStrategy::Linear)]
}

fn cyclic_mode() -> impl Strategy<Value = CyclicMode> {
    prop_oneof![
        Just(CyclicMode::Triangular),
        Just(CyclicMode::Triangular2),
        Just(CyclicMode::ExpRange)
    ]
}

/// Leaf specs with arguments in their documented ranges.
fn valid_leaf() -> BoxedStrategy<ScheduleSpec> {
    prop_oneof![
        Just(ScheduleSpec::Constant),
        Just(ScheduleSpec::InvSqrt),
        prop_oneof![Just(f64::MIN_POSITIVE), log_uniform(-307.0, 300.0)]
            .prop_map(|mu| ScheduleSpec::StronglyConvex(StronglyConvex { mu })),
        gamma().prop_map(|gamma| ScheduleSpec::Exponential(Exponential { gamma })),
        (steps(), gamma())
            .prop_map(|(step_size, gamma)| ScheduleSpec::StepLR(StepLR { step_size, gamma })),
        (milestones(false), gamma()).prop_map(|(milestones, gamma)| {
            ScheduleSpec::MultiStepLR(MultiStepLR { milestones, gamma })
        }),
        gamma().prop_map(|gamma| ScheduleSpec::ExponentialLR(ExponentialLR { gamma })),
        (steps(), non_negative()).prop_map(|(t_max, eta_min)| {
            ScheduleSpec::CosineAnnealingLR(CosineAnnealingLR { t_max, eta_min })
        }),
        (factor_open(), factor_closed(), steps()).prop_map(
            |(start_factor, end_factor, total_iters)| {
                ScheduleSpec::LinearLR(LinearLR {
                    start_factor,
                    end_factor,
                    total_iters,
                })
            }
        ),
        (steps(), non_negative()).prop_map(|(total_iters, power)| {
            ScheduleSpec::PolynomialLR(PolynomialLR { total_iters, power })
        }),
        (
            log_uniform(-10.0, 10.0),
            steps().prop_map(|t| t.max(2)),
            0.01f64..=0.99,
            anneal(),
            log_uniform(-3.0, 6.0),
            log_uniform(-3.0, 8.0),
            any::<bool>()
        )
            .prop_map(
                |(max_lr, total_steps, u, anneal_strategy, div, final_div, three)| {
                    // pct_start inside the range where every phase holds a step: the warm-up
                    // ends after step 0 (pct_start·T > 1) and the last phase is not empty
                    // (pct_start < 1; 2·pct_start·T − 2 < T − 1 with three phases)
                    let t = total_steps as f64;
                    let hi = if three { (t + 1.0) / (2.0 * t) } else { 1.0 };
                    let lo = 1.0 / t;
                    ScheduleSpec::OneCycleLR(OneCycleLR {
                        max_lr,
                        total_steps,
                        pct_start: lo + (hi - lo) * u,
                        anneal_strategy,
                        div_factor: div,
                        final_div_factor: final_div,
                        three_phase: three,
                    })
                }
            ),
        (steps(), prop_oneof![1u64..4, steps()], non_negative()).prop_map(
            |(t_0, t_mult, eta_min)| {
                ScheduleSpec::CosineAnnealingWarmRestarts(CosineAnnealingWarmRestarts {
                    t_0,
                    t_mult,
                    eta_min,
                })
            }
        ),
        (factor_closed(), steps()).prop_map(|(factor, total_iters)| ScheduleSpec::ConstantLR(
            ConstantLR {
                factor,
                total_iters
            }
        )),
        gamma().prop_map(|factor| ScheduleSpec::MultiplicativeLR(MultiplicativeLR { factor })),
        (
            non_negative(),
            non_negative(),
            steps(),
            prop::option::of(prop_oneof![Just(0u64), steps()]),
            cyclic_mode(),
            gamma()
        )
            .prop_map(
                |(base_lr, max_lr, step_size_up, step_size_down, mode, gamma)| {
                    ScheduleSpec::CyclicLR(CyclicLR {
                        base_lr,
                        max_lr,
                        step_size_up,
                        step_size_down,
                        mode,
                        gamma,
                        cycle_momentum: false,
                    })
                }
            ),
        (
            any::<bool>(),
            prop_oneof![Just(0.0), 0.0f64..1.0],
            0u64..4,
            non_negative(),
            any::<bool>(),
            0u64..3,
            non_negative(),
            non_negative()
        )
            .prop_map(
                |(max, factor, patience, threshold, abs, cooldown, min_lr, eps)| {
                    ScheduleSpec::ReduceLROnPlateau(ReduceLROnPlateau {
                        mode: if max {
                            PlateauMode::Max
                        } else {
                            PlateauMode::Min
                        },
                        factor,
                        patience,
                        threshold,
                        threshold_mode: if abs {
                            ThresholdMode::Abs
                        } else {
                            ThresholdMode::Rel
                        },
                        cooldown,
                        min_lr,
                        eps,
                    })
                }
            ),
    ]
    .boxed()
}

/// Valid specs, nested up to three levels in Warmup / Sequential.
fn valid_spec() -> impl Strategy<Value = ScheduleSpec> {
    valid_leaf().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (
                prop_oneof![0u64..100, any::<u64>()],
                factor_closed(),
                inner.clone()
            )
                .prop_map(|(warmup_steps, start_factor, then)| {
                    ScheduleSpec::Warmup(Warmup {
                        warmup_steps,
                        start_factor,
                        then: Box::new(then),
                    })
                }),
            (prop::collection::vec(inner.clone(), 1..4), milestones(true)).prop_map(
                |(schedules, mut milestones)| {
                    // len(milestones) = len(schedules) − 1, strictly increasing, ≥ 1.
                    milestones.truncate(schedules.len() - 1);
                    let mut next = milestones.last().copied().unwrap_or(0);
                    while milestones.len() < schedules.len() - 1 {
                        next += 7;
                        milestones.push(next);
                    }
                    ScheduleSpec::Sequential(Sequential {
                        schedules,
                        milestones,
                    })
                }
            ),
            prop::collection::vec(inner, 1..4).prop_map(|schedulers| {
                ScheduleSpec::ChainedScheduler(ChainedScheduler { schedulers })
            }),
        ]
    })
}

/// Arbitrary floats, most of them outside some argument's range.
fn wild() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        Just(-1.0),
        Just(1.0),
        Just(1.5),
        Just(1e-310),
        Just(f64::MIN_POSITIVE),
        Just(f64::MAX),
        any::<f64>(),
        -2.0f64..2.0,
    ]
}

fn wild_u64() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), Just(1), Just(u64::MAX), any::<u64>(), 0u64..10]
}

/// Leaf specs with arbitrary arguments.
fn wild_leaf() -> BoxedStrategy<ScheduleSpec> {
    let ms = || prop::collection::vec(wild_u64(), 0..4);
    prop_oneof![
        wild().prop_map(|mu| ScheduleSpec::StronglyConvex(StronglyConvex { mu })),
        wild().prop_map(|gamma| ScheduleSpec::Exponential(Exponential { gamma })),
        (wild_u64(), wild())
            .prop_map(|(step_size, gamma)| ScheduleSpec::StepLR(StepLR { step_size, gamma })),
        (ms(), wild()).prop_map(|(milestones, gamma)| {
            ScheduleSpec::MultiStepLR(MultiStepLR { milestones, gamma })
        }),
        wild().prop_map(|gamma| ScheduleSpec::ExponentialLR(ExponentialLR { gamma })),
        (wild_u64(), wild()).prop_map(|(t_max, eta_min)| {
            ScheduleSpec::CosineAnnealingLR(CosineAnnealingLR { t_max, eta_min })
        }),
        (wild(), wild(), wild_u64()).prop_map(|(start_factor, end_factor, total_iters)| {
            ScheduleSpec::LinearLR(LinearLR {
                start_factor,
                end_factor,
                total_iters,
            })
        }),
        (wild_u64(), wild()).prop_map(|(total_iters, power)| {
            ScheduleSpec::PolynomialLR(PolynomialLR { total_iters, power })
        }),
        (
            wild(),
            wild_u64(),
            wild(),
            anneal(),
            wild(),
            wild(),
            any::<bool>()
        )
            .prop_map(
                |(max_lr, total_steps, pct_start, anneal_strategy, div, final_div, three)| {
                    ScheduleSpec::OneCycleLR(OneCycleLR {
                        max_lr,
                        total_steps,
                        pct_start,
                        anneal_strategy,
                        div_factor: div,
                        final_div_factor: final_div,
                        three_phase: three,
                    })
                }
            ),
        (wild_u64(), wild_u64(), wild()).prop_map(|(t_0, t_mult, eta_min)| {
            ScheduleSpec::CosineAnnealingWarmRestarts(CosineAnnealingWarmRestarts {
                t_0,
                t_mult,
                eta_min,
            })
        }),
        (wild(), wild_u64()).prop_map(|(factor, total_iters)| {
            ScheduleSpec::ConstantLR(ConstantLR {
                factor,
                total_iters,
            })
        }),
        wild().prop_map(|factor| ScheduleSpec::MultiplicativeLR(MultiplicativeLR { factor })),
        (
            wild(),
            wild(),
            wild_u64(),
            prop::option::of(wild_u64()),
            cyclic_mode(),
            wild(),
            any::<bool>()
        )
            .prop_map(
                |(base_lr, max_lr, step_size_up, step_size_down, mode, gamma, cycle_momentum)| {
                    ScheduleSpec::CyclicLR(CyclicLR {
                        base_lr,
                        max_lr,
                        step_size_up,
                        step_size_down,
                        mode,
                        gamma,
                        cycle_momentum,
                    })
                }
            ),
        (wild(), wild_u64(), wild(), wild_u64(), wild(), wild()).prop_map(
            |(factor, patience, threshold, cooldown, min_lr, eps)| {
                ScheduleSpec::ReduceLROnPlateau(ReduceLROnPlateau {
                    factor,
                    patience,
                    threshold,
                    cooldown,
                    min_lr,
                    eps,
                    ..Default::default()
                })
            }
        ),
    ]
    .boxed()
}

fn wild_spec() -> impl Strategy<Value = ScheduleSpec> {
    wild_leaf().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            (wild_u64(), wild(), inner.clone()).prop_map(|(warmup_steps, start_factor, then)| {
                ScheduleSpec::Warmup(Warmup {
                    warmup_steps,
                    start_factor,
                    then: Box::new(then),
                })
            }),
            (
                prop::collection::vec(inner.clone(), 0..4),
                prop::collection::vec(wild_u64(), 0..4)
            )
                .prop_map(|(schedules, milestones)| {
                    ScheduleSpec::Sequential(Sequential {
                        schedules,
                        milestones,
                    })
                }),
            prop::collection::vec(inner, 0..4).prop_map(|schedulers| {
                ScheduleSpec::ChainedScheduler(ChainedScheduler { schedulers })
            }),
        ]
    })
}

fn base_lr() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(1.0),
        0.0f64..10.0,
        log_uniform(-300.0, 300.0)
    ]
}

/// Steps to check: random ones up to 10⁹, and the extremes.
fn ks() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(
        prop_oneof![
            0u64..100,
            0u64..=1_000_000_000,
            999_999_990u64..=1_000_000_000
        ],
        16,
    )
    .prop_map(|mut v| {
        v.extend([0, 1, 1_000_000_000, u64::MAX]);
        v
    })
}

fn check_all(schedule: &dyn Schedule, base: f64, ks: &[u64]) -> Result<(), TestCaseError> {
    for &k in ks {
        let lr = schedule.lr(base, k);
        prop_assert!(
            lr.is_finite() && lr >= 0.0,
            "lr({base}, {k}) = {lr} for {schedule:?}"
        );
    }
    Ok(())
}

/// Metrics a training run may report: ordinary values, plateaus, NaN and ±∞.
fn metrics() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(
        prop_oneof![
            4 => -10.0f64..10.0,
            2 => Just(1.0),
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
        ],
        0..30,
    )
}

/// Feeds `metrics` (after steps 0, 1, ...) and checks the lrs after each; then that the state,
/// through JSON, gives a fresh build of the same spec the same lrs.
fn check_observed(
    spec: &ScheduleSpec,
    base: f64,
    metrics: &[f64],
    ks: &[u64],
) -> Result<(), TestCaseError> {
    let Ok(mut schedule) = spec.build() else {
        return Ok(());
    };
    for (k, &m) in metrics.iter().enumerate() {
        schedule.observe(k as u64, m);
        check_all(schedule.as_ref(), base, &[k as u64 + 1])?;
    }
    check_all(schedule.as_ref(), base, ks)?;
    let json = serde_json::to_string(&schedule.state()).expect("state serializes");
    let mut again = spec.build().expect("built once already");
    again
        .load_state(&serde_json::from_str(&json).expect("state parses"))
        .expect("state loads into the same spec");
    for &k in ks {
        prop_assert_eq!(again.lr(base, k).to_bits(), schedule.lr(base, k).to_bits());
    }
    if !schedule.is_metric_driven() {
        prop_assert!(schedule.state().parts.is_empty());
    }
    Ok(())
}

proptest! {
    #[test]
    fn valid_specs_build_and_give_finite_non_negative_lrs(
        spec in valid_spec(), base in base_lr(), ks in ks()
    ) {
        let schedule = spec.build();
        prop_assert!(schedule.is_ok(), "{spec:?}: {:?}", schedule.err());
        if let Ok(schedule) = schedule {
            // 1e300 · (factors ≤ 1) stays finite; OneCycle and StronglyConvex ignore `base`.
            check_all(schedule.as_ref(), base, &ks)?;
        }
    }

    #[test]
    fn arbitrary_specs_are_rejected_or_give_finite_non_negative_lrs(
        spec in wild_spec(), base in base_lr(), ks in ks()
    ) {
        if let Ok(schedule) = spec.build() {
            check_all(schedule.as_ref(), base, &ks)?;
        }
    }

    #[test]
    fn observed_metrics_keep_lrs_finite_and_state_round_trips(
        spec in valid_spec(), base in base_lr(), metrics in metrics(), ks in ks()
    ) {
        check_observed(&spec, base, &metrics, &ks)?;
    }

    #[test]
    fn arbitrary_specs_under_metrics_are_rejected_or_behave(
        spec in wild_spec(), base in base_lr(), metrics in metrics(), ks in ks()
    ) {
        check_observed(&spec, base, &metrics, &ks)?;
    }
}
