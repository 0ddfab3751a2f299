"""The apps point one way, and no module imports itself round a loop (DESIGN.md, "Direction of
dependencies").

    rewards -> vouchers -> messaging -> patients -> cmtracker

`messaging` is used by vouchers and rewards and itself points only at patients and cmtracker, so
the five apps fall in one order (RANK): an app may use the apps below it and none above. That
holds for imports and for models alike (a ForeignKey is a dependency: the table cannot exist
without the other app's). Imports are read from the source with `ast`, at any depth, so an import
tucked into a function to dodge a cycle still counts as the dependency it is. The project wiring
(settings, the root URLconf, the Celery app) names every app and is exempt from the direction.

The checker is tested on small made-up graphs first, so a checker that finds nothing cannot pass
for a codebase that has nothing to find.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.apps import apps
from django.db import models

ROOT = Path(__file__).resolve().parent.parent

# Lower uses nothing higher. An app not made yet is simply absent.
RANK = {"cmtracker": 0, "patients": 1, "messaging": 2, "vouchers": 3, "rewards": 4}

# The project wiring: these modules put the apps together, so they may name any of them.
WIRING = {"cmtracker.settings", "cmtracker.urls", "cmtracker.celery"}


# --- the checker ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    text: str
    is_package: bool = False  # an __init__.py: relative imports start from the package itself


def imported_modules(name: str, source: Source, modules: set[str]) -> set[str]:
    """The first-party modules `name` imports, at any depth (module level, in a function, under
    an `if`), relative imports resolved. `from pkg import x` imports pkg.x when that is a module,
    else pkg; `import a.b.c` imports a.b.c (or the longest part of it that is a module). A model
    looked up by name, `apps.get_model("patients", "Patient")`, is an import of patients.models
    that only hides better."""
    package = name if source.is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source.text)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(_known(alias.name, modules))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                keep = len(parts) - (node.level - 1)
                if keep <= 0:
                    continue  # beyond the top package: not ours to judge
                base = ".".join(parts[:keep] + ([node.module] if node.module else []))
            for alias in node.names:
                whole = f"{base}.{alias.name}" if base else alias.name
                found.add(whole if whole in modules else _known(base, modules))
        elif isinstance(node, ast.Call) and (app := _model_lookup_app(node)):
            found.add(_known(f"{app}.models", modules))
    found.discard(None)
    return found


def _model_lookup_app(call: ast.Call) -> str | None:
    """The app of `get_model("app", "Model")` or `get_model("app.Model")` with a literal name."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name != "get_model" or not call.args:
        return None
    first = call.args[0]
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return None
    return first.value.partition(".")[0]


def _known(dotted: str, modules: set[str]) -> str | None:
    """The longest leading part of `dotted` that is one of our modules (None: not ours)."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def import_graph(sources: dict[str, Source]) -> dict[str, set[str]]:
    modules = set(sources)
    return {
        name: imported_modules(name, source, modules) - {name} for name, source in sources.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each loop of modules, as one path round it (first module repeated at the end), found from
    the strongly connected components (Tarjan, iterative: no recursion limit on a large graph)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(set(component))
    return sorted(_loop(graph, component) for component in components)


def _loop(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path round the component from its first module (by name) back to it."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph.get(node, ()) & component):
                if child == start:
                    return paths[node] + [start]
                if child not in paths:
                    paths[child] = paths[node] + [child]
                    following.append(child)
        frontier = following
    raise AssertionError(f"no loop in {sorted(component)}")  # a component always has one


def app_of(module: str) -> str:
    return module.partition(".")[0]


def against_the_direction(graph: dict[str, set[str]]) -> set[str]:
    """Each import of a higher app by a lower one (the wiring modules excepted)."""
    return {
        f"import {module} -> {target}"
        for module, targets in graph.items()
        if module not in WIRING
        for target in targets
        if RANK.get(app_of(target), -1) > RANK.get(app_of(module), len(RANK))
    }


@dataclass(frozen=True)
class Relation:
    app: str
    model: str
    field: str
    to_app: str
    to_model: str


def model_relations() -> list[Relation]:
    """Every ForeignKey, OneToOneField and ManyToManyField declared by our models."""
    return [
        Relation(
            model._meta.app_label,
            model.__name__,
            field.name,
            field.related_model._meta.app_label,
            field.related_model.__name__,
        )
        for model in apps.get_models()
        if model._meta.app_label in RANK
        for field in model._meta.get_fields()
        if isinstance(field, models.ForeignKey | models.ManyToManyField)  # OneToOne is a FK
        and field.model is model
    ]


def models_against_the_direction(relations: list[Relation]) -> set[str]:
    return {
        f"model {r.app}.{r.model}.{r.field} -> {r.to_app}.{r.to_model}"
        for r in relations
        if RANK.get(r.to_app, -1) > RANK[r.app]
    }


def first_party_sources() -> dict[str, Source]:
    sources = {}
    for app in RANK:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts:
                continue
            parts = list(relative.with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            sources[".".join(parts)] = Source(path.read_text(encoding="utf-8"), is_package)
    return sources


# --- the checker, on graphs made up for it -------------------------------------------------------


CHECKER_CASES = [
    pytest.param(
        {"vouchers.a": "import vouchers.b", "vouchers.b": "from vouchers import a"},
        [["vouchers.a", "vouchers.b", "vouchers.a"]],
        set(),
        id="a cycle of two modules",
    ),
    pytest.param(
        {
            "vouchers": Source("", is_package=True),
            "vouchers.a": "def late():\n    from vouchers import b\n    return b",
            "vouchers.b": "if True:\n    from vouchers.a import thing",
        },
        [["vouchers.a", "vouchers.b", "vouchers.a"]],
        set(),
        id="a cycle hidden in a function",
    ),
    pytest.param(
        {
            "vouchers.labs": Source("from . import views", is_package=True),
            "vouchers.labs.views": "from .rows import check",
            "vouchers.labs.rows": "from ..services import record",
            "vouchers.services": "import vouchers.labs.views as v",
        },
        [["vouchers.labs.rows", "vouchers.services", "vouchers.labs.views", "vouchers.labs.rows"]],
        set(),
        id="relative imports resolved, a cycle of three",
    ),
    pytest.param(
        {"cmtracker.models": "from patients.models import Patient", "patients.models": ""},
        [],
        {"import cmtracker.models -> patients.models"},
        id="the core app importing an app above it",
    ),
    pytest.param(
        {
            "patients.views": "def f():\n    from vouchers.selectors import x",
            "vouchers.selectors": "",
        },
        [],
        {"import patients.views -> vouchers.selectors"},
        id="an upward import in a function",
    ),
    pytest.param(
        {"messaging.outbox": "from vouchers import notices", "vouchers.notices": ""},
        [],
        {"import messaging.outbox -> vouchers.notices"},
        id="messaging importing vouchers",
    ),
    pytest.param(
        {
            "rewards.views": "from vouchers.ledger import wallet_lock\nimport messaging.outbox",
            "vouchers.ledger": "from messaging import outbox\nfrom patients.models import P",
            "messaging.outbox": "from patients.models import Patient\nimport cmtracker.audit",
            "patients.models": "from cmtracker.models import Clinic",
            "cmtracker.models": "import django.db",
            "cmtracker.audit": "",
        },
        [],
        set(),
        id="every import down the floors is allowed",
    ),
    pytest.param(
        {
            "cmtracker.audit": "def f(apps):\n    return apps.get_model('patients', 'Patient')",
            "cmtracker.admin": "from django.apps import apps\napps.get_model('vouchers.Wallet')",
            "patients.models": "",
            "vouchers.models": "",
        },
        [],
        {"import cmtracker.audit -> patients.models", "import cmtracker.admin -> vouchers.models"},
        id="a model looked up by its app's name",
    ),
    pytest.param(
        {"cmtracker.urls": "import rewards.urls", "rewards.urls": ""},
        [],
        set(),
        id="the project wiring may name any app",
    ),
    pytest.param(
        {"vouchers": Source("", is_package=True), "patients.x": "from vouchers import Thing"},
        [],
        {"import patients.x -> vouchers"},
        id="a name from a package is an import of the package",
    ),
]


@pytest.mark.parametrize(("sources", "loops", "upward"), CHECKER_CASES)
def test_the_checker_finds_cycles_and_upward_imports(sources, loops, upward):
    graph = import_graph(
        {name: s if isinstance(s, Source) else Source(s) for name, s in sources.items()}
    )

    assert cycles(graph) == loops
    assert against_the_direction(graph) == upward


@pytest.mark.parametrize(
    ("relation", "wrong"),
    [
        (Relation("cmtracker", "AuditEvent", "patient", "patients", "Patient"), True),
        (Relation("vouchers", "LedgerEntry", "redemption", "rewards", "Redemption"), True),
        (Relation("messaging", "Notification", "patient", "patients", "Patient"), False),
        (Relation("rewards", "Redemption", "patient", "patients", "Patient"), False),
        (Relation("patients", "Patient", "clinic", "cmtracker", "Clinic"), False),
        (Relation("patients", "Patient", "user", "auth", "Group"), False),  # not ours
    ],
)
def test_the_checker_finds_a_model_pointing_up(relation, wrong):
    assert bool(models_against_the_direction([relation])) is wrong


# --- the codebase --------------------------------------------------------------------------------


def test_the_codebase_has_no_import_cycle_and_points_one_way():
    graph = import_graph(first_party_sources())
    found = {f"cycle {' -> '.join(loop)}" for loop in cycles(graph)}
    found |= against_the_direction(graph)
    found |= models_against_the_direction(model_relations())

    assert sorted(found) == [], "dependencies against DESIGN.md"


def test_the_checker_sees_the_codebase():
    graph = import_graph(first_party_sources())

    assert "vouchers.labs.importer" in graph["vouchers.labs.views"]
    assert "patients.models" in graph["vouchers.models"]
    assert any(r.field == "patient" for r in model_relations())
