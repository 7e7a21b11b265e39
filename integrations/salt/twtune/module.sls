{#-
  twtune.module: the custom state module `twtune.tuned` (integrations/salt/
  _states/twtune.py), whose changes are Salt-style: each sysctl as old/new,
  the drop-in as a unified diff. Options come from the same pillar as
  twtune/init.sls.
-#}
{%- set pillar = salt['pillar.get']('twtune', {}) %}

twtune:
  twtune.tuned:
    - binary: {{ pillar.get('binary', 'twtune') | yaml_dquote }}
    - settings: {{ pillar.get('set', {}) | json }}
    - only: {{ pillar.get('only', []) | json }}
    - skip: {{ pillar.get('skip', []) | json }}
    - persist: {{ pillar.get('persist', 'both') | yaml_dquote }}
{%- if pillar.get('persist_to') %}
    - persist_to: {{ pillar['persist_to'] | yaml_dquote }}
{%- endif %}
