"""Run the benchmarks and print one JSON line per figure.

Every bench/bench_*.py module defines functions named bench_*; each returns a
bench.tools.Result (or a list of them): the figure measured, the same figure for its
baseline (the host operation or hand-written SQL doing the same work) and,
where the issue sets one, the target. The ratio is figure / baseline, so for
durations lower is better and for rates higher is better, as `better` says.

    python bench/run.py [name-filter]
"""
import importlib
import inspect
import json
import pathlib
import sys
import traceback

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.tools import Result  # noqa: E402


def benchmarks(name_filter=None):
    for path in sorted(HERE.glob('bench_*.py')):
        module = importlib.import_module(f'bench.{path.stem}')
        for name in sorted(dir(module)):
            function = getattr(module, name)
            if (not name.startswith('bench_')
                    or not inspect.isfunction(function)):
                continue
            qualified = f'{path.stem}.{name}'
            if name_filter and name_filter not in qualified:
                continue
            yield qualified, function


def main(argv):
    name_filter = argv[1] if len(argv) > 1 else None
    count = failed = 0
    for name, function in benchmarks(name_filter):
        print(f"# {name}", file=sys.stderr, flush=True)
        try:
            results = function()
        except Exception:
            failed += 1
            traceback.print_exc()
            print(json.dumps({'benchmark': name, 'error': True}), flush=True)
            continue
        if isinstance(results, Result):
            results = [results]
        for result in results:
            count += 1
            print(result.as_json(), flush=True)
    if not count and not failed:
        print("# no benchmark in bench/ yet", file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
