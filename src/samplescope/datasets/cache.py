"""Files carried inside a PyPI sdist, fetched once, verified by sha256 and kept in a user cache.

For data that may not be redistributed with samplescope (e.g. MSLR-WEB, research use only), a loader names
the sdist that carries it (:class:`PyPISdist`: URL and sha256) and the members it needs (path inside the
archive → sha256). :func:`cached_member` then

1. returns the member from the cache when the cached copy has the right sha256 (no network at all);
2. otherwise downloads the sdist (the recorded ``files.pythonhosted.org`` URL; if that fails, the URL the
   PyPI simple index lists for the file), checks the sdist's sha256, reads only the named members
   from the archive (nothing else is extracted), checks each member's sha256 and writes it to the cache
   atomically (temporary file + ``os.replace``).

The cache folder is ``cache_dir`` if given, else ``$SAMPLESCOPE_CACHE``, else ``~/.cache/samplescope``.
Every failure (no network, wrong sha256, unwritable cache) is a :class:`~samplescope.errors.DataError`
that says which file, what was expected and what was found, and how to provide the files by hand.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import tarfile
import urllib.request
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Mapping

from samplescope.errors import DataError

__all__ = ["CACHE_ENV", "PyPISdist", "cache_root", "cached_member", "fetch", "read_verified", "sha256_hex"]

#: Environment variable naming the cache folder.
CACHE_ENV = "SAMPLESCOPE_CACHE"
_TIMEOUT_S = 60.0
_MAX_BYTES = 256 * 2**20  # refuse to read more than this from one URL
#: What a failed fetch may raise (urllib: URLError/HTTPError/timeouts are OSError; http.client and bad URLs not).
_FETCH_ERRORS = (OSError, http.client.HTTPException, ValueError)


@dataclass(frozen=True)
class PyPISdist:
    """A source distribution on PyPI, pinned by sha256.

    Args:
        project: the PyPI project name, e.g. ``"rankeval"``.
        version: the release, e.g. ``"0.8.2"``.
        url: the recorded download URL (``https://files.pythonhosted.org/...``).
        sha256: hex sha256 of the ``.tar.gz`` file.
    """

    project: str
    version: str
    url: str
    sha256: str

    @property
    def label(self) -> str:
        """``project-version``, as in error messages."""
        return f"{self.project}-{self.version}"

    @property
    def filename(self) -> str:
        """The sdist file name, ``project-version.tar.gz``."""
        return f"{self.label}.tar.gz"

    @property
    def index_url(self) -> str:
        """The project's page on the PyPI simple index (PEP 691 JSON)."""
        return f"https://pypi.org/simple/{self.project}/"


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``cache_dir``, else ``$SAMPLESCOPE_CACHE``, else ``~/.cache/samplescope``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "samplescope"


def fetch(url: str, *, timeout: float = _TIMEOUT_S, accept: str | None = None) -> bytes:
    """The bytes at ``url`` (``https://`` or ``file://``); raises :class:`OSError` on any failure.

    Tests replace this function (``monkeypatch.setattr(cache, "fetch", ...)``) to run offline.
    """
    headers = {"User-Agent": "samplescope (dataset fetch)"}
    if accept:
        headers["Accept"] = accept
    req = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - https/file URLs we build
        data = resp.read(_MAX_BYTES + 1)
    if len(data) > _MAX_BYTES:
        raise OSError(f"more than {_MAX_BYTES} bytes at {url}")
    return data


def read_verified(path: Path, sha256: str, what: str) -> bytes:
    """The bytes of ``path``, checked against ``sha256``; a :class:`DataError` if missing or different."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: {what} not found; expected an existing file") from None
    except OSError as exc:
        raise DataError(f"{path}: could not read {what}; found {type(exc).__name__}: {exc}") from None
    found = sha256_hex(data)
    if found != sha256:
        raise DataError(f"{path}: sha256 of {what} does not match; expected {sha256}, found {found} "
                        f"(a different version or a modified copy)")
    return data


# ------------------------------------------------------------------ download
def _index_url_for(sdist: PyPISdist) -> str:
    """The download URL the PyPI simple index lists for ``sdist.filename``."""
    raw = fetch(sdist.index_url, accept="application/vnd.pypi.simple.v1+json")
    try:
        entries = json.loads(raw)["files"]
        return next(f["url"] for f in entries if f.get("filename") == sdist.filename)
    except (ValueError, KeyError, TypeError):
        raise OSError(f"{sdist.index_url} did not return the PEP 691 JSON index") from None
    except StopIteration:
        raise OSError(f"{sdist.index_url} does not list {sdist.filename}") from None


def _download(sdist: PyPISdist, hint: str) -> bytes:
    errors = []
    try:
        return fetch(sdist.url)
    except _FETCH_ERRORS as exc:
        errors.append(f"{sdist.url}: {type(exc).__name__}: {exc}")
    try:
        url = _index_url_for(sdist)
        if url != sdist.url:
            return fetch(url)
    except _FETCH_ERRORS as exc:
        errors.append(f"{sdist.index_url}: {type(exc).__name__}: {exc}")
    raise DataError(f"could not fetch {sdist.label} from PyPI: {'; '.join(errors)}; {hint}")


def _members_from_sdist(sdist: PyPISdist, raw: bytes, members: Mapping[str, str]) -> dict[str, bytes]:
    found = sha256_hex(raw)
    if found != sdist.sha256:
        raise DataError(f"{sdist.url}: sha256 of the downloaded {sdist.filename} does not match; "
                        f"expected {sdist.sha256}, found {found}")
    out = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as tar:
            for name, sha in members.items():
                try:
                    info = tar.getmember(name)
                except KeyError:
                    raise DataError(f"{sdist.filename}: expected a member {name}; found none") from None
                f = tar.extractfile(info) if info.isfile() else None
                if f is None:
                    raise DataError(f"{sdist.filename}: member {name} must be a regular file; found type {info.type!r}")
                data = f.read()
                got = sha256_hex(data)
                if got != sha:
                    raise DataError(f"{sdist.filename}: sha256 of member {name} does not match; "
                                    f"expected {sha}, found {got}")
                out[name] = data
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{sdist.filename}: could not read the archive; found {type(exc).__name__}: {exc}") from None
    return out


def _write(path: Path, data: bytes) -> None:
    from samplescope.result import atomic_write

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    except OSError as exc:
        raise DataError(f"{path}: could not write to the samplescope cache; expected a writable folder "
                        f"(set {CACHE_ENV} or pass cache_dir=); found {type(exc).__name__}: {exc}") from None


def cached_member(sdist: PyPISdist, members: Mapping[str, str], name: str, *, subdir: str,
                  cache_dir: str | os.PathLike | None = None, hint: str = "") -> bytes:
    """The verified bytes of one member of ``sdist``, from the cache or fetched into it.

    Args:
        sdist: where the members come from.
        members: every member the loader may need, path inside the archive → sha256. On a download all
            of them that are missing from the cache are stored, so the next call needs no network.
        name: the member wanted (a key of ``members``).
        subdir: folder under the cache root; members are stored there under their base names.
        cache_dir: the cache root; default :func:`cache_root`.
        hint: extra advice appended to the "could not fetch" message (e.g. a ``source=`` option).

    Returns:
        The member's bytes, with the sha256 given in ``members``.

    Raises:
        DataError: the download failed (the message says where to put the files by hand), a sha256 does
            not match, or the cache cannot be written.
    """
    root = cache_root(cache_dir) / subdir
    paths = {m: root / PurePosixPath(m).name for m in members}
    have: dict[str, bytes] = {}
    for m, sha in members.items():
        p = paths[m]
        if not p.is_file():
            continue
        data = p.read_bytes()
        if sha256_hex(data) == sha:
            have[m] = data
        else:
            warnings.warn(f"{p}: cached file has the wrong sha256 (expected {sha}); fetching it again",
                          stacklevel=3)
    if name in have:
        return have[name]
    base = sorted({str(PurePosixPath(m).parent) for m in members})
    files = " and ".join(f"{subdir}/{PurePosixPath(m).name}" for m in members)
    how = (f"set {CACHE_ENV} (or cache_dir=) to a folder containing {files}, or copy the files from "
           f"{sdist.filename} ({sdist.url}, folder {', '.join(base)}) into {root}")
    raw = _download(sdist, how + (f", {hint}" if hint else ""))
    fetched = _members_from_sdist(sdist, raw, {m: s for m, s in members.items() if m not in have})
    for m, data in fetched.items():
        _write(paths[m], data)
    return fetched[name]
