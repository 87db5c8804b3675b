"""`batchq quota set|show`: a tenant's or a depositor's quotas (CONTRACT v1.1, quotas)."""

from __future__ import annotations

import argparse
from typing import Any

from domain.quotas import LIMIT_NAMES


def quota_parsers(quota: argparse.ArgumentParser) -> None:
    actions = quota.add_subparsers(dest="quota_command", required=True)
    for name, help_text in (("set", "set some quotas (the others stay)"), ("show", "the quotas set")):
        s = actions.add_parser(name, help=help_text)
        whose = s.add_mutually_exclusive_group(required=name == "set")
        whose.add_argument("--tenant")
        whose.add_argument("--user", help="a depositor (the user_id of submissions)")
        if name == "set":
            for limit in sorted(LIMIT_NAMES):
                s.add_argument(f"--{limit.replace('_', '-')}", type=int, metavar="N", dest=limit)
            s.add_argument("--reason", default="")
        else:
            s.add_argument("--json", action="store_true")


def quota_command(args: argparse.Namespace) -> dict[str, Any]:
    scope, subject = ("tenant", args.tenant) if args.tenant else ("user", args.user)
    limits = {name: getattr(args, name) for name in LIMIT_NAMES if getattr(args, name) is not None}
    return {"command": "set_quota", "scope": scope, "subject": subject, "reason": args.reason, **limits}
