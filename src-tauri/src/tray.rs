//! The tray icon and its menu. Menu ids are a typed enum; a menu click runs an action,
//! and the menu and icon are redrawn from the announced state, whatever changed it. The
//! servers are listed in the menu itself, each with its last check, the one in use
//! checked: switching is one click.

use socksbridge::config::SystemProxyMode;
use socksbridge::controller::ServerStatus;
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Runtime};

use crate::actions;
use crate::clicks::ClickFilter;
use crate::i18n::Language;
use crate::state::{AppView, Health};
use socksbridge::sync::lock;

/// The tray's id; on Linux the menu is published on the session bus at
/// `/org/ayatana/NotificationItem/tray_icon_tray_app_socksbridge/Menu`.
pub const TRAY_ID: &str = "socksbridge";

/// Every menu entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuId {
    Enable,
    SystemProxy(SystemProxyMode),
    Upstream,
    /// The server at this position in the list.
    Server(usize),
    CopyCommand,
    Settings,
    Quit,
}

const SERVER_PREFIX: &str = "server-";

impl MenuId {
    const ALL: [MenuId; 8] = [
        MenuId::Enable,
        MenuId::SystemProxy(SystemProxyMode::Off),
        MenuId::SystemProxy(SystemProxyMode::Global),
        MenuId::SystemProxy(SystemProxyMode::Pac),
        MenuId::Upstream,
        MenuId::CopyCommand,
        MenuId::Settings,
        MenuId::Quit,
    ];

    pub fn id(self) -> String {
        match self {
            MenuId::Server(i) => format!("{SERVER_PREFIX}{i}"),
            fixed => fixed.fixed_id().to_string(),
        }
    }

    fn fixed_id(self) -> &'static str {
        match self {
            MenuId::Server(_) => SERVER_PREFIX,
            MenuId::Enable => "enable",
            MenuId::SystemProxy(SystemProxyMode::Off) => "system-proxy-off",
            MenuId::SystemProxy(SystemProxyMode::Global) => "system-proxy-global",
            MenuId::SystemProxy(SystemProxyMode::Pac) => "system-proxy-pac",
            MenuId::Upstream => "upstream",
            MenuId::CopyCommand => "copy-command",
            MenuId::Settings => "settings",
            MenuId::Quit => "quit",
        }
    }

    /// The one place an event's id becomes a [`MenuId`].
    pub fn from_event(event: &MenuEvent) -> Option<MenuId> {
        let id = event.id().as_ref();
        if let Some(index) = id.strip_prefix(SERVER_PREFIX) {
            return index.parse().ok().map(MenuId::Server);
        }
        MenuId::ALL.into_iter().find(|m| m.fixed_id() == id)
    }
}

/// Icon state: off, on, or on with the upstream unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IconState {
    Off,
    On,
    UpstreamDown,
}

impl IconState {
    pub fn of(running: bool, health: &Health) -> IconState {
        match (running, health) {
            (false, _) => IconState::Off,
            (true, Health::Down { .. }) => IconState::UpstreamDown,
            (true, _) => IconState::On,
        }
    }

    /// On macOS a template image (black and alpha, tinted by the menu bar, the states told
    /// apart by shape); elsewhere the coloured disc.
    fn png(self) -> &'static [u8] {
        match (self, TEMPLATE) {
            (IconState::Off, false) => include_bytes!("../../icons/tray-off@2x.png"),
            (IconState::On, false) => include_bytes!("../../icons/tray-on@2x.png"),
            (IconState::UpstreamDown, false) => include_bytes!("../../icons/tray-error@2x.png"),
            (IconState::Off, true) => include_bytes!("../../icons/tray-off-template@2x.png"),
            (IconState::On, true) => include_bytes!("../../icons/tray-on-template@2x.png"),
            (IconState::UpstreamDown, true) => {
                include_bytes!("../../icons/tray-error-template@2x.png")
            }
        }
    }
}

/// macOS menu-bar icons are template images.
const TEMPLATE: bool = cfg!(target_os = "macos");

/// The items whose state changes, kept to redraw them.
pub struct Tray<R: Runtime> {
    icon: TrayIcon<R>,
    enable: CheckMenuItem<R>,
    modes: [(SystemProxyMode, CheckMenuItem<R>); 3],
    system: Submenu<R>,
    upstream: MenuItem<R>,
    menu: Menu<R>,
    /// The server entries shown, by name, in list order.
    servers: std::sync::Mutex<Vec<(String, CheckMenuItem<R>)>>,
    /// Copy, Settings, Quit: their words change only with the language.
    fixed: [(MenuItem<R>, &'static str); 3],
    shown: std::sync::Mutex<Option<IconState>>,
    /// `app.language` as last seen, and what it resolved to (the OS is asked only when the
    /// setting changes, not on every redraw).
    language: std::sync::Mutex<(String, Language)>,
}

fn icon(state: IconState) -> tauri::Result<Image<'static>> {
    Image::from_bytes(state.png())
}

pub fn build<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let check = |id: MenuId, text: &str| {
        CheckMenuItem::with_id(app, id.id(), text, true, false, None::<&str>)
    };
    let item = |id: MenuId, text: &str, enabled: bool| {
        MenuItem::with_id(app, id.id(), text, enabled, None::<&str>)
    };
    let state = app.state::<crate::state::AppState>();
    let setting = tauri::async_runtime::block_on(state.controller.settings())
        .app
        .language;
    let lang = Language::resolve(&setting);
    let enable = check(MenuId::Enable, &enable_label(lang, SystemProxyMode::Off))?;
    let off = check(
        MenuId::SystemProxy(SystemProxyMode::Off),
        &lang.t("tray.off", &[]),
    )?;
    let global = check(
        MenuId::SystemProxy(SystemProxyMode::Global),
        &lang.t("tray.global", &[]),
    )?;
    let pac = check(
        MenuId::SystemProxy(SystemProxyMode::Pac),
        &lang.t("tray.pac", &[]),
    )?;
    let system = Submenu::with_items(
        app,
        lang.t("tray.system_proxy", &[]),
        true,
        &[&off, &global, &pac],
    )?;
    let upstream = item(MenuId::Upstream, "…", false)?;
    let copy = item(MenuId::CopyCommand, &lang.t("tray.copy", &[]), true)?;
    let settings = item(MenuId::Settings, &lang.t("tray.settings", &[]), true)?;
    let quit = item(MenuId::Quit, &lang.t("tray.quit", &[]), true)?;
    let separator = || PredefinedMenuItem::separator(app);
    let menu = Menu::with_items(
        app,
        &[
            &enable,
            &system,
            &upstream,
            &separator()?,
            &separator()?,
            &copy,
            &settings,
            &separator()?,
            &quit,
        ],
    )?;
    let clicks = std::sync::Mutex::new(ClickFilter::default());
    let tray_icon = TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon(IconState::Off)?)
        .icon_as_template(TEMPLATE)
        .tooltip(lang.t("tray.tooltip_off", &[]))
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| {
            if let Some(id) = MenuId::from_event(&event) {
                let app = app.clone();
                tauri::async_runtime::spawn(async move { on_menu(&app, id).await });
            }
        })
        .on_tray_icon_event(move |tray, event| {
            let toggles = lock(&clicks).toggles(&event);
            if toggles {
                let app = tray.app_handle().clone();
                tauri::async_runtime::spawn(async move { on_menu(&app, MenuId::Enable).await });
            }
        })
        .build(app)?;
    app.manage(Tray {
        icon: tray_icon,
        menu,
        servers: std::sync::Mutex::new(Vec::new()),
        enable,
        modes: [
            (SystemProxyMode::Off, off),
            (SystemProxyMode::Global, global),
            (SystemProxyMode::Pac, pac),
        ],
        system,
        upstream,
        fixed: [
            (copy, "tray.copy"),
            (settings, "tray.settings"),
            (quit, "tray.quit"),
        ],
        shown: std::sync::Mutex::new(Some(IconState::Off)),
        language: std::sync::Mutex::new((setting, lang)),
    });
    Ok(())
}

async fn on_menu<R: Runtime>(app: &AppHandle<R>, id: MenuId) {
    let result = match id {
        MenuId::Enable => actions::toggle(app).await,
        MenuId::SystemProxy(mode) => actions::set_system_proxy_mode(app, mode).await,
        MenuId::CopyCommand => actions::copy_terminal_command(app).await,
        MenuId::Settings => {
            crate::window::open(app);
            Ok(())
        }
        MenuId::Quit => {
            actions::quit(app);
            Ok(())
        }
        MenuId::Server(index) => {
            // The server by the name the menu showed, whatever the list became since.
            let shown = app.try_state::<Tray<R>>().and_then(|tray| {
                let servers = lock(&tray.servers);
                servers.get(index).map(|(name, _)| name.clone())
            });
            match shown {
                Some(name) => actions::select_server(app, &name).await,
                None => Ok(()),
            }
        }
        MenuId::Upstream => Ok(()),
    };
    if let Err(e) = result {
        tracing::error!("{e}");
    }
}

/// Redraws check marks, the upstream line, the icon and the tooltip from `view`.
pub fn redraw<R: Runtime>(app: &AppHandle<R>, view: &AppView) {
    let Some(tray) = app.try_state::<Tray<R>>() else {
        return;
    };
    let mut language = lock(&tray.language);
    let setting = &view.settings.app.language;
    if language.0 != *setting {
        let lang = Language::resolve(setting);
        let _ = tray.system.set_text(lang.t("tray.system_proxy", &[]));
        for ((_, item), key) in tray
            .modes
            .iter()
            .zip(["tray.off", "tray.global", "tray.pac"])
        {
            let _ = item.set_text(lang.t(key, &[]));
        }
        for (item, key) in &tray.fixed {
            let _ = item.set_text(lang.t(key, &[]));
        }
        *language = (setting.clone(), lang);
    }
    let lang = language.1;
    drop(language);
    let running = view.status.running;
    let _ = tray.enable.set_checked(running);
    let _ = tray
        .enable
        .set_text(enable_label(lang, view.settings.system_proxy.mode));
    for (mode, item) in &tray.modes {
        let _ = item.set_checked(*mode == view.settings.system_proxy.mode);
    }
    let _ = tray.upstream.set_text(upstream_line(lang, view));
    redraw_servers(app, &tray, lang, &view.status.servers);
    let state = IconState::of(running, &view.health);
    let mut shown = lock(&tray.shown);
    if *shown != Some(state) {
        if let Ok(image) = icon(state) {
            let _ = tray.icon.set_icon(Some(image));
            let _ = tray.icon.set_icon_as_template(TEMPLATE);
            *shown = Some(state);
        }
    }
    let _ = tray.icon.set_tooltip(Some(tooltip(lang, view)));
}

/// Where the first server entry goes: after Enable, System proxy, the upstream line and
/// a separator.
const FIRST_SERVER_POSITION: usize = 4;

/// The server entries: rebuilt when the names change, else only their texts and checks.
fn redraw_servers<R: Runtime>(
    app: &AppHandle<R>,
    tray: &Tray<R>,
    lang: Language,
    servers: &[ServerStatus],
) {
    let mut shown = lock(&tray.servers);
    let same = shown.len() == servers.len()
        && shown
            .iter()
            .zip(servers)
            .all(|((name, _), s)| *name == s.name);
    if !same {
        for (_, item) in shown.drain(..) {
            let _ = tray.menu.remove(&item);
        }
        for (i, server) in servers.iter().enumerate() {
            let item = CheckMenuItem::with_id(
                app,
                MenuId::Server(i).id(),
                server_label(lang, server),
                true,
                server.in_use,
                None::<&str>,
            );
            match item {
                Ok(item) => {
                    let _ = tray.menu.insert(&item, FIRST_SERVER_POSITION + i);
                    shown.push((server.name.clone(), item));
                }
                Err(e) => tracing::warn!("cannot list server {} in the tray: {e}", server.name),
            }
        }
        return;
    }
    for ((_, item), server) in shown.iter().zip(servers) {
        let _ = item.set_text(server_label(lang, server));
        let _ = item.set_checked(server.in_use);
    }
}

/// A server's entry: its name and its last check (how fast, and whether it carries UDP).
pub fn server_label(lang: Language, server: &ServerStatus) -> String {
    match &server.last {
        Some(check) if check.ok => {
            let udp = match &check.udp {
                Some(udp) if udp.ok => format!(" · {}", lang.t("tray.udp_yes", &[])),
                Some(_) => format!(" · {}", lang.t("tray.udp_no", &[])),
                None => String::new(),
            };
            format!(
                "{} · {}{udp}",
                server.name,
                latency(check.latency_ms.unwrap_or_default())
            )
        }
        Some(_) => format!("{} · {}", server.name, lang.t("tray.unreachable", &[])),
        None => server.name.clone(),
    }
}

fn latency(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// The toggle says what one click does: with a system-proxy mode the whole desktop goes
/// through the proxy, without one only what is pointed at its port.
pub fn enable_label(lang: Language, mode: SystemProxyMode) -> String {
    match mode {
        SystemProxyMode::Global => lang.t("tray.enable_global", &[]),
        SystemProxyMode::Pac => lang.t("tray.enable_pac", &[]),
        SystemProxyMode::Off => lang.t("tray.enable_local", &[]),
    }
}

fn upstream_line(lang: Language, view: &AppView) -> String {
    let latency = match &view.health {
        Health::Ok { latency_ms } => format!(" · {}", latency(*latency_ms)),
        Health::Down { .. } => format!(" · {}", lang.t("tray.unreachable", &[])),
        Health::Unknown => String::new(),
    };
    let via = lang.t(
        "tray.via",
        &[(
            "upstream",
            &format!("{} ({})", view.status.server, view.status.upstream),
        )],
    );
    format!("{via}{latency}")
}

fn tooltip(lang: Language, view: &AppView) -> String {
    match (view.status.running, view.status.listen) {
        (true, Some(listen)) => lang.t(
            "tray.tooltip_on",
            &[
                ("listen", &listen.to_string()),
                ("up", &speed(view.speed.up_bps)),
                ("down", &speed(view.speed.down_bps)),
            ],
        ),
        _ => lang.t("tray.tooltip_off", &[]),
    }
}

fn speed(bps: f64) -> String {
    match bps {
        b if b >= 1e6 => format!("{:.1} MB/s", b / 1e6),
        b if b >= 1e3 => format!("{:.1} KB/s", b / 1e3),
        b => format!("{b:.0} B/s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_ids_are_unique_and_round_trip() {
        let all: Vec<MenuId> = MenuId::ALL
            .into_iter()
            .chain([MenuId::Server(0), MenuId::Server(12)])
            .collect();
        let mut ids: Vec<String> = all.iter().map(|m| m.id()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all.len());
        for m in all {
            let event = MenuEvent {
                id: tauri::menu::MenuId::new(m.id()),
            };
            assert_eq!(MenuId::from_event(&event), Some(m));
        }
        for nope in ["nope", "server-", "server-x", "server--1"] {
            assert_eq!(
                MenuId::from_event(&MenuEvent {
                    id: tauri::menu::MenuId::new(nope)
                }),
                None,
                "{nope}"
            );
        }
    }

    #[test]
    fn icon_states_and_speeds() {
        assert_eq!(
            IconState::of(
                false,
                &Health::Down {
                    error: "x".into(),
                    message: None
                }
            ),
            IconState::Off
        );
        assert_eq!(IconState::of(true, &Health::Unknown), IconState::On);
        assert_eq!(
            IconState::of(
                true,
                &Health::Down {
                    error: "x".into(),
                    message: None
                }
            ),
            IconState::UpstreamDown
        );
        for state in [IconState::Off, IconState::On, IconState::UpstreamDown] {
            let image = icon(state).unwrap();
            assert_eq!((image.width(), image.height()), (64, 64));
        }
        let en = Language::English;
        assert_eq!(
            enable_label(en, SystemProxyMode::Global),
            "Enable proxy (system-wide)"
        );
        assert_ne!(
            enable_label(en, SystemProxyMode::Off),
            enable_label(en, SystemProxyMode::Global)
        );
        assert_eq!(
            enable_label(Language::SimplifiedChinese, SystemProxyMode::Global),
            "启用代理（全局）"
        );
        assert_eq!(speed(512.0), "512 B/s");
        assert_eq!(speed(1500.0), "1.5 KB/s");
        assert_eq!(speed(2_500_000.0), "2.5 MB/s");
    }

    #[test]
    fn a_server_entry_says_its_speed_and_whether_it_carries_udp() {
        use socksbridge::health::{Check, UdpCheck};
        let server = |last: Option<Check>| ServerStatus {
            name: "Alpha".into(),
            upstream: "socks5h://127.0.0.1:1080".into(),
            direct: false,
            chosen: true,
            in_use: true,
            last,
        };
        let check = |ok: bool, udp: Option<bool>| Check {
            ok,
            latency_ms: ok.then_some(12.3),
            error: None,
            message: None,
            at_ms: 0,
            udp: udp.map(|ok| UdpCheck { ok, message: None }),
        };
        let cases = [
            (Language::English, None, "Alpha"),
            (Language::English, Some(check(true, None)), "Alpha · 12 ms"),
            (
                Language::English,
                Some(check(true, Some(true))),
                "Alpha · 12 ms · UDP: yes",
            ),
            (
                Language::English,
                Some(check(true, Some(false))),
                "Alpha · 12 ms · UDP: no",
            ),
            (
                Language::English,
                Some(check(false, None)),
                "Alpha · unreachable",
            ),
            (
                Language::Russian,
                Some(check(true, Some(false))),
                "Alpha · 12 ms · UDP: нет",
            ),
            (
                Language::SimplifiedChinese,
                Some(check(true, Some(true))),
                "Alpha · 12 ms · UDP：支持",
            ),
        ];
        for (lang, last, label) in cases {
            assert_eq!(server_label(lang, &server(last)), label);
        }
    }
}
