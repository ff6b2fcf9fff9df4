"""``docnode`` command line: a thin main over the library.

Each command group lives in its own module with a ``register(subparsers)`` function that
adds its sub-commands and sets ``func`` (a callable taking the parsed namespace and
returning an exit code). This module is the ONE place that maps errors to a message and
an exit code (sigstore's ``main``, pyHanko's ``cli/runtime.py``): 0 ok, 1 a negative
result, 2 usage, configuration or I/O errors. Tracebacks only with ``--verbose``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Callable, Sequence

from docnode import errors

# Command-group modules, in the order their commands appear in ``--help``.
_GROUPS = (
    "docnode.cli.pack",
    "docnode.cli.keys",
    "docnode.cli.verify",
    "docnode.cli.node",
    "docnode.cli.axis",
    "docnode.cli.tokens",
    "docnode.cli.ops",
)

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on usage errors already; keep its message on stderr."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="docnode",
        description="edXML (QCVN 102:2016) document exchange node and tools",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show tracebacks for errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _GROUPS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.func
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except _known_errors() as exc:
        spec = errors.spec_for(exc)
        if args.verbose:
            traceback.print_exc()
        print(f"docnode: error [{spec.code}]: {exc}", file=sys.stderr)
        return spec.exit_code
    except OSError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"docnode: error [io_error]: {exc}", file=sys.stderr)
        return errors.EXIT_USAGE


def _known_errors() -> tuple[type[Exception], ...]:
    from envelopes.errors import EnvelopeError
    from keystore.errors import KeystoreError

    return (errors.DocnodeError, EnvelopeError, KeystoreError)


def run() -> None:  # pragma: no cover - console entry point wrapper
    sys.exit(main())
