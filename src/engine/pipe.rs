//! DevTools without a DevTools port. Chromium runs with `--remote-debugging-pipe`: it reads CDP
//! commands on fd 3 and writes replies and events on fd 4, each message ended by a NUL byte, and
//! opens no TCP port at all. chromiumoxide only speaks WebSocket, so a relay here gives it one:
//! a listener on 127.0.0.1 that answers only the path carrying a fresh 128-bit token, takes
//! exactly one connection, and closes. From then on no local process can reach the browser's
//! DevTools; before then, only one that knows the token (it never leaves this process).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use async_tungstenite::tungstenite::http::StatusCode;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::Message;
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::Instrument;

/// The fds Chromium expects the pipe on.
const CHILD_READS: RawFd = 3;
const CHILD_WRITES: RawFd = 4;
/// Where the child's ends wait before `dup2`, out of the way of 3 and 4.
const PARKED_MIN_FD: RawFd = 10;
/// A CDP message larger than this from the browser ends the relay (a screenshot is a few MB).
const MAX_MESSAGE: usize = 256 * 1024 * 1024;

/// The child's ends of the two pipes, parked on high fds until [`ChildEnds::install`] runs
/// between fork and exec.
pub(crate) struct ChildEnds {
    reads: OwnedFd,
    writes: OwnedFd,
}

/// Our ends: we write commands, we read replies and events.
pub(crate) struct ParentEnds {
    to_browser: OwnedFd,
    from_browser: OwnedFd,
}

/// Two pipes, every end close-on-exec (the child's are made inheritable only as fds 3 and 4).
pub(crate) fn pipes() -> io::Result<(ParentEnds, ChildEnds)> {
    let (child_reads, to_browser) = pipe_pair()?;
    let (from_browser, child_writes) = pipe_pair()?;
    let child = ChildEnds { reads: park(&child_reads)?, writes: park(&child_writes)? };
    Ok((ParentEnds { to_browser, from_browser }, child))
}

impl ChildEnds {
    /// The raw fds for [`ChildEnds::install`], which runs in the forked child.
    pub(crate) fn raw(&self) -> (RawFd, RawFd) {
        (self.reads.as_raw_fd(), self.writes.as_raw_fd())
    }

    /// Between fork and exec: our ends become fds 3 and 4 (dup2 clears close-on-exec on them).
    /// Only async-signal-safe calls.
    pub(crate) fn install(reads: RawFd, writes: RawFd) -> io::Result<()> {
        // SAFETY: dup2 on fds this process owns; both sources are >= PARKED_MIN_FD, so neither
        // is overwritten by the other's dup2.
        unsafe {
            if libc::dup2(reads, CHILD_READS) < 0 || libc::dup2(writes, CHILD_WRITES) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

fn pipe_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two fds into the array on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A close-on-exec copy of `fd` numbered at least [`PARKED_MIN_FD`].
fn park(fd: &OwnedFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC duplicates an fd we own into a new one we then own.
    let n = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, PARKED_MIN_FD) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `n` was just created by fcntl.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

/// The relay of one run: the URL chromiumoxide connects to, and the task that carries messages.
pub(crate) struct Relay {
    pub ws_url: String,
    pub task: JoinHandle<()>,
}

/// Starts the relay for a browser spawned with `child` ends (already handed over and dropped).
/// `accept_within`: how long the listener waits for the one connection before closing.
pub(crate) async fn relay(
    ends: ParentEnds,
    pgid: i32,
    accept_within: Duration,
) -> io::Result<Relay> {
    let to_browser = pipe::Sender::from_owned_fd(ends.to_browser)?;
    let from_browser = pipe::Receiver::from_owned_fd(ends.from_browser)?;
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let token = hex::encode(rand::random::<[u8; 16]>());
    let path = format!("/devtools/browser/{token}");
    let ws_url = format!("ws://{}{path}", listener.local_addr()?);
    let task = tokio::spawn(
        async move {
            let Some(ws) = accept_one(listener, &path, accept_within).await else { return };
            carry(ws, to_browser, from_browser).await;
        }
        .instrument(tracing::debug_span!("devtools-relay", pgid)),
    );
    Ok(Relay { ws_url, task })
}

type Ws = async_tungstenite::WebSocketStream<
    async_tungstenite::tokio::TokioAdapter<tokio::net::TcpStream>,
>;

/// Accepts connections until one asks for `path` (others get 404), then closes the listener.
async fn accept_one(listener: TcpListener, path: &str, within: Duration) -> Option<Ws> {
    let deadline = tokio::time::Instant::now() + within;
    let config =
        WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(None);
    loop {
        let (stream, peer) = match tokio::time::timeout_at(deadline, listener.accept()).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "DevTools relay: accept failed");
                continue;
            }
            Err(_) => {
                tracing::warn!("DevTools relay: nobody connected in time; closing");
                return None;
            }
        };
        // CDP is many small messages (an event, then the reply to a call): with Nagle on, the
        // second waits for the client's delayed ACK, ≈ 40 ms on Linux, on every call.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::warn!(error = %e, "DevTools relay: TCP_NODELAY not set");
        }
        let expected = path.to_owned();
        // The callback's signature is tungstenite's; its error type is not ours to shrink.
        #[allow(clippy::result_large_err)]
        let check = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
            if req.uri().path() == expected {
                Ok(resp)
            } else {
                let mut refusal = ErrorResponse::new(None);
                *refusal.status_mut() = StatusCode::NOT_FOUND;
                Err(refusal)
            }
        };
        let handshake =
            async_tungstenite::tokio::accept_hdr_async_with_config(stream, check, Some(config));
        match tokio::time::timeout_at(deadline, handshake).await {
            Ok(Ok(ws)) => return Some(ws),
            Ok(Err(e)) => tracing::warn!(%peer, error = %e, "DevTools relay: refused a connection"),
            Err(_) => return None,
        }
    }
}

/// Moves messages both ways until either side ends.
async fn carry(ws: Ws, mut to_browser: pipe::Sender, from_browser: pipe::Receiver) {
    let (mut ws_out, mut ws_in) = ws.split();
    let mut reader = BufReader::new(from_browser);
    let mut buf = Vec::new();
    loop {
        tokio::select! {
            read = read_message(&mut reader, &mut buf) => match read {
                Ok(Some(text)) => {
                    if ws_out.send(Message::text(text)).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "DevTools relay: reading from the browser failed");
                    break;
                }
            },
            msg = ws_in.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    if write_message(&mut to_browser, text.as_bytes()).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Binary(bytes))) => {
                    if write_message(&mut to_browser, &bytes).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = ws_out.close(None).await;
    tracing::debug!("DevTools relay ended");
}

/// One NUL-terminated message; `None` at the end of the pipe.
async fn read_message(
    reader: &mut BufReader<pipe::Receiver>,
    buf: &mut Vec<u8>,
) -> io::Result<Option<String>> {
    buf.clear();
    let n = reader.read_until(0, buf).await?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&0) {
        buf.pop();
    }
    if buf.len() > MAX_MESSAGE {
        return Err(io::Error::other("message from the browser too large"));
    }
    String::from_utf8(std::mem::take(buf)).map(Some).map_err(io::Error::other)
}

async fn write_message(to: &mut pipe::Sender, bytes: &[u8]) -> io::Result<()> {
    to.write_all(bytes).await?;
    to.write_all(&[0]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in browser on the other ends: echoes each command back as its reply.
    async fn echo_browser(child: ChildEnds) {
        let ChildEnds { reads, writes } = child;
        let reads = pipe::Receiver::from_owned_fd(reads).unwrap();
        let mut writes = pipe::Sender::from_owned_fd(writes).unwrap();
        let mut reader = BufReader::new(reads);
        let mut buf = Vec::new();
        while let Ok(Some(m)) = read_message(&mut reader, &mut buf).await {
            write_message(&mut writes, format!("echo:{m}").as_bytes()).await.unwrap();
        }
    }

    #[tokio::test]
    async fn only_the_token_path_connects_and_only_once() {
        let (parent, child) = pipes().unwrap();
        tokio::spawn(echo_browser(child));
        let relay = relay(parent, 0, Duration::from_secs(10)).await.unwrap();
        let url = url::Url::parse(&relay.ws_url).unwrap();
        let wrong = format!(
            "ws://{}:{}/devtools/browser/guess",
            url.host_str().unwrap(),
            url.port().unwrap()
        );
        assert!(
            async_tungstenite::tokio::connect_async(wrong).await.is_err(),
            "a wrong path is refused"
        );
        let (mut ws, _) =
            async_tungstenite::tokio::connect_async(relay.ws_url.clone()).await.unwrap();
        ws.send(Message::text("{\"id\":1}")).await.unwrap();
        let reply = ws.next().await.unwrap().unwrap();
        assert_eq!(reply.into_text().unwrap().as_str(), "echo:{\"id\":1}");
        // The listener is gone: nothing else can connect, not even with the token.
        let again =
            tokio::net::TcpStream::connect((url.host_str().unwrap(), url.port().unwrap())).await;
        assert!(again.is_err(), "the relay's port is closed after the one connection");
    }
}
