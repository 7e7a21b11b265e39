{#-
  twtune.rolled_back: undoes the last `twtune apply` from its record
  (`twtune rollback --yes`), stateful as twtune/init.sls: `changed` is false
  when no apply is recorded or nothing is left to restore; under test=True the
  dry run reports what would be restored.
-#}
{%- set binary = salt['pillar.get']('twtune:binary', 'twtune') %}

twtune-rolled-back:
  cmd.run:
    - name: {{ (binary | quote ~ ' --format json rollback --yes') | yaml_dquote }}
    - stateful:
      - test_name: {{ (binary | quote ~ ' --format json rollback --dry-run') | yaml_dquote }}
    - success_retcodes: [2]
    - env:
      - NO_COLOR: '1'
