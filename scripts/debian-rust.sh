# Sourced by cross-check.sh and wine-test.sh: Debian's rust-web toolchain, whose compiler,
# cargo and std source are one version, so -Zbuild-std can build std for targets rustup
# cannot add here. Needs scripts/apt.sh sourced first.

# Installs the toolchain (and EXTRA packages) when missing and checks that every rust-web
# package installed is the same version and that the std source is where rustc looks.
debian_rust_install() {  # debian_rust_install [EXTRA_APT_PACKAGE...]
  apt_install_missing rustc-web cargo-web rust-web-src libstd-rust-web-dev "$@"
  local packages=(rustc-web cargo-web rust-web-src libstd-rust-web-dev) p versions
  for p in "$@"; do case $p in rust-web-*) packages+=("$p");; esac; done
  versions=$(dpkg-query -W -f='${Version}\n' "${packages[@]}" | sort -u)
  if [ "$(printf '%s\n' "$versions" | wc -l)" -ne 1 ]; then
    echo "Debian's rust-web packages disagree on the version:" $versions >&2
    echo "run: apt-get install --only-upgrade ${packages[*]}" >&2
    return 1
  fi
  test -f "$(/usr/bin/rustc --print sysroot)/lib/rustlib/src/rust/library/std/Cargo.toml"
}

# Debian's toolchain, not rustup's proxies: `cargo clippy` must find /usr/bin/cargo-clippy.
debian_rust_env() {
  export PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
  export RUSTC_BOOTSTRAP=1   # -Z flags on Debian's stable compiler
}
