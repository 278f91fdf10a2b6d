"""What a method costs: wall time and peak memory measured on subsamples, extrapolated as ``a·nᵇ``.

A method is timed at two or three subsample sizes; ``log t = log a + b log n`` is fitted by least squares
and evaluated at the full ``n``. Peak memory is what the run needs on top of what the process already held:
on Linux the peak resident set size (``VmHWM``, reset through ``/proc/self/clear_refs`` before the run —
free of overhead, and it sees every allocator: numpy, BLAS, C++ libraries); elsewhere :mod:`tracemalloc`
(numpy reports its buffers to it; it slows Python-heavy code down, so the run is timed separately).

>>> law = fit_power_law([1000, 2000, 4000], [0.1, 0.4, 1.6])
>>> round(law.b, 6), round(law.predict(8000), 6)
(2.0, 6.4)
"""

from __future__ import annotations

import os
import time
import tracemalloc
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

__all__ = ["Measurement", "NOISE_S", "PowerLaw", "TimedOut", "available_memory", "fit_power_law", "measure",
           "measure_guarded", "memory_law", "rss_probe_works", "time_law"]

#: exponents outside this range are clipped: timings of a few milliseconds are mostly noise
B_RANGE = (0.0, 3.0)
#: timings under this (seconds) are mostly overhead and jitter; the time law leans on longer ones
NOISE_S = 0.002


@dataclass(frozen=True)
class PowerLaw:
    """``y = a · nᵇ`` fitted on ``points`` sizes.

    Attributes:
        a, b: coefficient and exponent.
        points: how many sizes the fit saw (1: ``b`` was assumed, not fitted).
    """

    a: float
    b: float
    points: int = 0

    def predict(self, n: float) -> float:
        """The value at size ``n``."""
        return float(self.a * float(n) ** self.b)

    def __str__(self) -> str:
        return f"{self.a:.3g}·n^{self.b:.2f}"


def fit_power_law(n: Sequence[float], y: Sequence[float], *, b_default: float = 1.0,
                  b_range: tuple[float, float] = B_RANGE) -> PowerLaw:
    """Least-squares fit of ``log y = log a + b log n``.

    Args:
        n: sizes (positive).
        y: measured values at those sizes (non-positive values are raised to a floor of 1e-6).
        b_default: the exponent assumed when only one distinct size was measured.
        b_range: ``b`` is clipped to this range, and ``a`` refitted for the clipped ``b``.
    """
    n = np.asarray(n, dtype=np.float64)
    y = np.maximum(np.asarray(y, dtype=np.float64), 1e-6)
    if n.size == 0:
        return PowerLaw(float("nan"), float("nan"), 0)
    ln, ly = np.log(n), np.log(y)
    if np.unique(n).size < 2:
        b = b_default
    else:
        b = float(np.polyfit(ln, ly, 1)[0])
    b = float(np.clip(b, *b_range))
    a = float(np.exp(np.mean(ly - b * ln)))
    return PowerLaw(a, b, int(np.unique(n).size))


@dataclass(frozen=True)
class Measurement:
    """One timed run: ``seconds`` of wall time, ``peak_bytes`` allocated on top of the start (or ``None``)."""

    seconds: float
    peak_bytes: int | None
    value: object = None


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")  # pragma: no cover


def _reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


_RSS_OK: list = []


def rss_probe_works() -> bool:
    """Whether the peak resident set size can be reset and read here (Linux ≥ 4.0 with /proc)."""
    if not _RSS_OK:
        try:
            _reset_peak_rss()
            _RSS_OK.append(_status_kb("VmHWM") <= _status_kb("VmRSS") + 1024)
        except OSError:
            _RSS_OK.append(False)
    return _RSS_OK[0]


def measure(fn: Callable[[], object], *, memory: bool | str = False) -> Measurement:
    """Run ``fn()`` once and measure it.

    Args:
        fn: the work.
        memory: ``False`` (time only), ``"rss"`` (peak resident set size; no overhead, Linux only),
            ``"tracemalloc"`` (slower; the time then includes the tracing), or ``True`` (the first that works).
    """
    if memory is True:
        memory = "rss" if rss_probe_works() else "tracemalloc"
    if not memory:
        t0 = time.perf_counter()
        value = fn()
        return Measurement(time.perf_counter() - t0, None, value)
    if memory == "rss":
        _reset_peak_rss()
        base = _status_kb("VmRSS")
        t0 = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - t0
        return Measurement(seconds, max(_status_kb("VmHWM") - base, 0) * 1024, value)
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        t0 = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return Measurement(seconds, max(int(peak), 0), value)


class TimedOut(Exception):
    """A guarded measurement ran past its time limit and was stopped."""


def measure_guarded(fn: Callable[[], object], *, timeout: float, memory: bool | str = False) -> Measurement:
    """:func:`measure` in a forked child process that is killed after ``timeout`` seconds.

    The child shares the parent's memory (copy-on-write), so nothing is pickled but the result. Where
    ``fork`` is not available the work runs in this process, without a time limit.

    Raises:
        TimedOut: the limit passed; the child was killed.
        Exception: what ``fn`` raised in the child (re-raised here with its type and message).
    """
    import multiprocessing as mp
    import warnings

    try:
        ctx = mp.get_context("fork")
    except ValueError:  # pragma: no cover - platforms without fork
        return measure(fn, memory=memory)
    recv, send = ctx.Pipe(duplex=False)

    def child():
        try:
            send.send(("ok", measure(fn, memory=memory)))
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
            send.send(("error", (type(exc), str(exc))))

    proc = ctx.Process(target=child, daemon=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with BLAS threads around: handled by BLAS
        proc.start()
    send.close()
    try:
        if not recv.poll(timeout):
            raise TimedOut(f"stopped after {timeout:.3g} s")
        try:
            kind, payload = recv.recv()
        except EOFError:
            raise RuntimeError(f"the measurement process died (exit code {proc.exitcode})") from None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        recv.close()
    if kind == "error":
        cls, msg = payload
        try:
            err = cls(msg)
        except Exception:  # pragma: no cover - an exception type with another constructor
            err = RuntimeError(f"{cls.__name__}: {msg}")
        raise err
    return payload


def time_law(pts: dict[int, float], *, scheduling: bool = False):
    """``a·nᵇ`` through the three largest sizes timed, with ``1 ≤ b ≤ 3`` (``≤ 2`` from two sizes).

    Every method touches every row, so time grows at least linearly: a smaller fitted exponent only says
    that a fixed cost (a ``p³`` factorisation, start-up) dominates the small subsamples. Runs under
    :data:`NOISE_S` seconds are mostly overhead and jitter: when fewer than two sizes took longer, the time
    is taken as linear in ``n`` through the largest size. With a single size, ``b`` is assumed 2 for
    scheduling (pessimistic) and 1 otherwise.
    """
    if not pts:
        return None
    ns = sorted(pts)
    slow = [n for n in ns if pts[n] >= NOISE_S][-3:]
    if len(slow) >= 2:  # two sizes give a noisy exponent: at most quadratic then
        return fit_power_law(slow, [pts[n] for n in slow], b_range=(1.0, 3.0 if len(slow) >= 3 else 2.0))
    top = ns[-1]
    b = 2.0 if scheduling and len(ns) == 1 else 1.0
    return fit_power_law([top], [max(pts[top], 1e-6)], b_default=b)


def memory_law(pts: dict[int, int]):
    """``a·nᵇ`` through the three largest peaks of at least 1 MB (smaller ones are allocator noise: memory
    freed earlier is reused without the resident set growing); linear through the largest point when
    fewer than two are that large."""
    if not pts:
        return None
    ns = sorted(pts)
    big = [n for n in ns if pts[n] >= 2**20][-3:]
    if len(big) >= 2:
        return fit_power_law(big, [pts[n] for n in big], b_range=(0.0, 2.5))
    return fit_power_law([ns[-1]], [max(pts[ns[-1]], 1.0)], b_default=1.0)


def available_memory() -> int | None:
    """Bytes of memory available to a new computation on this machine (``None`` when unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - platform dependent
        return None
