"""
Salt state module ``twtune``: twtune's plan with Salt-style changes.

The same contract as ``twtune/init.sls`` (``cmd.run`` with ``stateful``), but
the state's ``changes`` are Salt's own shape: each runtime sysctl as
``{KEY: {old, new}}`` and the persisted drop-in as ``{FILE: {diff}}``, so
``salt '*' state.apply twtune.module test=True`` shows what would change,
key by key, with the drop-in's unified diff.

Put this file in the file roots' ``_states/`` folder and sync it to the
minions once: ``salt '*' saltutil.sync_states`` (a highstate syncs it too).

.. code-block:: yaml

    twtune:
      twtune.tuned:
        - settings:
            net.ipv4.ip_local_port_range: "10000 60999"
        - skip: [tcp-timestamps-off]

    # or, to undo the last apply:
    twtune-undone:
      twtune.rolled_back
"""

import json

# twtune's exit statuses: 0 nothing to do, 2 changes pending, 1 error.
EXIT_COMPLIANT = 0
EXIT_CHANGES_PENDING = 2
ERROR_PREFIX = "twtune: error: "


def __virtual__():
    return "twtune"


def _run(binary, args, accept):
    """Runs ``twtune --format json ARGS``: (document, None) or (None, why)."""
    command = [binary, "--format", "json"] + list(args)
    out = __salt__["cmd.run_all"](
        command,
        python_shell=False,
        env={"NO_COLOR": "1"},
        ignore_retcode=True,
        output_loglevel="quiet",
    )
    stderr = out.get("stderr") or ""
    if out["retcode"] not in accept:
        lines = [line for line in stderr.splitlines() if line.strip()]
        errors = [l[len(ERROR_PREFIX):] for l in lines if l.startswith(ERROR_PREFIX)]
        why = "; ".join(errors or lines) or "exit status {}".format(out["retcode"])
        return None, "twtune failed: {}".format(why)
    try:
        document = json.loads(out["stdout"])
    except ValueError as error:
        return None, "twtune printed no JSON document: {}".format(error)
    if not isinstance(document, dict) or "changed" not in document:
        return None, "twtune printed no `changed`: is this twtune too old?"
    return document, None


def _changes(document):
    """Salt's changes: runtime keys as old/new, the drop-in as a diff."""
    changes = {}
    for change in document.get("changes") or []:
        if change.get("runtime", True):
            changes[change["key"]] = {"old": change["from"], "new": change["to"]}
    persist = document.get("persist") or {}
    if persist.get("diff"):
        changes[persist["file"]] = {"diff": persist["diff"]}
    return changes


def _converge(name, binary, dry_run_args, real_args):
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    planned, error = _run(binary, dry_run_args, (EXIT_COMPLIANT, EXIT_CHANGES_PENDING))
    if error:
        ret.update(result=False, comment=error)
        return ret
    if not planned["changed"]:
        ret["comment"] = planned.get("comment", "")
        return ret
    if __opts__["test"]:
        ret.update(result=None, changes=_changes(planned), comment=planned.get("comment", ""))
        return ret
    done, error = _run(binary, real_args, (EXIT_COMPLIANT,))
    if error:
        ret.update(result=False, comment=error)
        return ret
    ret.update(changes=_changes(done), comment=done.get("comment", ""))
    return ret


def tuned(
    name,
    settings=None,
    only=None,
    skip=None,
    persist="both",
    persist_to=None,
    binary="twtune",
):
    """
    Apply twtune's plan (``twtune apply --yes``) when it is not empty.

    settings
        Extra or overriding changes, sysctl key to value (``--set KEY=VALUE``).
    only
        Plan only these keys (``--only``).
    skip
        Leave out the recommendations of these rule ids (``--skip``).
    persist
        ``both`` (runtime values and the drop-in), ``runtime``
        (``--no-persist``) or ``file`` (``--persist-only``).
    persist_to
        Write the persisted settings to this file (``--persist-to``).
    binary
        The twtune executable; by default ``twtune`` on the minion's PATH.
    """
    args = []
    for key in sorted(settings or {}):
        args.extend(["--set", "{}={}".format(key, settings[key])])
    for key in only or []:
        args.extend(["--only", key])
    for rule in skip or []:
        args.extend(["--skip", rule])
    if persist == "runtime":
        args.append("--no-persist")
    elif persist == "file":
        args.append("--persist-only")
    elif persist != "both":
        return {
            "name": name,
            "result": False,
            "changes": {},
            "comment": "persist: both, runtime or file, not {!r}".format(persist),
        }
    if persist_to:
        args.extend(["--persist-to", persist_to])
    return _converge(
        name, binary, ["apply", "--dry-run"] + args, ["apply", "--yes"] + args
    )


def rolled_back(name, binary="twtune"):
    """
    Undo the last apply from its record (``twtune rollback --yes``).

    binary
        The twtune executable; by default ``twtune`` on the minion's PATH.
    """
    return _converge(name, binary, ["rollback", "--dry-run"], ["rollback", "--yes"])
