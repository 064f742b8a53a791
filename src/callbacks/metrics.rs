//! Prometheus metrics of the outbox. Counters and the histogram count events of this process;
//! the gauges are seeded from the database at start and kept current by the outbox.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone)]
pub struct Metrics {
    /// Events in the outbox, waiting, retrying or in flight.
    pub queued: Gauge,
    pub in_flight: Gauge,
    pub disabled_endpoints: Gauge,
    pub delivered: Counter,
    /// Failed attempts that were scheduled again.
    pub retried: Counter,
    pub dead: Counter,
    /// Older undelivered QR events dropped in favour of a newer one.
    pub superseded: Counter,
    /// Seconds from enqueue to the 2xx.
    pub latency: Histogram,
    /// Events refused at enqueue because a queue bound was reached, by bound.
    pub refused: Family<BoundLabel, Counter>,
    /// Heads moved to dead letters after holding their session past `max_head_block`.
    pub parked: Counter,
}

/// `bound`: `workspace_events`, `workspace_bytes` or `total_bytes` (a closed set).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BoundLabel {
    pub bound: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            queued: Gauge::default(),
            in_flight: Gauge::default(),
            disabled_endpoints: Gauge::default(),
            delivered: Counter::default(),
            retried: Counter::default(),
            dead: Counter::default(),
            superseded: Counter::default(),
            // 1 ms .. ~9 h: covers a local host and a full retry ladder's early steps.
            latency: Histogram::new(exponential_buckets(0.001, 3.0, 16)),
            refused: Family::default(),
            parked: Counter::default(),
        }
    }
}

impl Metrics {
    /// Add every metric under `callbacks_…` to the foundation's registry (served at /metrics).
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("callbacks");
        r.register(
            "queued",
            "Events in the outbox (waiting, retrying or in flight)",
            self.queued.clone(),
        );
        r.register("in_flight", "Delivery attempts in progress", self.in_flight.clone());
        r.register(
            "disabled_endpoints",
            "Endpoints disabled after 410 Gone",
            self.disabled_endpoints.clone(),
        );
        r.register("delivered", "Events delivered with a 2xx", self.delivered.clone());
        r.register("retried", "Failed attempts scheduled for a retry", self.retried.clone());
        r.register("dead", "Events moved to dead letters", self.dead.clone());
        r.register(
            "superseded",
            "Undelivered QR events replaced by a newer QR",
            self.superseded.clone(),
        );
        r.register(
            "refused",
            "Events refused at enqueue because their workspace or the outbox was at a queue bound",
            self.refused.clone(),
        );
        r.register(
            "parked",
            "Session heads moved to dead letters after holding later events past max_head_block",
            self.parked.clone(),
        );
        r.register(
            "delivery_latency_seconds",
            "Time from enqueue to successful delivery",
            self.latency.clone(),
        );
    }
}
