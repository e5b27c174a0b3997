"""Run the suite's tests: each module's unit tests and scenarios, then the
cross-module, browser and reliability tests of tests/.

Environment:
  BACKEND                  auto (default): PostgreSQL when reachable, else
                           SQLite; or postgresql, or sqlite; or two joined
                           by +, e.g. postgresql+sqlite (what CI runs): the
                           shards on the first, and the modules' shards
                           again on the second, all in one queue
  CRM_TEST_POSTGRESQL_URI  the PostgreSQL server, default postgresql:///
                           (the local socket, as the current user)
  CRM_TEST_PATTERN         run only the tests whose id matches this
                           unittest -k pattern
  CRM_TEST_JOBS            how many shards (a module, or tests/) run at
                           once, each in a process and database of its own;
                           default: the number of processors
  CRM_TEST_SHARDS          the shards to run, default: every module, and
                           tests/ as two shards: `browser` (its
                           test_browser*.py) and `reliability` (the rest);
                           `tests` runs all of tests/; `crm_core@sqlite`
                           names a shard on one backend of BACKEND
  CRM_TEST_SHARD_TIMEOUT   seconds after which a shard is killed and counts
                           as failed, default 2400

Each shard runs every tests/test_*.py of its directory; a scenario_*.rst
that no test ran is a failure. The totals are counted from each test's
outcome, so a class skipped or failing in setUpClass counts exactly.

Test databases are cached with trytond's DB_CACHE. The cache is keyed on the
modules' code, data and views and on requirements.txt, so a changed schema
never restores a stale database.
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
    # The server tests of tests/ keep their template database with the key
    os.environ['CRM_TEST_CACHE_KEY'] = key


def setup_sqlite(key):
    "Point trytond's tests at in-memory SQLite with a keyed file cache"
    if CACHE.exists():
        for path in CACHE.iterdir():
            if path.name != key:
                shutil.rmtree(path, ignore_errors=True)
    os.environ['TRYTOND_DATABASE__URI'] = 'sqlite://'
    os.environ['DB_NAME'] = ':memory:'
    os.environ['DB_CACHE'] = str(CACHE / key)


#: The shards of tests/ (the files they run): `tests` is all of it; by
#: default its browser tests and the others run as two shards side by side
TOP_SHARDS = {
    'tests': lambda name: True,
    'browser': lambda name: name.startswith('test_browser'),
    'reliability': lambda name: not name.startswith('test_browser'),
    }


def shard_directory(shard):
    "The directory of the tests of the shard"
    if shard in TOP_SHARDS:
        return TOP / 'tests'
    return TOP / 'addons' / shard / 'tests'


def load_tests(shard, pattern):
    """The tests of one shard: every tests/test_*.py of a module of the
    suite, or of tests/"""
    loader = unittest.TestLoader()
    if pattern:
        loader.testNamePatterns = [
            p if '*' in p else f'*{p}*' for p in pattern.split(',')]
    if shard in TOP_SHARDS:
        package, wanted = 'tests', TOP_SHARDS[shard]
    else:
        package, wanted = f'trytond.modules.{shard}.tests', TOP_SHARDS['tests']
    names = [f'{package}.{p.stem}'
        for p in sorted(shard_directory(shard).glob('test_*.py'))
        if wanted(p.stem)]
    return loader.loadTestsFromNames(names)


class CountingResult(unittest.TextTestResult):
    """A result that counts what happened to each test itself

    testsRun does not count a class skipped or failed in setUpClass, so
    passed is counted from the successes, not derived from testsRun."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.successes = []
        self.durations = []

    def startTest(self, test):
        self._started = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        self.durations.append((time.monotonic() - self._started, test.id()))

    def slowest(self, count=8):
        "Print the count slowest tests, to keep an eye on the suite's time"
        self.stream.writeln(f"Slowest {count}:")
        for duration, name in sorted(self.durations, reverse=True)[:count]:
            self.stream.writeln(f"  {duration:7.1f} s  {name}")

    def addSuccess(self, test):
        super().addSuccess(test)
        self.successes.append(test)

    def counts(self):
        "Return (passed, failed, skipped)"
        failed = (len(self.failures) + len(self.errors)
            + len(self.unexpectedSuccesses))
        return len(self.successes), failed, len(self.skipped)


def scenarios_not_run(shard, result, pattern):
    "Return the scenario files of the shard that no test ran"
    if pattern or shard == 'browser':
        return []
    ran = set()
    for test, *_ in (
            [(t,) for t in result.successes]
            + result.failures + result.errors + result.skipped):
        name = getattr(test, '_dt_test', None)
        if name is not None:
            ran.add(pathlib.Path(name.filename).name)
    return sorted(p.name
        for p in shard_directory(shard).glob('scenario_*.rst')
        if p.name not in ran)


def scenario_cache_names(modules, setup_names):
    """The DB_CACHE names of the stages of activate_modules(modules, *setup):
    the modules alone, then after each setup function in turn (the last is
    trytond's own name of the whole combination)"""
    base = '-'.join(sorted(modules))
    return [base] + [f"{base}--{'|'.join(setup_names[:i])}"
        for i in range(1, len(setup_names) + 1)]


def layer_scenario_cache():
    """Make trytond's activate_modules of the scenarios build on the cached
    stages of its combination

    On a cache miss trytond builds the database of a scenario from nothing:
    every module activated again for each distinct list of setup functions
    (create_company, create_chart...). Here the longest cached stage is
    restored instead, the modules alone (the very database that
    activate_module of the unit tests caches under the same name), then
    after each setup function, and only the missing stages are built, each
    one cached. The database a scenario gets is the same: the same modules
    activated the same way and the same functions run in the same order."""
    from trytond.tests import test_tryton, tools

    def activate_modules(modules, *setup):
        if isinstance(modules, str):
            modules = [modules]
        names = scenario_cache_names(
            modules, [tools._func_name(f) for f in setup])
        done = None
        for stage in reversed(range(len(names))):
            if test_tryton.restore_db_cache(names[stage]):
                done = stage
                break
        if done is None:
            # Nothing cached yet: activate the modules as trytond does
            test_tryton.drop_create()
            config = tools._get_config()
            Module = tools.Model.get('ir.module')
            records = Module.find([('name', 'in', modules)])
            assert len(records) == len(modules), (
                f"Not found: "
                f"{', '.join(set(modules) - {r.name for r in records})}")
            Module.click(records, 'activate')
            tools.Wizard('ir.module.activate_upgrade').execute('upgrade')
            test_tryton.backup_db_cache(names[0])
            done = 0
        config = tools._get_config()
        for stage in range(done, len(setup)):
            setup[stage](config=config)
            test_tryton.backup_db_cache(names[stage + 1])
        return config

    tools.activate_modules = activate_modules


def run_shard(shard):
    "Run one shard in this process and print its closing line"
    pattern = os.environ.get('CRM_TEST_PATTERN')
    layer_scenario_cache()
    suite = load_tests(shard, pattern)
    result = unittest.TextTestRunner(
        stream=sys.stdout, verbosity=2, resultclass=CountingResult).run(suite)
    result.slowest()
    passed, failed, skipped = result.counts()
    missing = scenarios_not_run(shard, result, pattern)
    for name in missing:
        print(f"FAIL: scenario {name} was not run")
    failed += len(missing)
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 0 if not failed else 1


#: The longest a shard may run, in seconds
SHARD_TIMEOUT = int(os.environ.get('CRM_TEST_SHARD_TIMEOUT', 40 * 60))
CLOSING = re.compile(r'^(\d+) passed, (\d+) failed, (\d+) skipped$', re.M)


def shard_counts(text, returncode):
    """Return (passed, failed, skipped) of a shard from its output and exit
    code: a shard that printed no closing line or failed without counting
    a failure counts one failure"""
    matches = CLOSING.findall(text)
    counts = [int(c) for c in matches[-1]] if matches else [0, 1, 0]
    if returncode and not counts[1]:
        counts[1] = 1
    return counts


def run_shards(pairs, jobs, backends):
    """Run the (shard, backend) pairs in parallel processes, each with a
    database of its own, print each one's output once it ends and return
    the totals"""
    import subprocess
    import tempfile
    pending, running = list(pairs), []
    totals = [0, 0, 0]
    while pending or running:
        while pending and len(running) < jobs:
            shard, backend = pending.pop(0)
            output = tempfile.TemporaryFile(mode='w+')
            process = subprocess.Popen(
                [sys.executable, __file__, '--shard', shard],
                env={**os.environ, 'BACKEND': backend},
                stdout=output, stderr=subprocess.STDOUT)
            running.append((label(shard, backend, backends), process, output,
                    time.monotonic()))
        time.sleep(0.5)
        for item in list(running):
            shard, process, output, start = item
            elapsed = time.monotonic() - start
            if process.poll() is None:
                if elapsed < SHARD_TIMEOUT:
                    continue
                process.kill()
                process.wait()
                output.write(
                    f"\nFAIL: shard {shard} killed after {SHARD_TIMEOUT} s "
                    "(CRM_TEST_SHARD_TIMEOUT)\n")
            running.remove(item)
            output.seek(0)
            text = output.read()
            print(f"==> {shard} ({elapsed:.0f} s)")
            print(text, flush=True)
            counts = shard_counts(text, process.returncode)
            totals = [t + c for t, c in zip(totals, counts)]
    return totals


#: The default shards: every module, and tests/ as its browser tests and
#: the others
DEFAULT_SHARDS = ['browser', 'reliability']

#: About the seconds a shard takes on a cold cache (only their order
#: matters; refresh them from the "==> shard (N s)" lines of a cold run
#: when a shard grows or a module is added): the queue starts the longest,
#: so that the last to end are short ones and no processor waits idle at
#: the end for a long one
SHARD_SECONDS = {
    # a cold run of 2026-12-02 on 2 processors (1,276 s in all)
    ('crm_core', 'postgresql'): 468,
    ('browser', 'postgresql'): 409,
    ('crm_service', 'postgresql'): 340,
    ('reliability', 'postgresql'): 267,
    ('crm_core', 'sqlite'): 238,
    # crm_survey with its e-mail, triggers and analytics: a loaded run of
    # the same day scaled by its crm_core (1,094 s for 468)
    ('crm_survey', 'postgresql'): 360,
    ('crm_loyalty', 'postgresql'): 174,
    ('crm_service', 'sqlite'): 162,
    ('crm_loyalty', 'sqlite'): 93,
    ('crm_marketing', 'postgresql'): 84,
    ('crm_survey', 'sqlite'): 165,
    ('crm_marketing', 'sqlite'): 36,
    }


def queue(shards, backends):
    """Return the (shard, backend) pairs to run: each shard on the first
    backend, and the modules' shards again on the others (the shards of
    tests/ are cross-module, browser and server tests: the first backend's
    only); a shard named `shard@backend` runs on that backend only"""
    pairs = []
    for shard in shards:
        name, _, backend = shard.partition('@')
        if backend:
            if backend not in backends:
                sys.exit(f"{shard}: {backend} is not in BACKEND")
            pairs.append((name, backend))
        else:
            pairs.extend((name, b) for b in backends
                if b == backends[0] or name not in TOP_SHARDS)
    return pairs


def label(shard, backend, backends):
    "The shard's name in the output: with its backend but for the first"
    return shard if backend == backends[0] else f'{shard}@{backend}'


def setup_backend(backend, uri, key):
    "Set the environment of the backend; return its description"
    if backend == 'postgresql':
        setup_postgresql(uri, key)
        return f"PostgreSQL ({uri})"
    elif backend == 'sqlite':
        setup_sqlite(key)
        return "SQLite"
    sys.exit(f"BACKEND must be auto, postgresql or sqlite (or two joined by "
        f"+), not {backend}")


def main():
    shard = sys.argv[2] if sys.argv[1:2] == ['--shard'] else None
    uri = os.environ.get('CRM_TEST_POSTGRESQL_URI', 'postgresql:///')
    backends = os.environ.get('BACKEND', 'auto').split('+')
    if 'auto' in backends:
        backends = [
            ('postgresql' if postgresql_reachable(uri) else 'sqlite')
            if b == 'auto' else b for b in backends]
    key = source_key()
    if shard:
        # A shard runs on the one backend its parent gives it
        backend, = backends
        setup_backend(backend, uri, key)
        os.chdir(TOP)
        sys.path.insert(0, str(TOP))
        return run_shard(shard)
    where = [setup_backend(b, uri, key) for b in backends]
    os.chdir(TOP)

    jobs = int(os.environ.get('CRM_TEST_JOBS', os.cpu_count() or 1))
    print(f"==> Testing on {' and '.join(where)}, {jobs} at a time; "
        f"database cache {key}", flush=True)
    start = time.monotonic()
    shards = os.environ.get('CRM_TEST_SHARDS', '').split()
    pairs = queue(shards or MODULES + DEFAULT_SHARDS, backends)
    if not shards:
        # The longest first (a new module: after those measured)
        pairs.sort(key=lambda p: -SHARD_SECONDS.get(
                p, SHARD_SECONDS.get((p[0], 'postgresql'), 0)))
    passed, failed, skipped = run_shards(pairs, jobs, backends)
    print(f"==> {'+'.join(backends)} in {time.monotonic() - start:.0f} s")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 0 if not failed and passed else 1


if __name__ == '__main__':
    sys.exit(main())
