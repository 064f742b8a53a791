//! Receiving's metrics: events published by type, catch-ups and what they found, media stored
//! and failed. Process-wide counters (one sidecar per process), registered into the app's
//! registry by [`register`].

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabels {
    r#type: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

static EVENTS: LazyLock<Family<TypeLabels, Counter>> = LazyLock::new(Family::default);
static MEDIA: LazyLock<Family<StatusLabels, Counter>> = LazyLock::new(Family::default);
static CATCHUPS: LazyLock<Counter> = LazyLock::new(Counter::default);
static CATCHUP_MESSAGES: LazyLock<Counter> = LazyLock::new(Counter::default);

pub fn register(registry: &mut Registry) {
    registry.register("inbound_events", "Receiving callbacks published by type", EVENTS.clone());
    registry.register("inbound_media", "Received media by outcome (stored, failed)", MEDIA.clone());
    registry.register("inbound_catchups", "Catch-ups run after a (re)connect", CATCHUPS.clone());
    registry.register(
        "inbound_catchup_messages",
        "Messages reported by catch-ups (no live event had reported them)",
        CATCHUP_MESSAGES.clone(),
    );
}

pub fn event(kind: &str) {
    EVENTS.get_or_create(&TypeLabels { r#type: kind.to_owned() }).inc();
}

pub fn media(status: &str) {
    MEDIA.get_or_create(&StatusLabels { status: status.to_owned() }).inc();
}

pub fn catchup(reported: usize) {
    CATCHUPS.inc();
    CATCHUP_MESSAGES.inc_by(reported as u64);
}
