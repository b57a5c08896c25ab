"""Serve a model over HTTP with FastAPI: `xsell serve MODEL` or `xsell.serve.run(...)` / `create_app(...)`.

Needs the `serve` extra (`pip install 'xsell[serve]'`: FastAPI and uvicorn); `import xsell` never imports
them, and importing this package without them raises `MissingExtraError` (an `InputError` and an
`ImportError`) saying so. See `xsell.serve.app` for the endpoints and `xsell.serve.reloader` for how the
server follows its files.
"""

from __future__ import annotations

import importlib.util

from xsell.errors import InputError


class MissingExtraError(InputError, ImportError):
    """An optional dependency is not installed; the message says which extra brings it."""


_missing = [name for name in ("fastapi", "uvicorn") if importlib.util.find_spec(name) is None]
if _missing:
    raise MissingExtraError(f"xsell serve needs {' and '.join(_missing)}: pip install 'xsell[serve]'")

from xsell.serve.app import create_app, run  # noqa: E402  (after the check: it imports fastapi)
from xsell.serve.reloader import Reloader, Served  # noqa: E402

__all__ = ["MissingExtraError", "Reloader", "Served", "create_app", "run"]
