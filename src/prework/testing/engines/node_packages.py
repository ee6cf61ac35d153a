"""npm packages for tests and benchmarks: fetched once at a pinned version, checked, unpacked.

::

    OT_JSON0 = NpmPackage("ot-json0", "1.1.0", integrity="sha512-...")
    folder = ensure_npm_package(OT_JSON0)     # folder / "package.json", folder / "lib" ...
    node = node_executable()                  # to run a script that requires it

A package without dependencies is fetched on first use with ``npm pack
<name>@<version>`` into the engines cache (``<repo>/.engines/``, or
``$PREWORK_ENGINES_DIR``), checked against its pinned npm ``dist.integrity``
(``npm view <name>@<version> dist.integrity``) and unpacked into
``npm-<name>-<version>/`` (the tarball's ``package/`` folder). One that
declares dependencies is refused that way: it needs a pinned lockfile
(``NpmPackage.lockfile``), the ``package-lock.json`` of a project that depends
on exactly ``<name>@<version>``, made once with::

    mkdir x && cd x && echo '{"name": "prework-engine-<name>", "private": true,
      "dependencies": {"<name>": "<version>"}}' > package.json
    npm install --package-lock-only --ignore-scripts

The project may depend on other packages beside it, each at an exact version
(a benchmark's server: ``sharedb`` with ``ws`` and a WebSocket stream;
``npm_locks/bench-sharedb-7.0.0-ws.package-lock.json``); they are installed
next to it. The lockfile must pin the package at that version with the pinned
integrity, and every other dependency of the project at the version the
project names; ``npm ci --omit=dev --ignore-scripts`` then installs exactly the
locked versions into ``npm-<name>-<version>-<lockfile hash>/node_modules/``,
each tarball checked against the integrity the lockfile holds, and the
package's folder is ``node_modules/<name>`` there (a script run from it finds
its dependencies; its parent is the ``node_modules`` folder of the others).
Install scripts never run. A cache folder is renamed into place
only once complete, under a file lock, so concurrent sessions fetch a package
once and never see half of one.

Anything that goes wrong (no npm, no network, a tarball or lockfile that does
not match its pin) raises :class:`EngineStartError`: a test that needs the
package fails, it is never skipped.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prework.testing.engines.process import EngineStartError

__all__ = [
    "BENCH_SHAREDB",
    "SHAREDB",
    "NpmPackage",
    "engines_dir",
    "ensure_npm_package",
    "file_lock",
    "integrity_matches",
    "node_executable",
    "npm_pack",
]

_NPM_TIMEOUT = 600
LOCKFILES = Path(__file__).with_name("npm_locks")
_NAME = re.compile(r"^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$")
_VERSION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$")


# --------------------------------------------------------------------------- the cache
def engines_dir() -> Path:
    """The cache for downloaded engines: ``$PREWORK_ENGINES_DIR``, else ``<repo>/.engines``."""
    override = os.environ.get("PREWORK_ENGINES_DIR")
    if override:
        return Path(override).expanduser().resolve()
    repo = Path(__file__).resolve().parents[4]
    if (repo / "pyproject.toml").is_file():
        return repo / ".engines"
    return Path.home() / ".cache" / "prework" / "engines"


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def integrity_matches(path: Path, integrity: str) -> bool:
    """Whether the file matches an npm/SRI integrity string (``sha512-<base64>``)."""
    algo, _, expected = integrity.partition("-")
    if algo not in {"sha256", "sha384", "sha512"} or not expected:
        raise EngineStartError(f"unsupported integrity string {integrity!r}")
    digest = hashlib.new(algo)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return base64.b64encode(digest.digest()).decode("ascii") == expected


def _npm() -> str:
    found = shutil.which("npm")
    if found is None:
        raise EngineStartError(
            "npm is not installed (Debian: apt-get install npm; `make system-deps` does)"
        )
    return found


def node_executable() -> str:
    """The ``node`` on PATH; :class:`EngineStartError` if there is none."""
    found = shutil.which("node")
    if found is None:
        raise EngineStartError(
            "node is not installed (Debian: apt-get install nodejs; `make system-deps` does)"
        )
    return found


def _run_npm(argv: list[str], *, cwd: Path, what: str) -> None:
    try:
        subprocess.run(  # noqa: S603 - fixed argv, no shell
            argv,
            cwd=cwd,
            check=True,
            capture_output=True,
            text=True,
            timeout=_NPM_TIMEOUT,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        output = getattr(exc, "stderr", None) or getattr(exc, "stdout", None) or ""
        raise EngineStartError(f"{what} failed: {exc}\n{output}") from exc


def npm_pack(name: str, version: str, integrity: str, dest: Path) -> Path:
    """``npm pack name@version`` into ``dest``; the tarball, checked against ``integrity``."""
    npm = _npm()
    spec = f"{name}@{version}"
    _run_npm(
        [npm, "pack", spec, "--pack-destination", str(dest), "--ignore-scripts"],
        cwd=dest,
        what=f"npm pack {spec}",
    )
    tarball = dest / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    if not tarball.is_file():
        raise EngineStartError(f"npm pack {spec} did not produce {tarball.name}")
    if not integrity_matches(tarball, integrity):
        raise EngineStartError(f"{tarball.name} does not match its pinned integrity hash")
    return tarball


# --------------------------------------------------------------------------- packages
@dataclass(frozen=True)
class NpmPackage:
    """An npm package pinned by version and by the integrity of its tarball.

    ``lockfile``: the ``package-lock.json`` of a project depending on exactly
    this package, pinning its dependencies (required when it declares any).
    """

    name: str
    version: str
    integrity: str
    lockfile: Path | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or not _VERSION.match(self.version):
            raise ValueError(f"not a pinned npm package: {self.name}@{self.version}")

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    def folder_name(self) -> str:
        """The package's folder in the engines cache (a new lockfile is a new folder)."""
        slug = self.name.lstrip("@").replace("/", "+")
        name = f"npm-{slug}-{self.version}"
        if self.lockfile is not None:
            name += "-" + hashlib.sha256(self.lockfile.read_bytes()).hexdigest()[:12]
        return name


# ShareDB 7.0.0 with its dependencies (arraydiff, async, fast-deep-equal, hat,
# ot-json0)
SHAREDB = NpmPackage(
    "sharedb",
    "7.0.0",
    integrity=(
        "sha512-"
        "qLa+ZVwTkG9EGcZujysko8cA2FxOS4j6CCiqO+WHCrP6e/sPS6xDu6kfDLY/L9G8mm5tPs/xCcxjX9xI5WlKbA=="
    ),
    lockfile=LOCKFILES / "sharedb-7.0.0.package-lock.json",
)

# the same ShareDB beside ws 8.23.0 and @teamwork/websocket-json-stream 2.0.0: the
# reference server (and its load generator's client) of bench/bench_sync.py;
# ``ensure_npm_package(BENCH_SHAREDB).parent`` is their node_modules
BENCH_SHAREDB = NpmPackage(
    SHAREDB.name,
    SHAREDB.version,
    integrity=SHAREDB.integrity,
    lockfile=LOCKFILES / "bench-sharedb-7.0.0-ws.package-lock.json",
)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EngineStartError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise EngineStartError(f"{path} is not a JSON object")
    return data


def _fetch_alone(package: NpmPackage, tmp: Path) -> Path:
    """``npm pack`` the package (it must declare no dependencies); its unpacked folder."""
    tarball = npm_pack(package.name, package.version, package.integrity, tmp)
    unpacked = tmp / "unpacked"
    with tarfile.open(tarball, "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("package/")]
        tar.extractall(unpacked, members=members, filter="data")
    folder = unpacked / "package"
    if not (folder / "package.json").is_file():
        raise EngineStartError(f"{tarball.name} has no package/package.json")
    if _read_json(folder / "package.json").get("dependencies"):
        raise EngineStartError(
            f"{package.spec} declares dependencies: pin them with a lockfile "
            "(NpmPackage.lockfile; see prework.testing.engines.node_packages)"
        )
    return folder


def _install_locked(package: NpmPackage, lockfile: Path, tmp: Path) -> Path:
    """``npm ci`` a project of the package and its locked dependencies; the project's folder."""
    lock = _read_json(lockfile)
    root = lock.get("packages", {}).get("", {})
    locked = lock.get("packages", {}).get(f"node_modules/{package.name}", {})
    wanted = root.get("dependencies")
    if not isinstance(wanted, dict) or wanted.get(package.name) != package.version:
        raise EngineStartError(
            f"{lockfile.name} is not the lockfile of a project depending on {package.spec}"
        )
    for name, version in wanted.items():
        pinned = lock["packages"].get(f"node_modules/{name}", {})
        if not isinstance(version, str) or not _VERSION.match(version):
            raise EngineStartError(f"{lockfile.name}: {name} is not pinned ({version!r})")
        if pinned.get("version") != version or not pinned.get("integrity"):
            raise EngineStartError(f"{lockfile.name} does not lock {name} at {version}")
    if locked.get("version") != package.version or locked.get("integrity") != package.integrity:
        raise EngineStartError(f"{lockfile.name} does not pin {package.spec} at its integrity")
    project = tmp / "project"
    project.mkdir()
    manifest = {"name": root.get("name", "prework-engine"), "private": True}
    manifest["dependencies"] = root["dependencies"]
    (project / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.copyfile(lockfile, project / "package-lock.json")
    _run_npm(
        [
            _npm(),
            "ci",
            "--omit=dev",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--no-update-notifier",
        ],
        cwd=project,
        what=f"npm ci for {package.spec}",
    )
    if not (project / "node_modules" / package.name / "package.json").is_file():
        raise EngineStartError(f"npm ci for {package.spec} did not install it")
    return project


def _package_folder(package: NpmPackage, target: Path) -> Path:
    return target if package.lockfile is None else target / "node_modules" / package.name


def ensure_npm_package(package: NpmPackage) -> Path:
    """The installed package's folder (its ``package.json`` at the top); fetched if missing."""
    if package.lockfile is not None and not package.lockfile.is_file():
        raise EngineStartError(f"the lockfile of {package.spec} is missing: {package.lockfile}")
    cache = engines_dir()
    target = cache / package.folder_name()
    if (_package_folder(package, target) / "package.json").is_file():
        return _package_folder(package, target)
    with file_lock(cache / ".lock"):
        if (_package_folder(package, target) / "package.json").is_file():  # a concurrent session
            return _package_folder(package, target)
        with tempfile.TemporaryDirectory(dir=cache, prefix=".fetch-") as tmp_name:
            tmp = Path(tmp_name)
            if package.lockfile is None:
                folder = _fetch_alone(package, tmp)
            else:
                folder = _install_locked(package, package.lockfile, tmp)
            folder.rename(target)
    return _package_folder(package, target)
