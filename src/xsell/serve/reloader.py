"""What a server answers from, and how it follows its files: `Served` (one immutable state) and `Reloader`.

A `Served` holds the model, the engine over it (None for a model the engine cannot serve without the
training orders), the rules and what each file was when it was read. The reloader keeps one reference,
`current`; a request reads it once at its start and answers wholly from that state, so a request in flight
when a new model arrives finishes on the old one, and the old one is freed when its last request ends.

A background thread looks at the files every `interval` seconds (a `stat`: modification time in ns, size,
inode); when one of them changed it reads the changed ones, builds the new state aside and swaps the
reference. A file that fails to load (half-written, corrupt, a rules file naming items the new model does
not know) changes nothing: the old state keeps serving, the error is logged (logger "xsell.serve") and kept
for /ready, and the files are read again when one of them changes again. Replace files by rename
(`save_model` does; `mv new.xsell model.xsell`), never by rewriting them in place (`cp` over them): a reader
may otherwise see half a file, which it refuses, and a memory-mapped model (`mmap=True`) ends the process
with SIGBUS when a page it reads was cut off the file.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar, Union

from xsell.engine.catalog import Catalog, load_catalog
from xsell.engine.engine import Engine
from xsell.engine.filters import compile_rules
from xsell.engine.rules import BusinessRules, load_rules
from xsell.errors import InputError, XsellError
from xsell.io import load_model
from xsell.models.base import Recommender
from xsell.models.cooccurrence import CoOccurrence

log = logging.getLogger("xsell.serve")

PathArg = Union[str, "os.PathLike[str]"]
T = TypeVar("T")


@dataclass(frozen=True)
class FileState:
    """A file as it was when read: its path, modification time (ns since the epoch), size (bytes) and inode;
    the three numbers together tell a replaced or rewritten file."""

    path: str
    mtime_ns: int
    size: int
    inode: int

    @property
    def signature(self) -> tuple[int, int, int]:
        return (self.mtime_ns, self.size, self.inode)


def file_state(path: str) -> FileState | None:
    """The file's state now; None when it does not exist (or cannot be looked at)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return FileState(path, st.st_mtime_ns, st.st_size, st.st_ino)


@dataclass(frozen=True)
class Served:
    """Everything one request answers from, never changed once made (a reload makes a new one)."""

    model: Recommender
    engine: Engine | None  # None: cross-sell and up-sell are off; `engine_off` says why
    engine_off: str | None
    rules: BusinessRules  # the server's rules (the rules file's, else the defaults); the engine's own
    catalog: Catalog | None
    model_file: FileState
    catalog_file: FileState | None
    rules_file: FileState | None
    loaded_at: float  # time.time() when this state began serving
    generation: int  # 1 for the first state, +1 per reload


@dataclass(frozen=True)
class LoadError:
    """The last load that failed: which file (the first that failed), the message, when (time.time())."""

    file: str
    message: str
    at: float


def _message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, XsellError) else f"{type(exc).__name__}: {exc}"


class Reloader:
    """Loads the model (and catalog, rules) and follows their files; see the module docstring.

    model_path, catalog_path: files for `xsell.load_model`, `xsell.load_catalog`. rules: a TOML file for
    `xsell.engine.rules.load_rules` (followed like the others), a fixed `BusinessRules`, or None (the
    defaults). threshold: the engine's free-shipping or minimum order value. interval: seconds between looks
    at the files (None: load once, never reload). mmap: memory-map the model file (see the module docstring).
    """

    def __init__(self, model_path: PathArg, catalog_path: PathArg | None = None,
                 rules: PathArg | BusinessRules | None = None, *, threshold: float | None = None,
                 interval: float | None = 2.0, mmap: bool = False) -> None:
        if interval is not None and (isinstance(interval, bool) or not isinstance(interval, (int, float))
                                     or not math.isfinite(interval) or interval <= 0):
            raise InputError(f"reload_interval must be a number of seconds > 0 (or None: never reload), "
                             f"got {interval!r}")
        self.model_path = os.fspath(model_path)
        self.catalog_path = None if catalog_path is None else os.fspath(catalog_path)
        self.fixed_rules = rules if isinstance(rules, BusinessRules) else None
        self.rules_path = None if rules is None or isinstance(rules, BusinessRules) else os.fspath(rules)
        self.threshold = threshold
        self.interval = interval
        self.mmap = mmap
        self.current: Served | None = None  # the one reference requests read
        self.error: LoadError | None = None  # the last failed load; None once a later load succeeds
        self.reloads = 0  # loads that replaced a serving state
        self._tried: tuple[object, ...] | None = None  # the file signatures of the last attempt
        self._lock = threading.Lock()  # one load at a time (the thread, or a caller of poll)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the files -----------------------------------------------------------------------------
    def _states(self) -> tuple[FileState | None, FileState | None, FileState | None]:
        return (file_state(self.model_path),
                None if self.catalog_path is None else file_state(self.catalog_path),
                None if self.rules_path is None else file_state(self.rules_path))

    def poll(self, raise_errors: bool = False) -> bool:
        """Look at the files once; when one changed since the last attempt (or nothing was loaded yet), load
        them and swap. True if a new state now serves. A failed load is logged and kept in `error` (with
        `raise_errors`, also raised)."""
        with self._lock:
            states = self._states()
            signatures = tuple(None if s is None else s.signature for s in states)
            if signatures == self._tried and not raise_errors:
                return False
            self._tried = signatures
            try:
                served = self._load(*states)
            except Exception as exc:
                file, cause = (exc.file, exc.cause) if isinstance(exc, _Failed) else (self.model_path, exc)
                self.error = LoadError(file, _message(cause), time.time())
                if raise_errors:  # the caller says it
                    raise cause from None
                self._log_failure(file, cause)
                return False
            old, self.current = self.current, served  # the swap: one reference
            self.error = None
            if old is not None:
                self.reloads += 1
            log.info("%s %s: %s model, %d items%s%s", "reloaded" if old is not None else "loaded", self.model_path,
                     served.model.model_type, served.model.n_items,
                     f"; catalog {self.catalog_path}" if self.catalog_path else "",
                     f"; rules {self.rules_path}" if self.rules_path else "")
            return True

    def _log_failure(self, file: str, exc: Exception) -> None:
        served = self.current
        still = ("nothing to serve yet" if served is None else
                 f"still serving what was loaded at {time.strftime('%H:%M:%S', time.localtime(served.loaded_at))}")
        if isinstance(exc, (XsellError, OSError)):
            log.error("cannot load %s: %s; %s; trying again when a file changes", file, _message(exc), still)
        else:  # a bug rather than a bad file: keep the traceback
            log.error("cannot load %s; %s; trying again when a file changes", file, still, exc_info=exc)

    def _load(self, model_file: FileState | None, catalog_file: FileState | None,
              rules_file: FileState | None) -> Served:
        """A new state from the files, reusing what did not change since the serving state was read."""
        old = self.current
        model_file = _present(model_file, self.model_path, "model")
        if old is not None and _same(old.model_file, model_file):
            model = old.model
        else:
            model = _reading(self.model_path, load_model, self.model_path, mmap=self.mmap)
        catalog = None
        if self.catalog_path is not None:
            catalog_file = _present(catalog_file, self.catalog_path, "catalog")
            if old is not None and _same(old.catalog_file, catalog_file):
                catalog = old.catalog
            else:
                catalog = _reading(self.catalog_path, load_catalog, self.catalog_path)
        rules = self.fixed_rules or BusinessRules()
        if self.rules_path is not None:
            rules_file = _present(rules_file, self.rules_path, "rules")
            if old is not None and _same(old.rules_file, rules_file):
                rules = old.rules
            else:
                rules = _reading(self.rules_path, load_rules, self.rules_path)
        engine, engine_off = None, None
        if isinstance(model, CoOccurrence):
            if self.rules_path is not None:  # pins, blocks, allow naming items this model does not know
                _reading(self.rules_path, compile_rules, rules, model.items_)
            engine = _reading(self.model_path, Engine, model, catalog, rules, threshold=self.threshold)
        else:
            engine_off = (f"cross-sell and up-sell need a cooccurrence model (the engine's probabilities and reasons "
                          f"come from its co-purchase counts); {self.model_path} holds a {model.model_type} model")
        return Served(model, engine, engine_off, rules, catalog, model_file, catalog_file, rules_file, time.time(),
                      1 if old is None else old.generation + 1)

    # -- the thread ----------------------------------------------------------------------------
    def start(self) -> None:
        """Load in a background thread now, then look at the files every `interval` seconds until `stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="xsell-reloader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:  # poll keeps load errors; this is a bug in the loop itself: log it, keep going
                log.exception("the reloader failed; trying again in %s s", self.interval)
            if self.interval is None and self.current is not None:
                return
            if self._stop.wait(self.interval if self.interval is not None else 1.0):
                return

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread (after the load it may be doing) and wait for it up to `timeout` seconds."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)


def _same(before: FileState | None, now: FileState) -> bool:
    return before is not None and before.signature == now.signature


class _Failed(Exception):
    """A file that failed to load (`file`) and why (`cause`)."""

    def __init__(self, file: str, cause: Exception) -> None:
        super().__init__(file, cause)
        self.file, self.cause = file, cause


def _present(state: FileState | None, path: str, what: str) -> FileState:
    if state is None:
        raise _Failed(path, InputError(f"{what} file not found: {path}"))
    return state


def _reading(path: str, call: Callable[..., T], *args: object, **kwargs: object) -> T:
    """call(*args, **kwargs); an exception becomes _Failed naming `path`, the file it concerns."""
    try:
        return call(*args, **kwargs)
    except Exception as exc:
        raise _Failed(path, exc) from exc


__all__ = ["FileState", "LoadError", "Reloader", "Served", "file_state"]
