"""Run the suite's tests: each module's unit tests and scenarios, then the
cross-module, browser and reliability tests of tests/.

Environment:
  BACKEND                  auto (default): PostgreSQL when reachable, else
                           SQLite; or postgresql, or sqlite
  CRM_TEST_POSTGRESQL_URI  the PostgreSQL server, default postgresql:///
                           (the local socket, as the current user)
  CRM_TEST_PATTERN         run only the tests whose id matches this
                           unittest -k pattern
  CRM_TEST_JOBS            how many shards (a module, or tests/) run at
                           once, each in a process and database of its own;
                           default: the number of processors

Test databases are cached with trytond's DB_CACHE. The cache is keyed on the
modules' code, data and views and on requirements.txt, so a changed schema never restores a
stale database.
"""
import hashlib
import os
import pathlib
import re
import shutil
import sys
import time
import unittest

TOP = pathlib.Path(__file__).resolve().parent.parent
CACHE = TOP / '.cache' / 'db'
MODULES = os.environ.get(
    'CRM_MODULES',
    'crm_core crm_marketing crm_service crm_survey crm_loyalty').split()


def source_key():
    "Hash of everything that shapes a test database"
    digest = hashlib.sha256()
    paths = [TOP / 'requirements.txt'] + sorted(
        p for p in (TOP / 'addons').rglob('*')
        if p.is_file() and p.suffix in {'.py', '.xml', '.cfg', '.po'}
        and not {'tests', '__pycache__'} & set(p.parts))
    for path in paths:
        digest.update(str(path.relative_to(TOP)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def postgresql_reachable(uri):
    import psycopg
    try:
        with psycopg.connect(_admin_dsn(uri), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _admin_dsn(uri):
    "The libpq DSN of the maintenance database on the server of uri"
    from urllib.parse import urlsplit
    return f'postgresql://{urlsplit(uri).netloc}/postgres'


def setup_postgresql(uri, key):
    """Point trytond's tests at PostgreSQL and drop the cached databases of
    another source key."""
    import psycopg
    marker = f'crm_test_cache_{key}'
    with psycopg.connect(_admin_dsn(uri), autocommit=True) as conn:
        names = [r[0] for r in conn.execute(
                "SELECT datname FROM pg_database "
                "WHERE datname LIKE 'test-%%' "
                "OR datname LIKE 'crm_test_cache_%%'")]
        if marker not in names:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{marker}"')
    os.environ['TRYTOND_DATABASE__URI'] = uri
    # A database of its own, so that runs side by side do not collide
    os.environ['DB_NAME'] = f'test_crm_{os.getpid()}'
    os.environ['DB_CACHE'] = 'postgresql://'


def setup_sqlite(key):
    "Point trytond's tests at in-memory SQLite with a keyed file cache"
    if CACHE.exists():
        for path in CACHE.iterdir():
            if path.name != key:
                shutil.rmtree(path, ignore_errors=True)
    os.environ['TRYTOND_DATABASE__URI'] = 'sqlite://'
    os.environ['DB_NAME'] = ':memory:'
    os.environ['DB_CACHE'] = str(CACHE / key)


def load_tests(shard, pattern):
    "The tests of one shard: a module of the suite, or tests/"
    loader = unittest.TestLoader()
    if pattern:
        loader.testNamePatterns = [
            p if '*' in p else f'*{p}*' for p in pattern.split(',')]
    if shard == 'tests':
        return loader.discover(
            str(TOP / 'tests'), pattern='test_*.py', top_level_dir=str(TOP))
    return loader.loadTestsFromNames([
            f'trytond.modules.{shard}.tests.test_module',
            f'trytond.modules.{shard}.tests.test_scenario'])


def run_shard(shard):
    "Run one shard in this process and print its closing line"
    suite = load_tests(shard, os.environ.get('CRM_TEST_PATTERN'))
    result = unittest.TextTestRunner(
        stream=sys.stdout, verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors) + len(
        result.unexpectedSuccesses)
    skipped = len(result.skipped)
    print(f"{result.testsRun - failed - skipped} passed, {failed} failed, "
        f"{skipped} skipped")
    return 0 if result.wasSuccessful() else 1


def run_shards(shards, jobs):
    """Run the shards in parallel processes, each with a database of its
    own, print each one's output once it ends and return the totals"""
    import subprocess
    import tempfile
    pending, running = list(shards), []
    totals = [0, 0, 0]
    while pending or running:
        while pending and len(running) < jobs:
            shard = pending.pop(0)
            output = tempfile.TemporaryFile(mode='w+')
            process = subprocess.Popen(
                [sys.executable, __file__, '--shard', shard],
                stdout=output, stderr=subprocess.STDOUT)
            running.append((shard, process, output, time.monotonic()))
        time.sleep(0.5)
        for item in list(running):
            shard, process, output, start = item
            if process.poll() is None:
                continue
            running.remove(item)
            output.seek(0)
            text = output.read()
            print(f"==> {shard} ({time.monotonic() - start:.0f} s)")
            print(text, flush=True)
            match = re.search(
                r'^(\d+) passed, (\d+) failed, (\d+) skipped$', text, re.M)
            counts = [int(c) for c in match.groups()] if match else [0, 1, 0]
            if process.returncode and not counts[1]:
                counts[1] = 1
            totals = [t + c for t, c in zip(totals, counts)]
    return totals


def main():
    shard = sys.argv[2] if sys.argv[1:2] == ['--shard'] else None
    backend = os.environ.get('BACKEND', 'auto')
    uri = os.environ.get('CRM_TEST_POSTGRESQL_URI', 'postgresql:///')
    if backend == 'auto':
        backend = 'postgresql' if postgresql_reachable(uri) else 'sqlite'
        os.environ['BACKEND'] = backend
    key = source_key()
    if backend == 'postgresql':
        setup_postgresql(uri, key)
        where = f"PostgreSQL ({uri})"
    elif backend == 'sqlite':
        setup_sqlite(key)
        where = "SQLite"
    else:
        sys.exit(f"BACKEND must be auto, postgresql or sqlite, not {backend}")
    os.chdir(TOP)
    sys.path.insert(0, str(TOP))
    if shard:
        return run_shard(shard)

    jobs = int(os.environ.get('CRM_TEST_JOBS', os.cpu_count() or 1))
    print(f"==> Testing on {where}, {jobs} at a time; database cache {key}",
        flush=True)
    start = time.monotonic()
    passed, failed, skipped = run_shards(MODULES + ['tests'], jobs)
    print(f"==> {backend} in {time.monotonic() - start:.0f} s")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 0 if not failed and passed else 1


if __name__ == '__main__':
    sys.exit(main())
