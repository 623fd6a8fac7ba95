"""Every stage of a run reads only the narrow stage context (safety_harness/run/context.py) of its run: no stage
reaches the run's evidence, its private members, or another stage it was not handed."""

import ast
import inspect

import pytest

from safety_harness.run import (
    baseline,
    counterexample,
    data_independence,
    explanations,
    mc_dropout,
    sticker_attraction,
    training_shortcut,
    trigger_scan,
    uncertainty,
)
from safety_harness.run.context import STAGE_CONTEXT_MEMBERS

STAGE_MODULES = (baseline, counterexample, data_independence, explanations, mc_dropout, sticker_attraction,
                 training_shortcut, trigger_scan, uncertainty)


def context_members_read(source: str) -> set[str]:
    """The attributes a module's functions read of ``self._context``, directly or through a local name bound to it
    (``run = self._context``, ``options, run = self._context.options, self._context``)."""
    def is_context(node):
        return (isinstance(node, ast.Attribute) and node.attr == "_context"
                and isinstance(node.value, ast.Name) and node.value.id == "self")

    read = set()
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef):
            continue
        aliases = set()
        for node in ast.walk(function):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    pairs = (zip(target.elts, node.value.elts) if isinstance(target, ast.Tuple)
                             and isinstance(node.value, ast.Tuple) else [(target, node.value)])
                    aliases |= {name.id for name, value in pairs if isinstance(name, ast.Name) and is_context(value)}
        for node in ast.walk(function):
            if isinstance(node, ast.Attribute) and (
                    is_context(node.value) or isinstance(node.value, ast.Name) and node.value.id in aliases):
                read.add(node.attr)
    return read


@pytest.mark.parametrize("module", STAGE_MODULES, ids=lambda module: module.__name__.rsplit(".", 1)[-1])
def test_a_stage_reads_only_the_stage_context(module):
    read = context_members_read(inspect.getsource(module))
    assert read, f"{module.__name__} reads nothing of its context: the check does not see how it reads it"
    assert read <= STAGE_CONTEXT_MEMBERS, f"{module.__name__} reads {sorted(read - STAGE_CONTEXT_MEMBERS)} of the run"


def test_the_check_sees_a_member_read_through_an_alias():
    source = ("class Stage:\n    def f(self):\n        options, run = self._context.options, self._context\n"
              "        return run.evidence, self._context.model\n")
    assert context_members_read(source) == {"options", "evidence", "model"}
