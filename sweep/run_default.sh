#!/bin/sh
# sweep/run_default.sh: what `make run` does: the embedded default sweep (configs/grid.json).
# The sweep harness is not built yet (tracker issue 5); until it lands this says so and
# fails, rather than pretending to run.
echo "make run: the sweep harness (sweep run configs/grid.json) is not built yet." >&2
echo "What works today: '$1 bench --help', '$1 tokenize|score|gen-data --help'." >&2
exit 1
