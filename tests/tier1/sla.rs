use std::collections::BTreeMap;
use std::time::Duration;

use tiered::perf::Sample;
use tiered::sla::{evaluate, percentile, stats, Level, SlaSpec};

fn samples(op: &str, ms: &[f64]) -> Vec<Sample> {
    ms.iter()
        .map(|&ms| Sample {
            op: op.into(),
            ms,
            error: false,
        })
        .collect()
}

fn range(n: usize) -> Vec<f64> {
    (1..=n).map(|i| i as f64).collect()
}

#[tiered::test(tier = 1)]
fn nearest_rank_percentiles_on_known_inputs() {
    assert_eq!(percentile(&[], 95.0), None);
    assert_eq!(percentile(&[7.0], 50.0), Some(7.0));
    assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
    let hundred = range(100);
    assert_eq!(percentile(&hundred, 50.0), Some(50.0));
    assert_eq!(percentile(&hundred, 95.0), Some(95.0));
    assert_eq!(percentile(&hundred, 99.0), Some(99.0));
    assert_eq!(percentile(&hundred, 100.0), Some(100.0));
    // rank = ceil(0.95 * 20) = 19
    assert_eq!(percentile(&range(20), 95.0), Some(19.0));
}

#[tiered::test(tier = 1)]
fn below_twenty_samples_the_tail_is_the_maximum() {
    let s19 = &stats(&samples("q", &range(19)))[0];
    assert_eq!(
        (s19.p50_ms, s19.p95_ms, s19.p99_ms, s19.max_ms),
        (10.0, 19.0, 19.0, 19.0)
    );
    let s20 = &stats(&samples("q", &range(20)))[0];
    assert_eq!((s20.p95_ms, s20.p99_ms, s20.max_ms), (19.0, 20.0, 20.0));
    let s1 = &stats(&samples("q", &[3.0]))[0];
    assert_eq!(
        (s1.count, s1.min_ms, s1.mean_ms, s1.p95_ms),
        (1, 3.0, 3.0, 3.0)
    );
    assert!(stats(&[]).is_empty());
    let s100 = &stats(&samples("q", &range(100)))[0];
    assert_eq!((s100.p95_ms, s100.p99_ms, s100.mean_ms), (95.0, 99.0, 50.5));
}

#[tiered::test(tier = 1)]
fn levels_follow_the_alert_thresholds() {
    assert_eq!(Level::of(79.0, 100.0), Level::Ok);
    assert_eq!(Level::of(80.0, 100.0), Level::Warning);
    assert_eq!(Level::of(100.0, 100.0), Level::Critical);
    assert_eq!(Level::of(119.0, 100.0), Level::Critical);
    assert_eq!(Level::of(120.0, 100.0), Level::Emergency);
}

#[tiered::test(tier = 1)]
fn a_configured_sla_without_measurements_is_not_met() {
    let configured = BTreeMap::from([(
        "search_operation".to_string(),
        SlaSpec {
            p95: Some(Duration::from_millis(300)),
            ..SlaSpec::default()
        },
    )]);
    let r = evaluate(&[], &[], &configured, &[]);
    assert_eq!(r.len(), 1);
    assert!(!r[0].met);
    assert_eq!(r[0].level, Level::NotMeasured);
    assert_eq!(r[0].source, "config");
}

#[tiered::test(tier = 1)]
fn defaults_apply_only_to_measured_operations() {
    let st = stats(&samples("database_query", &[100.0, 450.0]));
    let r = evaluate(&st, &[], &BTreeMap::new(), &[]);
    assert_eq!(r.len(), 1, "only database_query was measured");
    assert_eq!(r[0].operation, "database_query");
    assert_eq!(r[0].threshold_ms, Some(500.0));
    assert_eq!(r[0].level, Level::Warning, "450 of 500 ms is 90 %");
    assert!(r[0].met);
    let slow = stats(&samples("database_query", &[700.0]));
    let r = evaluate(&slow, &[], &BTreeMap::new(), &[]);
    assert!(!r[0].met);
    assert_eq!(r[0].level, Level::Emergency);
    assert_eq!(r[0].breaches, ["p95 700.0ms exceeds 500.0ms"]);
}

#[tiered::test(tier = 1)]
fn error_rate_and_p99_are_judged() {
    let mut s = samples("op", &range(20));
    s[0].error = true;
    s[1].error = true;
    let configured = BTreeMap::from([(
        "op".to_string(),
        SlaSpec {
            p99: Some(Duration::from_millis(25)),
            max_error_rate: Some(0.05),
            ..SlaSpec::default()
        },
    )]);
    let r = evaluate(&stats(&s), &[], &configured, &[]);
    assert_eq!(r[0].threshold_on.as_deref(), Some("p99"));
    assert!(!r[0].met, "10% errors exceed 5%");
    assert_eq!(r[0].breaches, ["error rate 0.100 exceeds 0.050"]);
}

#[tiered::test(tier = 1)]
fn sla_config_accepts_a_duration_or_a_table_and_rejects_nonsense() {
    let path = std::path::Path::new("t.toml");
    let c = tiered::config::Config::parse(
        "[sla]\ndatabase_query = \"500ms\"\nload = { p95 = \"1s\", p99 = \"2s\", max_error_rate = 0.1, min_throughput = 50 }\n",
        path,
    )
    .unwrap();
    assert_eq!(
        c.sla["database_query"].p95,
        Some(Duration::from_millis(500))
    );
    assert_eq!(c.sla["load"].min_throughput, Some(50.0));
    let e = tiered::config::Config::parse("[sla]\nq = \"5 parsecs\"\n", path)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("t.toml:2:5: unknown unit `parsecs`"), "{e}");
    assert!(e.contains("key `sla.q`"), "{e}");
    let e = tiered::config::Config::parse("[sla]\nq = { p90 = \"1s\" }\n", path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown SLA key `p90`"), "{e}");
    let e = tiered::config::Config::parse("[sla]\nq = { max_error_rate = 3 }\n", path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("a fraction between 0 and 1"), "{e}");
}

#[tiered::test(tier = 1)]
fn perf_records_durations_results_and_failures() {
    let recorder = tiered::perf::Recorder::default();
    let perf = tiered::Perf::new(recorder.clone());
    let ok: Result<u32, String> = perf.measure_sync("op", || Ok(7));
    assert_eq!(ok, Ok(7));
    let bad: Result<u32, String> = perf.measure_sync("op", || Err("no".into()));
    assert!(bad.is_err());
    perf.measure_sync("other", || ());
    let rec = recorder.take();
    assert_eq!(rec.samples.len(), 3);
    assert_eq!(rec.samples.iter().filter(|s| s.error).count(), 1);
    let st = stats(&rec.samples);
    assert_eq!(
        (st[0].operation.as_str(), st[0].count, st[0].errors),
        ("op", 2, 1)
    );
}

#[tiered::test(tier = 1)]
async fn a_load_scenario_is_bounded_and_counts_throughput_and_errors() {
    let recorder = tiered::perf::Recorder::default();
    let perf = tiered::Perf::new(recorder.clone());
    let report = tiered::load::Scenario::new("fake_load")
        .ramp(1, 4, Duration::from_millis(20))
        .iterations(200)
        .run(&perf, |i| async move {
            if i % 10 == 0 {
                Err("every tenth fails")
            } else {
                Ok(())
            }
        })
        .await;
    assert_eq!(report.iterations, 200);
    assert_eq!(report.errors, 20);
    assert_eq!(report.error_rate, 0.1);
    assert_eq!(report.users, 4);
    assert!(report.throughput > 0.0);
    let rec = recorder.take();
    assert_eq!(rec.samples.len(), 200);
    assert_eq!(rec.load.len(), 1);
    let timed = tiered::load::Scenario::new("timed")
        .users(2)
        .duration(Duration::from_millis(50))
        .run(&perf, |_| async { tokio::task::yield_now().await })
        .await;
    assert!(timed.duration_ms < 1000.0, "it stops by itself: {timed:?}");
}
