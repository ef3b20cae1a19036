"""`dlstart recommend`: the ranked frameworks and the reasons, without generating anything."""

from __future__ import annotations

import argparse

from dlstart import questionnaire as q
from dlstart import recommender as rec

DESCRIPTION = """\
Rank the three frameworks for your primary goal, training hardware and team experience, with
the points each answer gave and why: the ranking `dlstart new` shows. A framework whose template
does not offer the hardware (or the --python version) is listed as not offered.
"""

EPILOG = """\
examples:
  dlstart recommend                           ask (on a terminal)
  dlstart recommend --yes                     defaults: research, detected hardware, new to DL
  dlstart recommend --goal mobile --hardware gpu --experience pytorch
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "recommend",
        help="rank PyTorch, TensorFlow and JAX for your goal, hardware and team; generate nothing",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_options(
        parser,
        q.RECOMMEND_KEYS,
        {
            "python_version": "only rank frameworks whose template offers this Python version",
            "yes": "ask nothing: take the defaults",
        },
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    asker = q.TerminalAsker() if not args.yes and q.on_terminal() else None
    given = q.given_answers(args, q.RECOMMEND_KEYS)
    profile = q.ask_profile(q.Flow(q.Resolver(given, asker, args.yes)))
    print(rec.format_ranking(profile, rec.rank(profile)))
    return 0
