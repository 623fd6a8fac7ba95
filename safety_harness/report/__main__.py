"""Render from evidence bundles alone:

``python -m safety_harness.report EVIDENCE.json --html OUT.html`` writes the run's report again, byte for
byte, from its evidence file and the exhibits/ folder beside it;
``python -m safety_harness.report A.json B.json --html OUT.html`` writes what changed from run A (e.g. the
released model) to run B (e.g. the candidate).

Never imports TensorFlow, Keras, a model or an ingest. Exit codes as the suite's: 0 written,
2 a usage the command does not offer, 4 an evidence file or exhibit that cannot be read (one message naming it).
"""

import argparse
import sys
from pathlib import Path

from safety_harness.core.errors import HarnessInputError
from safety_harness.report.bundle import read_bundle
from safety_harness.report.comparison import compare, read_evidence, render_comparison
from safety_harness.report.sections import render_bundle

EXIT_WRITTEN, EXIT_USAGE, EXIT_INPUT_ERROR = 0, 2, 4


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m safety_harness.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("evidence", nargs="+", type=Path, metavar="EVIDENCE.json",
                        help="one run's evidence file (its report), or two: run A, then run B (their comparison)")
    parser.add_argument("--html", required=True, type=Path, metavar="OUT.html", help="where to write the HTML")
    arguments = parser.parse_args(argv)
    if len(arguments.evidence) > 2:
        parser.error("give one evidence file (its run's report) or two (their comparison)")
    try:
        if len(arguments.evidence) == 1:
            html, written = render_bundle(read_bundle(arguments.evidence[0])), f"report of {arguments.evidence[0]}"
        else:
            before, after = (read_evidence(path) for path in arguments.evidence)
            html = render_comparison(compare(before, after, *map(str, arguments.evidence)))
            written = f"comparison of {arguments.evidence[0]} and {arguments.evidence[1]}"
        try:
            arguments.html.parent.mkdir(parents=True, exist_ok=True)
            arguments.html.write_bytes(html.encode("utf-8"))  # no newline translation: byte for byte
        except OSError as error:
            raise HarnessInputError(f"cannot write the {written.split()[0]} to {arguments.html}: {error.strerror}",
                                    "give --html a file path in a folder you can write to") from None
    except HarnessInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    print(f"{written}: {arguments.html}")
    return EXIT_WRITTEN


if __name__ == "__main__":
    sys.exit(main())
