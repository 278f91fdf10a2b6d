"""Shared pieces of the ``samplescope`` command line: the error guard (one red line, exit 2), option parsing
(``--param``/``KEY=VALUE``, column lists), output-path checks and the progress bar.

Every user error (a :class:`~samplescope.errors.SamplescopeError`, or an unreadable file) ends as one red line
``error: <message>`` on stderr with exit status 2; Ctrl-C exits with 130; anything else keeps its traceback.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import threading
from pathlib import Path
from typing import Any, Callable

import typer
from rich.console import Console
from rich.text import Text

from samplescope.data.readers import read_any
from samplescope.errors import SamplescopeError
from samplescope.methods import get_method

_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "None": type(None)}


class CLIError(SamplescopeError, ValueError):
    """A bad command-line value that only the CLI can see (output path, --jobs, --param syntax)."""


def _out() -> Console:
    return Console(highlight=False)


def _err() -> Console:
    return Console(stderr=True, highlight=False)


def _guard(fn: Callable) -> Callable:
    """Turn user errors into ``error: ...`` + exit 2, Ctrl-C into exit 130; leave bugs their traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SamplescopeError as exc:
            _fail(str(exc))
        except OSError as exc:  # FileNotFoundError, PermissionError, IsADirectoryError... on user paths
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            _fail(f"{where}{exc.strerror or exc}")
        except KeyboardInterrupt:
            _err().print(Text("interrupted", style="yellow"))
            raise typer.Exit(130) from None

    return wrapper


def _fail(message: str) -> None:
    _err().print(Text("error: ", style="bold red") + Text(message, style="red"), soft_wrap=True)
    raise typer.Exit(2)


def _read_user_file(path: Path, **kwargs):
    """``read_any`` where any ValueError from parsing the file still names the file."""
    try:
        return read_any(path, **kwargs)
    except SamplescopeError:
        raise
    except ValueError as exc:
        raise CLIError(f"{path.name}: could not read the file; found {type(exc).__name__}: {exc}") from None


# ------------------------------------------------------------------ option parsing
def _columns(value: str | None) -> list[str] | None:
    if value is None:
        return None
    cols = [c.strip() for c in value.split(",") if c.strip()]
    return cols or None


def _parse_value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _key_value(item: str, flag: str, example: str, seen: dict) -> tuple[str, str]:
    """Split one ``KEY=VALUE`` option value; a malformed or repeated key is a CLI error."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not re.fullmatch(r"[A-Za-z_]\w*", key):
        raise CLIError(f"{flag} must be KEY=VALUE (e.g. {flag} {example}); found {item!r}")
    if key in seen:
        raise CLIError(f"{flag} {key} is given twice; expected each parameter once")
    return key, raw


def _parse_params(items: list[str], method: str) -> dict[str, Any]:
    """``KEY=VALUE`` strings → a dict, checked against the method's signature before any work."""
    fn = get_method(method).fn
    sig = list(inspect.signature(fn).parameters.values())[1:]
    accepted = {p.name: p for p in sig}
    out: dict[str, Any] = {}
    for item in items:
        key, raw = _key_value(item, "--param", "k=3", out)
        if key not in accepted:
            raise CLIError(f"method '{method}' has no parameter '{key}'; "
                           f"expected one of {sorted(accepted) or '(none)'}")
        out[key] = _check_type(method, accepted[key], _parse_value(raw), raw)
    return out


def _check_type(method: str, param: inspect.Parameter, value: Any, raw: str) -> Any:
    ann = param.annotation if isinstance(param.annotation, str) else getattr(param.annotation, "__name__", "")
    names = [t.strip() for t in str(ann).split("|")]
    allowed = [_TYPES[t] for t in names if t in _TYPES]
    if not allowed or len(allowed) != len(names):
        return value  # unknown annotation: let the method decide
    if float in allowed and type(value) is int:
        return float(value) if int not in allowed else value
    if type(value) in allowed:
        return value
    if str in allowed:
        return raw  # e.g. metric=1 for a text parameter: keep the text
    raise CLIError(f"--param {param.name}: method '{method}' expects {' or '.join(names)}; found {raw!r}")


def _check_out(out: Path, inputs: list[Path]) -> None:
    if out.suffix.lower() != ".parquet":
        raise CLIError(f"{out}: output must be a .parquet file; found suffix {out.suffix or '(none)'!r}")
    if out.is_dir():
        raise CLIError(f"{out}: output must be a file path; found a directory")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise CLIError(f"{out}: cannot write here; directory '{parent}' does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CLIError(f"{out}: cannot write here; directory '{parent}' is not writable")
    for p in inputs:
        if p.exists() and out.exists() and out.resolve() == p.resolve():
            raise CLIError(f"{out}: output would overwrite the input file; expected another path")


def _honour_umask(path: Path) -> None:
    """``atomic_write`` renames a ``mkstemp`` file (mode 0600); give OUT the mode a plain ``open`` would."""
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(path, 0o666 & ~umask)
    except OSError:  # pragma: no cover - e.g. a filesystem without modes
        pass


# ------------------------------------------------------------------ progress
class _Progress:
    """A transient rich progress bar on stderr, shown only when the run lasts more than ``delay`` seconds."""

    def __init__(self, total: int, label: str, delay: float = 1.0):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        console = _err()
        self.enabled = console.is_terminal
        self.total, self.done = total, 0
        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=console, transient=True)
        self.task = self.bar.add_task(label, total=total)
        self.lock = threading.Lock()
        self.started = False
        self.timer = threading.Timer(delay, self._start) if self.enabled else None

    def _start(self) -> None:
        with self.lock:
            if not self.started:
                self.started = True
                self.bar.start()

    def __call__(self, k: int) -> None:
        self.done += int(k)
        # methods that tick per validation row can pass the training total: fall back to a pulsing bar
        self.bar.update(self.task, completed=self.done, total=self.total if self.done <= self.total else None)

    def __enter__(self) -> "_Progress":
        if self.timer is not None:
            self.timer.daemon = True
            self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.timer is not None:
            self.timer.cancel()
        with self.lock:
            if self.started:
                self.bar.stop()
            self.started = True  # a late timer must not start it


