//! `SimServer`: binds the port, runs the actix server on its own thread (so it works from any
//! caller, async or not, and outlives no one), and stops it.

use crate::config::SimConfig;
use crate::error::SimError;
use crate::world::Shared;
use crate::{cloud, control, page, ws};
use actix_web::{dev::ServerHandle, web, App, HttpServer};
use std::net::SocketAddr;
use std::thread::JoinHandle;

/// A running simulator. Dropping it stops it.
pub struct SimServer {
    addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
    shared: Shared,
}

impl SimServer {
    /// Bind `cfg.host:cfg.port` (port 0 picks a free port, kept for the server's life) and serve.
    pub fn start(cfg: SimConfig) -> Result<SimServer, SimError> {
        let addr = SocketAddr::new(cfg.host, cfg.port);
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|source| SimError::Bind { addr: addr.to_string(), source })?;
        let addr = listener.local_addr().map_err(SimError::Start)?;
        let shared = Shared::new(cfg, format!("http://{addr}"));
        let (tx, rx) = std::sync::mpsc::channel();
        let app_state = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("wa-sim-{}", addr.port()))
            .spawn(move || run(listener, app_state, tx))
            .map_err(SimError::Start)?;
        let handle = match rx.recv() {
            Ok(Ok(handle)) => handle,
            Ok(Err(e)) => return Err(SimError::Start(e)),
            Err(_) => {
                return Err(SimError::Start(std::io::Error::other("server thread ended early")))
            }
        };
        tracing::info!(%addr, "wa-sim listening");
        Ok(SimServer { addr, handle, thread: Some(thread), shared })
    }

    /// The page URL a browser navigates to, e.g. `http://127.0.0.1:7777/`.
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The control API root, e.g. `http://127.0.0.1:7777/_sim`.
    pub fn control_url(&self) -> String {
        format!("http://{}/_sim", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// In-process access to the simulated world (the control API is the documented way).
    pub fn world(&self) -> &Shared {
        &self.shared
    }

    /// Stop serving and wait for the server thread (pages lose their connection).
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Wait until the server thread has ended (used by the binary).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn shutdown(&mut self) {
        if let Some(thread) = self.thread.take() {
            futures::executor::block_on(self.handle.stop(false));
            let _ = thread.join();
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

type Ready = std::sync::mpsc::Sender<std::io::Result<ServerHandle>>;

fn run(listener: std::net::TcpListener, shared: Shared, ready: Ready) {
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        cloud::start_delivery(&shared);
        let state = web::Data::new(shared);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(control::json_config())
                .configure(cloud::routes)
                .configure(control::routes)
                .configure(ws::routes)
                .configure(page::routes)
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener);
        match server {
            Ok(server) => {
                let server = server.run();
                let _ = ready.send(Ok(server.handle()));
                if let Err(e) = server.await {
                    tracing::error!(error = %e, "wa-sim server failed");
                }
            }
            Err(e) => {
                let _ = ready.send(Err(e));
            }
        }
    });
}
