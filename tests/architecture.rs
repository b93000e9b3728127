//! The folder picture holds: every `crate::` import in src/ and src-tauri/src/ runs down
//! the floors listed here, so there is no import loop and no module reaches back up to
//! the one that calls it. A new module must be given its floor.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The core, top floor first: the data path (server → protocols → engine → routing and
/// dialling → byte plumbing), then the pieces everything stands on.
const CORE: &[&str] = &[
    "controller",
    "health",
    "failover",
    "tun",
    "server",
    "http",
    "socks",
    "engine",
    "auth",
    "loop_guard",
    "dial",
    "route",
    "pump",
    "stream",
    "connections",
    "socket_owner",
    "metered",
    "stats",
    "heap",
    "error",
    "config",
    "secret",
    "system_proxy",
    "pac",
    "bypass",
    "target",
    "fsutil",
    "message",
    "limits",
    "termination",
    "sync",
];

/// The tray app, top floor first: the entry points over the actions over the state.
const APP: &[&str] = &[
    "commands",
    "tray",
    "clicks",
    "monitor",
    "network_events",
    "tray_host",
    "actions",
    "window",
    "autostart",
    "state",
    "i18n",
    "logs",
];

/// `(module, imported module)` for every `crate::x` a file names outside comments and
/// its unit tests; `module` is the file's top-level module under `root`.
fn imports(root: &Path) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(root).unwrap();
            let first = relative.components().next().unwrap().as_os_str();
            let module = first.to_string_lossy().trim_end_matches(".rs").to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for line in code.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
                for used in names_after_crate(line) {
                    if used != module {
                        found.insert((module.clone(), used));
                    }
                }
            }
        }
    }
    found
}

/// The module names a line imports from `crate`: `crate::a::b` and `crate::{a, b::c}`.
fn names_after_crate(line: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (i, _) in line.match_indices("crate::") {
        let rest = &line[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = group.split('}').next().unwrap_or("");
            names.extend(group.split(',').map(|p| head(p.trim())));
        } else {
            names.push(head(rest));
        }
    }
    names.retain(|n| !n.is_empty() && n.chars().next().is_some_and(|c| c.is_ascii_lowercase()));
    names
}

fn head(path: &str) -> String {
    path.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

fn check(root: PathBuf, floors: &[&str]) {
    let floor = |m: &str| floors.iter().position(|f| *f == m);
    let mut wrong = Vec::new();
    for (module, used) in imports(&root) {
        // lib.rs and main.rs wire everything together and bin/ is the CLI: the roof.
        if ["lib", "main", "bin"].contains(&module.as_str()) {
            continue;
        }
        match (floor(&module), floor(&used)) {
            (Some(from), Some(to)) if from < to => {}
            (None, _) => wrong.push(format!("{module}: not on any floor")),
            (_, None) => wrong.push(format!("{used} (imported by {module}): not on any floor")),
            _ => wrong.push(format!("{module} imports {used}, which is not below it")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{}:\n{}",
        root.display(),
        wrong.join("\n")
    );
}

#[test]
fn core_imports_run_down_the_floors() {
    check(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), CORE);
}

#[test]
fn app_imports_run_down_the_floors() {
    check(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src-tauri/src"),
        APP,
    );
}

#[test]
fn the_checker_sees_imports() {
    assert_eq!(
        names_after_crate("use crate::engine::{Conn, Engine};"),
        ["engine"]
    );
    assert_eq!(
        names_after_crate("use crate::{dial, loop_guard};"),
        ["dial", "loop_guard"]
    );
    assert_eq!(
        names_after_crate("let x = crate::pump::pump(a); crate::Settings"),
        ["pump"]
    );
    let core = imports(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(core.contains(&("http".to_string(), "engine".to_string())));
    assert!(core.contains(&("engine".to_string(), "route".to_string())));
}
