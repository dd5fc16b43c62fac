"""A study's record: the command as it was given, and the JSON and Markdown files written whole."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from symmflow.outputs import write_atomic


def as_given(module: str, argv: list[str] | None) -> str:
    """The command line that ran the study ``module`` (``python -m studies.x --out ...``)."""
    return " ".join(["python -m", module, *(argv if argv is not None else sys.argv[1:])])


def write_record(out: Path, stem: str, record: dict, markdown: str, print_markdown: bool = False) -> int:
    """``<stem>.json`` and ``<stem>.md`` in ``out``, each written whole (:func:`write_atomic`); the
    Markdown's path printed (with ``print_markdown``, the Markdown itself), and 0 returned as the
    study's exit status."""
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / f"{stem}.json", json.dumps(record, indent=1))
    write_atomic(out / f"{stem}.md", markdown)
    print(markdown if print_markdown else out / f"{stem}.md")
    return 0


def add_profile_and_out(parser, profile_help: str) -> None:
    """``--profile`` (smoke or cpu, default cpu; ``profile_help`` says whose networks) and ``--out``,
    the results folder (:func:`results_folder`)."""
    parser.add_argument("--profile", default="cpu", choices=("smoke", "cpu"), help=profile_help)
    parser.add_argument("--out", type=Path, default=None,
                        help="Results folder (default: runs/<profile>, untracked; the committed records: "
                             "results/<profile>).")


def results_folder(args) -> Path:
    """The folder ``--out`` names, else ``runs/<profile>``."""
    return args.out or Path("runs") / args.profile
