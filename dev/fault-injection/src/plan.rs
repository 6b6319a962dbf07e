//! What to inject and how often: per-service [`FaultRates`], a default for every other service, and
//! a seed, so a failing reliability test can be replayed with the same sequence of faults.

use crate::Service;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// One kind of downstream failure, named as its variant (in [`FaultStats`](crate::FaultStats) and
/// the fault header).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
pub enum FaultKind {
    /// Answer 500 or 503 without forwarding: the request is not applied.
    ServerError,
    /// Forward (the request is applied), discard the real response, answer 500.
    ServerErrorAfterApply,
    /// Answer the service's own throttling error without forwarding.
    Throttle,
    /// Sleep a duration from the latency range, then forward normally.
    Latency,
    /// Close the connection without a response and without forwarding.
    DropBeforeApply,
    /// Forward (the request is applied), then close the connection without a response.
    DropAfterApply,
}

impl FaultKind {
    /// Every kind, in the order of their bands in [`FaultRates::pick`].
    /// Every kind, in declaration order.
    pub const ALL: &'static [FaultKind] = <FaultKind as strum::VariantArray>::VARIANTS;

    /// The variant's name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The fault chosen for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// What to do to the request.
    pub kind: FaultKind,
    /// Picks the second variant where a kind has two: 503 rather than 500 for
    /// [`FaultKind::ServerError`], the service's other throttling error for [`FaultKind::Throttle`].
    pub alternate: bool,
    /// How long to wait before forwarding; zero unless the kind is [`FaultKind::Latency`].
    pub delay: Duration,
}

/// The probability of each [`FaultKind`] for one service, and the latency range.
///
/// Probabilities are clamped to `0..=1`; if they add up to more than 1 they are scaled down in
/// proportion, so every request gets a fault.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRates {
    rates: [f64; 6],
    latency_min: Duration,
    latency_max: Duration,
}

impl Default for FaultRates {
    fn default() -> Self {
        FaultRates::none()
    }
}

impl FaultRates {
    /// No faults; the default latency range is 20..=200 ms.
    pub fn none() -> FaultRates {
        FaultRates {
            rates: [0.0; 6],
            latency_min: Duration::from_millis(20),
            latency_max: Duration::from_millis(200),
        }
    }

    /// Every request gets this fault.
    pub fn always(kind: FaultKind) -> FaultRates {
        FaultRates::none().with(kind, 1.0)
    }

    /// `total_rate` spread evenly over all kinds.
    pub fn uniform(total_rate: f64) -> FaultRates {
        let each = sanitize(total_rate) / FaultKind::ALL.len() as f64;
        FaultKind::ALL
            .iter()
            .fold(FaultRates::none(), |rates, &kind| rates.with(kind, each))
    }

    /// Sets one kind's probability.
    pub fn with(mut self, kind: FaultKind, probability: f64) -> FaultRates {
        self.rates[kind.index()] = sanitize(probability);
        self
    }

    /// Sets the range [`FaultKind::Latency`] draws its delay from (bounds in either order).
    pub fn with_latency(mut self, min: Duration, max: Duration) -> FaultRates {
        self.latency_min = min.min(max);
        self.latency_max = min.max(max);
        self
    }

    /// One kind's probability (clamped to `0..=1`, before scaling).
    pub fn rate(&self, kind: FaultKind) -> f64 {
        self.rates[kind.index()]
    }

    /// The probability that a request gets any fault, before scaling (may exceed 1).
    pub fn total(&self) -> f64 {
        self.rates.iter().sum()
    }

    /// The latency range, `(min, max)`.
    pub fn latency(&self) -> (Duration, Duration) {
        (self.latency_min, self.latency_max)
    }

    /// Maps one uniform draw `u` in `[0, 1)` to a fault: the kinds take consecutive bands of
    /// `[0, 1)`, and where `u` falls inside its band gives the variant and the delay, so a single
    /// draw decides everything and a seed replays exactly.
    pub fn pick(&self, u: f64) -> Option<Fault> {
        let total = self.total();
        if total <= 0.0 {
            return None;
        }
        let x = sanitize(u) * total.max(1.0);
        let mut low = 0.0;
        let mut last = None;
        for &kind in FaultKind::ALL {
            let width = self.rate(kind);
            if width <= 0.0 {
                continue;
            }
            if x < low + width {
                return Some(self.fault(kind, (x - low) / width));
            }
            low += width;
            last = Some(kind);
        }
        // Rounding can leave `x` just past the last band when the rates add up to 1 (six sixths
        // sum to 0.9999...); a plan that promises a fault on every request must keep that promise.
        match last {
            Some(kind) if total >= 1.0 - 1e-9 => Some(self.fault(kind, 1.0)),
            _ => None,
        }
    }

    fn fault(&self, kind: FaultKind, position: f64) -> Fault {
        let position = position.clamp(0.0, 1.0);
        let delay = if kind == FaultKind::Latency {
            let span = self.latency_max.saturating_sub(self.latency_min).as_nanos() as f64;
            // `as u64` saturates, so no input can overflow here.
            self.latency_min
                .saturating_add(Duration::from_nanos((span * position) as u64))
        } else {
            Duration::ZERO
        };
        Fault {
            kind,
            alternate: position >= 0.5,
            delay,
        }
    }
}

/// A probability in `0..=1`; NaN counts as 0.
fn sanitize(p: f64) -> f64 {
    if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) }
}

/// Per-service fault rates, a default for the rest, and the seed of the random sequence. The
/// sequence replays exactly for requests sent in the same order (concurrent requests draw in
/// whatever order they are sent).
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    default: FaultRates,
    services: BTreeMap<Service, FaultRates>,
    /// Per service: how many of its first requests get which fault, before its rates apply.
    leading: BTreeMap<Service, (u64, FaultKind)>,
    seed: u64,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan::none()
    }
}

impl FaultPlan {
    /// Everything passes through.
    pub fn none() -> FaultPlan {
        FaultPlan::new(FaultRates::none(), 0)
    }

    /// `total_rate` spread evenly over all kinds, for every service.
    pub fn uniform(total_rate: f64, seed: u64) -> FaultPlan {
        FaultPlan::new(FaultRates::uniform(total_rate), seed)
    }

    /// `default` for every service without its own rates.
    pub fn new(default: FaultRates, seed: u64) -> FaultPlan {
        FaultPlan {
            default,
            services: BTreeMap::new(),
            leading: BTreeMap::new(),
            seed,
        }
    }

    /// Sets one service's rates.
    pub fn service(mut self, service: Service, rates: FaultRates) -> FaultPlan {
        self.services.insert(service, rates);
        self
    }

    /// The first `count` requests to `service` get `kind` (its first variant, the shortest
    /// latency); the service's rates apply from the next one. A fault at a known place, for tests
    /// that count attempts: a throttled call, then one answered.
    pub fn first_requests(mut self, service: Service, count: u64, kind: FaultKind) -> FaultPlan {
        self.leading.insert(service, (count, kind));
        self
    }

    /// Replaces the seed of the random sequence.
    pub fn with_seed(mut self, seed: u64) -> FaultPlan {
        self.seed = seed;
        self
    }

    /// The rates for `service`: its own, else the plan's default.
    pub fn rates_for(&self, service: Service) -> &FaultRates {
        self.services.get(&service).unwrap_or(&self.default)
    }

    /// A fresh random sequence from the plan's seed.
    pub fn sampler(&self) -> FaultSampler {
        FaultSampler {
            rng: fastrand::Rng::with_seed(self.seed),
            plan: self.clone(),
            drawn: BTreeMap::new(),
        }
    }
}

/// Draws the fault for each request from a plan.
#[derive(Debug, Clone)]
pub struct FaultSampler {
    plan: FaultPlan,
    rng: fastrand::Rng,
    /// Requests drawn for so far, per service.
    drawn: BTreeMap<Service, u64>,
}

impl FaultSampler {
    /// Exactly one random draw per request, whatever the service's rates, so the sequence of draws
    /// does not depend on which services the requests were for.
    pub fn draw(&mut self, service: Service) -> Option<Fault> {
        let u = self.rng.f64();
        let drawn = self.drawn.entry(service).or_default();
        *drawn += 1;
        let rates = self.plan.rates_for(service);
        match self.plan.leading.get(&service) {
            Some(&(count, kind)) if *drawn <= count => Some(rates.fault(kind, 0.0)),
            _ => rates.pick(u),
        }
    }

    /// The plan drawn from.
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(plan: &FaultPlan, service: Service, n: usize) -> Vec<Option<Fault>> {
        let mut sampler = plan.sampler();
        (0..n).map(|_| sampler.draw(service)).collect()
    }

    #[test]
    fn uniform_rate_is_honoured_and_spread_over_every_kind() {
        let faults = draws(&FaultPlan::uniform(0.2, 7), Service::DynamoDb, 1000);
        let count = faults.iter().flatten().count();
        assert!(
            (120..=280).contains(&count),
            "{count} faults in 1000 draws at 0.2"
        );

        let faults = draws(&FaultPlan::uniform(0.6, 7), Service::Ecs, 6000);
        for &kind in FaultKind::ALL {
            let n = faults.iter().flatten().filter(|f| f.kind == kind).count();
            assert!((400..=800).contains(&n), "{kind:?}: {n} of 6000 at 0.6/6");
        }
    }

    #[test]
    fn same_seed_gives_the_same_sequence_and_another_seed_does_not() {
        let plan = FaultPlan::uniform(0.5, 42);
        assert_eq!(
            draws(&plan, Service::Ecs, 500),
            draws(&plan, Service::Ecs, 500)
        );
        let other = plan.clone().with_seed(43);
        assert_ne!(
            draws(&plan, Service::Ecs, 500),
            draws(&other, Service::Ecs, 500)
        );
    }

    #[test]
    fn always_and_none_are_absolute_even_at_float_edges() {
        let every = FaultRates::uniform(1.0);
        for u in [0.0, 0.5, 0.999_999_999_999_999_9, 1.0 - f64::EPSILON] {
            assert!(every.pick(u).is_some(), "u = {u}");
            assert!(FaultRates::none().pick(u).is_none());
            assert_eq!(
                FaultRates::always(FaultKind::Throttle)
                    .pick(u)
                    .map(|f| f.kind),
                Some(FaultKind::Throttle)
            );
        }
    }

    #[test]
    fn service_rates_override_the_default_and_others_keep_it() {
        let plan = FaultPlan::none().service(
            Service::SecurityHub,
            FaultRates::always(FaultKind::ServerError),
        );
        assert!(
            draws(&plan, Service::SecurityHub, 100)
                .iter()
                .all(|f| f.is_some_and(|f| f.kind == FaultKind::ServerError))
        );
        assert!(
            draws(&plan, Service::DynamoDb, 100)
                .iter()
                .all(Option::is_none)
        );
    }

    #[test]
    fn one_draw_per_request_whatever_the_service() {
        // Interleaving requests for a faultless service must not shift another service's sequence.
        let plan = FaultPlan::uniform(0.5, 3).service(Service::EventBridge, FaultRates::none());
        let mut a = plan.sampler();
        let mut b = plan.sampler();
        for _ in 0..200 {
            let _ = a.draw(Service::EventBridge);
            let _ = b.draw(Service::DynamoDb);
        }
        assert_eq!(a.draw(Service::Ecs), b.draw(Service::Ecs));
    }

    #[test]
    fn variants_and_delays_come_from_the_draw() {
        let rates = FaultRates::always(FaultKind::Latency)
            .with_latency(Duration::from_millis(300), Duration::from_millis(100));
        assert_eq!(
            rates.latency(),
            (Duration::from_millis(100), Duration::from_millis(300))
        );
        assert_eq!(
            rates.pick(0.0).map(|f| f.delay),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            rates.pick(0.5).map(|f| f.delay),
            Some(Duration::from_millis(200))
        );

        let faults = draws(
            &FaultPlan::new(FaultRates::always(FaultKind::ServerError), 9),
            Service::Sqs,
            200,
        );
        let alternates = faults.iter().flatten().filter(|f| f.alternate).count();
        assert!(
            (60..=140).contains(&alternates),
            "{alternates} of 200 alternate"
        );
        assert!(faults.iter().flatten().all(|f| f.delay == Duration::ZERO));
    }

    #[test]
    fn the_first_requests_get_the_leading_fault_then_the_rates_apply() {
        let plan = FaultPlan::none().first_requests(Service::SecurityHub, 2, FaultKind::Throttle);
        let kinds: Vec<_> = draws(&plan, Service::SecurityHub, 4)
            .into_iter()
            .map(|f| f.map(|f| f.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                Some(FaultKind::Throttle),
                Some(FaultKind::Throttle),
                None,
                None
            ]
        );
        // Per service, and the random sequence still takes one draw per request.
        assert!(draws(&plan, Service::Ecs, 3).iter().all(Option::is_none));
        let ruled = FaultPlan::uniform(0.5, 5).first_requests(Service::Ecs, 1, FaultKind::Throttle);
        assert_eq!(
            draws(&ruled, Service::Ecs, 50)[1..],
            draws(&FaultPlan::uniform(0.5, 5), Service::Ecs, 50)[1..]
        );
    }

    #[test]
    fn kind_names_match_their_serialized_form() {
        for &kind in FaultKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }

    #[test]
    fn nonsense_probabilities_are_tamed() {
        let rates = FaultRates::none()
            .with(FaultKind::Throttle, f64::NAN)
            .with(FaultKind::ServerError, -3.0)
            .with(FaultKind::Latency, 7.0);
        assert_eq!(rates.total(), 1.0);
        assert_eq!(
            rates.pick(f64::NAN).map(|f| f.kind),
            Some(FaultKind::Latency)
        );

        // Over-full rates are scaled, not truncated: both kinds still get their share.
        let full = FaultRates::always(FaultKind::Throttle).with(FaultKind::DropBeforeApply, 1.0);
        assert_eq!(full.pick(0.25).map(|f| f.kind), Some(FaultKind::Throttle));
        assert_eq!(
            full.pick(0.75).map(|f| f.kind),
            Some(FaultKind::DropBeforeApply)
        );
    }
}
