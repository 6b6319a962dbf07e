//! Attacks on the sliding stop limits (`rate_limit`): many instances deciding stops on one service
//! or cluster at once, instances whose clocks disagree, the window's boundary second, crafted,
//! corrupt and legacy counter items, limits changed between runs, a crash between the counted
//! decision and StopTask, forged service claims, and what a rate-limited decision costs. Every stop
//! is read back from ECS.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use vigil_e2e::{ACCOUNT, Pipeline, alerts, s, with_id};
use vigil_remediate::{Clock, Remediate, RemediationMode};
use vigil_testkit::TABLE_NAME;

mod blind;

use blind::NoStops;

const SHELL: &str = "Terminal shell in container";
/// SQS's `maxReceiveCount` in the template: a message failing this often is dead-lettered.
const MAX_RECEIVES: usize = 5;

type Item = HashMap<String, AttributeValue>;
/// A crafted counter item: what is wrong with it, its `pk` and `sk`, its other attributes.
type Malformed<'a> = (
    &'a str,
    &'a str,
    AttributeValue,
    Vec<(&'a str, AttributeValue)>,
);

/// A clock stopped at `t` (Unix epoch seconds).
fn clock(t: i64) -> Clock {
    Arc::new(move || chrono::DateTime::from_timestamp(t, 0).unwrap())
}

/// Now, to the second.
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An enforcing instance with these stop limits, on the wall clock or at `at`.
async fn instance(
    p: &Pipeline,
    at: Option<i64>,
    service: u32,
    cluster: u32,
    window: u64,
) -> Remediate {
    let r = p
        .remediate(RemediationMode::Enforce, |s| {
            s.guardrails.stop_limit_per_service = service;
            s.guardrails.stop_limit_per_cluster = cluster;
            s.guardrails.stop_limit_window_seconds = window;
        })
        .await;
    match at {
        Some(t) => r.with_clock(clock(t)),
        None => r,
    }
}

/// Delivers `body` to `r` and expects it taken (not returned to the queue).
async fn taken(r: &Remediate, body: &str) {
    assert_eq!(
        r.process(&[body.to_owned()], Some(ACCOUNT)).await,
        Vec::<usize>::new(),
        "message returned"
    );
}

/// Each instance with its bodies, all at once; returns the bodies SQS would deliver again.
async fn at_once(batches: Vec<(Arc<Remediate>, Vec<String>)>) -> Vec<String> {
    let mut set = tokio::task::JoinSet::new();
    for (r, bodies) in batches {
        set.spawn(async move {
            let failed = r.process(&bodies, Some(ACCOUNT)).await;
            failed
                .into_iter()
                .map(|i| bodies[i].clone())
                .collect::<Vec<_>>()
        });
    }
    let mut again = Vec::new();
    while let Some(done) = set.join_next().await {
        again.extend(done.unwrap());
    }
    again
}

/// The first receive as `batches`, then every returned message again, spread over `pool`, all at
/// once, until none is returned or SQS would dead-letter them. Returns how many receives it took.
async fn until_settled(
    pool: &[Arc<Remediate>],
    batches: Vec<(Arc<Remediate>, Vec<String>)>,
) -> usize {
    let mut pending = at_once(batches).await;
    let mut receives = 1;
    while !pending.is_empty() {
        assert!(
            receives < MAX_RECEIVES,
            "{} message(s) would be dead-lettered after {receives} receives",
            pending.len()
        );
        receives += 1;
        let again = pending
            .into_iter()
            .enumerate()
            .map(|(i, b)| (pool[i % pool.len()].clone(), vec![b]))
            .collect();
        pending = at_once(again).await;
    }
    receives
}

/// The counter item of `scope` (`service#<cluster>/<name>` or `cluster#<arn>`), if any.
async fn counter(p: &Pipeline, scope: &str) -> Option<Item> {
    let pk = format!("RATE#{scope}");
    p.items(&pk)
        .await
        .into_iter()
        .find(|i| s(i, "pk") == pk && s(i, "sk") == "STOPS")
}

/// The stop times a counter item lists; empty without one.
async fn stops_at(p: &Pipeline, scope: &str) -> Vec<i64> {
    counter(p, scope).await.map_or_else(Vec::new, |c| {
        let mut at: Vec<i64> = c["stops_at"]
            .as_l()
            .unwrap()
            .iter()
            .map(|v| v.as_n().unwrap().parse().unwrap())
            .collect();
        at.sort_unstable();
        at
    })
}

fn number(item: &Item, k: &str) -> i64 {
    item[k].as_n().unwrap().parse().unwrap()
}

/// `(outcome, phase)` of the enforced record of `task`, empty strings without one.
async fn outcome(p: &Pipeline, task: &str) -> (String, String) {
    p.enforced_record(task)
        .await
        .map_or_else(Default::default, |r| {
            (s(&r, "outcome").to_owned(), s(&r, "phase").to_owned())
        })
}

fn reason(record: &Item) -> String {
    let d: Value = serde_json::from_str(s(record, "decision")).unwrap_or_default();
    d["reason"].as_str().unwrap_or_default().to_owned()
}

async fn put_item(p: &Pipeline, item: Vec<(&str, AttributeValue)>) {
    let mut req = dynamodb(p).await.put_item().table_name(TABLE_NAME);
    for (k, v) in item {
        req = req.item(k, v);
    }
    req.send().await.unwrap();
}

async fn delete_item(p: &Pipeline, pk: &str, sk: &str) {
    dynamodb(p)
        .await
        .delete_item()
        .table_name(TABLE_NAME)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .send()
        .await
        .unwrap();
}

async fn dynamodb(p: &Pipeline) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&p.emulator.sdk_config().await)
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn list(times: &[i64]) -> AttributeValue {
    AttributeValue::L(times.iter().map(n).collect())
}

/// Every task has one enforced record, decided (`complete`), none left `acting` or claimed;
/// returns the outcomes, sorted.
async fn all_decided(p: &Pipeline, tasks: &[String]) -> Vec<String> {
    let mut outcomes = Vec::new();
    for t in tasks {
        let (outcome, phase) = outcome(p, t).await;
        assert_eq!(phase, "complete", "{t}: {outcome} left {phase}");
        outcomes.push(outcome);
    }
    outcomes.sort();
    outcomes
}

/// Twelve instances at once on one service of twelve tasks (limit 3 an hour), every finding
/// delivered to two of them at the same moment; returned messages go round again. ECS shows exactly
/// 3 stopped, StopTask was called 3 times, every finding is decided (`act` or `rate_limited`) and
/// complete, and both counters list exactly the 3 stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_instances_racing_on_one_service_stop_exactly_its_limit_each_task_once() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 12).await;
    let events = alerts(&p, &tasks, SHELL, "race").await;
    let mut pool = Vec::new();
    for _ in 0..12 {
        pool.push(Arc::new(instance(&p, None, 3, 10, 3600).await));
    }
    let batches = (0..12)
        .map(|i| {
            (
                pool[i].clone(),
                vec![events[i].clone(), events[(i + 1) % 12].clone()],
            )
        })
        .collect();
    until_settled(&pool, batches).await;

    assert_eq!(p.stopped(&tasks).await, 3);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 3);
    let outcomes = all_decided(&p, &tasks).await;
    assert_eq!(outcomes.iter().filter(|o| *o == "act").count(), 3);
    assert_eq!(
        outcomes.iter().filter(|o| *o == "rate_limited").count(),
        9,
        "{outcomes:?}"
    );
    let service = format!("service#{}/shop", p.cluster);
    assert_eq!(stops_at(&p, &service).await.len(), 3);
    assert_eq!(number(&counter(&p, &service).await.unwrap(), "version"), 3);
    assert_eq!(
        stops_at(&p, &format!("cluster#{}", p.cluster)).await.len(),
        3
    );
    assert_eq!(
        p.executed.drain().await.len(),
        12,
        "each finding announced once"
    );
}

/// Eleven instances at once, one finding each, on three services of three tasks and two tasks of no
/// service, under a cluster limit of 4: exactly 4 stops in the cluster (ECS), none over a service's
/// own limit or its `min_healthy_tasks`, the tasks of no service counted on the cluster alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_stops_across_services_hold_the_cluster_limit() {
    let p = Pipeline::start().await;
    let mut tasks = Vec::new();
    for name in ["a", "b", "c"] {
        tasks.extend(p.service(name, 3).await);
    }
    tasks.extend(
        p.emulator
            .run_tasks(&p.cluster, &p.task_definition, 2, &[])
            .await,
    );
    let events = alerts(&p, &tasks, SHELL, "cluster-race").await;
    let mut pool = Vec::new();
    for _ in 0..events.len() {
        pool.push(Arc::new(instance(&p, None, 3, 4, 3600).await));
    }
    let batches = pool
        .iter()
        .cloned()
        .zip(events.iter().map(|e| vec![e.clone()]))
        .collect();
    until_settled(&pool, batches).await;

    assert_eq!(p.stopped(&tasks).await, 4);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 4);
    let outcomes = all_decided(&p, &tasks).await;
    assert_eq!(outcomes.iter().filter(|o| *o == "act").count(), 4);
    assert_eq!(
        stops_at(&p, &format!("cluster#{}", p.cluster)).await.len(),
        4
    );
    let mut on_services = 0;
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        let counted = stops_at(&p, &format!("service#{}/{name}", p.cluster))
            .await
            .len();
        assert_eq!(counted, p.stopped(&tasks[i * 3..i * 3 + 3]).await);
        assert!(counted <= 2, "min_healthy_tasks 1 of 3");
        on_services += counted;
    }
    assert_eq!(
        on_services + p.stopped(&tasks[9..]).await,
        4,
        "a task of no service counts on its cluster alone"
    );
}

/// Contention alone must not dead-letter a message: ten instances at once, one finding each on ten
/// services of one cluster, every stop within the limits, so every one of them races on the
/// cluster's counter. Each is decided and stopped within SQS's `maxReceiveCount`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contention_on_the_cluster_counter_never_dead_letters_a_message() {
    let p = Pipeline::start().await;
    let mut targets = Vec::new();
    for i in 0..10 {
        targets.push(p.service(&format!("s{i}"), 2).await.remove(0));
    }
    let events = alerts(&p, &targets, SHELL, "contend").await;
    let mut pool = Vec::new();
    for _ in 0..10 {
        pool.push(Arc::new(instance(&p, None, 3, 100, 3600).await));
    }
    let batches = pool
        .iter()
        .cloned()
        .zip(events.iter().map(|e| vec![e.clone()]))
        .collect();
    let receives = until_settled(&pool, batches).await;
    assert!(receives < MAX_RECEIVES, "{receives} receives");
    assert_eq!(p.stopped(&targets).await, 10);
    assert_eq!(all_decided(&p, &targets).await, vec!["act"; 10]);
    assert_eq!(
        stops_at(&p, &format!("cluster#{}", p.cluster)).await.len(),
        10
    );
}

/// A stop at `t` counts while `now - window < t`: at `t + window - 1` the next stop is refused, at
/// `t + window` it is made. An instance whose clock is behind counts the stop dated in its future.
#[tokio::test]
async fn a_stop_counts_until_exactly_one_window_after_it_and_in_a_late_clocks_future() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 4).await;
    let events = alerts(&p, &tasks[..3], SHELL, "edge").await;
    let t = now();
    taken(&instance(&p, Some(t), 1, 10, 60).await, &events[0]).await;
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");

    // Half a minute behind: the stop is in this instance's future, and it counts.
    taken(&instance(&p, Some(t - 30), 1, 10, 60).await, &events[2]).await;
    assert_eq!(outcome(&p, &tasks[2]).await.0, "rate_limited");
    // The last second of the window.
    taken(&instance(&p, Some(t + 59), 1, 10, 60).await, &events[1]).await;
    assert_eq!(outcome(&p, &tasks[1]).await.0, "rate_limited");
    assert_eq!(p.stopped(&tasks).await, 1);
    // One window after the stop, to the second: made.
    let again = with_id(&events[1], "edge-again");
    taken(&instance(&p, Some(t + 60), 1, 10, 60).await, &again).await;
    assert_eq!(outcome(&p, &tasks[1]).await.0, "act");
    assert_eq!(p.task_status(&tasks[1]).await.1, "STOPPED");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 2);
    assert_eq!(
        stops_at(&p, &format!("service#{}/shop", p.cluster)).await,
        [t + 60]
    );
}

/// Instances whose clocks disagree share one list of stops. One whose clock runs ahead sees the
/// others' recent stops as older than they are; it must not erase them from the list, or every
/// instance with a right clock would let stops through that its own clock still counts.
#[tokio::test]
async fn an_instance_with_its_clock_ahead_does_not_erase_the_stops_others_still_count() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 6).await;
    let events = alerts(&p, &tasks[..5], SHELL, "skew").await;
    let t = now() - 300;
    let service = format!("service#{}/shop", p.cluster);
    // Three stops by instances with right clocks, 100 s apart: the limit (3 in 600 s) is reached.
    for (i, at) in [t, t + 100, t + 200].into_iter().enumerate() {
        taken(&instance(&p, Some(at), 3, 10, 600).await, &events[i]).await;
    }
    assert_eq!(p.stopped(&tasks).await, 3);
    // An instance 500 s ahead: by its clock two of the three left the window. What it decides is
    // its clock's (no instance can tell a clock that is ahead), but the list keeps the newest
    // three stops, the one at t + 100 with them: out of this instance's window, in everyone
    // else's.
    taken(
        &instance(&p, Some(t + 200 + 500), 3, 10, 600).await,
        &events[3],
    )
    .await;
    assert_eq!(outcome(&p, &tasks[3]).await.0, "act");
    assert_eq!(
        stops_at(&p, &service).await,
        [t + 100, t + 200, t + 700],
        "a stop still in the window erased"
    );
    // A right clock, a second after the third stop: three stops in its window, so no fourth.
    let stopped_before = p.stopped(&tasks).await;
    taken(&instance(&p, Some(t + 201), 3, 10, 600).await, &events[4]).await;
    assert_eq!(outcome(&p, &tasks[4]).await.0, "rate_limited");
    assert_eq!(p.stopped(&tasks).await, stopped_before);
}

/// A stop dated far in the future (an instance with a clock a day ahead, or a crafted item) keeps
/// its place until a window after its date: nothing is stopped through it, nothing panics, and the
/// item lasts as long as it counts.
#[tokio::test]
async fn a_stop_dated_in_the_future_holds_its_place_until_a_window_after_it() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = alerts(&p, &tasks[..1], SHELL, "future").await;
    let pk = format!("RATE#service#{}/shop", p.cluster);
    let future = now() + 86_400;
    put_item(
        &p,
        vec![
            ("pk", AttributeValue::S(pk.clone())),
            ("sk", AttributeValue::S("STOPS".into())),
            ("stops_at", list(&[future])),
            ("version", n(1)),
            ("expires_at", n(future + 3600)),
        ],
    )
    .await;
    taken(&instance(&p, None, 1, 10, 3600).await, &events[0]).await;
    assert_eq!(outcome(&p, &tasks[0]).await.0, "rate_limited");
    assert_eq!(p.stopped(&tasks).await, 0);
    let item = counter(&p, &format!("service#{}/shop", p.cluster))
        .await
        .unwrap();
    assert_eq!(number(&item, "version"), 1, "a refusal writes no counter");
    // Its last second still counts; a window after that date, the slot is free again (the finding
    // is a day old by then: judged fresh anyway, to see the limit alone).
    let late = |t: i64| {
        let p = &p;
        async move {
            p.remediate(RemediationMode::Enforce, |s| {
                s.guardrails.stop_limit_per_service = 1;
                s.guardrails.max_finding_age_seconds = 2 * 86_400;
            })
            .await
            .with_clock(clock(t))
        }
    };
    taken(
        &late(future + 3599).await,
        &with_id(&events[0], "future-edge"),
    )
    .await;
    assert_eq!(outcome(&p, &tasks[0]).await.0, "rate_limited");
    taken(
        &late(future + 3600).await,
        &with_id(&events[0], "future-after"),
    )
    .await;
    assert_eq!(outcome(&p, &tasks[0]).await.0, "act");
    assert_eq!(p.stopped(&tasks).await, 1);
}

/// Counter items Vigil could not have written (a version that is no positive whole number or would
/// overflow, stop times that are no list of whole numbers, fixed-window items from before the window
/// slid without a start or a number of stops) on the service's or the cluster's counter: nothing
/// panics, nothing is stopped, the message goes back to its queue with nothing
/// decided; once the item is repaired, the redelivery stops the task.
#[tokio::test]
async fn malformed_counter_items_neither_panic_nor_let_a_stop_through() {
    let p = Pipeline::start().await;
    let t = now();
    let service_pk = format!("RATE#service#{}/shop", p.cluster);
    let cluster_pk = format!("RATE#cluster#{}", p.cluster);
    let s_ = |v: &str| AttributeValue::S(v.into());
    let stops = || s_("STOPS");
    let window = s_(&format!("WINDOW#{}", t - t.rem_euclid(3600)));
    let cases: Vec<Malformed> = vec![
        (
            "version text",
            &service_pk,
            stops(),
            vec![("version", s_("3")), ("stops_at", list(&[]))],
        ),
        (
            "version zero",
            &service_pk,
            stops(),
            vec![("version", n(0)), ("stops_at", list(&[]))],
        ),
        (
            "version negative",
            &service_pk,
            stops(),
            vec![("version", n(-4)), ("stops_at", list(&[]))],
        ),
        (
            "version fraction",
            &service_pk,
            stops(),
            vec![("version", n("2.5")), ("stops_at", list(&[]))],
        ),
        (
            "version too big",
            &service_pk,
            stops(),
            vec![
                ("version", n("99999999999999999999")),
                ("stops_at", list(&[])),
            ],
        ),
        (
            "version at the top",
            &service_pk,
            stops(),
            vec![("version", n(i64::MAX)), ("stops_at", list(&[]))],
        ),
        (
            "no version",
            &service_pk,
            stops(),
            vec![("stops_at", list(&[t, t, t]))],
        ),
        (
            "times as text",
            &service_pk,
            stops(),
            vec![("version", n(2)), ("stops_at", s_("[1,2]"))],
        ),
        (
            "times as a set",
            &service_pk,
            stops(),
            vec![
                ("version", n(2)),
                ("stops_at", AttributeValue::Ns(vec![t.to_string()])),
            ],
        ),
        (
            "times as texts",
            &service_pk,
            stops(),
            vec![
                ("version", n(2)),
                ("stops_at", AttributeValue::L(vec![s_("1")])),
            ],
        ),
        (
            "fractional time",
            &service_pk,
            stops(),
            vec![
                ("version", n(2)),
                ("stops_at", AttributeValue::L(vec![n("1.5")])),
            ],
        ),
        (
            "null times",
            &cluster_pk,
            stops(),
            vec![("version", n(2)), ("stops_at", AttributeValue::Null(true))],
        ),
        (
            "cluster version text",
            &cluster_pk,
            stops(),
            vec![("version", s_("1"))],
        ),
        (
            "fixed window, stops as text",
            &service_pk,
            window.clone(),
            vec![("stops", s_("3"))],
        ),
        (
            "fixed window, no stops",
            &cluster_pk,
            window.clone(),
            vec![("expires_at", n(t + 3600))],
        ),
        (
            "fixed window, no start",
            &service_pk,
            s_("WINDOW#soon"),
            vec![("stops", n(3))],
        ),
    ];
    let tasks = p.service("shop", cases.len() as i32 + 1).await;
    let events = alerts(&p, &tasks[..cases.len()], SHELL, "malformed").await;
    let r = instance(&p, Some(t), 100, 100, 3600).await;
    for (i, (case, pk, sk, attrs)) in cases.into_iter().enumerate() {
        let mut item = vec![("pk", AttributeValue::S(pk.to_owned())), ("sk", sk.clone())];
        item.extend(attrs);
        put_item(&p, item).await;
        let before = p.emulator.calls("ecs", "StopTask");
        assert_eq!(
            r.process(&[events[i].clone()], Some(ACCOUNT)).await,
            [0],
            "{case}: message kept"
        );
        assert_eq!(p.emulator.calls("ecs", "StopTask"), before, "{case}");
        assert_eq!(p.task_status(&tasks[i]).await.1, "RUNNING", "{case}");
        let (outcome, phase) = outcome(&p, &tasks[i]).await;
        assert!(
            outcome.is_empty() && !["acting", "acted", "complete"].contains(&phase.as_str()),
            "{case}: {outcome} {phase}"
        );
        // Repaired: the redelivery decides and stops.
        delete_item(&p, pk, sk.as_s().unwrap()).await;
        taken(&r, &events[i]).await;
        assert_eq!(p.task_status(&tasks[i]).await.1, "STOPPED", "{case}");
    }
}

/// Counters from before the window slid (`sk = WINDOW#<start>`, `stops`) still count for as long
/// as their stops could be inside the window: a deployment in the middle of a burst must not give
/// every service its limit again.
#[tokio::test]
async fn a_fixed_window_counter_left_from_before_still_counts_its_stops() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 5).await;
    let events = alerts(&p, &tasks[..2], SHELL, "legacy").await;
    let t = now();
    let start = t - t.rem_euclid(3600);
    put_item(
        &p,
        vec![
            (
                "pk",
                AttributeValue::S(format!("RATE#service#{}/shop", p.cluster)),
            ),
            ("sk", AttributeValue::S(format!("WINDOW#{start}"))),
            ("stops", n(3)),
            ("expires_at", n(start + 7200)),
        ],
    )
    .await;
    // Judged fresh however late the clock, to see the limit alone.
    let at = |t: i64| {
        let p = &p;
        async move {
            p.remediate(RemediationMode::Enforce, |s| {
                s.guardrails.max_finding_age_seconds = 10 * 3600;
            })
            .await
            .with_clock(clock(t))
        }
    };
    taken(&at(t).await, &events[0]).await;
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "outcome"), "rate_limited");
    assert!(
        reason(&record).contains("3 stops already"),
        "{}",
        reason(&record)
    );
    assert_eq!(p.stopped(&tasks).await, 0);
    // Its stops may have been as late as the window's last second, `start + 3599`: they count
    // until an hour after that.
    taken(
        &at(start + 3599 + 3599).await,
        &with_id(&events[1], "legacy-last-second"),
    )
    .await;
    assert_eq!(outcome(&p, &tasks[1]).await.0, "rate_limited");
    assert_eq!(p.stopped(&tasks).await, 0);
    taken(
        &at(start + 3599 + 3600).await,
        &with_id(&events[1], "legacy-after"),
    )
    .await;
    assert_eq!(outcome(&p, &tasks[1]).await.0, "act");
    assert_eq!(p.stopped(&tasks).await, 1);
}

/// A limit of 0 stops nothing and writes no counter; a limit lowered below the stops already
/// counted refuses and leaves them as they are; raised again, it stops once more.
#[tokio::test]
async fn a_zero_or_lowered_limit_refuses_and_keeps_the_counted_stops() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 8).await;
    let events = alerts(&p, &tasks[..6], SHELL, "limits").await;
    let service = format!("service#{}/shop", p.cluster);
    let cluster = format!("cluster#{}", p.cluster);
    let t = now();
    taken(&instance(&p, Some(t), 0, 10, 3600).await, &events[0]).await;
    assert_eq!(outcome(&p, &tasks[0]).await.0, "rate_limited");
    taken(&instance(&p, Some(t), 3, 0, 3600).await, &events[1]).await;
    assert_eq!(outcome(&p, &tasks[1]).await.0, "rate_limited");
    assert!(p.items("RATE#").await.is_empty(), "no counter written");
    assert_eq!(p.stopped(&tasks).await, 0);

    for (i, at) in [(2, t), (3, t + 1), (4, t + 2)] {
        taken(&instance(&p, Some(at), 3, 10, 3600).await, &events[i]).await;
    }
    assert_eq!(p.stopped(&tasks).await, 3);
    let before = counter(&p, &service).await.unwrap();
    taken(&instance(&p, Some(t + 3), 2, 10, 3600).await, &events[5]).await;
    assert_eq!(outcome(&p, &tasks[5]).await.0, "rate_limited");
    assert_eq!(counter(&p, &service).await.unwrap(), before, "unchanged");
    assert_eq!(stops_at(&p, &cluster).await.len(), 3);
    let again = with_id(&events[5], "limits-raised");
    taken(&instance(&p, Some(t + 4), 4, 10, 3600).await, &again).await;
    assert_eq!(outcome(&p, &tasks[5]).await.0, "act");
    assert_eq!(p.stopped(&tasks).await, 4);
    assert_eq!(stops_at(&p, &service).await, [t, t + 1, t + 2, t + 4]);
}

/// Findings that claim another service (or none) count where ECS runs the task: they can neither
/// spend another service's stops nor dodge their own service's full counter, and a task of no
/// service claimed into a full service counts on its cluster alone.
#[tokio::test]
async fn forged_service_claims_neither_spend_nor_dodge_a_counter() {
    let p = Pipeline::start().await;
    let shop = p.service("shop", 6).await;
    let pay = p.service("pay", 5).await;
    let lone = p
        .emulator
        .run_tasks(&p.cluster, &p.task_definition, 1, &[])
        .await;
    let claiming = |event: &str, id: &str, service: Value| {
        let mut v: Value = serde_json::from_str(event).unwrap();
        v["id"] = json!(id);
        v["detail"]["enrichment"]["task"]["service_name"] = service.clone();
        if let Some(g) = service.as_str() {
            v["detail"]["enrichment"]["task"]["group"] = json!(format!("service:{g}"));
        }
        v.to_string()
    };
    let on_shop = alerts(&p, &shop[..4], SHELL, "shop").await;
    let r = instance(&p, None, 3, 100, 3600).await;
    // Three shop findings claiming to be pay's: counted on shop.
    for (i, e) in on_shop[..3].iter().enumerate() {
        taken(&r, &claiming(e, &format!("as-pay-{i}"), json!("pay"))).await;
    }
    assert_eq!(p.stopped(&shop).await, 3);
    assert_eq!(
        stops_at(&p, &format!("service#{}/shop", p.cluster))
            .await
            .len(),
        3
    );
    assert!(
        counter(&p, &format!("service#{}/pay", p.cluster))
            .await
            .is_none()
    );
    // A fourth claiming a fresh service, or none: shop is full.
    taken(&r, &claiming(&on_shop[3], "as-fresh", json!("fresh"))).await;
    assert_eq!(outcome(&p, &shop[3]).await.0, "rate_limited");
    taken(&r, &claiming(&on_shop[3], "as-none", Value::Null)).await;
    assert_eq!(outcome(&p, &shop[3]).await.0, "rate_limited");
    assert_eq!(p.stopped(&shop).await, 3);
    // Pay still has its three stops.
    let on_pay = alerts(&p, &pay[..3], SHELL, "pay").await;
    for e in &on_pay {
        taken(&r, e).await;
    }
    assert_eq!(p.stopped(&pay).await, 3);
    // A task of no service claiming full shop: stopped, counted on the cluster alone.
    let on_lone = alerts(&p, &lone, SHELL, "lone").await;
    taken(&r, &claiming(&on_lone[0], "lone-as-shop", json!("shop"))).await;
    assert_eq!(p.task_status(&lone[0]).await.1, "STOPPED");
    assert_eq!(
        stops_at(&p, &format!("service#{}/shop", p.cluster))
            .await
            .len(),
        3
    );
    assert_eq!(
        stops_at(&p, &format!("cluster#{}", p.cluster)).await.len(),
        7
    );
    assert!(
        p.items("RATE#")
            .await
            .iter()
            .all(|i| !s(i, "pk").contains("fresh")),
        "no counter for a claimed service"
    );
}

/// A rate-limited finding delivered again (the same event) decides nothing and writes nothing: no
/// second decision, no counter change, no second announcement. A new arrival inside the window is
/// rate-limited again, still without touching the counter.
#[tokio::test]
async fn a_redelivered_rate_limited_finding_decides_and_counts_nothing_again() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 4).await;
    let events = alerts(&p, &tasks[..2], SHELL, "replay").await;
    let t = now();
    let r = instance(&p, Some(t), 1, 10, 3600).await;
    taken(&r, &events[0]).await;
    taken(&r, &events[1]).await;
    assert_eq!(outcome(&p, &tasks[1]).await.0, "rate_limited");
    let service = format!("service#{}/shop", p.cluster);
    let before = counter(&p, &service).await.unwrap();
    let decided = s(&p.enforced_record(&tasks[1]).await.unwrap(), "decided_at").to_owned();
    assert_eq!(p.executed.drain().await.len(), 2);
    let transactions = p.emulator.calls("dynamodb", "TransactWriteItems");
    for later in [1, 3599] {
        taken(
            &instance(&p, Some(t + later), 1, 10, 3600).await,
            &events[1],
        )
        .await;
    }
    assert_eq!(
        p.emulator.calls("dynamodb", "TransactWriteItems"),
        transactions
    );
    assert_eq!(
        s(&p.enforced_record(&tasks[1]).await.unwrap(), "decided_at"),
        decided
    );
    assert!(p.executed.drain().await.is_empty());
    taken(
        &instance(&p, Some(t + 10), 1, 10, 3600).await,
        &with_id(&events[1], "replay-new"),
    )
    .await;
    assert_eq!(outcome(&p, &tasks[1]).await.0, "rate_limited");
    assert_eq!(counter(&p, &service).await.unwrap(), before);
    assert_eq!(p.stopped(&tasks).await, 1);
}

/// What a rate-limited decision costs: one counter read per counter up to the full one and one
/// transaction (the decision alone, no counter in it); an act reads both counters and writes them
/// with the decision in that one transaction.
#[tokio::test]
async fn a_rate_limited_decision_costs_no_more_than_its_reads_and_one_write() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 6).await;
    let events = alerts(&p, &tasks[..4], SHELL, "cost").await;
    let t = now();
    let r = instance(&p, Some(t), 1, 2, 3600).await;
    let ops = [
        "GetItem",
        "Query",
        "TransactWriteItems",
        "UpdateItem",
        "PutItem",
    ];
    let calls = || {
        ops.iter()
            .map(|o| p.emulator.calls("dynamodb", o))
            .collect::<Vec<u64>>()
    };
    let cost = |before: &[u64], after: &[u64]| -> Vec<u64> {
        before.iter().zip(after).map(|(b, a)| a - b).collect()
    };
    let c0 = calls();
    taken(&r, &events[0]).await;
    let c1 = calls();
    let act = cost(&c0, &c1);
    assert_eq!(outcome(&p, &tasks[0]).await.0, "act");
    // Over the service's limit (the cluster has room).
    taken(&r, &events[1]).await;
    let c2 = calls();
    let over_service = cost(&c1, &c2);
    assert_eq!(outcome(&p, &tasks[1]).await.0, "rate_limited");
    // Over the cluster's limit: another instance, more per service, fills the cluster's two.
    let roomy = instance(&p, Some(t + 1), 5, 2, 3600).await;
    taken(&roomy, &events[2]).await;
    let c3 = calls();
    taken(&roomy, &events[3]).await;
    let c4 = calls();
    let over_cluster = cost(&c3, &c4);
    assert_eq!(outcome(&p, &tasks[3]).await.0, "rate_limited");
    // Both rate-limited decisions: one transaction, the decision alone.
    assert_eq!(over_service[2], 1, "{over_service:?}");
    assert_eq!(over_cluster[2], 1, "{over_cluster:?}");
    // The act reads both counters. The service's is read first: over its limit (a burst on one
    // service, the common case) the cluster's is not read; over the cluster's both are.
    let reads = |c: &[u64]| c[0] + c[1];
    assert_eq!(
        reads(&over_service) + 1,
        reads(&act),
        "{act:?} {over_service:?}"
    );
    assert_eq!(
        reads(&over_cluster),
        reads(&act),
        "{act:?} {over_cluster:?}"
    );
    // Writes: the claim and the completion, and for the act its StopTask response (`acted`).
    assert_eq!(over_service[2..], [1, 2, 0]);
    assert_eq!(over_cluster[2..], [1, 2, 0]);
    assert_eq!(act[2..], [1, 3, 0]);
}

/// An enforcing instance (`playbooks`, `limit` stops per service) whose every StopTask fails: it
/// decides and counts, and its attempt ends before the stop, leaving the record `acting`.
async fn crashing_before_stop(p: &Pipeline, playbooks: &str, limit: u32) -> Remediate {
    let config = p.emulator.sdk_config().await;
    let mut settings = vigil_remediate::RemediateSettings::new(TABLE_NAME, vigil_testkit::BUS_NAME);
    settings.mode = RemediationMode::Enforce;
    settings.guardrails.stop_limit_per_service = limit;
    Remediate::new(
        aws_sdk_ecs::Client::from_conf(
            aws_sdk_ecs::config::Builder::from(&config)
                .interceptor(NoStops)
                .build(),
        ),
        aws_sdk_securityhub::Client::new(&config),
        aws_sdk_dynamodb::Client::new(&config),
        aws_sdk_eventbridge::Client::new(&config),
        vigil_playbook::PlaybookFile::parse(playbooks).unwrap(),
        settings,
    )
}

/// A stop decided and counted whose StopTask failed (the crash between the counted decision and the
/// call) is finished by the redelivery: not decided again, so not refused by its own count (limit
/// 1), not counted twice; a finding on another task of the service in between is rate-limited by
/// it.
#[tokio::test]
async fn a_stop_counted_before_a_crash_is_finished_not_limited_by_its_own_count() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = alerts(&p, &tasks[..2], SHELL, "crash").await;
    let t = now();
    let crashing = crashing_before_stop(&p, vigil_e2e::PLAYBOOKS, 1)
        .await
        .with_clock(clock(t));
    assert_eq!(crashing.process(&events[..1], Some(ACCOUNT)).await, [0]);
    assert_eq!(
        outcome(&p, &tasks[0]).await,
        ("act".into(), "acting".into())
    );
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");
    // Another finding of the service while the first stop is pending: its count is taken.
    taken(&instance(&p, Some(t + 1), 1, 10, 3600).await, &events[1]).await;
    assert_eq!(outcome(&p, &tasks[1]).await.0, "rate_limited");
    // The redelivery finishes the counted stop, later, on another instance.
    taken(&instance(&p, Some(t + 2), 1, 10, 3600).await, &events[0]).await;
    assert_eq!(
        outcome(&p, &tasks[0]).await,
        ("act".into(), "complete".into())
    );
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(p.stopped(&tasks).await, 1);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(
        stops_at(&p, &format!("service#{}/shop", p.cluster)).await,
        [t]
    );
    assert_eq!(stops_at(&p, &format!("cluster#{}", p.cluster)).await, [t]);
    assert_eq!(p.executed.drain().await.len(), 2, "each announced once");
}

/// Two findings about one task (two rules firing on one compromised container), decided at once by
/// two instances: the task is stopped once, and counted once against its service's limit, so the
/// other tasks of the service keep their stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_findings_on_one_task_at_once_stop_and_count_it_once() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 8).await;
    let first = alerts(&p, &tasks[..3], SHELL, "one").await;
    let second = alerts(
        &p,
        &tasks[..3],
        "Terminal shell in container (second rule)",
        "two",
    )
    .await;
    let book = vigil_e2e::playbooks("");
    let mut pool = Vec::new();
    for _ in 0..6 {
        pool.push(Arc::new(
            p.remediate_with(&book, RemediationMode::Enforce, |s| {
                s.guardrails.stop_limit_per_service = 3;
            })
            .await,
        ));
    }
    let batches = (0..3)
        .flat_map(|i| {
            [
                (pool[2 * i].clone(), vec![first[i].clone()]),
                (pool[2 * i + 1].clone(), vec![second[i].clone()]),
            ]
        })
        .collect();
    until_settled(&pool, batches).await;
    assert_eq!(p.stopped(&tasks).await, 3);
    assert_eq!(
        p.emulator.calls("ecs", "StopTask"),
        3,
        "a task stopped once"
    );
    assert_eq!(
        stops_at(&p, &format!("service#{}/shop", p.cluster))
            .await
            .len(),
        3,
        "a task counted once"
    );
    // Of each task's two findings, one stopped it and the other is a recorded no-op: found held
    // (`not_running`), or, when its read of the holds came before the stop was held and its read
    // of the counter after the limit was reached, `rate_limited`. Neither stops nor counts, and
    // both are decided again when the finding next arrives.
    let records = p.action_records().await;
    let enforced: Vec<_> = records
        .iter()
        .filter(|r| s(r, "sk") == "ACTION#enforce")
        .collect();
    assert_eq!(enforced.len(), 6, "every finding decided");
    assert!(enforced.iter().all(|r| s(r, "phase") == "complete"));
    for task in &tasks[..3] {
        let mut outcomes: Vec<&str> = enforced
            .iter()
            .filter(|r| s(r, "task_arn") == task)
            .map(|r| s(r, "outcome"))
            .collect();
        outcomes.sort_unstable();
        assert!(
            outcomes == ["act", "not_running"] || outcomes == ["act", "rate_limited"],
            "{task}: {outcomes:?}"
        );
    }
}

/// Approvals of four proposed stops on one service (limit 3) delivered at once to four instances,
/// then all delivered again: proposals take no count, exactly 3 stops are made (ECS), the fourth
/// approved stop is recorded rate-limited, and the redeliveries stop and count nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_racing_over_the_limit_stop_exactly_the_limit() {
    use vigil_e2e::queue::{
        APPROVALS_QUEUE, APPROVE_SHELLS, REMEDIATE_QUEUE, approval_of, approver, deliver,
    };
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 6).await;
    let events = alerts(&p, &tasks[..4], SHELL, "approve").await;
    let mut pool = Vec::new();
    for _ in 0..4 {
        pool.push(Arc::new(
            p.remediate_with(APPROVE_SHELLS, RemediationMode::Enforce, |s| {
                approver(s);
                s.guardrails.stop_limit_per_service = 3;
            })
            .await,
        ));
    }
    for (i, e) in events.iter().enumerate() {
        let returned = deliver(&pool[0], &format!("proposal-{i}"), 1, REMEDIATE_QUEUE, e).await;
        assert!(returned.is_empty(), "{returned:?}");
    }
    assert!(
        p.items("RATE#").await.is_empty(),
        "a proposal counts nothing"
    );
    for receive in 1..=2u32 {
        let mut set = tokio::task::JoinSet::new();
        for (i, e) in events.iter().enumerate() {
            let (r, body) = (pool[i].clone(), approval_of(&format!("approval-{i}"), e));
            set.spawn(async move {
                deliver(
                    &r,
                    &format!("approval-{i}"),
                    receive,
                    APPROVALS_QUEUE,
                    &body,
                )
                .await
            });
        }
        while let Some(returned) = set.join_next().await {
            assert!(returned.unwrap().is_empty());
        }
    }
    assert_eq!(p.stopped(&tasks).await, 3);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 3);
    assert_eq!(
        all_decided(&p, &tasks[..4]).await,
        ["act", "act", "act", "rate_limited"]
    );
    assert_eq!(
        stops_at(&p, &format!("service#{}/shop", p.cluster))
            .await
            .len(),
        3
    );
}

/// Another finding about a task whose stop was decided and counted but not yet made (the deciding
/// attempt crashed before StopTask): a recorded no-op, neither a second StopTask nor a second count;
/// the redelivery of the first then stops the task once.
#[tokio::test]
async fn a_second_finding_on_a_task_whose_stop_is_pending_neither_stops_nor_counts_it() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 4).await;
    let first = alerts(&p, &tasks[..1], SHELL, "pending").await.remove(0);
    let second = alerts(
        &p,
        &tasks[..1],
        "Terminal shell in container (second rule)",
        "pending-other",
    )
    .await
    .remove(0);
    let book = vigil_e2e::playbooks("");
    let t = now();
    let crashing = crashing_before_stop(&p, &book, 3)
        .await
        .with_clock(clock(t));
    assert_eq!(
        crashing
            .process(std::slice::from_ref(&first), Some(ACCOUNT))
            .await,
        [0]
    );
    let genuine = p
        .remediate_with(&book, RemediationMode::Enforce, |_| {})
        .await
        .with_clock(clock(t + 1));
    taken(&genuine, &second).await;
    let records = p.action_records().await;
    let mut outcomes: Vec<String> = records
        .iter()
        .filter(|r| s(r, "sk") == "ACTION#enforce")
        .map(|r| format!("{} {}", s(r, "outcome"), s(r, "phase")))
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, ["act acting", "not_running complete"]);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    let service = format!("service#{}/shop", p.cluster);
    assert_eq!(stops_at(&p, &service).await, [t], "counted once");
    taken(&genuine, &first).await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.stopped(&tasks).await, 1);
    assert_eq!(stops_at(&p, &service).await, [t]);
}
