#!/usr/bin/env bash
# The packages as a user gets them: builds the .deb and .rpm from the test build
# (scripts/package.sh --debug), checks their contents and the .deb's control fields, runs
# lintian (no error allowed), then installs the .deb on this machine (as root, removed again
# at the end whatever happens), runs `socksbridge --help`, `socksbridge system-proxy status`
# in a private D-Bus session and the app for a few seconds under Xvfb, all from /usr/bin with
# a throwaway home, and checks that `dpkg -r` leaves no file behind and the user's own
# settings untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/socksbridge/target}
. scripts/apt.sh
apt_install_missing lintian rpm xvfb xauth dbus
fail() { echo "package test: $*" >&2; exit 1; }
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

if dpkg-query -W -f='${Status}' socksbridge 2>/dev/null | grep -q "install ok installed"; then
  fail "a socksbridge package is already installed here; this test installs and removes its own"
fi

bash scripts/package.sh --debug
version=$(sed -n 's/^version = "\(.*\)"/\1/p' src-tauri/Cargo.toml | head -1)
deb=$CARGO_TARGET_DIR/debug/bundle/deb/socksbridge_${version}_amd64.deb
rpm=$CARGO_TARGET_DIR/debug/bundle/rpm/socksbridge-${version}-1.x86_64.rpm

echo "-- contents"
wanted=(usr/bin/socksbridge usr/bin/socksbridge-app usr/share/applications/socksbridge.desktop
  usr/share/man/man1/socksbridge.1.gz usr/share/man/man1/socksbridge-app.1.gz
  usr/share/icons/hicolor/128x128/apps/socksbridge-app.png)
deb_files=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./||')
rpm_files=$(rpm -qlp "$rpm" 2>/dev/null | sed 's|^/||')
for f in "${wanted[@]}"; do
  grep -qx "$f" <<<"$deb_files" || fail ".deb lacks /$f"
  grep -qx "$f" <<<"$rpm_files" || fail ".rpm lacks /$f"
done
for f in usr/share/doc/socksbridge/copyright usr/share/doc/socksbridge/changelog.gz; do
  grep -qx "$f" <<<"$deb_files" || fail ".deb lacks /$f"
done
echo "$deb_files" | grep -q '@2' && fail "an icon directory with @2 in its name"

echo "-- control fields"
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = socksbridge ] || fail "Package: $(field Package)"
field Maintainer | grep -Eq '^[^<>]+ <[^@<> ]+@[^@<> ]+\.[a-z]+>$' || fail "Maintainer: $(field Maintainer)"
for dep in libc6 libwebkit2gtk-4.1-0 libgtk-3-0 libayatana-appindicator3-1; do
  field Depends | tr ',' '\n' | sed 's/ //g' | grep -qx "$dep" || fail "Depends lacks $dep: $(field Depends)"
done
for rec in dconf-cli libglib2.0-bin; do
  field Recommends | grep -q "$rec" || fail "Recommends lacks $rec"
done
grep -q '^Name=SocksBridge$' <(dpkg-deb --fsys-tarfile "$deb" | tar -xO usr/share/applications/socksbridge.desktop) ||
  fail "the desktop entry is not named SocksBridge"

echo "-- lintian"
# As root lintian says so once; that line is not about the package.
lintian --fail-on error --info "$deb" 2>&1 | grep -v 'running with root privileges' || true
lintian --fail-on error "$deb" >/dev/null 2>&1 || fail "lintian reports errors"

echo "-- install, run, remove"
users_files() {
  { find "$HOME/.config/socksbridge" "$HOME/.local/state/socksbridge" -type f -exec sha256sum {} + 2>/dev/null || true; } | sort
}
before=$(users_files)
home=$(mktemp -d)
trap '$sudo dpkg -r socksbridge >/dev/null 2>&1 || true; rm -rf "$home"' EXIT
$sudo dpkg -i "$deb" >/dev/null
installed=$(dpkg -L socksbridge)
/usr/bin/socksbridge --help > "$home/help.txt" || fail "socksbridge --help failed"
grep -q '^Usage: socksbridge' "$home/help.txt" || fail "socksbridge --help: $(cat "$home/help.txt")"
man -l /usr/share/man/man1/socksbridge.1.gz 2>/dev/null | grep -q 'system-proxy' || fail "the man page lacks the commands"
in_home=(env HOME="$home" XDG_CONFIG_HOME="$home/config" XDG_STATE_HOME="$home/state" XDG_CURRENT_DESKTOP=GNOME)
"${in_home[@]}" dbus-run-session -- /usr/bin/socksbridge system-proxy status 2>"$home/session.log" | tee "$home/status.txt"
grep -qi 'gnome' "$home/status.txt" || fail "system-proxy status named no desktop"
# The app from /usr/bin: still running after 5 s, and gone within 15 s of SIGTERM.
"${in_home[@]}" dbus-run-session -- xvfb-run -a -s "-screen 0 1280x1024x24 -noreset" sh -c '
  /usr/bin/socksbridge-app > "$HOME/app.log" 2>&1 & pid=$!
  sleep 5
  kill -0 "$pid" || { echo "the app exited early" >&2; cat "$HOME/app.log" >&2; exit 1; }
  kill -TERM "$pid"
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
  echo "the app did not stop on SIGTERM" >&2; exit 1' 2>>"$home/session.log" || fail "the installed app: $(tail -5 "$home/session.log")"
grep -q 'panicked' "$home/app.log" && fail "the app panicked: $(cat "$home/app.log")"
$sudo dpkg -r socksbridge >/dev/null
while read -r path; do
  [ -f "$path" ] && fail "dpkg -r left $path"
done <<<"$installed"
dpkg-query -W -f='${Status}' socksbridge 2>/dev/null | grep -q "install ok installed" && fail "still installed"
[ "$(users_files)" = "$before" ] || fail "the user's own settings changed"
echo "package test: the .deb ($(du -h "$deb" | cut -f1)) and .rpm hold both programs; installed, ran and removed cleanly"
