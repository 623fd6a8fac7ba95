"""Render from evidence documents alone: ``python -m safety_harness.report A.json B.json --html OUT.html``
writes what changed from run A (e.g. the released model) to run B (e.g. the candidate).

Never imports TensorFlow, Keras, a model or an ingest. Exit codes as the suite's: 0 written,
2 a usage the command does not offer, 4 an evidence file that cannot be read (one message naming it).
"""

import argparse
import sys
from pathlib import Path

from safety_harness.core.errors import HarnessInputError
from safety_harness.report.comparison import compare, read_evidence, render_comparison

EXIT_WRITTEN, EXIT_USAGE, EXIT_INPUT_ERROR = 0, 2, 4


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m safety_harness.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("evidence", nargs="+", type=Path, metavar="EVIDENCE.json",
                        help="two evidence files: run A, then run B")
    parser.add_argument("--html", required=True, type=Path, metavar="OUT.html", help="where to write the HTML")
    arguments = parser.parse_args(argv)
    if len(arguments.evidence) != 2:
        parser.error("give two evidence files to compare (re-rendering one run's report from its evidence "
                     "alone is not available yet; its run writes that report)")
    try:
        before, after = (read_evidence(path) for path in arguments.evidence)
        html = render_comparison(compare(before, after, *map(str, arguments.evidence)))
        try:
            arguments.html.parent.mkdir(parents=True, exist_ok=True)
            arguments.html.write_text(html, encoding="utf-8")
        except OSError as error:
            raise HarnessInputError(f"cannot write the comparison to {arguments.html}: {error.strerror}",
                                    "give --html a file path in a folder you can write to") from None
    except HarnessInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    print(f"comparison of {arguments.evidence[0]} and {arguments.evidence[1]}: {arguments.html}")
    return EXIT_WRITTEN


if __name__ == "__main__":
    sys.exit(main())
