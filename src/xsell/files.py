"""Writing files so that nothing is ever half-written or left behind: `atomic_write` (a temporary
file beside the target, renamed into place), `temp_folder_beside`, `check_output_path` and the
clean-up of a killed writer's leftovers. The one implementation every output of xsell goes through
(model files, rules, batch scores, reports). Imports nothing of xsell but its errors.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from xsell.errors import InputError


def _writer_alive(pid: int) -> bool:
    """Whether process `pid` still runs (a live process of another user counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it runs, as another user
        return True
    return True


def remove_stale_temps(path: str | os.PathLike[str]) -> int:
    """Remove the temporary files and folders (`.NAME.<pid>.<random>.tmp`) that a writer of `path`
    left when it was killed (SIGKILL, power loss): only those whose pid no longer runs on this
    machine, never a live writer's. Returns how many were removed."""
    import shutil

    target = Path(path)
    prefix = f".{target.name}."
    removed = 0
    try:
        entries = list(os.scandir(target.parent if str(target.parent) else "."))
    except OSError:
        return 0
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid, dot, random = name[len(prefix):-len(".tmp")].partition(".")
        # mkstemp's random part never holds a dot, so `.out.csv.12.x.tmp` (a temp of out.csv.12) is skipped
        if not dot or not pid.isdigit() or not random or "." in random or _writer_alive(int(pid)):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed += 1
        except FileNotFoundError:  # another run cleaned it first
            pass
        except OSError:  # not ours to remove (permissions): leave it
            pass
    return removed


def _temp_name(target: Path, folder: Path) -> str:
    # the pid lets the next run tell a dead writer's leftovers from a live writer's; the random
    # part (hex: no dot) keeps writers in one process apart. Named before it is created, so that
    # the name is known to the cleanup even when a signal's exception lands right after creation
    # (mkstemp's name would not be).
    return str(folder / f".{target.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """The folder an output file goes to; InputError when it does not exist or the path is a folder.
    Call it before long work so that a typo fails at once."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"folder does not exist: {folder}")
    if target.is_dir():
        raise InputError(f"output {target} is a folder; name a file inside it")
    return folder


def atomic_write(path: str | os.PathLike[str], write: Any) -> None:
    """Call write(tmp_path) for a temporary file beside `path`, then rename it into place.

    The temporary file (`.NAME.<pid>.<random>.tmp`) is removed on every exit Python sees: an
    exception, Ctrl-C, and SIGTERM/SIGHUP once the `xsell` command turned them into exceptions.
    A writer killed outright (SIGKILL) cannot clean up; the next write of the same path removes
    such leftovers whose process is gone (`remove_stale_temps`)."""
    target = Path(path)
    folder = check_output_path(target)
    remove_stale_temps(target)
    tmp = _temp_name(target, folder)
    # Python runs a signal handler only between bytecodes: after a call returns, at a loop's jump
    # back and when a Python function starts. So the clean-up's first step is the C call
    # os.unlink itself, with no Python call before it: a handler that raises while the file is
    # being created, written or renamed lands in a block that removes the file before the next
    # handler can run. The two blocks keep a name that was already taken (not ours) apart.
    try:
        # O_EXCL: never an existing file; mode 0666 less the umask, as any new file gets
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except FileExistsError:  # the name is taken: not ours to remove
        raise
    except BaseException:  # e.g. a signal's exception right after the file was created
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:  # renamed already, or the writer removed it
            pass
        raise


class temp_folder_beside:
    """`with temp_folder_beside(path) as folder:` a private temporary folder next to `path` (same
    file system, same naming and stale-cleanup rules as atomic_write's temporary file), removed
    with everything in it on every exit."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._target = Path(path)
        self._folder: str | None = None

    def __enter__(self) -> Path:
        self._folder = _temp_name(self._target, check_output_path(self._target))
        try:
            os.mkdir(self._folder, 0o700)
        except FileExistsError:  # not ours to remove
            self._folder = None
            raise
        except BaseException:
            self.__exit__()
            raise
        return Path(self._folder)

    def __exit__(self, *exc: Any) -> None:
        import shutil

        if self._folder is not None and os.path.isdir(self._folder):
            shutil.rmtree(self._folder, ignore_errors=True)
        self._folder = None


__all__ = ["atomic_write", "check_output_path", "remove_stale_temps", "temp_folder_beside"]
