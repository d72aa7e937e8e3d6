//! The daemon's side of the control socket: accept, check that the peer is
//! root, read one [`Request`] line, hand it to the daemon's loop (which owns all
//! state, so nothing here takes a lock), write the [`Response`] line.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use super::{CtlError, Request, Response, RUN_DIR};

/// A request waiting for the daemon's answer.
#[derive(Debug)]
pub struct Pending {
    /// What was asked.
    pub request: Request,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Response>,
}

/// The listening socket; removes its file on drop.
#[derive(Debug)]
pub struct CtlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl Drop for CtlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Creates the socket at `path` (mode 0600). A socket file left by a daemon that
/// died is replaced; one a live daemon answers on is an error. Must run inside a
/// tokio runtime.
pub fn bind(path: &Path) -> Result<CtlSocket, CtlError> {
    let listen_err = |reason| CtlError::Listen {
        path: path.to_owned(),
        reason,
    };
    if let Some(dir) = path.parent() {
        if dir == Path::new(RUN_DIR) || !dir.exists() {
            std::fs::create_dir_all(dir).map_err(listen_err)?;
        }
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(CtlError::InUse {
                path: path.to_owned(),
            });
        }
        std::fs::remove_file(path).map_err(listen_err)?;
    }
    let listener = UnixListener::bind(path).map_err(listen_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(listen_err)?;
    Ok(CtlSocket {
        listener,
        path: path.to_owned(),
    })
}

impl CtlSocket {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts connections forever, forwarding each request to `to_daemon`.
    /// Returns when the daemon's receiver is gone.
    pub async fn serve(&self, to_daemon: mpsc::Sender<Pending>) {
        loop {
            let stream = match self.listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    warn!("control socket {}: accept: {e}", self.path.display());
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            if to_daemon.is_closed() {
                return;
            }
            let tx = to_daemon.clone();
            tokio::spawn(async move {
                if let Err(e) = handle(stream, tx).await {
                    debug!("control connection: {e}");
                }
            });
        }
    }
}

async fn handle(stream: UnixStream, to_daemon: mpsc::Sender<Pending>) -> std::io::Result<()> {
    let uid = stream.peer_cred()?.uid();
    let (rd, mut wr) = stream.into_split();
    let response = if uid != 0 {
        Response::Error {
            message: format!("permission denied: the control socket answers root only (you are uid {uid}); use sudo"),
        }
    } else {
        let mut line = String::new();
        let mut rd = BufReader::new(rd).take(64 * 1024);
        rd.read_line(&mut line).await?;
        match serde_json::from_str::<Request>(line.trim()) {
            Err(e) => Response::Error {
                message: format!("bad request {:?}: {e}", line.trim()),
            },
            Ok(request) => {
                let (reply, rx) = oneshot::channel();
                if to_daemon.send(Pending { request, reply }).await.is_err() {
                    Response::Error {
                        message: "the daemon is shutting down".to_owned(),
                    }
                } else {
                    rx.await.unwrap_or(Response::Error {
                        message: "the daemon dropped the request".to_owned(),
                    })
                }
            }
        }
    };
    let mut out = serde_json::to_vec(&response).map_err(std::io::Error::other)?;
    out.push(b'\n');
    wr.write_all(&out).await?;
    wr.shutdown().await
}
