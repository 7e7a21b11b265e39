#!/usr/bin/env bash
# The packages, built and installed as an operator would: `cargo deb` and
# `cargo generate-rpm`, lintian, the file lists, then `dpkg -i`, the installed
# program, man page and bash completion, and `dpkg -P` — inside a private mount
# namespace whose /usr, /etc, /var (and /run) are overlays on a tmpfs, so this
# machine's own files and package database are never touched. The .rpm is
# installed into a scratch tree with `rpm --root`.
#
# Run by .ci/run (as root). Fails on the first broken expectation, saying which.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

fail() { echo "packaging: FAIL: $*" >&2; exit 1; }
step() { echo "packaging: $*"; }

for tool in cargo-deb:"cargo install --locked cargo-deb" \
            cargo-generate-rpm:"cargo install --locked cargo-generate-rpm" \
            lintian:"apt-get install lintian" rpm:"apt-get install rpm" \
            dpkg-deb:dpkg unshare:util-linux man:man-db; do
  command -v "${tool%%:*}" >/dev/null || fail "${tool%%:*} is required: ${tool#*:}"
done
[ "$(id -u)" = 0 ] || fail "needs root (unshare --mount, dpkg -i in the overlay)"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
arch=$(dpkg --print-architecture)
deb=target/debian/twtune_${version}-1_${arch}.deb

# --- the .deb ---------------------------------------------------------------
step "cargo deb"
rm -f "$deb"
cargo deb --locked >/dev/null
[ -f "$deb" ] || fail "cargo deb made no $deb"

step "lintian $deb"
# Errors and warnings both fail: each remaining tag is overridden in
# packaging/debian/lintian-overrides with its reason.
lintian --fail-on error,warning --tag-display-limit 0 "$deb" || fail "lintian"

# Every file the package must carry, and nothing else.
expected_deb() {
  printf '%s\n' \
    ./usr/bin/twtune \
    ./usr/share/man/man1/twtune.1.gz \
    ./usr/share/bash-completion/completions/twtune \
    ./usr/share/zsh/vendor-completions/_twtune \
    ./usr/share/fish/vendor_completions.d/twtune.fish \
    ./lib/systemd/system/twtune-check.service \
    ./lib/systemd/system/twtune-check.timer \
    ./lib/systemd/system/twtune-apply.service \
    ./usr/share/doc/twtune/README.md \
    ./usr/share/doc/twtune/copyright \
    ./usr/share/doc/twtune/changelog.Debian.gz \
    ./usr/share/lintian/overrides/twtune
  (cd integrations && find . -type f | sed 's|^\./|./usr/share/doc/twtune/examples/|')
  (cd docs && find . -maxdepth 1 -type f -name '*.md' | sed 's|^\./|./usr/share/doc/twtune/docs/|')
}
step "dpkg-deb -c"
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $6}' | sort > target/debian/files.actual
expected_deb | sort > target/debian/files.expected
diff -u target/debian/files.expected target/debian/files.actual \
  || fail "the .deb's files differ from the list above (- expected, + packaged)"
dpkg-deb -c "$deb" | awk '$6 == "./usr/bin/twtune" && $1 != "-rwxr-xr-x" {exit 1}' \
  || fail "/usr/bin/twtune is not mode 755"

# The man page and completions are the ones the binary itself generates.
step "generated assets match the packaged binary"
extract=$(mktemp -d)
ns_scratch=$(mktemp -d)
tree=$(mktemp -d)
trap 'rm -rf "$extract" "$ns_scratch" "$tree"' EXIT
dpkg-deb -x "$deb" "$extract"
for shell_file in bash:usr/share/bash-completion/completions/twtune \
                  zsh:usr/share/zsh/vendor-completions/_twtune \
                  fish:usr/share/fish/vendor_completions.d/twtune.fish; do
  cmp -s <("$extract/usr/bin/twtune" completions "${shell_file%%:*}") "$extract/${shell_file#*:}" \
    || fail "${shell_file#*:} is not what 'twtune completions ${shell_file%%:*}' prints"
done
cmp -s <(gzip -dc "$extract/usr/share/man/man1/twtune.1.gz") man/twtune.1 \
  || fail "the packaged man page differs from man/twtune.1"

# --- install, use, purge: in a private mount namespace -------------------
step "dpkg -i / dpkg -P in overlays of /usr /etc /var /run"
unshare --mount --fork tests/packaging/installed.sh "$repo/$deb" "$ns_scratch" \
  "$(stat -L -c %i /proc/self/ns/mnt)" \
  || fail "the installed package (above)"

# --- the .rpm ---------------------------------------------------------------
step "cargo generate-rpm"
rm -f target/generate-rpm/twtune-*.rpm
cargo generate-rpm --profile dist >/dev/null
rpm_file=$(ls target/generate-rpm/twtune-"$version"-1.*.rpm)

step "rpm -qpl"
# The .deb's files in the places RPM distributions use: Debian's own
# copyright, changelog and lintian overrides become /usr/share/licenses.
rpm -qpl "$rpm_file" | sort > target/generate-rpm/files.actual
expected_deb | sed 's|^\.||' | grep -v -e '^/usr/share/doc/twtune/copyright$' \
    -e '^/usr/share/doc/twtune/changelog.Debian.gz$' -e '^/usr/share/lintian/' \
  | sed -e 's|^/lib/systemd/|/usr/lib/systemd/|' \
        -e 's|^/usr/share/zsh/vendor-completions/|/usr/share/zsh/site-functions/|' \
  | { cat; printf '%s\n' /usr/share/licenses/twtune/LICENSE-APACHE /usr/share/licenses/twtune/LICENSE-MIT; } \
  | sort > target/generate-rpm/files.expected
diff -u target/generate-rpm/files.expected target/generate-rpm/files.actual \
  || fail "the .rpm's files differ (- expected, + packaged)"

step "rpm -i --root (scratch tree)"
rpm --root "$tree" --initdb
rpm -i --nodeps --root "$tree" "$rpm_file" || fail "rpm -i --root"
[ "$("$tree/usr/bin/twtune" --version)" = "twtune $version" ] || fail "the rpm's twtune --version"
set +e
"$tree/usr/bin/twtune" check >/dev/null; status=$?
set -e
[ "$status" = 0 ] || [ "$status" = 2 ] || fail "the rpm's twtune check exited $status"
cmp -s "$tree/usr/bin/twtune" "$extract/usr/bin/twtune" || fail "the .rpm and the .deb carry different binaries"

step "ok: $deb, $rpm_file"
