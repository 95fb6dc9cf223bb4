"""The Debian packages the test tiers need beyond the Python environment, checked (and installed where
possible) before `make test` runs anything: the service and scale-out tiers start PostgreSQL's server and
redis-server from their own binaries, and the browser tests drive Debian's chromium.

    python -m testbed.system_packages     # nothing to do: silent; as root: apt-get installs what is
                                          # missing; otherwise one line naming the packages, exit 1

Each package is looked for the way its launcher looks for it (testbed/postgres.py, redis_store.py,
browser.py), so what this calls present is what the tests will find.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from testbed.browser import CHROMIUM
from testbed.postgres import postgres_bin_dir
from testbed.process import ServiceStartError


def _postgres_present() -> bool:
    try:
        postgres_bin_dir()
    except ServiceStartError:
        return False
    return True


@dataclass(frozen=True)
class SystemPackage:
    name: str  # Debian's package name
    needed_by: str
    present: Callable[[], bool]


PACKAGES = (
    SystemPackage("postgresql", "the PostgreSQL storage and scale-out tests", _postgres_present),
    SystemPackage(
        "redis-server", "the Redis service and scale-out tests", lambda: bool(shutil.which("redis-server"))
    ),
    SystemPackage("chromium", "the browser tests", CHROMIUM.exists),
)

Runner = Callable[[Sequence[str]], None]


def _run(command: Sequence[str]) -> None:
    subprocess.run(command, check=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def install_command(names: Sequence[str]) -> list[str]:
    return ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *names]


def ensure(
    packages: Sequence[SystemPackage] = PACKAGES,
    can_install: bool | None = None,
    run: Runner = _run,
) -> int:
    """0 when every package is there (installing the missing ones first where it can: as root, with
    apt-get), else 1 after one line on stderr that names them and the command to install them."""
    absent = [package for package in packages if not package.present()]
    missing = [package.name for package in absent]
    if not missing:
        return 0
    if can_install is None:
        can_install = os.geteuid() == 0 and shutil.which("apt-get") is not None
    command = install_command(missing)
    if not can_install:
        print(
            "make test needs Debian's "
            + ", ".join(f"{package.name} ({package.needed_by})" for package in absent)
            + f"; install them as root with: apt-get update && {' '.join(command)}",
            file=sys.stderr,
        )
        return 1
    print(f"installing Debian's {', '.join(missing)} (needed by the test tiers)", file=sys.stderr)
    run(["apt-get", "update", "-qq"])
    run(command)
    still_missing = [package.name for package in packages if not package.present()]
    if still_missing:
        print(
            f"apt-get installed {', '.join(missing)} but {', '.join(still_missing)} is still not found",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(ensure())
