"""`make test`'s set-up step: Debian's packages for the service and browser tiers, installed as root where
missing, else one line naming them (testbed/system_packages.py). The runner is faked; the real apt-get run
is what `make test` does on a fresh machine."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from testbed.system_packages import PACKAGES, SystemPackage, ensure


def packages(installed: set[str]) -> list[SystemPackage]:
    return [
        SystemPackage(name, "tests", lambda name=name: name in installed)
        for name in ("a-server", "b-browser")
    ]


def test_nothing_missing_does_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[Sequence[str]] = []
    assert ensure(packages({"a-server", "b-browser"}), can_install=True, run=calls.append) == 0
    assert calls == []
    assert capsys.readouterr().err == ""


def test_without_root_or_apt_one_line_names_the_packages_and_the_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls: list[Sequence[str]] = []
    assert ensure(packages({"a-server"}), can_install=False, run=calls.append) == 1
    assert calls == []
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "b-browser" in err and "a-server" not in err
    assert "apt-get install -y -qq --no-install-recommends b-browser" in err


def test_as_root_installs_what_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    installed: set[str] = set()
    calls: list[Sequence[str]] = []

    def run(command: Sequence[str]) -> None:
        calls.append(list(command))
        if command[1] == "install":
            installed.update(command[5:])

    assert ensure(packages(installed), can_install=True, run=run) == 0
    assert calls == [
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "a-server", "b-browser"],
    ]


def test_a_package_apt_did_not_bring_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert ensure(packages(set()), can_install=True, run=lambda command: None) == 1
    assert "still not found" in capsys.readouterr().err


def test_the_tiers_packages_are_debians_names() -> None:
    assert [package.name for package in PACKAGES] == ["postgresql", "redis-server", "chromium"]
