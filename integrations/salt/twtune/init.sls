{#-
  twtune: keeps the minion's TIME_WAIT-related sysctls as twtune recommends.

  cmd.run with `stateful`: Salt parses the command's stdout as JSON and reads
  its top-level `changed` and `comment`, which every `twtune apply --format
  json` document carries. A real run applies (`apply --yes`: `changed` is
  false when the plan was empty, so a second run is clean); under test=True
  Salt runs the `test_name` command instead, the dry run, and reports the
  pending change (result None) without changing anything.

  `success_retcodes: [2]`: the dry run exits 2 when the plan is not empty,
  which is the news, not a failure. `apply --yes` never exits 2. An error
  (exit 1) fails the state with twtune's message (stderr: stdout is empty).

  Pillar (all optional):
    twtune:
      binary: /usr/local/bin/twtune      # default: twtune on the minion's PATH
      set:                               # --set KEY=VALUE
        net.ipv4.ip_local_port_range: "10000 60999"
      only: [net.ipv4.tcp_tw_reuse]      # --only KEY
      skip: [tcp-timestamps-off]         # --skip RULE
      persist: both                      # both | runtime (--no-persist) | file (--persist-only)
      persist_to: /etc/sysctl.d/95-twtune.conf
-#}
{%- from tpldir ~ "/flags.jinja" import twtune_flags with context %}
{%- set binary = salt['pillar.get']('twtune:binary', 'twtune') %}
{%- set flags = twtune_flags(salt['pillar.get']('twtune', {})) %}

twtune:
  cmd.run:
    - name: {{ (binary | quote ~ ' --format json apply --yes ' ~ flags) | trim | yaml_dquote }}
    - stateful:
      - test_name: {{ (binary | quote ~ ' --format json apply --dry-run ' ~ flags) | trim | yaml_dquote }}
    - success_retcodes: [2]
    - env:
      - NO_COLOR: '1'
