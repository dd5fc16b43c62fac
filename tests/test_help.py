"""Every command's ``--help`` reads in whole sentences: the description of each parser and the help
of each of its options and subcommands.

The parsers are found as the commands build them: every module of ``benchmarks/``, ``studies/`` and
``symmflow/`` that constructs an ``ArgumentParser`` or ``OneLineParser`` has its ``main`` run with
``parse_args`` replaced by a capture (nothing after parsing runs), and ``symmflow``'s subcommands
are read from its subparsers.

A text is a whole sentence when

* it starts with a capital letter or a digit, or with a word of code: an option (``--steps``), a
  quoted or back-quoted literal, or a word with ``_``, ``.``, ``/``, ``=`` or ``:`` inside it
  (``torch.compile``, ``x_t``, ``cuda:N``; a lower-case word and a colon is a cut-off label); and
* it ends with ``.``, ``?`` or ``!``, after which only closing brackets or quotes may follow
  (``(default 0).`` and ``(see docs/step-curve.md.)`` both end a sentence; ``(default 0)`` or a
  clause cut off at a line break does not).

``%(default)s`` and the other argparse substitutions are expanded first, as ``--help`` shows them.
"""

from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILDS = re.compile(r"(?<!class )\b(?:OneLineParser|ArgumentParser)\(")
START = re.compile(r"""^(?:[A-Z0-9"'`(]|--?\w|[a-z][\w-]*[_./=:]\w)""")
END = re.compile(r"""[.?!][)\]"'`]*$""")


class Captured(BaseException):
    """Raised in place of parsing: the parser a command built, before it does any work."""

    def __init__(self, parser):
        super().__init__(parser.prog)
        self.parser = parser


def modules() -> list[tuple[str, list[str]]]:
    """(module, argv) of every module that builds a parser, with the argv that reaches each of its
    parsers (``studies.scale_check`` has a second one for its worker processes)."""
    found = []
    for folder in ("benchmarks", "studies", "symmflow"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            text = path.read_text()
            if BUILDS.search(text):
                name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
                found.append((name, []))
                if 'argv[:1] == ["worker"]' in text:
                    found.append((name, ["worker"]))
    return found


def captured(module: str, argv: list[str], monkeypatch) -> argparse.ArgumentParser:
    def capture(self, *args, **kwargs):
        raise Captured(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", capture)
    mod = importlib.import_module(module)
    try:
        parser = mod.main(argv) if hasattr(mod, "main") else mod.build_parser()
    except Captured as caught:
        return caught.parser
    assert isinstance(parser, argparse.ArgumentParser), f"{module}: no parser reached with {argv}"
    return parser


def texts(parser: argparse.ArgumentParser) -> list[tuple[str, str | None]]:
    """(where, text) of the parser's description and of every option's and subcommand's help, as
    ``--help`` shows them; the subcommands' parsers follow."""
    out = [(f"{parser.prog}: description", parser.description)]
    formatter = argparse.HelpFormatter(parser.prog)  # the help as written, without a formatter's "(default: ...)"
    for action in parser._actions:
        if action.help == argparse.SUPPRESS:
            continue
        if isinstance(action, argparse._SubParsersAction):
            out += [(f"{parser.prog} {choice.dest}: help", choice.help) for choice in action._choices_actions]
            for sub in dict.fromkeys(action.choices.values()):
                out += texts(sub)
            continue
        name = "/".join(action.option_strings) or action.dest
        out.append((f"{parser.prog} {name}: help",
                    formatter._expand_help(action) if action.help is not None else None))
    return out


def whole_sentence(text: str | None) -> bool:
    text = " ".join((text or "").split())
    return bool(text) and bool(START.match(text)) and bool(END.search(text))


def test_the_rule():
    assert whole_sentence("Training steps.") and whole_sentence("--steps with a value (default 0).")
    assert whole_sentence("torch.compile the network (speed only.)")
    assert not whole_sentence("options parsed and every bad input refused in")
    assert not whole_sentence("Seed of training (default 0)") and not whole_sentence("training steps.")
    assert not whole_sentence("segmentation: masks as palette colours.")
    assert not whole_sentence(None) and not whole_sentence("")


@pytest.mark.parametrize("module,argv", modules(), ids=lambda v: v if isinstance(v, str) else " ".join(v) or "-")
def test_every_help_is_a_whole_sentence(module, argv, monkeypatch):
    parser = captured(module, argv, monkeypatch)
    bad = [f"{where}: {text!r}" for where, text in texts(parser) if not whole_sentence(text)]
    assert bad == [], f"{len(bad)} texts of {parser.prog} --help are not whole sentences:\n" + "\n".join(bad)


def test_the_known_commands_are_found():
    names = {name for name, _ in modules()}
    assert {"benchmarks.options", "symmflow.cli", "studies.standins", "studies.latent_throughput",
            "studies.scale_check"} <= names


def test_python_dash_m_symmflow_is_the_symmflow_command():
    shown = subprocess.run([sys.executable, "-m", "symmflow", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert shown.returncode == 0 and shown.stdout.startswith("usage: symmflow")
    refused = subprocess.run([sys.executable, "-m", "symmflow", "evaluate", "--model", str(ROOT / "absent"),
                              "--images", str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "is not a model folder" in refused.stderr
