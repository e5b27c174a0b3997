# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Tickets from the web under load and against slow clients

A real trytond server (werkzeug, threaded) on a PostgreSQL database of its
own with crm_service, sending its e-mails to an SMTP sink on loopback:

- 50 concurrent posts of the ticket form from 50 addresses: 50 answers 200,
  50 tickets, 50 e-mails with the link of the status page;
- the same post 10 times at once (a nervous double click): one ticket;
- 20 answers posted at once on one status page: every answer kept once,
  the waiting ticket open again;
- clients that stall in the middle of their body on the form and on a
  status page hold no database session; they get 408.

PostgreSQL only, as tests/test_capture_load.py.
"""
import re
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
from collections import Counter

from .test_capture_load import (
    READ_TIMEOUT, CaptureServer, postgresql_uri, read_status)
from .test_helpdesk_email_load import setup_data

POSTS = 50
ANSWERS = 20
SAME = 10
STALLED = 30
_TOKEN = re.compile(rb'/crm/ticket/([A-Za-z0-9_-]{43})"')


class Sink:
    "An SMTP server on loopback that counts the messages it receives"

    def __init__(self):
        import socket
        from aiosmtpd.controller import Controller
        self.messages = []
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            self.port = sock.getsockname()[1]
        self._controller = Controller(
            self, hostname='127.0.0.1', port=self.port)
        self._controller.start()

    def stop(self):
        self._controller.stop()

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            (list(envelope.rcpt_tos), envelope.content.decode('utf-8')))
        return '250 Message accepted for delivery'


class WebServer(CaptureServer):
    modules = ['crm_service']
    prefix = 'crm_helpdesk_web_load'

    def __init__(self, uri, directory, smtp_port):
        super().__init__(uri, directory)
        with open(self.config, 'a') as config:
            config.write(
                '[email]\n'
                f'uri = smtp://127.0.0.1:{smtp_port}\n')

    def post_form(self, path, fields, source=None):
        return self.request(
            'POST', f'/{self.name}/crm/ticket{path}',
            urllib.parse.urlencode(fields),
            {'Content-Type': 'application/x-www-form-urlencoded'},
            source=source)


@unittest.skipUnless(
    postgresql_uri(),
    "PostgreSQL only (set TRYTOND_DATABASE__URI=postgresql://...): the "
    "concurrent posts and the connection pool are PostgreSQL's")
class HelpdeskWebLoadTestCase(unittest.TestCase):
    "The ticket form and status pages against a real trytond on PostgreSQL"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        directory = tempfile.TemporaryDirectory(prefix='crm-helpdesk-web-')
        cls.addClassCleanup(directory.cleanup)
        cls.sink = Sink()
        cls.addClassCleanup(cls.sink.stop)
        cls.server = WebServer(
            postgresql_uri(), directory.name, cls.sink.port)
        cls.addClassCleanup(cls.server.drop)
        cls.server.create()
        cls.addClassCleanup(cls.server.stop)
        cls.server.start()
        setup_data(cls.server)

    def sql(self, query, *args):
        return self.server.sql(query, *args, database=self.server.name)

    def idle_in_transaction(self):
        return self.server.sql(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = %s AND state LIKE 'idle in transaction%%'",
            self.server.name)[0][0]

    def at_once(self, calls):
        "Run the calls in threads leaving together; return their results"
        barrier = threading.Barrier(len(calls))
        results = [None] * len(calls)

        def run(index):
            barrier.wait()
            try:
                results[index] = calls[index]()
            except Exception as exception:
                results[index] = (repr(exception), b'')
        threads = [threading.Thread(target=run, args=(i,))
            for i in range(len(calls))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        return results

    def open_ticket(self, marker, number, source):
        return self.server.post_form('', {
                'name': f"Visitor {number}",
                'email': f'visitor{number}@example.com',
                'subject': f"{marker} {number}",
                'description': f"Problem {number}",
                }, source=source)

    def test_burst(self):
        "50 concurrent posts from 50 addresses: 50 tickets, 50 e-mails"
        marker = f'burst{time.time_ns()}'
        sent = len(self.sink.messages)
        started = time.monotonic()
        results = self.at_once([
                (lambda i=i: self.open_ticket(marker, i, f'127.0.5.{i + 2}'))
                for i in range(POSTS)])
        duration = time.monotonic() - started
        statuses = Counter(status for status, _ in results)
        tickets = self.sql(
            'SELECT channel, web_address, portal_token_hash FROM crm_ticket '
            'WHERE subject LIKE %s', marker + '%')
        time.sleep(1)
        emails = [m for m in self.sink.messages[sent:] if marker in m[1]]
        print(f"\n{POSTS} ticket posts at once: {dict(statuses)} in "
            f"{duration:.1f} s; {len(tickets)} tickets, {len(emails)} "
            "e-mails", file=sys.stderr)
        self.assertEqual(statuses, {200: POSTS}, self.server.log())
        self.assertEqual(len(tickets), POSTS)
        self.assertEqual({c for c, _, _ in tickets}, {'web'})
        self.assertEqual(len({a for _, a, _ in tickets}), POSTS)
        self.assertEqual(len({h for _, _, h in tickets}), POSTS)
        self.assertEqual(len(emails), POSTS)
        # every page answers with its own link
        tokens = [_TOKEN.search(body).group(1).decode()
            for _, body in results]
        for token in tokens[:5]:
            status, body = self.server.request(
                'GET', f'/{self.server.name}/crm/ticket/{token}')
            self.assertEqual(status, 200)
            self.assertIn(marker.encode(), body)

    def test_same_post_at_once(self):
        "The same post 10 times at once: one ticket, all answered 200"
        marker = f'same{time.time_ns()}'
        results = self.at_once([
                (lambda i=i: self.open_ticket(marker, 0, f'127.0.6.{i + 2}'))
                for i in range(SAME)])
        statuses = Counter(status for status, _ in results)
        links = sum(1 for _, body in results if _TOKEN.search(body))
        tickets = self.sql(
            'SELECT COUNT(*) FROM crm_ticket WHERE subject LIKE %s',
            marker + '%')
        print(f"\nthe same post {SAME} times at once: {dict(statuses)}; "
            f"{tickets[0][0]} ticket, {links} link shown", file=sys.stderr)
        self.assertEqual(statuses, {200: SAME}, self.server.log())
        self.assertEqual(tickets, [(1,)])
        self.assertEqual(links, 1)

    def test_answers_at_once(self):
        "20 answers at once on one status page: all kept, the ticket open"
        marker = f'answer{time.time_ns()}'
        status, body = self.open_ticket(marker, 0, '127.0.7.2')
        self.assertEqual(status, 200)
        token = _TOKEN.search(body).group(1).decode()
        self.sql(
            "UPDATE crm_ticket SET state = 'waiting', "
            "opened_date = reported_date WHERE subject LIKE %s",
            marker + '%')
        started = time.monotonic()
        results = self.at_once([
                (lambda i=i: self.server.post_form(f'/{token}', {
                            'action': 'answer',
                            'message': f"{marker} answer {i}"},
                        source=f'127.0.7.{i + 3}'))
                for i in range(ANSWERS)])
        duration = time.monotonic() - started
        statuses = Counter(status for status, _ in results)
        contents = self.sql(
            "SELECT m.content FROM ir_chat_message AS m "
            "JOIN ir_chat_channel AS c ON c.id = m.channel "
            "JOIN crm_ticket AS t ON c.resource = 'crm.ticket,' || t.id "
            "WHERE t.subject LIKE %s AND m.audience = 'public'",
            marker + '%')
        state, = self.sql(
            'SELECT state FROM crm_ticket WHERE subject LIKE %s',
            marker + '%')
        print(f"\n{ANSWERS} answers at once: {dict(statuses)} in "
            f"{duration:.1f} s; {len(contents)} kept, ticket {state[0]}",
            file=sys.stderr)
        self.assertEqual(statuses, {303: ANSWERS}, self.server.log())
        self.assertEqual(
            sorted(c for c, in contents),
            sorted(f"{marker} answer {i}" for i in range(ANSWERS)))
        self.assertEqual(state, ('open',))

    def test_stalled_clients(self):
        "Stalled bodies on the form and a page hold no session; 408"
        marker = f'stalled{time.time_ns()}'
        status, body = self.open_ticket(marker, 0, '127.0.8.2')
        token = _TOKEN.search(body).group(1).decode()
        sockets = []
        try:
            for i in range(STALLED):
                path = f'/{self.server.name}/crm/ticket'
                if i % 2:
                    path += f'/{token}'
                body = urllib.parse.urlencode({
                        'action': 'answer', 'name': "Stalled",
                        'message': f"{marker} " + 'x' * 200})
                head = (
                    f'POST {path} HTTP/1.1\r\n'
                    f'Host: 127.0.0.1:{self.server.port}\r\n'
                    'Content-Type: application/x-www-form-urlencoded\r\n'
                    f'Content-Length: {len(body)}\r\n\r\n').encode()
                sockets.append(self.server.raw(
                        head + body[:len(body) // 2].encode(),
                        source=f'127.0.9.{2 + i}'))
            started = time.monotonic()
            time.sleep(1)
            login_started = time.monotonic()
            self.server.login()
            login = time.monotonic() - login_started
            idle = self.idle_in_transaction()
            statuses = Counter(read_status(s) for s in sockets)
            waited = time.monotonic() - started
            print(f"\n{STALLED} stalled clients: admin login in "
                f"{login * 1000:.0f} ms, {idle} sessions idle in "
                f"transaction; answered {dict(statuses)} after "
                f"{waited:.1f} s", file=sys.stderr)
            self.assertLess(login, 2)
            self.assertEqual(idle, 0)
            self.assertEqual(statuses, {408: STALLED})
            self.assertLess(waited, READ_TIMEOUT + 10)
        finally:
            for sock in sockets:
                sock.close()
        posts = self.sql(
            "SELECT COUNT(*) FROM ir_chat_message WHERE content LIKE %s",
            marker + '%')
        self.assertEqual(posts, [(0,)])


if __name__ == '__main__':
    unittest.main()
