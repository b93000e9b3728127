//! The command layer through Tauri's IPC with the mock runtime: each command's happy path
//! and its errors, exactly as the settings window sees them (JSON in, JSON out).

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;

use serde_json::{json, Value};
use socksbridge::config::{store, SystemProxyMode};
use socksbridge_app::logs::LogBuffer;
use socksbridge_app::Launch;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{WebviewWindow, WebviewWindowBuilder};

use support::{free_port, origin};

struct Fixture {
    _app: tauri::App<tauri::test::MockRuntime>,
    window: WebviewWindow<tauri::test::MockRuntime>,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(settings_file: Option<&str>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        if let Some(text) = settings_file {
            std::fs::write(&path, text).unwrap();
        }
        // The app's own setup on the mock runtime. No system proxy backend: these tests
        // never touch the OS setting.
        let launch = Launch {
            settings_path: path,
            system: None,
            logs: LogBuffer::default(),
            open_settings: false,
            signalled: None,
        };
        let app = socksbridge_app::build_app(mock_builder(), mock_context(noop_assets()), launch)
            .unwrap();
        let window = WebviewWindowBuilder::new(&app, "settings", Default::default())
            .build()
            .unwrap();
        Fixture {
            _app: app,
            window,
            dir,
        }
    }

    fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        get_ipc_response(&self.window, request).map(|body| body.deserialize::<Value>().unwrap())
    }

    fn settings_path(&self) -> std::path::PathBuf {
        self.dir.path().join("settings.json")
    }
}

#[test]
fn get_state_reports_defaults_and_a_damaged_file_notice() {
    let fresh = Fixture::new(None);
    let state = fresh.call("get_state", json!({})).unwrap();
    assert_eq!(state["settings"]["listen"], "127.0.0.1:1095");
    // First run on a desktop without a settable system proxy (these fixtures have none):
    // the mode is off, so the first click still turns the proxy on.
    assert_eq!(state["settings"]["system_proxy"]["mode"], "off");
    assert_eq!(state["status"]["running"], false);
    assert_eq!(state["health"]["state"], "unknown");
    assert_eq!(state["notice"], Value::Null);

    let damaged = Fixture::new(Some("{ not json"));
    let state = damaged.call("get_state", json!({})).unwrap();
    assert_eq!(state["notice"]["key"], "core.settings_damaged_kept");
    let backup = state["notice"]["args"]["backup"].as_str().unwrap();
    assert!(backup.ends_with("settings.json.bak"), "{backup}");
    assert_eq!(
        std::fs::read_to_string(store::backup_path(&damaged.settings_path())).unwrap(),
        "{ not json"
    );
}

#[test]
fn save_settings_validates_saves_and_applies() {
    let f = Fixture::new(None);
    let mut settings = f.call("get_state", json!({})).unwrap()["settings"].clone();
    settings["listen"] = json!("localhost:99999");
    settings["servers"][0]["url"] = json!("http://nope");
    let err = f
        .call("save_settings", json!({ "settings": settings.clone() }))
        .unwrap_err();
    assert_eq!(err["kind"], "invalid");
    let fields: Vec<&str> = err["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["listen", "servers[0].url"]);
    assert!(
        !f.settings_path().exists(),
        "an invalid form must not be written"
    );

    let port = free_port();
    settings["listen"] = json!(format!("127.0.0.1:{port}"));
    settings["servers"] = json!([
        { "name": "Home", "url": "socks5h://alice:s3cret@127.0.0.1:1080" },
        { "name": "Office", "url": "http://127.0.0.1:3128" },
    ]);
    let view = f
        .call("save_settings", json!({ "settings": settings }))
        .unwrap();
    assert_eq!(
        view["settings"]["servers"][0]["url"],
        "socks5h://alice:s3cret@127.0.0.1:1080"
    );
    assert_eq!(view["status"]["server"], "Home");
    assert_eq!(view["status"]["upstream"], "socks5h://alice@127.0.0.1:1080");
    assert_eq!(
        view["status"]["servers"][1]["upstream"],
        "http://127.0.0.1:3128"
    );
    assert_eq!(view["status"]["servers"][1]["chosen"], false);
    let saved = store::load(&f.settings_path());
    assert_eq!(saved.settings.listen, format!("127.0.0.1:{port}"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(f.settings_path())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }

    let errors = f
        .call(
            "validate_settings",
            json!({ "settings": { "max_connections": 0 } }),
        )
        .unwrap();
    assert_eq!(
        errors,
        json!([{
            "field": "max_connections",
            "message": "must be at least 1",
            "key": "core.at_least_one",
            "args": {}
        }])
    );
}

#[test]
fn set_enabled_starts_and_stops_the_proxy() {
    let f = Fixture::new(None);
    let port = free_port();
    let origin = origin();
    let settings = json!({ "listen": format!("127.0.0.1:{port}"), "servers": [{ "name": "Direct", "url": "direct://" }] });
    f.call("save_settings", json!({ "settings": settings }))
        .unwrap();
    let view = f.call("set_enabled", json!({ "on": true })).unwrap();
    assert_eq!(view["status"]["running"], true);
    assert_eq!(view["status"]["listen"], format!("127.0.0.1:{port}"));

    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET http://127.0.0.1:{origin}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 200") && reply.ends_with("hello"),
        "{reply}"
    );

    let view = f.call("set_enabled", json!({ "on": false })).unwrap();
    assert_eq!(view["status"]["running"], false);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());

    // A busy port is an error with the core's one-line reason.
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    f.call("save_settings", json!({ "settings": { "listen": format!("127.0.0.1:{busy_port}"), "servers": [{ "name": "Direct", "url": "direct://" }] } })).unwrap();
    let err = f.call("set_enabled", json!({ "on": true })).unwrap_err();
    assert_eq!(
        err,
        json!({ "kind": "failed", "message": format!("port {busy_port} is already in use") })
    );
}

#[test]
fn system_proxy_mode_without_a_desktop_is_a_clear_error() {
    let f = Fixture::new(None);
    let port = free_port();
    f.call(
        "save_settings",
        json!({ "settings": { "listen": format!("127.0.0.1:{port}"), "servers": [{ "name": "Direct", "url": "direct://" }] } }),
    )
    .unwrap();
    f.call("set_enabled", json!({ "on": true })).unwrap();
    let err = f
        .call("set_system_proxy_mode", json!({ "mode": "global" }))
        .unwrap_err();
    assert_eq!(err["kind"], "failed");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("no system proxy setting"),
        "{err}"
    );
    // Nothing half-done: the file, the app and the proxy all keep mode off.
    let saved = store::load(&f.settings_path()).settings;
    assert_eq!(saved.system_proxy.mode, SystemProxyMode::Off);
    let state = f.call("get_state", json!({})).unwrap();
    assert_eq!(state["settings"]["system_proxy"]["mode"], "off");
    assert_eq!(state["status"]["running"], true);
    let err = f
        .call("set_system_proxy_mode", json!({ "mode": "sideways" }))
        .unwrap_err();
    assert!(err.to_string().contains("sideways"), "{err}");
    f.call("set_enabled", json!({ "on": false })).unwrap();
}

#[test]
fn a_settings_file_that_cannot_be_written_keeps_the_previous_settings_running() {
    let f = Fixture::new(None);
    let (first, second) = (free_port(), free_port());
    let settings = |port: u16| json!({ "settings": { "listen": format!("127.0.0.1:{port}"), "servers": [{ "name": "Direct", "url": "direct://" }] } });
    f.call("save_settings", settings(first)).unwrap();
    f.call("set_enabled", json!({ "on": true })).unwrap();
    // A directory where the file should be: the atomic rename onto it fails.
    let path = f.settings_path();
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    let err = f.call("save_settings", settings(second)).unwrap_err();
    assert_eq!(err["kind"], "failed");
    let message = err["message"].as_str().unwrap();
    assert!(
        message.starts_with("cannot save settings") && message.contains("previous settings"),
        "{err}"
    );
    let state = f.call("get_state", json!({})).unwrap();
    assert_eq!(state["settings"]["listen"], format!("127.0.0.1:{first}"));
    assert_eq!(state["status"]["listen"], format!("127.0.0.1:{first}"));
    assert!(TcpListener::bind(("127.0.0.1", second)).is_ok());
    f.call("set_enabled", json!({ "on": false })).unwrap();
}

#[test]
fn test_upstream_reports_latency_or_the_exact_failure() {
    let f = Fixture::new(None);
    let origin = origin();
    let ms = f
        .call(
            "test_upstream",
            json!({ "upstream": "direct://", "target": format!("127.0.0.1:{origin}") }),
        )
        .unwrap();
    assert!(ms.as_f64().is_some_and(|ms| ms >= 0.0), "{ms}");

    let dead = free_port();
    let err = f
        .call("test_upstream", json!({ "upstream": format!("socks5h://127.0.0.1:{dead}"), "target": "example.com:443" }))
        .unwrap_err();
    assert_eq!(err["kind"], "failed");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("SOCKS server 127.0.0.1:{dead} is unreachable")),
        "{err}"
    );

    let err = f
        .call(
            "test_upstream",
            json!({ "upstream": "socks9://x", "target": "example.com:443" }),
        )
        .unwrap_err();
    assert_eq!(err["fields"][0]["field"], "upstream");
    let err = f
        .call(
            "test_upstream",
            json!({ "upstream": "direct://", "target": "no-port" }),
        )
        .unwrap_err();
    assert_eq!(err["fields"][0]["field"], "app.probe_target");
}

#[test]
fn servers_import_from_links_and_the_tray_choice_is_saved() {
    let f = Fixture::new(None);
    let existing = json!([{ "name": "Home", "url": "socks5h://127.0.0.1:1080" }]);
    let imported = f
        .call(
            "import_servers",
            json!({
                "text": "socks5h://127.0.0.1:1080#Again\nsocks5://u:p@10.0.0.2:9050#Home\nhttps://p",
                "servers": existing,
            }),
        )
        .unwrap();
    assert_eq!(imported["duplicates"], 1);
    assert_eq!(
        imported["servers"],
        json!([{ "name": "Home (2)", "url": "socks5://u:p@10.0.0.2:9050" }])
    );
    assert_eq!(imported["errors"][0]["link"], "https://p");

    let port = free_port();
    let mut settings = f.call("get_state", json!({})).unwrap()["settings"].clone();
    settings["listen"] = json!(format!("127.0.0.1:{port}"));
    settings["servers"] = json!([
        { "name": "A", "url": "direct://" },
        { "name": "B", "url": "socks5h://127.0.0.1:1080" },
    ]);
    f.call("save_settings", json!({ "settings": settings }))
        .unwrap();
    let view = f.call("select_server", json!({ "name": "B" })).unwrap();
    assert_eq!(view["status"]["server"], "B");
    assert_eq!(store::load(&f.settings_path()).settings.active, "B");
    let err = f
        .call("select_server", json!({ "name": "Nope" }))
        .unwrap_err();
    assert_eq!(err["fields"][0]["field"], "active");
    assert_eq!(store::load(&f.settings_path()).settings.active, "B");
}

#[test]
fn logs_and_terminal_command() {
    let f = Fixture::new(None);
    assert!(f.call("get_logs", json!({})).unwrap().as_array().is_some());
    let command = f.call("terminal_command", json!({})).unwrap();
    assert!(
        command.as_str().unwrap().contains("http://127.0.0.1:1095"),
        "{command}"
    );
}
