//! The running capture's control socket: how the user who started it (the app, or
//! `socksbridge tun status|connections|stop`) asks a privileged capture what it is doing and
//! tells it to stop, without privileges of their own. A Unix socket that only that user
//! (and root) can open: `0600` from the instant it appears at its path ([`bind_owned`]),
//! owned by the user pkexec or sudo names (`PKEXEC_UID`, `SUDO_UID`) when the capture runs
//! as root, and every peer's credentials checked again on accept. One JSON request per
//! connection, one JSON reply, then the connection closes.

use std::io::{self, BufRead, Write};
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

/// A request longer than this is refused.
const REQUEST_LIMIT: u64 = 4096;
/// How long a peer may take to send its request, and the client to get its reply.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(5);

/// What a client asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Status,
    Connections,
    Stop,
}

/// What the capture says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureStatus {
    pub pid: u32,
    /// The proxy the capture feeds (its mixed port).
    pub listen: SocketAddr,
    /// The ready line's account: device, routes, DNS mode, UDP policy.
    pub capture: String,
    /// Why UDP is being blocked right now (the server has no UDP relay), if it is.
    pub udp_blocked: Option<String>,
    /// Connections open through the proxy, the captured ones included.
    pub open: usize,
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Status(CaptureStatus),
    /// The Connections view, as the app's window takes it.
    Connections(serde_json::Value),
    /// The capture is undoing its routing and ending.
    Stopping,
    Refused(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control socket {}: another capture answers there; stop it first (`socksbridge tun stop`)", path.display())]
    Answering { path: PathBuf },
    #[error("control socket {}: something that is not a socket is in the way; remove it", path.display())]
    NotASocket { path: PathBuf },
    #[error("control socket {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("no capture is running (nothing answers on {})", path.display())]
    NotRunning { path: PathBuf },
    #[error("control socket {}: you may not open it (it belongs to the user who started the capture)", path.display())]
    Forbidden { path: PathBuf },
    #[error("control socket {}: a reply that cannot be read: {detail}", path.display())]
    BadReply { path: PathBuf, detail: String },
}

/// The user the socket is for: the one pkexec or sudo ran the capture for, when it runs
/// as root; otherwise the process's own.
pub fn owner_uid() -> u32 {
    let euid = euid();
    if euid != 0 {
        return euid;
    }
    ["PKEXEC_UID", "SUDO_UID"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.parse().ok())
        .unwrap_or(0)
}

/// The process's effective user.
#[allow(unsafe_code)]
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Binds a socket at `path` that is `0600` and `owner`'s from the instant it appears
/// there: it is bound, narrowed and handed over in a directory of this process's own
/// (`0700`), then renamed into place, so nothing is ever done to `path` itself that a link
/// put there could redirect.
fn bind_owned(path: &Path, owner: u32) -> io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let parent = path.parent().unwrap_or(Path::new("."));
    let staging = parent.join(format!(".tun.sock.{}.staging", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&staging)?;
    let inside = staging.join("s");
    let made = (|| {
        let listener = std::os::unix::net::UnixListener::bind(&inside)?;
        std::fs::set_permissions(&inside, std::fs::Permissions::from_mode(0o600))?;
        if owner != euid() {
            std::os::unix::fs::lchown(&inside, Some(owner), None)?;
        }
        std::fs::rename(&inside, path)?;
        Ok(listener)
    })();
    let _ = std::fs::remove_file(&inside);
    let _ = std::fs::remove_dir(&staging);
    made
}

/// A bound control socket; the file goes when this drops.
#[derive(Debug)]
pub struct ControlSocket {
    path: PathBuf,
    owner: u32,
    listener: UnixListener,
}

impl ControlSocket {
    /// Binds `path` for `owner` (see [`owner_uid`]). A stale socket of a killed capture is
    /// replaced; a live one is not.
    pub fn bind(path: &Path, owner: u32) -> Result<ControlSocket, ControlError> {
        let io = |source| ControlError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io)?;
        }
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_socket() => {
                return Err(ControlError::NotASocket {
                    path: path.to_path_buf(),
                })
            }
            Ok(_) if std::os::unix::net::UnixStream::connect(path).is_ok() => {
                return Err(ControlError::Answering {
                    path: path.to_path_buf(),
                })
            }
            Ok(_) => std::fs::remove_file(path).map_err(io)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let listener = bind_owned(path, owner).map_err(io)?;
        let socket = ControlSocket {
            path: path.to_path_buf(),
            owner,
            listener: {
                listener.set_nonblocking(true).map_err(io)?;
                UnixListener::from_std(listener).map_err(io)?
            },
        };
        Ok(socket)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Answers each request with `answer` until `stop`.
    pub async fn serve(
        self,
        answer: impl Fn(Request) -> Reply + Send + Sync + 'static,
        stop: CancellationToken,
    ) {
        let answer = std::sync::Arc::new(answer);
        loop {
            let stream = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::debug!("control socket: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = stop.cancelled() => return,
            };
            let answer = std::sync::Arc::clone(&answer);
            let refusal = self.refusal(&stream);
            tokio::spawn(async move {
                let exchanged = async {
                    match refusal {
                        None => exchange(stream, &*answer).await,
                        Some(why) => exchange(stream, &|_| Reply::Refused(why.clone())).await,
                    }
                };
                let _ = tokio::time::timeout(EXCHANGE_LIMIT, exchanged).await;
            });
        }
    }

    /// Why this peer may not ask, if it may not: the owner and root only, whatever the
    /// file's mode says.
    fn refusal(&self, stream: &UnixStream) -> Option<String> {
        let why = match stream.peer_cred() {
            Ok(cred) if cred.uid() == self.owner || cred.uid() == 0 => return None,
            Ok(cred) => format!(
                "uid {} is not the user the capture is for (uid {})",
                cred.uid(),
                self.owner
            ),
            Err(e) => format!("whose connection it is cannot be told: {e}"),
        };
        tracing::warn!("control socket: {why}; refused");
        Some(why)
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn exchange(stream: UnixStream, answer: &(impl Fn(Request) -> Reply + ?Sized)) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let reply = match BufReader::new(read.take(REQUEST_LIMIT))
        .read_line(&mut line)
        .await
    {
        Ok(_) => match serde_json::from_str::<Request>(&line) {
            Ok(request) => answer(request),
            Err(e) => Reply::Refused(format!("not a request: {e}")),
        },
        Err(e) => Reply::Refused(format!("unreadable request: {e}")),
    };
    let mut out = serde_json::to_vec(&reply).unwrap_or_default();
    out.push(b'\n');
    let _ = write.write_all(&out).await;
    let _ = write.shutdown().await;
}

/// Asks the capture whose control socket is `path` (blocking: for the CLI's subcommands
/// and the app's background thread).
pub fn ask(path: &Path, request: Request) -> Result<Reply, ControlError> {
    let io = |source| ControlError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut stream = match std::os::unix::net::UnixStream::connect(path) {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(ControlError::NotRunning {
                path: path.to_path_buf(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(ControlError::Forbidden {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(io(e)),
    };
    stream.set_read_timeout(Some(EXCHANGE_LIMIT)).map_err(io)?;
    stream.set_write_timeout(Some(EXCHANGE_LIMIT)).map_err(io)?;
    let mut line = serde_json::to_vec(&request).unwrap_or_default();
    line.push(b'\n');
    stream.write_all(&line).map_err(io)?;
    let mut reply = String::new();
    io::BufReader::new(stream)
        .read_line(&mut reply)
        .map_err(io)?;
    serde_json::from_str(&reply).map_err(|e| ControlError::BadReply {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn status() -> CaptureStatus {
        CaptureStatus {
            pid: 7,
            listen: "127.0.0.1:1095".parse().unwrap(),
            capture: "device sbtun0".into(),
            udp_blocked: None,
            open: 2,
        }
    }

    async fn ask_async(path: &Path, request: Request) -> Result<Reply, ControlError> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || ask(&path, request))
            .await
            .unwrap()
    }

    #[test]
    fn requests_and_replies_have_a_stable_spelling() {
        let cases = [
            (Request::Status, r#"{"op":"status"}"#),
            (Request::Connections, r#"{"op":"connections"}"#),
            (Request::Stop, r#"{"op":"stop"}"#),
        ];
        for (request, json) in cases {
            assert_eq!(serde_json::to_string(&request).unwrap(), json);
            assert_eq!(serde_json::from_str::<Request>(json).unwrap(), request);
        }
        assert_eq!(
            serde_json::to_string(&Reply::Stopping).unwrap(),
            r#""stopping""#
        );
        let json = serde_json::to_string(&Reply::Status(status())).unwrap();
        assert!(json.starts_with(r#"{"status":{"pid":7,"#), "{json}");
        assert_eq!(
            serde_json::from_str::<Reply>(&json).unwrap(),
            Reply::Status(status())
        );
    }

    #[tokio::test]
    async fn the_owner_gets_answers_and_a_live_socket_is_never_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/tun.sock");
        let socket = ControlSocket::bind(&path, euid()).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let dir_mode = std::fs::metadata(path.parent().unwrap()).unwrap().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let stop = CancellationToken::new();
        let served = tokio::spawn(socket.serve(
            |request| match request {
                Request::Status => Reply::Status(status()),
                Request::Connections => Reply::Connections(serde_json::json!({"open": 0})),
                Request::Stop => Reply::Stopping,
            },
            stop.clone(),
        ));
        assert_eq!(
            ask_async(&path, Request::Status).await.unwrap(),
            Reply::Status(status())
        );
        assert_eq!(
            ask_async(&path, Request::Stop).await.unwrap(),
            Reply::Stopping
        );
        let again = ControlSocket::bind(&path, 0).unwrap_err();
        assert!(matches!(again, ControlError::Answering { .. }), "{again}");

        // Garbage gets a refusal, not silence.
        let mut raw = std::os::unix::net::UnixStream::connect(&path).unwrap();
        raw.write_all(b"hello\n").unwrap();
        let mut reply = String::new();
        tokio::task::spawn_blocking(move || {
            io::BufReader::new(raw).read_line(&mut reply).unwrap();
            reply
        })
        .await
        .map(|reply| assert!(reply.starts_with(r#"{"refused":"not a request"#), "{reply}"))
        .unwrap();

        stop.cancel();
        served.await.unwrap();
        assert!(!path.exists(), "the socket goes with the capture");
        let gone = ask_async(&path, Request::Status).await.unwrap_err();
        assert!(matches!(gone, ControlError::NotRunning { .. }), "{gone}");
    }

    #[test]
    fn a_stale_socket_is_replaced_and_anything_else_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tun.sock");
        // A killed capture's socket: bound, nobody listening any more.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            drop(ControlSocket::bind(&path, 0).unwrap());
        });
        std::fs::write(&path, "not a socket").unwrap();
        let refused = rt.block_on(async { ControlSocket::bind(&path, 0).unwrap_err() });
        assert!(
            matches!(refused, ControlError::NotASocket { .. }),
            "{refused}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a socket");
    }

    #[tokio::test]
    async fn as_root_the_socket_belongs_to_the_user_it_is_for_and_no_one_else_gets_in() {
        if euid() != 0 {
            return; // Needs root: the suite runs as root (see the README).
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("tun.sock");
        let socket = ControlSocket::bind(&path, 65534).unwrap();
        assert_eq!(std::fs::symlink_metadata(&path).unwrap().uid(), 65534);
        let stop = CancellationToken::new();
        let served = tokio::spawn(socket.serve(|_| Reply::Stopping, stop.clone()));
        // A client as `uid`: what it got back, or "denied" when it could not connect.
        let as_user = |uid: &str| {
            let path = path.clone();
            let uid = uid.to_string();
            tokio::task::spawn_blocking(move || {
                let out = std::process::Command::new("setpriv")
                    .args([
                        &format!("--reuid={uid}"),
                        &format!("--regid={uid}"),
                        "--clear-groups",
                    ])
                    .args(["/usr/bin/python3", "-c"])
                    .arg(
                        "import socket, sys\n\
                         s = socket.socket(socket.AF_UNIX)\n\
                         try:\n    s.connect(sys.argv[1])\n\
                         except PermissionError:\n    print('denied'); sys.exit()\n\
                         s.sendall(b'{\"op\":\"status\"}\\n')\n\
                         print(repr(s.recv(100)))",
                    )
                    .arg(&path)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{out:?}");
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            })
        };
        assert_eq!(
            as_user("65534").await.unwrap(),
            r#"b'"stopping"\n'"#,
            "the owner"
        );
        assert_eq!(
            as_user("65533").await.unwrap(),
            "denied",
            "another user: the mode"
        );
        // With the mode opened wide, the credentials check still refuses them.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let refused = as_user("65533").await.unwrap();
        assert!(
            refused.starts_with(
                r#"b'{"refused":"uid 65533 is not the user the capture is for (uid 65534)"#
            ),
            "another user: the peer check: {refused}"
        );
        assert_eq!(
            ask_async(&path, Request::Status).await.unwrap(),
            Reply::Stopping,
            "root"
        );
        stop.cancel();
        served.await.unwrap();
    }
}
