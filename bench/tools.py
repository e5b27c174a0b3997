"""What benchmarks return and use to measure."""
import dataclasses
import json
import time


@dataclasses.dataclass
class Result:
    name: str
    figure: float
    unit: str
    baseline: float | None = None
    better: str = 'lower'       # 'lower' for durations, 'higher' for rates
    target: float | None = None
    detail: dict = dataclasses.field(default_factory=dict)
    #: whether the work measured gave the right result (None: not checked);
    #: a target is met only with a right result
    correct: bool | None = None
    check: str = ''   # what was checked, in words

    def as_json(self):
        line = {
            'benchmark': self.name,
            'figure': round(self.figure, 6),
            'unit': self.unit,
            'better': self.better,
            }
        if self.baseline:
            line['baseline'] = round(self.baseline, 6)
            line['ratio'] = round(self.figure / self.baseline, 3)
        if self.correct is not None:
            line['correct'] = self.correct
            line['check'] = self.check
        if self.target is not None:
            line['target'] = self.target
            line['met'] = (self.figure <= self.target
                if self.better == 'lower' else self.figure >= self.target
                ) and self.correct is not False
        line.update(self.detail)
        return json.dumps(line, ensure_ascii=False)


class Timer:
    "Context manager measuring wall-clock seconds"

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def percentiles(durations):
    "Return (p50, p95) of the durations"
    import statistics
    durations = sorted(durations)
    return (statistics.median(durations),
        durations[int(round(0.95 * (len(durations) - 1)))])


def free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(('localhost', 0))
        return sock.getsockname()[1]


class Client:
    """A JSON-RPC client of trytond, logged in like the web client

    It accepts gzip as a browser does: trytond sends an answer over 1400
    bytes gzipped to such a client, and streams it token by token, one
    write each, to a client that does not ask for it."""

    def __init__(self, port, database):
        import http.client
        self.connection = http.client.HTTPConnection('localhost', port)
        self.database = database
        self.session = None
        self.id = 0

    def call(self, method, *params):
        import json
        self.id += 1
        import gzip
        headers = {
            'Content-Type': 'application/json',
            'Accept-Encoding': 'gzip, deflate',
            }
        if self.session:
            headers['Authorization'] = 'Session ' + self.session
        self.connection.request('POST', f'/{self.database}/rpc/',
            json.dumps({'id': self.id, 'method': method, 'params': params}),
            headers)
        answer = self.connection.getresponse()
        body = answer.read()
        if answer.getheader('Content-Encoding') == 'gzip':
            body = gzip.decompress(body)
        response = json.loads(body)
        if response.get('error'):
            raise RuntimeError(response['error'])
        return response['result']

    def login(self, login, password):
        import base64
        user_id, session, *_ = self.call(
            'common.db.login', login, {'password': password}, 'en')
        self.session = base64.b64encode(
            f'{login}:{user_id}:{session}'.encode()).decode()
        self.context = self.call('model.res.user.get_preferences', True, {})


def serve(database, port, log=None):
    """Start a trytond server on the database at localhost:port

    log: a file receiving its log (with the SQL and its timings at DEBUG
    when TRYTOND_LOGGING says so)"""
    import os
    import pathlib
    import socket
    import subprocess
    import sys
    from bench import database as benchdb
    env = dict(os.environ, TRYTOND_DATABASE__URI=benchdb.URI,
        TRYTOND_WEB__LISTEN=f'localhost:{port}')
    server = subprocess.Popen([
            str(pathlib.Path(sys.executable).parent / 'trytond'),
            '-c', str(benchdb.TOP / 'trytond.conf'), '-d', database],
        env=env, stdout=subprocess.DEVNULL, stderr=log or subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(('localhost', port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("trytond did not start")


def cpu_seconds(pid):
    """Return the CPU seconds (user and system) the process used so far: on a
    machine shared with other work, steadier than the wall-clock time"""
    import os
    with open(f'/proc/{pid}/stat') as stat:
        # the fields after the command name, which may hold spaces
        fields = stat.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def database_cpu_seconds(database):
    """Return {backend pid: CPU seconds} of the PostgreSQL backends connected
    to the database (the server on this machine)"""
    from bench import database as benchdb
    with benchdb.admin() as conn:
        pids = [p for p, in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s",
                (database,))]
    result = {}
    for pid in pids:
        try:
            result[pid] = cpu_seconds(pid)
        except OSError:
            pass
    return result


def database_cpu_delta(before, after):
    "The CPU seconds used between two database_cpu_seconds()"
    return sum(v - before.get(p, 0) for p, v in after.items())
