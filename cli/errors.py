"""One error path for every ``pygkd`` command: an expected failure is one line on stderr and an exit code.

:class:`~cli.main.LazyGroup` runs every command inside :func:`user_errors`, so a command added to
``COMMANDS`` gets this for free. ``pygkd --debug CMD`` (or ``PYGKD_DEBUG=1``) also prints the traceback.

Exit codes (listed in ``docs/usage.md``):

====  =======================================================================================
0     success
1     bad input: a config, data file, checkpoint or part matrix, or a file that cannot be written
      (disk full, permission denied) or read
2     usage: an unknown option or command, a bad option value (click's own code)
3     the run is not in the state the command needs: an unfinished checkpoint refused (finish it
      with ``--resume``, or pass ``--allow-unfinished``), or a run folder that already holds a run
      (``--resume`` or ``--overwrite``)
4     refused to run code that a file names (a checkpoint naming a module; ``--allow-module``)
70    internal error: a bug in pygkd (rerun with ``--debug`` and report the traceback)
130   interrupted (Ctrl-C)
====  =======================================================================================
"""
from __future__ import annotations

import contextlib
import errno
import os
import traceback
import zipfile
import zlib
from typing import Iterator

import click

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_RUN_STATE, EXIT_UNTRUSTED, EXIT_BUG, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 70, 130
DEBUG_ENV = "PYGKD_DEBUG"


class CommandError(click.ClickException):
    """A one-line error with its exit code (click prints ``Error: <message>`` to stderr)."""

    def __init__(self, message: str, exit_code: int = EXIT_INPUT) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def debug_enabled() -> bool:
    """Whether ``--debug`` was given to the ``pygkd`` group, or ``PYGKD_DEBUG`` is set (not 0/empty)."""
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    if root is not None and root.params.get("debug"):
        return True
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def describe(err: BaseException) -> tuple[str, int] | None:
    """``(one-line message, exit code)`` for an expected failure, None for anything else (a bug)."""
    # imported here, not at the top: `pygkd --help` must not wait for torch
    from pygkd.data.raw import DataFormatError
    from pygkd.engine.checkpoint import RunStateError
    from pygkd.engine.config import ConfigError
    from pygkd.engine.distributed import PeerLost
    from pygkd.nn.registry import UntrustedCodeError
    from pygkd.skeleton import LayoutError

    # library errors whose message already names the file (or key) and what was expected
    input_errors = (ConfigError, DataFormatError, LayoutError, FileNotFoundError, FileExistsError, FloatingPointError,
                    PeerLost)
    if isinstance(err, RunStateError):
        return str(err), EXIT_RUN_STATE
    if isinstance(err, UntrustedCodeError):
        return str(err), EXIT_UNTRUSTED
    if isinstance(err, OSError) and err.errno is not None:  # raised by open(), os.replace(), write()
        return _os_error(err), EXIT_INPUT
    if isinstance(err, input_errors):
        return "; ".join(_last_line(str(err)).strip().splitlines()), EXIT_INPUT
    if isinstance(err, UnicodeDecodeError):
        byte = err.object[err.start:err.start + 1]
        return f"text is not UTF-8 (byte {err.start}: {byte!r}): {err.reason}", EXIT_INPUT
    if isinstance(err, (zipfile.BadZipFile, zlib.error, EOFError)):
        return f"corrupt or truncated archive ({type(err).__name__}: {err})", EXIT_INPUT
    if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
        first = str(err).split(".")[0]
        return f"out of memory{': ' + first if first else ''}; lower the batch size or the data size", EXIT_INPUT
    return None


def _os_error(err: OSError) -> str:
    """``runs/x/teacher/checkpoint_last.pt: No space left on device; free disk space ...``"""
    path = err.filename if err.filename is not None else "a file"
    reason = err.strerror or os.strerror(err.errno)
    hints = {errno.ENOSPC: "; free disk space or write elsewhere (--out)",
             errno.EDQUOT: "; free disk space or write elsewhere (--out)",
             errno.EACCES: "; check the permissions, or write elsewhere (--out)",
             errno.EROFS: "; write elsewhere (--out)"}
    return f"{path}: {reason}{hints.get(err.errno, '')}"


def _last_line(message: str) -> str:
    """An error re-raised from a DataLoader worker carries the worker's traceback: keep the error line."""
    if "Original Traceback" not in message:
        return message
    last = message.rstrip().splitlines()[-1]
    return last.split(": ", 1)[1] if ": " in last else last


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn an expected failure into a :class:`CommandError` (one line, its exit code); a bug into one line
    with exit code 70. With ``--debug`` the traceback is printed first. In a run of several processes, a
    failed collective (a peer died) is :class:`~pygkd.engine.distributed.PeerLost` first."""
    from pygkd.engine.distributed import peer_errors

    try:
        with peer_errors():
            yield
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except KeyboardInterrupt:
        if debug_enabled():
            traceback.print_exc()
        click.echo("interrupted", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    except Exception as err:
        if debug_enabled():
            traceback.print_exc()
        # the one-line error outlives the failed frames (as its context): free what they hold now. Above all
        # a DistributedDataParallel model should go while the process group lives: a reducer that holds the
        # group's last reference destroys it with the GIL held, and if gloo's worker thread is then freeing a
        # failed collective's tensors (it needs the GIL) the two deadlock (pytorch/pytorch#56297; seen in
        # tests/engine/test_distributed.py, not seen through this command line)
        traceback.clear_frames(err.__traceback__)
        known = describe(err)
        if known is None:
            raise CommandError(f"internal error ({type(err).__name__}: {_last_line(str(err))}); rerun with "
                               "--debug for the traceback and report it", EXIT_BUG) from None
        raise CommandError(*known) from None
