"""``python -m safety_harness init``: a commented starter requirements file and model card template in this folder.

Exit codes as the suite's: 0 written, 2 a usage the command does not offer, 4 a file that would be overwritten or
cannot be written (one message naming it and the fix).
"""

import argparse
import sys
from importlib import resources
from pathlib import Path

from safety_harness.core.errors import HarnessInputError

EXIT_WRITTEN, EXIT_INPUT_ERROR = 0, 4
#: what ``init`` writes, from the package's starter/ folder
STARTER_FILES = ("requirements.yaml", "model_card.yaml")


def init(folder: Path) -> list[Path]:
    """Write the starter files into ``folder``, or none when one of them is there already."""
    targets = [folder / name for name in STARTER_FILES]
    present = [target for target in targets if target.exists()]
    if present:
        raise HarnessInputError(f"{present[0]} exists, and init overwrites nothing",
                                f"run init in another folder, or move {', '.join(p.name for p in present)} away")
    starter = resources.files("safety_harness") / "starter"
    for name, target in zip(STARTER_FILES, targets):
        try:
            target.write_text((starter / name).read_text(encoding="utf-8"), encoding="utf-8")
        except OSError as error:
            raise HarnessInputError(f"cannot write {target}: {error.strerror}",
                                    "run init in a folder you can write to") from None
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m safety_harness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("init", help="write a commented starter requirements.yaml and model_card.yaml here")
    parser.parse_args(argv)
    try:
        written = init(Path.cwd())
    except HarnessInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    print(f"wrote {', '.join(str(path) for path in written)}; edit both, then run\n"
          "  pytest --model PATH --model-card model_card.yaml --ingest DIR --requirements requirements.yaml")
    return EXIT_WRITTEN


if __name__ == "__main__":
    sys.exit(main())
