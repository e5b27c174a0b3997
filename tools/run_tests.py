"""Run the suite's tests: each module's unit tests and scenarios, then the
cross-module, browser and reliability tests of tests/.

Environment:
  BACKEND                  auto (default): PostgreSQL when reachable, else
                           SQLite; or postgresql, or sqlite
  CRM_TEST_POSTGRESQL_URI  the PostgreSQL server, default postgresql:///
                           (the local socket, as the current user)
  CRM_TEST_PATTERN         run only the tests whose id matches this
                           unittest -k pattern

Test databases are cached with trytond's DB_CACHE. The cache is keyed on the
modules' code, data and views and on requirements.txt, so a changed schema never restores a
stale database.
"""
import hashlib
import os
import pathlib
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


def load_tests(pattern):
    loader = unittest.TestLoader()
    if pattern:
        loader.testNamePatterns = [
            p if '*' in p else f'*{p}*' for p in pattern.split(',')]
    suite = unittest.TestSuite()
    for module in MODULES:
        suite.addTests(loader.loadTestsFromNames([
                    f'trytond.modules.{module}.tests.test_module',
                    f'trytond.modules.{module}.tests.test_scenario']))
    suite.addTests(loader.discover(
            str(TOP / 'tests'), pattern='test_*.py', top_level_dir=str(TOP)))
    return suite


def main():
    backend = os.environ.get('BACKEND', 'auto')
    uri = os.environ.get('CRM_TEST_POSTGRESQL_URI', 'postgresql:///')
    if backend == 'auto':
        backend = 'postgresql' if postgresql_reachable(uri) else 'sqlite'
    key = source_key()
    if backend == 'postgresql':
        setup_postgresql(uri, key)
        where = f"PostgreSQL ({uri})"
    elif backend == 'sqlite':
        setup_sqlite(key)
        where = "SQLite"
    else:
        sys.exit(f"BACKEND must be auto, postgresql or sqlite, not {backend}")
    print(f"==> Testing on {where}; database cache {key}", flush=True)
    os.chdir(TOP)
    sys.path.insert(0, str(TOP))

    suite = load_tests(os.environ.get('CRM_TEST_PATTERN'))
    start = time.monotonic()
    result = unittest.TextTestRunner(verbosity=2, buffer=False).run(suite)
    elapsed = time.monotonic() - start
    failed = len(result.failures) + len(result.errors) + len(
        result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    print(f"==> {backend} in {elapsed:.0f} s")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 0 if result.wasSuccessful() and result.testsRun else 1


if __name__ == '__main__':
    sys.exit(main())
