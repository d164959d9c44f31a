"""Check that the hashed locks in .ci/requirements/ match pyproject.toml (run by `make lint`, offline).

Every pin in [project.dependencies] must be in runtime.txt and dev.txt at the same version, every pin
of the test and lint extras in dev.txt, and dev.txt must hold the runtime packages at runtime.txt's
versions. A bump in pyproject.toml (by hand or by Dependabot) without `make lock` fails here.
"""

from __future__ import annotations

import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
LOCKS = ROOT / ".ci" / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        match = PIN.match(line.strip())
        if match:
            found[normalise(match.group(1))] = match.group(2)
    return found


def mismatches(wanted: dict[str, str], lock: dict[str, str], lock_name: str) -> list[str]:
    return [
        f"{name}=={version} from pyproject.toml is {lock.get(name, 'missing')} in {lock_name}"
        for name, version in sorted(wanted.items())
        if lock.get(name) != version
    ]


def main() -> int:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime_wanted = pins(project["dependencies"])
    extras = project["optional-dependencies"]
    dev_wanted = {**runtime_wanted, **pins(extras["test"]), **pins(extras["lint"])}
    unpinned = [d for group in (project["dependencies"], *extras.values()) for d in group if not PIN.match(d)]
    runtime_lock = pins((LOCKS / "runtime.txt").read_text().splitlines())
    dev_lock = pins((LOCKS / "dev.txt").read_text().splitlines())
    problems = [f"{d!r} in pyproject.toml is not pinned with ==" for d in unpinned]
    problems += mismatches(runtime_wanted, runtime_lock, "runtime.txt")
    problems += mismatches(dev_wanted, dev_lock, "dev.txt")
    problems += mismatches(runtime_lock, dev_lock, "dev.txt (runtime.txt's version)")
    for problem in problems:
        print(f"lock: {problem}", file=sys.stderr)
    if problems:
        print("lock: run `make lock` and commit .ci/requirements/", file=sys.stderr)
        return 1
    print(f"lock: runtime.txt ({len(runtime_lock)} pins) and dev.txt ({len(dev_lock)} pins) match pyproject.toml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
