"""`dlstart recommend`: the ranked frameworks and the reasons, without generating anything."""

from __future__ import annotations

import argparse

from dlstart import flags
from dlstart.commands._shared import HelpFormatter

DESCRIPTION = """\
Rank the three frameworks for your primary goal, training hardware and team
experience, with the points each answer gave and why: the ranking `dlstart new`
shows. A framework whose template does not offer the hardware (or the --python
version) is listed as not offered.
"""

EPILOG = """\
examples:
  dlstart recommend          ask (on a terminal)
  dlstart recommend --yes    defaults: research, detected hardware, new to DL
  dlstart recommend --goal mobile --hardware gpu --experience pytorch
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "recommend",
        help="rank PyTorch, TensorFlow and JAX for you; generate nothing",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    flags.add_options(
        parser,
        flags.RECOMMEND_KEYS,
        {
            "python_version": "only rank frameworks whose template offers this Python version",
            "yes": "ask nothing: take the defaults",
        },
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dlstart import interview, prompts
    from dlstart import recommender as rec

    asker = prompts.TerminalAsker() if not args.yes and prompts.on_terminal() else None
    given = flags.given_answers(args, flags.RECOMMEND_KEYS)
    profile = interview.ask_profile(interview.Flow(interview.Resolver(given, asker, args.yes)))
    print(rec.format_ranking(profile, rec.rank(profile)))
    return 0
