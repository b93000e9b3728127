//! A model of WinINet's proxy settings, faithful where the plan depends on it:
//! - every connection (LAN and each phonebook entry) keeps its own four options;
//! - `PROXY_TYPE_DIRECT` is always among the flags, whatever was written;
//! - writing the LAN options also rewrites the legacy values under `Internet Settings`
//!   (`ProxyEnable`, `ProxyServer`, `ProxyOverride`, `AutoConfigURL`), which older programs
//!   read: `AutoConfigURL` exists only while the PAC flag is on, empty strings are removed;
//! - an entry that is not in the phonebook cannot be read or written
//!   (`ERROR_INVALID_PARAMETER`);
//! - a group policy can pin the setting: writes "succeed" and change nothing;
//! - a per-machine proxy policy (`ProxySettingsPerUser=0`) refuses a standard user's
//!   writes: `InternetSetOption` fails with `ERROR_ACCESS_DENIED`, nothing changes;
//! - `RasEnumEntries` can fail (`ras_error`), and its codes are read by the plan.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{
    ConnOptions, Connection, Store, PROXY_TYPE_AUTO_PROXY_URL, PROXY_TYPE_DIRECT, PROXY_TYPE_PROXY,
};
use crate::system_proxy::SysProxyError;

#[derive(Debug, Default)]
pub struct State {
    pub lan: ConnOptions,
    /// The phonebook, in its order.
    pub ras: Vec<(String, ConnOptions)>,
    /// `HKCU\…\Internet Settings` legacy values.
    pub legacy: BTreeMap<String, String>,
    pub notified: usize,
    pub writes: usize,
    pub policy_pinned: bool,
    pub per_machine_policy: bool,
    /// What `RasEnumEntries` fails with, if it does.
    pub ras_error: Option<u32>,
}

/// Shared between the backend under test and the test, which plays the user.
#[derive(Debug, Clone, Default)]
pub struct Model(Arc<Mutex<State>>);

impl Model {
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }

    /// A fresh Windows install: "Automatically detect settings" on, nothing else.
    pub fn fresh() -> Model {
        let model = Model::default();
        model
            .user_sets(
                &Connection::Lan,
                ConnOptions {
                    flags: PROXY_TYPE_DIRECT | super::PROXY_TYPE_AUTO_DETECT,
                    ..ConnOptions::default()
                },
            )
            .unwrap();
        model.state().writes = 0;
        model
    }

    pub fn add_ras(&self, name: &str, options: ConnOptions) {
        self.state().ras.push((name.to_string(), options));
    }

    pub fn remove_ras(&self, name: &str) {
        self.state().ras.retain(|(n, _)| n != name);
    }

    /// The user (or another program) changes a connection in Internet Options.
    pub fn user_sets(
        &self,
        connection: &Connection,
        options: ConnOptions,
    ) -> Result<(), SysProxyError> {
        let pinned = std::mem::take(&mut self.state().policy_pinned);
        let result = self.write(connection, &options);
        self.state().policy_pinned = pinned;
        result
    }

    /// Everything a person or program could observe, for exact comparisons.
    pub fn observable(&self) -> String {
        let state = self.state();
        format!("{:?} {:?} {:?}", state.lan, state.ras, state.legacy)
    }
}

fn invalid(connection: &Connection) -> SysProxyError {
    SysProxyError::CommandFailed {
        command: format!("InternetSetOption({connection})"),
        detail: "The parameter is incorrect. (os error 87)".into(),
    }
}

impl Store for Model {
    fn ras_entries(&self) -> Result<Vec<String>, SysProxyError> {
        let state = self.state();
        super::phonebook(match state.ras_error {
            Some(code) => Err(code),
            None => Ok(state.ras.iter().map(|(n, _)| n.clone()).collect()),
        })
    }

    fn read(&self, connection: &Connection) -> Result<ConnOptions, SysProxyError> {
        let state = self.state();
        let mut options = match connection {
            Connection::Lan => state.lan.clone(),
            Connection::Ras(name) => state
                .ras
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, o)| o.clone())
                .ok_or_else(|| invalid(connection))?,
        };
        options.flags |= PROXY_TYPE_DIRECT;
        Ok(options)
    }

    fn write(&self, connection: &Connection, options: &ConnOptions) -> Result<(), SysProxyError> {
        let mut state = self.state();
        state.writes += 1;
        if state.policy_pinned {
            return Ok(());
        }
        if state.per_machine_policy {
            return Err(SysProxyError::CommandFailed {
                command: format!("InternetSetOption({connection})"),
                detail: "Access is denied. (os error 5)".into(),
            });
        }
        let options = &ConnOptions {
            flags: options.flags | PROXY_TYPE_DIRECT,
            ..options.clone()
        };
        match connection {
            Connection::Lan => {
                state.lan = options.clone();
                let legacy = &mut state.legacy;
                let enabled = options.flags & PROXY_TYPE_PROXY != 0;
                legacy.insert("ProxyEnable".into(), u32::from(enabled).to_string());
                let mut text = |name: &str, value: &str, keep: bool| {
                    if keep && !value.is_empty() {
                        legacy.insert(name.into(), value.into());
                    } else {
                        legacy.remove(name);
                    }
                };
                text("ProxyServer", &options.server, true);
                text("ProxyOverride", &options.bypass, true);
                text(
                    "AutoConfigURL",
                    &options.pac_url,
                    options.flags & PROXY_TYPE_AUTO_PROXY_URL != 0,
                );
            }
            Connection::Ras(name) => {
                let entry = state
                    .ras
                    .iter_mut()
                    .find(|(n, _)| n == name)
                    .ok_or_else(|| invalid(connection))?;
                entry.1 = options.clone();
            }
        }
        Ok(())
    }

    fn notify(&self) -> Result<(), SysProxyError> {
        self.state().notified += 1;
        Ok(())
    }
}
