"""The `callqc` command: one front door with subcommands.

Each module in this package defines ``register(app)`` and adds its commands; modules are found by
name, so a new command group is one new file. Errors print one line and exit non-zero.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys

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


def _register_all() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(root)


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
        _register_all()
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
