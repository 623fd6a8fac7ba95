"""Exit 0 when every requirement given is already installed, with the dependencies it declares; else 1.

    python tools/requirements_met.py -r requirements.txt --no-deps tf-keras==2.21.0

``make install`` asks this before calling pip: pip spends several seconds resolving a requirements file even
when nothing is to be installed, while reading the installed distributions' metadata takes a fraction of a
second. A requirement after ``--no-deps`` is checked alone (the Makefile installs it without its dependencies);
the others with their dependencies, transitively, as pip would install them (environment markers and extras
evaluated). Anything this check cannot read (no ``packaging`` module, an unparsable line, an option in the file)
counts as not met, so pip runs and decides.
"""

import importlib.metadata
import sys
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pip vendors it; a fresh interpreter has pip
    try:
        from pip._vendor.packaging.requirements import Requirement
        from pip._vendor.packaging.utils import canonicalize_name
    except ImportError:
        sys.exit(1)


def unmet(requirement: Requirement, with_dependencies: bool, seen: set) -> str | None:
    """Why ``requirement`` (and, ``with_dependencies``, what it declares) is not installed; None when it is."""
    name = canonicalize_name(requirement.name)
    key = (name, tuple(sorted(requirement.extras)))
    if key in seen:
        return None
    seen.add(key)
    try:
        distribution = importlib.metadata.distribution(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        return f"{requirement.name} is not installed"
    if not requirement.specifier.contains(distribution.version, prereleases=True):
        return f"{requirement.name} {distribution.version} does not satisfy {requirement}"
    if not with_dependencies:
        return None
    for line in distribution.requires or ():
        dependency = Requirement(line)
        wanted = dependency.marker is None or any(dependency.marker.evaluate({"extra": extra})
                                                  for extra in ("", *requirement.extras))
        if wanted and (reason := unmet(dependency, True, seen)):
            return f"{reason} (needed by {requirement.name})"
    return None


def requirement_lines(path: Path) -> list[str]:
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line]


def main(arguments: list[str]) -> int:
    checks, with_dependencies = [], True
    while arguments:
        argument, *arguments = arguments
        if argument == "--no-deps":
            with_dependencies = False
        elif argument == "-r":
            (path, *arguments) = arguments
            checks += [(line, with_dependencies) for line in requirement_lines(Path(path))]
        else:
            checks.append((argument, with_dependencies))
    seen = set()
    for line, dependencies in checks:
        try:
            reason = unmet(Requirement(line), dependencies, seen)
        except Exception as error:  # noqa: BLE001 — anything unreadable: let pip decide
            reason = f"{line!r} cannot be checked here ({type(error).__name__})"
        if reason:
            print(f"to install: {reason}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
