#!/usr/bin/env bash
# Run by run.sh inside `unshare --mount`: installs the .deb into overlays of
# /usr, /etc and /var (upper layers on a tmpfs in SCRATCH), uses it, purges it
# and checks that nothing of it is left. Nothing reaches this machine's files.
# Usage: installed.sh DEB SCRATCH CALLER_MOUNT_NAMESPACE_INODE
set -euo pipefail
DEB=$1
SCRATCH=$2
CALLER_MNT_NS=$3
fail() { echo "packaging: FAIL (installed): $*" >&2; exit 1; }
# It mounts over /usr, /etc and /var: never in the caller's mount namespace.
[ -n "$CALLER_MNT_NS" ] && [ "$(stat -L -c %i /proc/self/ns/mnt)" != "$CALLER_MNT_NS" ] \
  || fail "not in a private mount namespace (run it through run.sh)"
mount --make-rprivate /
scratch=$SCRATCH
mount -t tmpfs tmpfs "$scratch"
overlay() {
  mkdir -p "$scratch/upper$1" "$scratch/work$1"
  mount -t overlay overlay -o "lowerdir=$1,upperdir=$scratch/upper$1,workdir=$scratch/work$1" "$1"
}
overlay /usr; overlay /etc; overlay /var
[ -L /lib ] || overlay /lib
# No systemd in here: the maintainer scripts must not reach the host's.
mount -t tmpfs tmpfs /run

# Slim container images tell dpkg to skip /usr/share/man and /usr/share/doc
# (path-exclude in /etc/dpkg/dpkg.cfg.d); the last matching option wins, so
# this install takes every file, as on a full system.
dpkg --path-include='*' -i "$DEB" >/dev/null || fail "dpkg -i"
# The units are shipped, never enabled or started by the package.
enabled=$(find /etc/systemd -name 'twtune*' 2>/dev/null)
[ -z "$enabled" ] || fail "the package enabled units: $enabled"
[ "$(/usr/bin/twtune --version)" = "twtune $(dpkg-query -W -f '${Version}' twtune | sed 's/-[^-]*$//')" ] \
  || fail "twtune --version: $(/usr/bin/twtune --version)"
[ "$(man -w twtune)" = /usr/share/man/man1/twtune.1.gz ] || fail "man -w twtune: $(man -w twtune)"
# Rendered from the file: `man twtune` would leave a formatted copy in
# /var/cache/man/cat1, which is man-db's, not the package's, to clean.
man -l /usr/share/man/man1/twtune.1.gz 2>&1 | grep TIME_WAIT >/dev/null || fail "man twtune does not render"
set +e
/usr/bin/twtune check >/dev/null; host=$?
unshare -n /usr/bin/twtune check >/dev/null; private=$?
set -e
[ "$host" = 0 ] || [ "$host" = 2 ] || fail "twtune check exited $host"
[ "$private" = 0 ] || [ "$private" = 2 ] || fail "twtune check in a new network namespace exited $private"

# A real bash, the installed completion file, `twtune ch<Tab>`.
offered=$(bash --norc --noprofile -c '
  source /usr/share/bash-completion/completions/twtune
  function=$(complete -p twtune | sed -n "s/.* -F \([^ ]*\) .*/\1/p")
  COMP_WORDS=(twtune ch); COMP_CWORD=1; COMP_LINE="twtune ch"; COMP_POINT=9
  "$function" twtune ch twtune
  printf "%s\n" "${COMPREPLY[@]}"')
[ "$offered" = check ] || fail "bash completes 'twtune ch' to '$offered', not 'check'"

# State to purge: a real apply, in its own network namespace (its sysctl
# writes stay there; its files land in the overlays).
unshare -n /usr/bin/twtune apply --yes --only net.ipv4.tcp_fin_timeout \
    --set net.ipv4.tcp_fin_timeout=45 >/dev/null \
  || fail "twtune apply in a private network namespace"
[ -d /var/lib/twtune ] && [ -f /etc/sysctl.d/90-twtune.conf ] \
  || fail "the apply left no state to purge"
# What the (not enabled) twtune-check.service would write: purge removes it.
if /usr/bin/twtune check --help | grep -q -e '--textfile'; then
  mkdir -p /var/lib/prometheus/node-exporter
  set +e
  /usr/bin/twtune check --format prometheus --textfile /var/lib/prometheus/node-exporter/twtune.prom >/dev/null
  status=$?
  set -e
  [ "$status" = 0 ] || [ "$status" = 2 ] || fail "the textfile export exited $status"
  [ -s /var/lib/prometheus/node-exporter/twtune.prom ] || fail "the textfile export wrote nothing"
else
  echo "packaging: NOTE: this build has no 'check --textfile' yet; the purge of the textfile is not exercised" >&2
fi

files=$(dpkg-query -L twtune)
said=$(dpkg -P twtune 2>&1) || fail "dpkg -P: $said"
grep -q "kept /etc/sysctl.d/90-twtune.conf" <<<"$said" || fail "purge did not say it kept the drop-in: $said"
[ -f /etc/sysctl.d/90-twtune.conf ] || fail "purge removed the administrator's /etc/sysctl.d/90-twtune.conf"
[ ! -e /var/lib/twtune ] || fail "purge left /var/lib/twtune"
[ ! -e /var/lib/prometheus/node-exporter/twtune.prom ] || fail "purge left the textfile"
rm /etc/sysctl.d/90-twtune.conf
while read -r path; do
  [ -d "$path" ] && continue
  [ ! -e "$path" ] || fail "purge left $path"
done <<<"$files"
! man -w twtune >/dev/null 2>&1 || fail "man still finds twtune after the purge"
# Everything the install, the use and the purge left in the overlays: only
# dpkg's own database and log, and man-db's index (rebuilt by its trigger),
# may remain.
left=$(cd "$scratch/upper" && find . ! -type d \
  ! -path './var/lib/dpkg/*' ! -path './var/log/dpkg.log' \
  ! -path './var/cache/man/index.db' ! -path './var/cache/man/*CACHEDIR.TAG' | sort)
[ -z "$left" ] || fail "left behind after dpkg -P:
$left"
echo "packaging: installed, used and purged: nothing left behind"
