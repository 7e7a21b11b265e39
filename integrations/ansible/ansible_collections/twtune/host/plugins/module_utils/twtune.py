# -*- coding: utf-8 -*-
"""Running twtune from a module: one place that knows its exit statuses.

twtune exits 0 (compliant, or nothing to do), 2 (changes pending) or 1
(error). A module must never hand back a key named ``rc`` carrying the 2:
ansible-core marks any result with a non-zero ``rc`` as failed. The exit
status is turned into ``changed`` or a failure here instead.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.module_utils.common.text.converters import to_text

EXIT_COMPLIANT = 0
EXIT_ERROR = 1
EXIT_CHANGES_PENDING = 2

WARNING_PREFIX = 'twtune: warning: '
ERROR_PREFIX = 'twtune: error: '


def binary_path(module):
    """The twtune to run: the ``binary`` option, else ``twtune`` on PATH."""
    binary = module.params.get('binary')
    if binary:
        return binary
    return module.get_bin_path('twtune', required=True)


def twtune_message(stderr, stdout):
    """twtune's own words for a failure: its error lines, else all it said."""
    lines = [line for line in to_text(stderr).splitlines() if line.strip()]
    errors = [line[len(ERROR_PREFIX):] for line in lines if line.startswith(ERROR_PREFIX)]
    if errors:
        return '; '.join(errors)
    if lines:
        return '; '.join(lines)
    text = to_text(stdout).strip()
    return text or 'twtune printed nothing'


def run_json(module, args, accept):
    """Runs ``twtune --format json ARGS``; fails the task unless twtune exits
    with a status in ``accept`` and prints one JSON object.

    Returns (exit status, document, warnings).
    """
    command = [binary_path(module)]
    root = module.params.get('root')
    if root:
        command.extend(['--root', root])
    command.extend(['--format', 'json'])
    command.extend(args)
    status, stdout, stderr = module.run_command(command, environ_update={'NO_COLOR': '1'})
    if status not in accept:
        module.fail_json(
            msg='twtune failed: %s' % twtune_message(stderr, stdout),
            cmd=command,
            stderr=to_text(stderr),
            stdout=to_text(stdout),
        )
    try:
        document = json.loads(to_text(stdout))
    except ValueError as error:
        module.fail_json(
            msg='twtune printed no JSON document (%s): %s' % (error, twtune_message(stderr, stdout)),
            cmd=command,
            stderr=to_text(stderr),
            stdout=to_text(stdout),
        )
    if not isinstance(document, dict):
        module.fail_json(
            msg='twtune printed JSON that is not an object',
            cmd=command,
            stdout=to_text(stdout),
        )
    warnings = [
        line[len(WARNING_PREFIX):]
        for line in to_text(stderr).splitlines()
        if line.startswith(WARNING_PREFIX)
    ]
    return status, document, warnings


def check(module):
    """``twtune check``: the status word, the summary and the findings."""
    dummy, report, warnings = run_json(
        module, ['check'], (EXIT_COMPLIANT, EXIT_CHANGES_PENDING)
    )
    for key in ('status', 'summary', 'findings'):
        if key not in report:
            module.fail_json(msg='twtune check printed no %s: is this twtune too old?' % key)
    return {
        'status': report['status'],
        'summary': report['summary'],
        'findings': report['findings'],
    }, warnings
