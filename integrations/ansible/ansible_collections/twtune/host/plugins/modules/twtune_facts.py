#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: twtune_facts
short_description: twtune's verdict on a host's TIME_WAIT-related settings, as facts
description:
  - Runs C(twtune check) on the managed host and returns its verdict as the fact
    C(ansible_facts.twtune), with the status word, the summary and the findings.
  - Never changes anything, so it runs the same in check mode.
  - A twtune error (exit status 1, for example a garbled file twtune relies on or a
    broken rule file), or output that is not twtune's JSON, fails the task with
    twtune's own message.
version_added: 0.1.0
author:
  - twtune maintainers !UNKNOWN
requirements:
  - twtune on the managed host.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
options:
  root:
    description:
      - Read the host tree under this directory instead of C(/) (C(twtune --root DIR)).
    type: path
  binary:
    description:
      - The twtune executable. By default C(twtune) is looked for on the managed host's PATH.
    type: path
seealso:
  - module: twtune.host.twtune
'''

EXAMPLES = r'''
- name: Ask twtune
  twtune.host.twtune_facts:

- name: Fail where TIME_WAIT settings need attention
  ansible.builtin.assert:
    that: ansible_facts.twtune.status in ['compliant', 'incomplete']
    fail_msg: "{{ ansible_facts.twtune.findings | map(attribute='message') | list }}"
'''

RETURN = r'''
ansible_facts:
  description: The facts this module sets.
  returned: always
  type: dict
  contains:
    twtune:
      description: twtune's verdict on the host.
      returned: always
      type: dict
      contains:
        status:
          description:
            - V(compliant) (every rule decided, nothing needs attention),
              V(changes_pending) (a finding at warning or above),
              V(incomplete) (nothing needs attention, some rule undecided) or
              V(error) (a rule was refused while judging).
          returned: always
          type: str
          sample: changes_pending
        summary:
          description: The count of findings by severity, and of undecided rules.
          returned: always
          type: dict
          sample: {critical: 0, warning: 1, info: 0, undecided: 0}
        findings:
          description:
            - The findings, each with C(rule), C(severity), C(title), C(summary),
              C(key), C(current), C(recommended), C(message), C(evidence) and C(references).
          returned: always
          type: list
          elements: dict
          sample:
            - rule: tcp-timestamps-off
              severity: warning
              key: net.ipv4.tcp_timestamps
              current: "0"
              recommended: "1"
              message: "TCP timestamps are off: no TIME_WAIT reuse, no PAWS"
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.twtune.host.plugins.module_utils.twtune import check


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type='path'),
            binary=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    verdict, warnings = check(module)
    for warning in warnings:
        module.warn(warning)
    module.exit_json(changed=False, ansible_facts={'twtune': verdict})


if __name__ == '__main__':
    main()
