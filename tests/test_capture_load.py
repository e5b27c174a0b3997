# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The public web form under load and against slow or broken clients

A real trytond server (werkzeug, threaded, as `trytond` serves) on a
PostgreSQL database of its own with crm_core, a team of three salespeople
and an assignment rule:

- a burst of 100 concurrent posts from 100 loopback addresses answers 200 to
  every one, stores every lead once and shares them fairly;
- 60 clients that stall in the middle of their body hold no database
  connection: an admin login answers at once and no session is idle in
  transaction; they get 408 at the read deadline and nothing is stored;
- a body shorter than its Content-Length answers 400, a chunked body over
  the cap 413, and nothing is stored;
- posts naming the same new UTM source at once all answer 200 and share one
  source record.

The server runs with [cache] clean_timeout = 0, as the README's production
section says, and a pool of 20 connections, smaller than the burst.

PostgreSQL only: SQLite serialises the writers, so it has neither the
concurrency nor the connection pool these tests are about.
"""
import atexit
import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
from collections import Counter
from pathlib import Path

from .tools import BIN, CONFIG, EMAIL, ROOT, free_port

PASSWORD = 'Crm-Capture-Load-0'
MEMBERS = ["Ann Ash", "Bob Birch", "Cy Cedar"]
BURST = 100
STALLED = 60
# The read deadline of the server under test (10 s by default)
READ_TIMEOUT = 4
MAXCONN = 20


def postgresql_uri():
    "Return the PostgreSQL URI the tests run on, or None"
    uri = os.environ.get('TRYTOND_DATABASE__URI', '')
    if uri.startswith('postgresql'):
        return uri
    return None


def _admin_dsn(uri):
    return f'postgresql://{urllib.parse.urlsplit(uri).netloc}/postgres'


#: The modules of the database of every server test: their union, so that
#: trytond-admin activates them once per run (or once per source key under
#: tools/run_tests.py) and each test class starts from a copy
SERVER_MODULES = [
    'crm_core', 'marketing_campaign', 'crm_service', 'crm_loyalty',
    'sale_gift_card', 'crm_survey']


def server_template(server):
    """Return the name of the template database of the server tests,
    created by trytond-admin when missing

    Under tools/run_tests.py it is kept with the test databases of the
    source key (CRM_TEST_CACHE_KEY) and dropped with them; otherwise it is
    this process's and dropped at its exit."""
    key = os.environ.get('CRM_TEST_CACHE_KEY')
    modules = hashlib.sha256(' '.join(SERVER_MODULES).encode()).hexdigest()
    name = (f'crm_test_cache_{key}_server_{modules[:8]}' if key
        else f'crm_server_template_{os.getpid()}')
    exists = 'SELECT 1 FROM pg_database WHERE datname = %s'
    if not server.sql(exists, name):
        # Built under a name of its own then renamed, so that runs side by
        # side never copy a template half built
        building = f'crm_server_build_{os.getpid()}'
        server.build(building)
        if not key:
            atexit.register(
                server.sql, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        import psycopg
        try:
            server.sql(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        except psycopg.errors.DuplicateDatabase:
            # Another run built it meanwhile
            server.sql(f'DROP DATABASE "{building}" WITH (FORCE)')
    return name


class CaptureServer:
    """A trytond server of a fresh PostgreSQL database with crm_core

    modules are those the tests need: the database has all SERVER_MODULES"""
    modules = ['crm_core', 'marketing_campaign']
    prefix = 'crm_capture_load'

    def __init__(self, uri, directory):
        self.uri = uri
        self.directory = Path(directory)
        self.name = f'{self.prefix}_{os.getpid()}'
        self.port = free_port()
        self.log_path = self.directory / 'trytond.log'
        self.process = None
        self.config = self.directory / 'test.conf'
        self.config.write_text(
            '[database]\n'
            f'uri = {uri}\n'
            f'maxconn = {MAXCONN}\n'
            '[web]\n'
            f'listen = 127.0.0.1:{self.port}\n'
            # As the README's production section says: cache invalidations
            # by NOTIFY on the transaction's connection; the default (300)
            # takes a second connection of the pool at every commit that
            # clears a cache (creating a party does), which a burst as
            # large as the pool deadlocks
            '[cache]\n'
            'clean_timeout = 0\n'
            '[crm]\n'
            f'web_form_read_timeout = {READ_TIMEOUT}\n')
        self.args = ['-c', str(CONFIG), str(self.config)]

    def sql(self, query, *args, database=None):
        "Return the rows of the query on the database (autocommit)"
        import psycopg
        dsn = _admin_dsn(self.uri)
        if database:
            dsn = dsn.rsplit('/', 1)[0] + '/' + database
        with psycopg.connect(dsn, autocommit=True) as connection:
            cursor = connection.execute(query, args or None)
            return cursor.fetchall() if cursor.description else []

    def create(self):
        """Create the database with the modules and the admin password: a
        copy of the run's server template"""
        assert set(self.modules) <= set(SERVER_MODULES), self.modules
        template = server_template(self)
        self.drop()
        self.sql(f'CREATE DATABASE "{self.name}" TEMPLATE "{template}"')

    def build(self, name):
        "Create the database name with SERVER_MODULES by trytond-admin"
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.sql(
            f'CREATE DATABASE "{name}" '
            "TEMPLATE template0 ENCODING 'UTF8'")
        passfile = self.directory / 'password'
        passfile.write_text(PASSWORD)
        try:
            process = subprocess.run([
                    BIN / 'trytond-admin', *self.args, '-d', name,
                    '-u', *SERVER_MODULES,
                    '--activate-dependencies',
                    '--email', EMAIL],
                env={**os.environ, 'TRYTONPASSFILE': str(passfile)},
                cwd=ROOT, capture_output=True, text=True, timeout=900)
        finally:
            passfile.unlink()
        if process.returncode:
            self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            raise RuntimeError(
                f'trytond-admin failed ({process.returncode}):\n'
                + (process.stdout + process.stderr)[-5000:])

    def drop(self):
        self.sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def start(self, timeout=60):
        with open(self.log_path, 'ab') as log:
            self.process = subprocess.Popen(
                [BIN / 'trytond', *self.args, '-d', self.name],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f'trytond exited with {self.process.returncode}:\n'
                    + self.log())
            try:
                # 404 until the company exists
                self.request('GET', f'/{self.name}/crm/lead', timeout=5)
                return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError('trytond does not answer:\n' + self.log())

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self, size=5000):
        "Return the end of the server log, without the access log"
        try:
            lines = self.log_path.read_text(errors='replace').splitlines()
        except FileNotFoundError:
            return ''
        return '\n'.join(
            l for l in lines if ' INFO werkzeug ' not in l)[-size:]

    def request(self, method, path, body=None, headers=None, source=None,
            timeout=120):
        "Return the status and the body of a request to the server"
        connection = http.client.HTTPConnection(
            '127.0.0.1', self.port, timeout=timeout,
            source_address=(source, 0) if source else None)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def rpc(self, method, *params, session=None):
        "Call the JSON-RPC method and return its result"
        headers = {'Content-Type': 'application/json'}
        if session:
            import base64
            headers['Authorization'] = 'Session ' + base64.b64encode(
                f'admin:{session[0]}:{session[1]}'.encode()).decode()
        status, data = self.request('POST', f'/{self.name}/rpc/', json.dumps({
                    'id': 1, 'method': method, 'params': params}),
            headers=headers, timeout=60)
        assert status == 200, (status, data[:500])
        answer = json.loads(data)
        assert 'error' not in answer or not answer['error'], answer
        return answer['result']

    def create_company(self, session, name):
        """Create the company name in euros, make it the user's of session
        (user id, key) and return the context of the calls in it"""
        def call(method, *args):
            return self.rpc(method, *args, {}, session=session)
        currency, = call('model.currency.currency.create', [{
                    'name': "Euro", 'code': 'EUR', 'symbol': '€',
                    'rounding': {'__class__': 'Decimal', 'decimal': '0.01'},
                    'digits': 2}])
        party, = call('model.party.party.create', [{'name': name}])
        company, = call('model.company.company.create', [{
                    'party': party, 'currency': currency}])
        call('model.res.user.write', [session[0]], {
                'companies': [('add', [company])], 'company': company})
        return {'company': company, 'companies': [company]}

    def login(self):
        "Log in as admin by JSON-RPC and return (user id, session)"
        user_id, session = self.rpc(
            'common.db.login', 'admin', {'password': PASSWORD})[:2]
        return user_id, session

    def post_lead(self, fields, source=None, timeout=120):
        return self.request(
            'POST', f'/{self.name}/crm/lead',
            urllib.parse.urlencode(fields),
            {'Content-Type': 'application/x-www-form-urlencoded'},
            source=source, timeout=timeout)

    def raw(self, data, source='127.0.0.1'):
        "Open a connection, send data and return the socket"
        sock = socket.create_connection(
            ('127.0.0.1', self.port), timeout=READ_TIMEOUT + 20,
            source_address=(source, 0))
        sock.sendall(data)
        return sock


def read_status(sock):
    "Return the status of the answer read from the socket, None if none"
    data = b''
    try:
        while b'\r\n' not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    try:
        return int(data.split(b' ', 2)[1])
    except (IndexError, ValueError):
        return None


def setup_data(server):
    "Create the company, the team of three and the rule through the RPC"
    user_id, session = server.login()
    rpc = server.rpc

    def call(method, *args):
        return rpc(method, *args, context, session=(user_id, session))
    context = server.create_company((user_id, session), "Capture Corp")
    company = context['company']
    employees = []
    for name in MEMBERS:
        party, = call('model.party.party.create', [{'name': name}])
        employee, = call('model.company.employee.create', [{
                    'party': party, 'company': company}])
        employees.append(employee)
    team, = call('model.crm.team.create', [{
                'name': "Web", 'company': company,
                'members': [('create', [
                            {'employee': e} for e in employees])]}])
    call('model.crm.assignment.rule.create', [{
                'name': "Every lead", 'company': company, 'team': team,
                'domain': '[]'}])
    call('model.crm.configuration.create', [{
                'web_form_utm_create': True}])
    return company


@unittest.skipUnless(
    postgresql_uri(),
    "PostgreSQL only (set TRYTOND_DATABASE__URI=postgresql://...): the "
    "concurrent capture and the connection pool are PostgreSQL's; SQLite "
    "serialises the writers")
class CaptureLoadTestCase(unittest.TestCase):
    "The web form against a real trytond on PostgreSQL"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        directory = tempfile.TemporaryDirectory(prefix='crm-capture-')
        cls.addClassCleanup(directory.cleanup)
        cls.server = CaptureServer(postgresql_uri(), directory.name)
        # To run the tests again on the same database while developing
        keep = os.environ.get('CRM_TEST_CAPTURE_KEEP_DATABASE')
        if keep:
            cls.server.name = keep
        if not keep or not cls.server.sql(
                'SELECT 1 FROM pg_database WHERE datname = %s', keep):
            if not keep:
                cls.addClassCleanup(cls.server.drop)
            cls.server.create()
            created = True
        else:
            created = False
        cls.addClassCleanup(cls.server.stop)
        cls.server.start()
        if created:
            setup_data(cls.server)

    def leads(self, where='TRUE', *args):
        "Return the rows (capture_address, employee name) of the leads"
        return self.server.sql(
            'SELECT o.capture_address, p.name, o.comment '
            'FROM sale_opportunity o '
            'LEFT JOIN company_employee e ON e.id = o.employee '
            'LEFT JOIN party_party p ON p.id = e.party '
            f'WHERE {where}', *args, database=self.server.name)

    def idle_in_transaction(self):
        return self.server.sql(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = %s AND state LIKE 'idle in transaction%%'",
            self.server.name)[0][0]

    def test_burst(self):
        "100 concurrent posts from 100 addresses: 100 leads, shared fairly"
        sources = [f'127.0.0.{i}' for i in range(2, 2 + BURST)]
        marker = f"Burst {time.time_ns()}"
        barrier = threading.Barrier(BURST)
        results = {}

        def post(source):
            barrier.wait()
            try:
                status, _ = self.server.post_lead({
                        'name': f"Visitor {source}",
                        'email': f'visitor-{source}@example.com',
                        'message': marker,
                        }, source=source)
            except Exception as exception:
                status = repr(exception)
            results[source] = status
        threads = [threading.Thread(target=post, args=(s,)) for s in sources]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        duration = time.monotonic() - started

        statuses = Counter(results.values())
        leads = self.leads("o.comment LIKE %s", '%' + marker)
        stored = Counter(address for address, _, _ in leads)
        members = Counter(name for _, name, _ in leads)
        print(f"\nburst of {BURST}: {dict(statuses)} in {duration:.1f} s; "
            f"{len(leads)} leads stored, {len(stored)} addresses; "
            f"per member {dict(members)}", file=sys.stderr)
        self.assertEqual(statuses, {200: BURST}, self.server.log())
        self.assertEqual(sorted(stored), sorted(sources))
        self.assertEqual(set(stored.values()), {1})
        self.assertEqual(set(members), set(MEMBERS))
        self.assertLessEqual(
            max(members.values()) - min(members.values()), 1, members)

    def test_same_new_utm(self):
        "Posts naming the same new UTM source at once: one source, all 200"
        count = 10
        source = f'launch-{time.time_ns()}'
        barrier = threading.Barrier(count)
        results = {}

        def post(address):
            barrier.wait()
            results[address] = self.server.post_lead({
                    'name': "Launch", 'message': source,
                    'utm_source': source}, source=address)[0]
        threads = [threading.Thread(target=post, args=(f'127.0.4.{i}',))
            for i in range(2, 2 + count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        self.assertEqual(Counter(results.values()), {200: count},
            self.server.log())
        sources = self.server.sql(
            'SELECT id FROM marketing_source WHERE name = %s', source,
            database=self.server.name)
        self.assertEqual(len(sources), 1)
        leads = self.server.sql(
            'SELECT marketing_source FROM sale_opportunity '
            'WHERE comment LIKE %s', '%' + source,
            database=self.server.name)
        self.assertEqual(leads, [(sources[0][0],)] * count)

    def test_stalled_clients(self):
        "Stalled bodies hold no connection; they get 408 and store nothing"
        body = urllib.parse.urlencode({
                'name': "Stalled", 'message': "Stalled " + 'x' * 200})
        head = (
            f'POST /{self.server.name}/crm/lead HTTP/1.1\r\n'
            f'Host: 127.0.0.1:{self.server.port}\r\n'
            'Content-Type: application/x-www-form-urlencoded\r\n'
            f'Content-Length: {len(body)}\r\n\r\n').encode()
        sockets = []
        try:
            for i in range(STALLED):
                sockets.append(self.server.raw(
                        head + body[:len(body) // 2].encode(),
                        source=f'127.0.1.{2 + i}'))
            started = time.monotonic()
            time.sleep(1)

            login_started = time.monotonic()
            user_id, session = self.server.login()
            login = time.monotonic() - login_started
            idle = self.idle_in_transaction()
            print(f"\n{STALLED} stalled clients: admin login in "
                f"{login * 1000:.0f} ms, {idle} sessions idle in "
                "transaction", file=sys.stderr)
            self.assertLess(login, 2)
            self.assertEqual(idle, 0)

            statuses = Counter(read_status(s) for s in sockets)
            waited = time.monotonic() - started
            print(f"stalled clients answered {dict(statuses)} after "
                f"{waited:.1f} s", file=sys.stderr)
            self.assertEqual(statuses, {408: STALLED})
            self.assertLess(waited, READ_TIMEOUT + 10)
        finally:
            for sock in sockets:
                sock.close()
        self.assertEqual(self.leads("o.comment LIKE %s", '%Stalled%'), [])

    def test_short_body(self):
        "A body shorter than its Content-Length answers 400, stores nothing"
        body = urllib.parse.urlencode({'name': "Short", 'message': "Short"})
        sock = self.server.raw((
                f'POST /{self.server.name}/crm/lead HTTP/1.1\r\n'
                f'Host: 127.0.0.1:{self.server.port}\r\n'
                'Content-Type: application/x-www-form-urlencoded\r\n'
                f'Content-Length: {len(body) + 50}\r\n\r\n'
                + body).encode())
        try:
            sock.shutdown(socket.SHUT_WR)
            self.assertEqual(read_status(sock), 400)
        finally:
            sock.close()
        self.assertEqual(self.leads("o.comment LIKE %s", '%Short%'), [])

    def test_chunked_over_cap(self):
        "A chunked body over the 16 kB cap answers 413, stores nothing"
        body = urllib.parse.urlencode({
                'name': "Chunked", 'message': "Chunked " + 'x' * 20000})
        chunks = b''.join(
            b'%x\r\n%s\r\n' % (len(body[i:i + 1000]),
                body[i:i + 1000].encode())
            for i in range(0, len(body), 1000)) + b'0\r\n\r\n'
        sock = self.server.raw((
                f'POST /{self.server.name}/crm/lead HTTP/1.1\r\n'
                f'Host: 127.0.0.1:{self.server.port}\r\n'
                'Content-Type: application/x-www-form-urlencoded\r\n'
                'Transfer-Encoding: chunked\r\n\r\n').encode() + chunks)
        try:
            self.assertEqual(read_status(sock), 413)
        finally:
            sock.close()

        small = urllib.parse.urlencode({'name': "Chunked small"}).encode()
        sock = self.server.raw((
                f'POST /{self.server.name}/crm/lead HTTP/1.1\r\n'
                f'Host: 127.0.0.1:{self.server.port}\r\n'
                'Content-Type: application/x-www-form-urlencoded\r\n'
                'Transfer-Encoding: chunked\r\n\r\n').encode()
            + b'%x\r\n%s\r\n0\r\n\r\n' % (len(small), small),
            source='127.0.2.2')
        try:
            self.assertEqual(read_status(sock), 200)
        finally:
            sock.close()
        self.assertEqual(self.leads(
                "o.comment LIKE %s", '%Chunked%x%'), [])
        self.assertEqual(len(self.leads(
                    "o.comment LIKE %s", 'Name: Chunked small%')), 1)
