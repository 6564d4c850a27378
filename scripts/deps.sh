#!/usr/bin/env bash
# Install what etcd-ansible needs to build and test, on Debian 12 (root, apt reachable).
#   scripts/deps.sh            apt packages + static libcurl and libsystemd into build/deps/
#   scripts/deps.sh --apt-only only the apt packages
# Everything is reused when already present, so a second run takes a second.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
deps="$top/build/deps"
export DEBIAN_FRONTEND=noninteractive

APT_PACKAGES=(
  # build + static archives Debian ships
  build-essential pkg-config libjansson-dev libssl-dev zlib1g-dev libc-ares-dev libcmocka-dev
  clang libclang-rt-14-dev clang-tidy clang-format cppcheck file dpkg-dev
  # to build libcurl.a and libsystemd.a from source packages
  autoconf automake libtool meson ninja-build gperf libcap-dev libmount-dev
  # test hosts and controller
  systemd-container debootstrap iproute2 openssh-client ansible-core python3 rsync
  # checks the backup role's logrotate drop-in (tests/e2e/backup_on_testhosts.sh)
  logrotate
  # real peers
  etcd-server etcd-client golang-go golang-github-smallstep-certificates-dev
  # CLIs used by tests/peers/stepca/smoke.sh; the real AWS CLI proves tests/peers/aws
  openssl curl jq strace awscli
  # make ansible-check (ansible-lint --profile production); docs/ansible-roles.png from its .dot
  ansible-lint graphviz
  # promtool checks docs/alerts.yaml and the metrics files the jobs write
  prometheus
)

log() { printf '[deps] %s\n' "$*" >&2; }

need_apt() {
  local p missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] || printf '%s\n' "${missing[@]}"
}

add_deb_src() {
  local f=/etc/apt/sources.list.d/etcd-ansible-src.sources
  grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && return 1
  grep -qs '^deb-src' /etc/apt/sources.list 2>/dev/null && return 1
  log "adding deb-src entries ($f)"
  cat >"$f" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  return 0
}

install_apt() {
  local missing updated=0
  if add_deb_src; then apt-get update -qq; updated=1; fi
  mapfile -t missing < <(need_apt)
  [ "${#missing[@]}" -eq 0 ] && return 0
  [ "$updated" -eq 1 ] || apt-get update -qq
  log "apt-get install ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Only promtool is wanted from the prometheus package: not a Prometheus server on :9090.
  if printf '%s\n' "${missing[@]}" | grep -qx prometheus && [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  fi
}

fetch_source() { # $1 = source package; unpacks into $deps/src/<pkg>-<ver>
  local pkg=$1
  mkdir -p "$deps/src"
  (cd "$deps/src" && ls -d "$pkg"-*/ >/dev/null 2>&1 || apt-get source -qq "$pkg" >/dev/null 2>&1)
  ls -d "$deps/src/$pkg"-*/ | head -n1
}

# build_from_source PKG DONE_FILE WHAT STEPS: unless DONE_FILE exists, unpacks Debian's source of
# PKG (fetch_source) and runs the function STEPS in it (configure, make, install into $deps), in a
# subshell where any failing step stops the build (set -e).
build_from_source() {
  local pkg=$1 done=$2 what=$3 steps=$4 src
  [ -f "$done" ] && return 0
  src=$(fetch_source "$pkg")
  log "building $what in $src"
  (
    cd "$src"
    "$steps"
  )
}

curl_steps() {
  # Debian renames the library for its gnutls/nss flavours; undo that (newest patch first).
  if [ ! -f .etcd-ansible-unpatched ]; then
    patch -R -p1 -s <debian/patches/99_nss.patch
    patch -R -p1 -s <debian/patches/90_gnutls.patch
    touch .etcd-ansible-unpatched
  fi
  autoreconf -fi >/dev/null 2>&1
  ./configure -q --prefix="$deps" --disable-shared --enable-static --with-pic \
    --with-openssl --with-zlib --enable-ares --disable-threaded-resolver \
    --disable-openssl-auto-load-config --without-ca-bundle --without-ca-path --without-ca-fallback \
    --without-libpsl --without-libidn2 --without-nghttp2 --without-nghttp3 --without-ngtcp2 \
    --without-brotli --without-zstd --without-librtmp --without-libssh --without-libssh2 \
    --without-gssapi --without-libgsasl --disable-ldap --disable-ldaps --disable-rtsp --disable-dict \
    --disable-telnet --disable-tftp --disable-pop3 --disable-imap --disable-smb --disable-smtp \
    --disable-gopher --disable-mqtt --disable-ftp --disable-manual --disable-ntlm \
    --disable-alt-svc --disable-hsts --disable-cookies --disable-netrc --disable-socketpair \
    >/dev/null
  make -s -j"$(nproc)" -C lib libcurl.la >/dev/null 2>&1
  mkdir -p "$deps/lib" "$deps/include/curl"
  cp lib/.libs/libcurl.a "$deps/lib/"
  cp include/curl/*.h "$deps/include/curl/"
}
build_curl() { build_from_source curl "$deps/lib/libcurl.a" "static libcurl" curl_steps; }

# libcrypto/libssl for the static modules, from Debian's OpenSSL source with only what the
# modules and libcurl use (TLS 1.2/1.3, EC P-256/P-384, Ed25519, RSA, AES, SHA-1/2, HMAC, HKDF,
# PBKDF2, X.509/PKCS#10/PKCS#12, OCSP, the engine and UI calls libcurl makes) and every function in
# its own section, so that --gc-sections keeps each module under 4 MiB. Into $deps/openssl/, not
# $deps/lib/: the unit tests keep linking the system's shared OpenSSL (ASan).
OPENSSL_DISABLE=(
  no-shared no-module no-legacy no-tests no-aria no-bf no-blake2 no-camellia no-cast no-cmp no-cms
  no-comp no-ct no-des no-dsa no-dh no-dtls no-ec2m no-gost no-idea no-md4 no-mdc2 no-ocb no-rc2
  no-rc4 no-rc5 no-rmd160 no-scrypt no-seed no-siphash no-siv no-sm2 no-sm3 no-sm4 no-srtp no-ssl3
  no-tls1 no-tls1_1 no-ts no-whirlpool no-async no-afalgeng no-capieng no-devcryptoeng
  no-padlockeng no-ktls no-psk no-nextprotoneg no-weak-ssl-ciphers no-autoload-config
  no-dynamic-engine no-dso no-multiblock no-uplink
)
openssl_steps() {
  ./Configure linux-x86_64 --prefix="$deps/openssl" --libdir=lib "${OPENSSL_DISABLE[@]}" \
    -Os -ffunction-sections -fdata-sections >/dev/null
  make -s -j"$(nproc)" build_libs >/dev/null 2>&1
  make -s install_dev >/dev/null 2>&1
}
build_openssl() {
  build_from_source openssl "$deps/openssl/lib/libcrypto.a" "static libcrypto/libssl" openssl_steps
}

systemd_steps() {
  rm -rf build-static
  meson setup build-static -Dstatic-libsystemd=true -Dtests=false -Dman=false -Dhtml=false \
    -Dselinux=false -Dapparmor=false -Dpam=false -Dacl=false -Daudit=false -Dseccomp=false \
    -Dblkid=false -Dkmod=false -Dlibcryptsetup=false -Dlibcurl=false -Dlibidn2=false -Dlibiptc=false \
    -Dqrencode=false -Dgcrypt=false -Dgnutls=false -Dopenssl=false -Dp11kit=false -Dlz4=false \
    -Dxz=false -Dzstd=false -Dzlib=false -Dbzip2=false -Dpcre2=false -Dglib=false -Ddbus=false \
    -Dgnu-efi=false -Dtpm2=false -Delfutils=false -Dpwquality=false \
    -Dmicrohttpd=false -Dxkbcommon=false -Dpolkit=false -Dlibfido2=false \
    -Dmode=release >/dev/null
  ninja -C build-static version.h libsystemd.a >/dev/null
  mkdir -p "$deps/lib" "$deps/include/systemd"
  cp build-static/libsystemd.a "$deps/lib/"
  cp src/systemd/*.h "$deps/include/systemd/"
}
build_systemd() { build_from_source systemd "$deps/lib/libsystemd.a" libsystemd.a systemd_steps; }

install_node() { # Node.js + npm for the AWS Encryption SDK peer (tests/peers/esdk)
  command -v node >/dev/null && command -v npm >/dev/null && return 0
  log "apt-get install nodejs npm"
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
}

install_npm_peers() {
  local dir="$top/tests/peers/esdk"
  [ -d "$dir/node_modules/@aws-crypto/client-node" ] && return 0
  log "npm ci in $dir"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

main() {
  [ "$(id -u)" -eq 0 ] || { log "run as root (apt-get)"; exit 1; }
  install_apt
  install_node
  install_npm_peers
  [ "${1:-}" = "--apt-only" ] && return 0
  build_curl
  build_openssl
  build_systemd
  log "ok: $(ls "$deps/lib" | tr '\n' ' ')"
}

main "$@"
