"""The `callqc` command: one front door with subcommands.

Each module in this package defines ``register(app)`` and adds its commands; modules are found by
name, so a new command group is one new file. Errors print one line and exit non-zero.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

import typer
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from storage.db import unavailable
from storage.errors import CallqcError

# Not called `app`: importing the submodule callqc.cli.app would rebind that package attribute.
root = typer.Typer(
    name="callqc",
    help="callqc: record, transcribe, score, review and archive contact-center calls.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@root.callback()
def _group() -> None:
    # With a callback the root is always a group, even when only one module has registered its
    # commands (typer runs a lone command as the program itself).
    pass


def _registered(name: str) -> bool:
    return (any((c.name or "") == name for c in root.registered_commands)
            or any((g.name or (g.typer_instance.info.name if g.typer_instance else None)) == name
                   for g in root.registered_groups))


def _register_all(argv: Sequence[str] = ()) -> None:
    """Every module's commands; or, when ``argv`` names a command its namesake module defines (``work``
    in ``work.py``), that module's alone: each module brings its own imports, and all of them cost
    ~0.6 s of CPU at every start of a worker or of any command."""
    names = sorted(info.name for info in pkgutil.iter_modules(__path__))
    first = next((a for a in argv if not a.startswith("-")), None)
    done = set()
    if first in names:
        importlib.import_module(f"{__name__}.{first}").register(root)
        if _registered(first):
            return
        done.add(first)
    for name in names:
        if name not in done:
            importlib.import_module(f"{__name__}.{name}").register(root)


def _setup_logging() -> None:
    from storage.settings import get_settings

    logging.basicConfig(
        level=get_settings().log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _not_migrated(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return "no such table" in text or ("does not exist" in text and "relation" in text)


def main() -> None:
    """Entry point of the console script."""
    try:
        _setup_logging()
        _register_all(sys.argv[1:])
        root()
    except CallqcError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or exc.title
        print(f"error: invalid setting {where}: {first['msg']}", file=sys.stderr)
        sys.exit(4)
    except DBAPIError as exc:
        if _not_migrated(exc):
            print("error: database not migrated: run `callqc db migrate`", file=sys.stderr)
        else:
            print(f"error: database: {' '.join(str(exc.orig).split())}", file=sys.stderr)
        sys.exit(6)
    except SQLAlchemyError as exc:  # not from the driver: the pool's wait ran out, say
        print(f"error: {unavailable(exc) or 'database: ' + type(exc).__name__}", file=sys.stderr)
        sys.exit(6)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # the last line of defence: still one line, the log has the rest
        logging.getLogger("callqc").debug("unexpected error", exc_info=True)
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: unexpected {type(exc).__name__}: {msg} (CALLQC_LOG_LEVEL=DEBUG shows more)",
              file=sys.stderr)
        sys.exit(1)
