//! The X server's own account of the app's windows (what a window list shows), and the
//! close request a window manager sends when the user clicks ×: `WM_DELETE_WINDOW`.
//! xvfb-run's server takes only clients holding its cookie, which it hands the app alone
//! (in `XAUTHORITY`): the display is reached with the app's own.

use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    AtomEnum, ClientMessageEvent, ConnectionExt, EventMask, MapState, Window,
};
use x11rb::rust_connection::RustConnection;

/// An X display and the cookie file that opens it.
#[derive(Debug, Clone)]
pub struct Display {
    pub number: u32,
    pub xauthority: Option<PathBuf>,
}

/// The cookie for `display` in `file`, by `xauth` (hex in its listing).
fn cookie(display: u32, file: &std::path::Path) -> Option<Vec<u8>> {
    let listing = std::process::Command::new("xauth")
        .arg("-f")
        .arg(file)
        .arg("list")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&listing.stdout).into_owned();
    let hex = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() == 3 && f[0].ends_with(&format!(":{display}")))?[2]
        .to_string();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

fn connect(display: &Display) -> Option<(RustConnection, Window)> {
    let socket = UnixStream::connect(format!("/tmp/.X11-unix/X{}", display.number)).ok()?;
    let (stream, _) = x11rb::rust_connection::DefaultStream::from_unix_stream(socket).ok()?;
    let (name, data) = match &display.xauthority {
        Some(file) => (
            b"MIT-MAGIC-COOKIE-1".to_vec(),
            cookie(display.number, file)?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let conn = RustConnection::connect_to_stream_with_auth_info(stream, 0, name, data).ok()?;
    let root = conn.setup().roots[0].root;
    Some((conn, root))
}

/// The top-level windows titled `title` that are mapped (viewable).
fn mapped(conn: &RustConnection, root: Window, title: &str) -> Vec<Window> {
    let Some(tree) = conn.query_tree(root).ok().and_then(|c| c.reply().ok()) else {
        return Vec::new();
    };
    tree.children
        .into_iter()
        .filter(|&w| {
            let viewable = conn
                .get_window_attributes(w)
                .ok()
                .and_then(|c| c.reply().ok())
                .is_some_and(|a| a.map_state == MapState::VIEWABLE);
            let name = conn
                .get_property(false, w, AtomEnum::WM_NAME, AtomEnum::ANY, 0, 256)
                .ok()
                .and_then(|c| c.reply().ok())
                .map(|p| String::from_utf8_lossy(&p.value).into_owned());
            viewable && name.as_deref() == Some(title)
        })
        .collect()
}

/// Whether a window titled `title` is on the screen of `display`.
pub fn window_shown(display: &Display, title: &str) -> bool {
    connect(display).is_some_and(|(conn, root)| !mapped(&conn, root, title).is_empty())
}

/// Asks the window titled `title` to close, as a window manager's × does. False when no
/// such window is shown.
pub fn request_close(display: &Display, title: &str) -> bool {
    let Some((conn, root)) = connect(display) else {
        return false;
    };
    let Some(&window) = mapped(&conn, root, title).first() else {
        return false;
    };
    let atom = |name: &str| {
        conn.intern_atom(false, name.as_bytes())
            .ok()
            .and_then(|c| c.reply().ok())
            .map(|r| r.atom)
    };
    let (Some(protocols), Some(delete)) = (atom("WM_PROTOCOLS"), atom("WM_DELETE_WINDOW")) else {
        return false;
    };
    let event = ClientMessageEvent::new(
        32,
        window,
        protocols,
        [delete, x11rb::CURRENT_TIME, 0, 0, 0],
    );
    conn.send_event(false, window, EventMask::NO_EVENT, event)
        .is_ok()
        && conn.flush().is_ok()
}
