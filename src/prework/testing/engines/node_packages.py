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

The lockfile must pin the package at that version with the pinned integrity;
``NpmPackage.companions``, packages the same project depends on (``"dependencies"``
lists them too, each at its pinned version and integrity in the lockfile), are
installed beside it (ShareDB's client and ``ws`` for a node script speaking to a
WebSocket). ``npm ci --omit=dev --ignore-scripts`` then installs exactly the locked
versions into ``npm-<name>-<version>-<lockfile hash>/node_modules/``, each
tarball checked against the integrity the lockfile holds, and the package's
folder is ``node_modules/<name>`` there (a script run from it finds its
dependencies; a companion is its sibling ``node_modules/<companion>``). Install
scripts never run. A cache folder is renamed into place only once complete,
under a file lock, so concurrent sessions fetch a package once and never see
half of one.

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
    "SHAREDB",
    "SHAREDB_WS",
    "WS",
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
    this package (and its ``companions``), pinning its dependencies (required
    when it declares any). ``companions``: packages that project also depends on,
    installed beside it (each pinned by version and integrity in the lockfile).
    """

    name: str
    version: str
    integrity: str
    lockfile: Path | None = None
    companions: tuple[NpmPackage, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or not _VERSION.match(self.version):
            raise ValueError(f"not a pinned npm package: {self.name}@{self.version}")
        if self.companions and self.lockfile is None:
            raise ValueError(f"{self.spec}: companions are installed by a lockfile")
        names = [self.name, *(c.name for c in self.companions)]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.spec}: a package is named twice among its companions")

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    def folder_name(self) -> str:
        """The package's folder in the engines cache (a new lockfile is a new folder)."""
        name = "npm-" + "+".join(
            f"{p.name.lstrip('@').replace('/', '+')}-{p.version}" for p in (self, *self.companions)
        )
        if self.lockfile is not None:
            name += "-" + hashlib.sha256(self.lockfile.read_bytes()).hexdigest()[:12]
        return name


_SHAREDB_INTEGRITY = (
    "sha512-"
    "qLa+ZVwTkG9EGcZujysko8cA2FxOS4j6CCiqO+WHCrP6e/sPS6xDu6kfDLY/L9G8mm5tPs/xCcxjX9xI5WlKbA=="
)

# ShareDB 7.0.0 with its dependencies (arraydiff, async, fast-deep-equal, hat,
# ot-json0), for benchmarks against the reference server
SHAREDB = NpmPackage(
    "sharedb",
    "7.0.0",
    integrity=_SHAREDB_INTEGRITY,
    lockfile=LOCKFILES / "sharedb-7.0.0.package-lock.json",
)

# ws, the WebSocket client node 20 lacks (no dependencies; its peers bufferutil
# and utf-8-validate are optional and not installed)
WS = NpmPackage(
    "ws",
    "8.18.3",
    integrity=(
        "sha512-PEIGCY5tSlUt50cqyMXfCzX+oOPqN0vuGqWzbcJ2xvnkzkq46oOpz7dQaTDBdfICb4N14+GARUDw2XV2N4tvzg=="
    ),
)

# ShareDB 7.0.0's client with ws beside it: the real client driven by node
# against /api/sync/ws (prework.testing.engines.sharedb_client)
SHAREDB_WS = NpmPackage(
    "sharedb",
    "7.0.0",
    integrity=_SHAREDB_INTEGRITY,
    lockfile=LOCKFILES / "sharedb-7.0.0+ws-8.18.3.package-lock.json",
    companions=(WS,),
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
    wanted = (package, *package.companions)
    if root.get("dependencies") != {p.name: p.version for p in wanted}:
        specs = ", ".join(p.spec for p in wanted)
        raise EngineStartError(
            f"{lockfile.name} is not the lockfile of a project depending on exactly {specs}"
        )
    for pinned in wanted:
        locked = lock.get("packages", {}).get(f"node_modules/{pinned.name}", {})
        if locked.get("version") != pinned.version or locked.get("integrity") != pinned.integrity:
            raise EngineStartError(f"{lockfile.name} does not pin {pinned.spec} at its integrity")
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
    for pinned in wanted:
        if not (project / "node_modules" / pinned.name / "package.json").is_file():
            raise EngineStartError(f"npm ci for {package.spec} did not install {pinned.spec}")
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
