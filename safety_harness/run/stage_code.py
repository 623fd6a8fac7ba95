"""The code a cached stage runs, found by reading import statements: what its results' cache key names.

A stage is a function, a class or a module. Its code is the source of the module that declares it and of
every module of the project's own packages that module imports, transitively (``import`` and ``from ...
import`` statements anywhere in the file, found with :mod:`ast`; the packages of a module imported count,
as importing it runs their ``__init__``). Third-party packages are not read: their versions are named
instead (:mod:`safety_harness.run.prediction_cache`). A stage added later is covered with no list to update,
and a change of one module changes the fingerprint of exactly the stages that import it.
"""

import ast
import hashlib
import sys
from pathlib import Path

from safety_harness import ROOMS

#: the project's one package, whose source a fingerprint reads
PROJECT_PACKAGE = "safety_harness"

#: the code a stage runs through the model object it is given (loading, inference, ensembles), which none of the
#: stage's import statements names
MODEL_CODE = "safety_harness.model_under_test"

#: the folder that holds the project's package in this process (a checkout, or site-packages when installed)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def module_of(stage) -> str:
    """The name of the module that declares ``stage``: a module (or its name), a class, a function, a bound
    method or a :func:`functools.partial` of one."""
    if isinstance(stage, str):
        return stage
    stage = getattr(stage, "func", stage)
    return getattr(stage, "__module__", None) or stage.__name__


class ModuleGraph:
    """The project modules under ``root`` and the project modules each imports; each file read once."""

    def __init__(self, root: Path = PROJECT_ROOT):
        self.root = Path(root)
        self._imports: dict[str, frozenset] = {}
        self._paths: dict[str, Path | None] = {}

    def path(self, module: str) -> Path | None:
        """The source file of ``module``: under ``root`` for the project's packages, else where this process
        imported it from (a test module, a user's script); None when there is none."""
        if module not in self._paths:
            self._paths[module] = self._find(module)
        return self._paths[module]

    def _find(self, module: str) -> Path | None:
        if module.split(".")[0] == PROJECT_PACKAGE:
            base = self.root.joinpath(*self._source_parts(module.split(".")))
            return next((path for path in (base.with_suffix(".py"), base / "__init__.py") if path.is_file()), None)
        file = getattr(sys.modules.get(module), "__file__", None)
        return Path(file) if file and file.endswith(".py") else None

    def _source_parts(self, parts: list[str]) -> list[str]:
        """Where a module's source lies under ``root``: a checkout keeps the rooms (``safety_harness.fixtures``
        ...) at its top, an installed package inside it (see :mod:`safety_harness`)."""
        in_checkout = len(parts) > 1 and parts[1] in ROOMS and not (self.root / PROJECT_PACKAGE / parts[1]).is_dir()
        return parts[1:] if in_checkout else parts

    def project_modules(self) -> list[str]:
        """Every module of the project's package under ``root``, its rooms included."""
        folders = [PROJECT_PACKAGE, *(room for room in ROOMS if not (self.root / PROJECT_PACKAGE / room).is_dir())]
        return [".".join(self._module_parts(path.relative_to(self.root).with_suffix("").parts)).removesuffix(".__init__")
                for folder in folders for path in sorted((self.root / folder).rglob("*.py"))]

    @staticmethod
    def _module_parts(parts: tuple) -> tuple:
        return parts if parts[0] == PROJECT_PACKAGE else (PROJECT_PACKAGE, *parts)

    def closure(self, modules) -> list[str]:
        """``modules`` and the project modules they import, transitively, sorted (those with no source
        file left out)."""
        seen, pending = set(), [name for module in modules for name in _with_packages(module)]
        while pending:
            module = pending.pop()
            if module in seen or self.path(module) is None:
                continue
            seen.add(module)
            pending.extend(self.imports(module))
        return sorted(seen)

    def imports(self, module: str) -> frozenset:
        """The project modules (and their packages) that ``module``'s import statements name."""
        if module not in self._imports:
            path = self.path(module)
            tree = ast.parse(path.read_bytes(), filename=str(path))
            package = module if path.name == "__init__.py" else module.rpartition(".")[0]
            named = set()
            # a module's ``__getattr__`` (PEP 562) imports what it exports lazily, when that name is read of the
            # module: importing the module, or a submodule of a package, does not run it
            body = [statement for statement in tree.body
                    if not (isinstance(statement, ast.FunctionDef) and statement.name == "__getattr__")]
            for node in _statements(body):
                if isinstance(node, ast.Import):
                    named.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom):
                    base = _absolute(node.module, node.level, package)
                    named.add(base)
                    # ``from package import name`` imports the submodule when ``name`` is one
                    named.update(f"{base}.{alias.name}" for alias in node.names
                                 if self.path(f"{base}.{alias.name}") is not None)
            self._imports[module] = frozenset(
                name for imported in named if imported.split(".")[0] == PROJECT_PACKAGE
                for name in _with_packages(imported))
        return self._imports[module]

    def fingerprint(self, modules) -> str:
        """SHA-256 over the source (path and bytes) of ``modules`` and the project modules they import."""
        digest = hashlib.sha256()
        for module in self.closure(modules):
            digest.update(module.encode() + b"\0" + self.path(module).read_bytes() + b"\0")
        return digest.hexdigest()


def _statements(body):
    """Every statement in ``body`` and in the blocks nested in them (an import is a statement: expressions, the
    bulk of a module's nodes, are not visited), except the body of ``if TYPE_CHECKING:``: what is imported there
    for annotations never runs."""
    for statement in body:
        yield statement
        for block in ("body", "orelse", "finalbody", "handlers", "cases"):
            if block == "body" and _is_type_checking(statement):
                continue
            yield from _statements(getattr(statement, block, ()))


def _is_type_checking(statement) -> bool:
    """``if TYPE_CHECKING:`` or ``if typing.TYPE_CHECKING:``."""
    if not isinstance(statement, ast.If):
        return False
    test = statement.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _with_packages(module: str) -> list[str]:
    """``a.b.c`` -> ``a``, ``a.b``, ``a.b.c``: importing a module runs its packages' ``__init__`` first."""
    parts = module.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts) + 1)]


def _absolute(module: str | None, level: int, package: str) -> str:
    """The absolute name of ``from <level dots><module> import ...`` written in ``package``."""
    if level == 0:
        return module
    base = package.split(".")[:len(package.split(".")) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])
