#!/usr/bin/env bash
# Installs every system package the core's tests need (Debian/Ubuntu), only when missing.
set -euo pipefail
. "$(dirname "$0")/apt.sh"
apt_install_missing \
  curl `# the real HTTP client the integration tests drive` \
  microsocks `# a real SOCKS5 server with username/password, started by the tests` \
  dante-server `# a second real SOCKS5 server (benchmarks)` \
  tinyproxy `# a real HTTP proxy: HTTP upstreams and chains (tests/http_upstream.rs)` \
  dbus `# dbus-run-session: a private session bus for system-proxy tests` \
  dconf-gsettings-backend gsettings-desktop-schemas libglib2.0-bin `# real gsettings` \
  dconf-cli `# dconf dump: which keys are at their defaults, so restore resets them` \
  libkf5config-bin `# kwriteconfig5 / kreadconfig5 for the KDE path` \
  iproute2 `# network namespaces: LAN clients in tests/lan_clients.rs` \
  nftables `# nft: the TUN tests' leak counter on the desktop namespace's uplink` \
  dnsmasq-base `# a real DNS server (UDP and TCP) on the TUN tests' fake internet` \
  python3 `# the model of macOS's networksetup/scutil/osascript (tests/fixtures/macos)`
