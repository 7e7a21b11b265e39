# @summary Keeps a host's TIME_WAIT-related sysctls as twtune recommends.
#
# Runs `twtune apply --yes` when, and only when, `twtune apply --dry-run` says
# the plan is not empty (exit 2). twtune's exit statuses follow `terraform plan
# -detailed-exitcode`: 0 nothing to do, 2 changes pending, 1 error.
#
# An error must not read as "pending": an `unless` guard alone runs the apply
# for any non-zero status, so a broken host would show, under --noop, as a
# change waiting to be made. The exec 'twtune: stop on error' runs first and
# only when the dry run exits other than 0 or 2 (1, or 127 for no twtune): it fails with twtune's message (a failed
# resource: `puppet apply --detailed-exitcodes` exits 4 or 6), and the apply,
# which requires it, is skipped. Under --noop it shows as its own pending
# event, named as the error it is.
#
# With --detailed-exitcodes: 0 converged, nothing changed; 2 twtune applied
# changes; 4 or 6 twtune (or another resource) failed. Under --noop, Puppet 7
# exits 0 and reports the pending apply as a noop event ("would have").
#
# @param settings
#   Extra or overriding changes, sysctl key => value (`twtune apply --set`).
# @param only
#   Plan only these keys (`--only`).
# @param skip
#   Leave out the recommendations of these rule ids (`--skip`).
# @param persist
#   'both' (runtime values and the drop-in), 'runtime' (`--no-persist`) or
#   'file' (`--persist-only`).
# @param persist_to
#   Write the persisted settings to this file (`--persist-to`).
# @param binary
#   The twtune executable; a bare name is looked for on $path.
# @param path
#   The PATH the commands run with.
#
# @example Recommendations plus a wider port range
#   class { 'twtune':
#     settings => { 'net.ipv4.ip_local_port_range' => '10000 60999' },
#   }
class twtune (
  Hash[Pattern[/\A[a-z0-9_-]+(\.[a-z0-9_-]+)+\z/], Variant[String[1], Integer]] $settings = {},
  Array[String[1]] $only = [],
  Array[String[1]] $skip = [],
  Enum['both', 'runtime', 'file'] $persist = 'both',
  Optional[Pattern[/\A\//]] $persist_to = undef,
  String[1] $binary = 'twtune',
  Array[String[1]] $path = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'],
) {
  $set_flags = $settings.keys.sort.map |$key| { ['--set', "${key}=${settings[$key]}"] }.flatten
  $only_flags = $only.map |$key| { ['--only', $key] }.flatten
  $skip_flags = $skip.map |$rule| { ['--skip', $rule] }.flatten
  $persist_flags = $persist ? {
    'runtime' => ['--no-persist'],
    'file'    => ['--persist-only'],
    default   => [],
  }
  $persist_to_flags = $persist_to ? {
    undef   => [],
    default => ['--persist-to', $persist_to],
  }
  $flags = shellquote($set_flags + $only_flags + $skip_flags + $persist_flags + $persist_to_flags)
  $twtune = shellquote($binary)
  $dry_run = "${twtune} apply --dry-run ${flags}"

  exec { 'twtune: stop on error':
    command   => "${dry_run} >/dev/null; rc=\$?; test \$rc -eq 0 || test \$rc -eq 2",
    onlyif    => "${dry_run} >/dev/null 2>&1; rc=\$?; test \$rc -ne 0 && test \$rc -ne 2",
    provider  => shell,
    path      => $path,
    logoutput => true,
  }

  exec { 'twtune apply':
    command   => "${twtune} apply --yes ${flags}",
    unless    => $dry_run,
    provider  => shell,
    path      => $path,
    logoutput => on_failure,
    require   => Exec['twtune: stop on error'],
  }
}
