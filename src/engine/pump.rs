//! The event pump of one run: a task that turns what the page and the browser report (binding
//! calls, `Inspector.targetCrashed`, probe failures, the bridge never becoming ready, the handler
//! ending) into [`EngineEvent`]s on the session's channel. It ends with exactly one `BrowserGone`.

use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::inspector::EventTargetCrashed;
use chromiumoxide::cdp::js_protocol::runtime::{
    EvaluateParams, EventBindingCalled, EventExecutionContextCreated,
    EventExecutionContextDestroyed, EventExecutionContextsCleared,
};
use chromiumoxide::listeners::EventStream;
use chromiumoxide::Page;
use futures::future::BoxFuture;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::bridge::{BridgeMsg, BINDING};
use super::inbound::{Dropped, Gate, MainWorld, CONFIRM_LOGGED_OUT};
use super::tracker::Tracker;
use super::{process, EngineEvent};

pub(crate) struct Pump {
    pub page: Page,
    pub pgid: i32,
    pub events: mpsc::Sender<EngineEvent>,
    pub bindings: EventStream<EventBindingCalled>,
    /// Execution contexts of the page, to know the top frame's main world: the only one whose
    /// binding calls are taken.
    pub contexts: ContextStreams,
    pub crashes: EventStream<EventTargetCrashed>,
    /// Fires with a reason when the CDP handler ends (the browser is gone).
    pub gone: oneshot::Receiver<String>,
    /// Resolves when the browser process exited.
    pub exited: BoxFuture<'static, String>,
    /// Turns true when stop() begins: from then on nothing may block on the session's channel.
    pub stopping: watch::Receiver<bool>,
    pub ready_timeout: Duration,
    pub probe_interval: Option<Duration>,
    pub cdp_timeout: Duration,
}

pub(crate) struct ContextStreams {
    pub created: EventStream<EventExecutionContextCreated>,
    pub destroyed: EventStream<EventExecutionContextDestroyed>,
    pub cleared: EventStream<EventExecutionContextsCleared>,
}

impl Pump {
    pub(crate) async fn run(mut self) {
        let mut tracker = Tracker::default();
        let mut stop_rx = self.stopping.clone();
        let mut ready_deadline = Some(Instant::now() + self.ready_timeout);
        let mut unresponsive = false;
        let mut gate = Gate::new(std::time::Instant::now());
        let mut main_world = MainWorld::default();
        let top_frame = self.page.target_id().inner().clone();
        // A logout the page reported that WhatsApp Web did not confirm yet: checked again when
        // the next document is ready (WhatsApp reloads the page after a real logout).
        let mut unconfirmed_logout: Option<Option<String>> = None;
        let probe_every = self.probe_interval.unwrap_or(Duration::from_secs(3600));
        let mut probe_tick = tokio::time::interval_at(Instant::now() + probe_every, probe_every);
        let reason = loop {
            tokio::select! {
                // In order: a context is known before a binding call from it is judged (CDP sends
                // `executionContextCreated` before any script of that context runs).
                biased;
                reason = &mut self.gone => break reason.unwrap_or_else(|_| "CDP handler dropped".into()),
                Some(_) = self.contexts.cleared.next() => main_world.cleared(),
                Some(gone) = self.contexts.destroyed.next() => main_world.destroyed(&gone.execution_context_unique_id),
                Some(made) = self.contexts.created.next() => {
                    let c = &made.context;
                    main_world.created(*c.id.inner(), &c.unique_id, c.aux_data.as_ref(), &top_frame);
                }
                reason = &mut self.exited => break reason,
                _ = stop_requested(&mut stop_rx) => break "stopped".into(),
                Some(call) = self.bindings.next() => {
                    if call.name != BINDING {
                        continue;
                    }
                    if !main_world.admits(*call.execution_context_id.inner()) {
                        gate.refuse(Dropped::ForeignContext, &"the binding was called from an iframe or another world");
                        continue;
                    }
                    if gate.admit(call.payload.len(), std::time::Instant::now()).is_err() {
                        continue;
                    }
                    match serde_json::from_str::<BridgeMsg>(&call.payload) {
                        Ok(msg) => {
                            let ready = matches!(msg, BridgeMsg::Ready { .. });
                            match msg {
                                BridgeMsg::Boot if ready_deadline.is_none() => ready_deadline = Some(Instant::now() + self.ready_timeout),
                                BridgeMsg::Ready { .. } => ready_deadline = None,
                                _ => {}
                            }
                            for event in tracker.on_message(msg) {
                                match event {
                                    EngineEvent::LoggedOut { reason } => self.logout_reported(reason, &mut unconfirmed_logout).await,
                                    other => self.emit(other).await,
                                }
                            }
                            if ready {
                                if let Some(reason) = unconfirmed_logout.take() {
                                    if logged_out_per_whatsapp(&self.page, self.cdp_timeout).await == Some(true) {
                                        self.emit(EngineEvent::LoggedOut { reason }).await;
                                    } else {
                                        tracing::warn!("a logout reported by page script was not confirmed by WhatsApp Web after the reload; ignored, the login is kept");
                                    }
                                }
                            }
                        }
                        Err(e) if e.is_data() => gate.refuse(Dropped::UnexpectedType, &e),
                        Err(e) => gate.refuse(Dropped::Unparseable, &e),
                    }
                }
                Some(_) = self.crashes.next(), if !unresponsive => {
                    unresponsive = true;
                    self.emit(EngineEvent::PageUnresponsive { reason: "page crashed (Inspector.targetCrashed)".into() }).await;
                }
                _ = sleep_until(ready_deadline) => {
                    ready_deadline = None;
                    let after_ms = u64::try_from(self.ready_timeout.as_millis()).unwrap_or(u64::MAX);
                    self.emit(EngineEvent::BridgeNotReady { after_ms }).await;
                }
                _ = probe_tick.tick(), if self.probe_interval.is_some() && !unresponsive => {
                    if let Err(reason) = probe(&self.page, self.cdp_timeout).await {
                        unresponsive = true;
                        self.emit(EngineEvent::PageUnresponsive { reason }).await;
                    }
                }
            }
        };
        let stopped = *self.stopping.borrow();
        let reason = if stopped { "stopped".to_owned() } else { reason };
        if !stopped {
            // The browser died on its own: take its helpers down with it now rather than at stop().
            process::kill_group(self.pgid);
        }
        // Never block here: during stop() the session's actor is busy awaiting us.
        if self.events.try_send(EngineEvent::BrowserGone { reason: reason.clone() }).is_err()
            && !stopped
        {
            let _ = tokio::time::timeout(
                self.cdp_timeout,
                self.events.send(EngineEvent::BrowserGone { reason }),
            )
            .await;
        }
    }

    /// The page reported `conn.logout`. `LoggedOut` deletes the stored login, so it is emitted only
    /// when WhatsApp Web's own state (read by us, not sent by page script) says there is no login;
    /// otherwise it waits for the next document's ready (a real logout reloads the page).
    async fn logout_reported(
        &mut self,
        reason: Option<String>,
        pending: &mut Option<Option<String>>,
    ) {
        if logged_out_per_whatsapp(&self.page, self.cdp_timeout).await == Some(true) {
            *pending = None;
            self.emit(EngineEvent::LoggedOut { reason }).await;
        } else {
            tracing::warn!("the page reported a logout that WhatsApp Web does not confirm yet; waiting for the reload");
            *pending = Some(reason);
        }
    }

    /// Sends one event, giving up if stop() begins while the session is not reading.
    async fn emit(&mut self, event: EngineEvent) {
        tracing::debug!(?event, "engine event");
        tokio::select! {
            _ = self.events.send(event) => {}
            _ = stop_requested(&mut self.stopping) => {}
        }
    }
}

/// `Some(true)` when `WPP.conn` says this device holds no login; `None` when the page did not
/// answer (it may be reloading).
async fn logged_out_per_whatsapp(page: &Page, timeout: Duration) -> Option<bool> {
    let params = EvaluateParams::builder()
        .expression(CONFIRM_LOGGED_OUT)
        .return_by_value(true)
        .build()
        .ok()?;
    let resp = tokio::time::timeout(timeout, page.execute(params)).await.ok()?.ok()?;
    resp.result.result.value.as_ref()?.as_bool()
}

/// A trivial evaluation answered in time means the renderer's main thread is alive.
async fn probe(page: &Page, timeout: Duration) -> Result<(), String> {
    let eval = page.execute(EvaluateParams::new("typeof window.WPP"));
    match tokio::time::timeout(timeout, eval).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("probe failed: {e}")),
        Err(_) => Err(format!("page did not answer a probe within {} ms", timeout.as_millis())),
    }
}

/// Resolves once stop() began (at once if it already has). The guard `wait_for` returns is not
/// Send, so it is dropped here rather than held in a select.
async fn stop_requested(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await.map(|_| ());
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
