#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: twtune
short_description: Apply or roll back twtune's TIME_WAIT-related sysctl settings
description:
  - Runs C(twtune apply) on the managed host, which sets the runtime sysctls twtune's
    rules recommend (plus any given in O(set)) and writes them to a persisted
    C(sysctl.d) drop-in, atomically; or runs C(twtune rollback) to undo the last apply.
  - Idempotent. A run first asks C(twtune apply --dry-run) for the plan and changes
    nothing when the plan is empty, so a second run reports RV(ignore:changed=false).
  - In check mode only the dry run is made; the task reports whether the real run
    would change anything.
  - In diff mode the task shows the runtime values before and after, and the
    persisted drop-in as a unified diff.
  - twtune's exit status 2 (changes pending) is never returned as C(rc); an exit
    status 1, or output that is not twtune's JSON, fails the task with twtune's own message.
version_added: 0.1.0
author:
  - twtune maintainers !UNKNOWN
requirements:
  - twtune on the managed host, 0.1.0 or later (apply and rollback JSON with C(changed) and C(comment)).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
options:
  state:
    description:
      - V(tuned) applies the plan (C(twtune apply --yes)).
      - V(rolled_back) undoes the last apply from its record (C(twtune rollback --yes)),
        restoring the runtime values and the drop-in as they were before it.
        O(set), O(only), O(skip), O(persist) and O(persist_to) do not apply then.
    type: str
    choices: [tuned, rolled_back]
    default: tuned
  set:
    description:
      - Extra or overriding changes, sysctl key to value (C(twtune apply --set KEY=VALUE)).
      - Keys in dotted form, for example C(net.ipv4.tcp_tw_reuse). Values are numbers or
        strings (C("10000 60999") for a port range), never booleans.
    type: dict
    default: {}
  only:
    description:
      - Plan only these sysctl keys (C(twtune apply --only KEY)).
    type: list
    elements: str
    default: []
  skip:
    description:
      - Leave out the recommendations of these rule ids (C(twtune apply --skip RULE)).
        C(twtune rules) lists the ids.
    type: list
    elements: str
    default: []
  persist:
    description:
      - What to change.
      - V(both) sets the runtime values and writes the persisted drop-in.
      - V(runtime) sets the runtime values only (C(--no-persist)).
      - V(file) writes only the persisted drop-in (C(--persist-only)).
    type: str
    choices: [both, runtime, file]
    default: both
  persist_to:
    description:
      - Write the persisted settings to this file instead of C(/etc/sysctl.d/90-twtune.conf)
        (C(--persist-to FILE)).
    type: path
  root:
    description:
      - Work on the host tree under this directory instead of C(/) (C(twtune --root DIR)).
    type: path
  binary:
    description:
      - The twtune executable. By default C(twtune) is looked for on the managed host's PATH.
    type: path
notes:
  - twtune's exit statuses follow C(terraform plan -detailed-exitcode) (0 nothing to do,
    2 changes pending, 1 error); this module turns them into RV(ignore:changed) and failures.
seealso:
  - module: twtune.host.twtune_facts
'''

EXAMPLES = r'''
- name: TIME_WAIT settings as twtune's rules recommend
  twtune.host.twtune:

- name: Recommendations plus a wider port range, leaving TCP timestamps alone
  twtune.host.twtune:
    set:
      net.ipv4.ip_local_port_range: "10000 60999"
    skip:
      - tcp-timestamps-off
  register: twtune_result

- name: Show what changed
  ansible.builtin.debug:
    msg: "{{ twtune_result.comment }}"

- name: Runtime values only, nothing persisted
  twtune.host.twtune:
    persist: runtime

- name: Undo the last apply
  twtune.host.twtune:
    state: rolled_back
'''

RETURN = r'''
comment:
  description: twtune's one-line account of what was, or in check mode would be, changed.
  returned: always
  type: str
  sample: "changed 1 key: net.ipv4.tcp_timestamps 0 -> 1; writes /etc/sysctl.d/90-twtune.conf"
plan:
  description:
    - The JSON document of C(twtune apply --format json) (O(state=tuned)) or
      C(twtune rollback --format json) (O(state=rolled_back)); the dry run's in check
      mode and when nothing was to change. README.md of twtune documents every field.
  returned: always
  type: dict
  sample:
    applied: true
    changed: true
    changes:
      - {from: "0", key: net.ipv4.tcp_timestamps, persist: true, rule: tcp-timestamps-off, runtime: true, to: "1"}
    comment: "changed 1 key: net.ipv4.tcp_timestamps 0 -> 1; writes /etc/sysctl.d/90-twtune.conf"
    dry_run: false
    empty: false
    manual: []
    notes: []
    persist: {after: "net.ipv4.tcp_timestamps = 1\n", changed: true, diff: "...", exists: false,
              file: /etc/sysctl.d/90-twtune.conf, shadowed: []}
    schema_version: 2
status:
  description:
    - The verdict of C(twtune check) after the task (in check mode, as the host is now)
    - V(compliant), V(changes_pending) (findings the plan could not fix, see RV(findings)),
      V(incomplete) (nothing needs attention, some rule undecided) or V(error).
  returned: always
  type: str
  sample: compliant
summary:
  description: The count of findings by severity, and of undecided rules, after the task.
  returned: always
  type: dict
  sample: {critical: 0, warning: 0, info: 0, undecided: 0}
findings:
  description: The findings of C(twtune check) after the task, each with its rule, severity, key and message.
  returned: always
  type: list
  elements: dict
  sample: []
'''

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.twtune.host.plugins.module_utils.twtune import (
    EXIT_CHANGES_PENDING,
    EXIT_COMPLIANT,
    check,
    run_json,
)


def apply_arguments(module):
    """The apply flags the options stand for."""
    params = module.params
    args = []
    for key in sorted(params['set']):
        value = params['set'][key]
        if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
            module.fail_json(
                msg='set.%s: give a number or a string (for example "1" or "10000 60999"), not %s'
                % (key, json.dumps(value))
            )
        args.extend(['--set', '%s=%s' % (key, value)])
    for key in params['only']:
        args.extend(['--only', key])
    for rule in params['skip']:
        args.extend(['--skip', rule])
    if params['persist'] == 'runtime':
        args.append('--no-persist')
    elif params['persist'] == 'file':
        args.append('--persist-only')
    if params['persist_to']:
        args.extend(['--persist-to', params['persist_to']])
    return args


def runtime_diff(changes, after_label):
    """Each runtime key as ``key = value`` lines, before and after."""
    runtime = [c for c in changes if c.get('runtime', True)]
    if not runtime:
        return None
    return {
        'before_header': 'runtime sysctls (now)',
        'after_header': 'runtime sysctls (%s)' % after_label,
        'before': ''.join('%s = %s\n' % (c['key'], c['from']) for c in runtime),
        'after': ''.join('%s = %s\n' % (c['key'], c['to']) for c in runtime),
    }


def diffs(document, after_label):
    """Ansible's diff: the runtime values, then the drop-in's unified diff."""
    result = []
    runtime = runtime_diff(document.get('changes') or [], after_label)
    if runtime:
        result.append(runtime)
    persist = document.get('persist') or {}
    if persist.get('diff'):
        result.append({'prepared': persist['diff']})
    return result


def converge(module, dry_run_args, real_args):
    """Dry run; then, outside check mode and when it would change something, the real run."""
    dummy, planned, warnings = run_json(
        module, dry_run_args, (EXIT_COMPLIANT, EXIT_CHANGES_PENDING)
    )
    document = planned
    if planned.get('changed') and not module.check_mode:
        dummy, document, more = run_json(module, real_args, (EXIT_COMPLIANT,))
        warnings.extend(more)
    return document, warnings


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', default='tuned', choices=['tuned', 'rolled_back']),
            set=dict(type='dict', default={}),
            only=dict(type='list', elements='str', default=[]),
            skip=dict(type='list', elements='str', default=[]),
            persist=dict(type='str', default='both', choices=['both', 'runtime', 'file']),
            persist_to=dict(type='path'),
            root=dict(type='path'),
            binary=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    params = module.params

    if params['state'] == 'rolled_back':
        given = [
            name for name in ('set', 'only', 'skip', 'persist_to') if params[name]
        ]
        if given:
            module.fail_json(
                msg='state=rolled_back undoes the last apply as it was: %s do not apply'
                % ', '.join(given)
            )
        document, warnings = converge(
            module,
            ['rollback', '--dry-run'],
            ['rollback', '--yes'],
        )
    else:
        args = apply_arguments(module)
        document, warnings = converge(
            module,
            ['apply', '--dry-run'] + args,
            ['apply', '--yes'] + args,
        )

    changed = bool(document.get('changed'))
    verdict, more = check(module)
    for warning in warnings + more:
        module.warn(warning)
    result = dict(
        changed=changed,
        comment=document.get('comment', ''),
        plan=document,
        status=verdict['status'],
        summary=verdict['summary'],
        findings=verdict['findings'],
    )
    if module._diff and changed:
        result['diff'] = diffs(
            document,
            'after rollback' if params['state'] == 'rolled_back' else 'after apply',
        )
    module.exit_json(**result)


if __name__ == '__main__':
    main()
