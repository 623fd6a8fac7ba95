"""Write the committed snapshot of a run's evidence: every requirement case's verdict, value, bound and n.

    python tools/write_evidence_snapshot.py EVIDENCE.json tests/snapshots/NAME.json

The snapshot holds, for each case of the evidence document in its order, the case id, the verdict and n
(compared exactly), and the value, the bound and the effective sample size over groups (``n_eff``, where the
case is judged over groups) rounded to :data:`DECIMALS` decimals and compared within one unit of the last
decimal, so that floating-point noise of another CPU does not fail the comparison while any change of a
judged figure does. tests/test_end_to_end.py and tests/test_shared_suite.py compare the runs they already
make with the snapshots in tests/snapshots/; README.md, "Evidence snapshots", says when one may be rewritten.
"""

import json
import sys
from pathlib import Path

#: decimals the snapshot keeps of a value, a bound and an effective sample size
DECIMALS = 4
#: how far a figure may lie from the snapshot's: one unit of its last decimal
TOLERANCE = 10 ** -DECIMALS
#: the figures of a case compared within :data:`TOLERANCE`; the others (id, verdict, n) exactly
ROUNDED = ("value", "bound", "n_eff")


def _rounded(value):
    return None if value is None else round(float(value), DECIMALS)


def case_snapshot(result: dict) -> dict:
    """One requirement case of an evidence document (its ``requirements`` entry) as the snapshot keeps it."""
    independence = result.get("independence") or {}
    return {"id": result["id"], "verdict": result["verdict"], "value": _rounded(result["value"]),
            "bound": _rounded(result["bound"]), "n": result["n"], "n_eff": _rounded(independence.get("effective_n"))}


def evidence_snapshot(evidence: dict) -> list[dict]:
    """Every requirement case of ``evidence`` (an evidence document as JSON), in the document's order."""
    return [case_snapshot(result) for result in evidence["requirements"]]


def _differs(key: str, expected, actual) -> bool:
    if key in ROUNDED and expected is not None and actual is not None:
        return abs(expected - actual) > TOLERANCE * (1 + 1e-9)
    return expected != actual


def snapshot_differences(expected: list[dict], actual: list[dict]) -> list[str]:
    """What differs between the snapshot ``expected`` and ``actual``, one line per case: cases missing, added,
    reordered, and each changed field with both values. Empty when they agree."""
    before, after = {case["id"]: case for case in expected}, {case["id"]: case for case in actual}
    lines = [f"{case_id}: in the snapshot, not in the run" for case_id in before if case_id not in after]
    lines += [f"{case_id}: in the run, not in the snapshot" for case_id in after if case_id not in before]
    for case_id, case in after.items():
        if case_id in before:
            changed = [f"{key} {before[case_id].get(key)!r} -> {case.get(key)!r}"
                       for key in dict.fromkeys([*before[case_id], *case])
                       if _differs(key, before[case_id].get(key), case.get(key))]
            if changed:
                lines.append(f"{case_id}: {', '.join(changed)}")
    if not lines and list(before) != list(after):
        lines.append("the same cases in another order")
    return lines


def load_snapshot(path: Path) -> list[dict]:
    return json.loads(Path(path).read_text())["cases"]


def write_snapshot(evidence: dict, path: Path):
    """The snapshot of ``evidence`` to ``path``, one case a line (a change shows as that line in a diff)."""
    cases = ",\n".join(f"    {json.dumps(case)}" for case in evidence_snapshot(evidence))
    Path(path).write_text(f'{{\n  "decimals": {DECIMALS},\n  "cases": [\n{cases}\n  ]\n}}\n')


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    evidence_path, snapshot_path = map(Path, sys.argv[1:])
    write_snapshot(json.loads(evidence_path.read_text()), snapshot_path)
    print(f"wrote {snapshot_path} ({len(load_snapshot(snapshot_path))} cases)")
