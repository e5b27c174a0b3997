# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""E-mail to ticket with e-mails delivered twice and at once

A real trytond server on a PostgreSQL database of its own with crm_service
and an inbox whose rule creates tickets. The inbox's web hook processes each
e-mail in the request, so concurrent posts are concurrent workers:

- a batch of e-mails, each posted twice at the same moment, then the whole
  batch again: one ticket per e-mail, every post answered 204;
- replies to one ticket posted at once: every reply kept once in the
  ticket's chat.

PostgreSQL only, as tests/test_capture_load.py.
"""
import sys
import tempfile
import threading
import time
import unittest
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage

from .test_capture_load import CaptureServer, postgresql_uri

BATCH = 60
REPLIES = 50
THREADS = 16


class HelpdeskServer(CaptureServer):
    modules = ['crm_service']
    prefix = 'crm_helpdesk_load'

    def post_email(self, identifier, message):
        return self.request(
            'POST', f'/{self.name}/inbound_email/inbox/{identifier}',
            message.as_bytes(), {'Content-Type': 'message/rfc822'})[0]


def setup_data(server):
    "Create the company and the inbox that opens tickets; return its id"
    user_id, session = server.login()
    rpc = server.rpc

    def call(method, *args):
        return rpc(method, *args, context, session=(user_id, session))
    context = server.create_company((user_id, session), 'Support Corp')
    inbox, = call('model.inbound.email.inbox.create', [{
                'name': "Support",
                'rules': [('create', [{
                                'action': (
                                    'crm.ticket|create_from_inbound_email'),
                                }])],
                }])
    call('model.inbound.email.inbox.new_identifier', [inbox])
    inbox, = call('model.inbound.email.inbox.read', [inbox], ['identifier'])
    return inbox['identifier']


def email(number, marker):
    message = EmailMessage()
    message['From'] = f'customer{number}@example.com'
    message['To'] = 'support@example.org'
    message['Subject'] = f"{marker} problem {number}"
    message['Message-ID'] = f'<{marker}.{number}@example.com>'
    message.set_content(f"Problem number {number}.")
    return message


@unittest.skipUnless(
    postgresql_uri(),
    "PostgreSQL only (set TRYTOND_DATABASE__URI=postgresql://...): "
    "concurrent workers are PostgreSQL's; SQLite serialises the writers")
class HelpdeskEmailLoadTestCase(unittest.TestCase):
    "E-mail to ticket against a real trytond on PostgreSQL"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        directory = tempfile.TemporaryDirectory(prefix='crm-helpdesk-')
        cls.addClassCleanup(directory.cleanup)
        cls.server = HelpdeskServer(postgresql_uri(), directory.name)
        cls.addClassCleanup(cls.server.drop)
        cls.server.create()
        cls.addClassCleanup(cls.server.stop)
        cls.server.start()
        cls.identifier = setup_data(cls.server)

    def sql(self, query, *args):
        return self.server.sql(query, *args, database=self.server.name)

    def post_all(self, messages):
        "Post the messages, as many at once as THREADS; return the statuses"
        with ThreadPoolExecutor(THREADS) as executor:
            return Counter(executor.map(
                    lambda m: self.post(m), messages))

    def post(self, message):
        try:
            return self.server.post_email(self.identifier, message)
        except Exception as exception:
            return repr(exception)

    def test_batch_twice_and_at_once(self):
        "Each e-mail posted twice at once, then again: one ticket each"
        marker = f'batch{time.time_ns()}'
        messages = [email(i, marker) for i in range(BATCH)]
        started = time.monotonic()
        # each e-mail twice, side by side in the queue of the threads
        statuses = self.post_all(m for m in messages for _ in range(2))
        first = time.monotonic() - started
        statuses += self.post_all(messages)
        duration = time.monotonic() - started
        tickets = self.sql(
            'SELECT email_message_id, channel FROM crm_ticket '
            'WHERE subject LIKE %s', marker + '%')
        print(f"\n{BATCH} e-mails posted twice at once in {first:.1f} s, "
            f"then again: {dict(statuses)} in {duration:.1f} s; "
            f"{len(tickets)} tickets", file=sys.stderr)
        self.assertEqual(statuses, {204: 3 * BATCH}, self.server.log())
        self.assertEqual(
            sorted(i for i, _ in tickets),
            sorted(m['Message-ID'] for m in messages))
        self.assertEqual({c for _, c in tickets}, {'email'})
        # nothing posted to the chats of the tickets
        posts = self.sql(
            "SELECT COUNT(*) FROM ir_chat_message AS m "
            "JOIN ir_chat_channel AS c ON c.id = m.channel "
            "JOIN crm_ticket AS t ON c.resource = 'crm.ticket,' || t.id "
            "WHERE t.subject LIKE %s AND m.audience = 'public'",
            marker + '%')
        self.assertEqual(posts, [(0,)])

    def test_replies_at_once(self):
        "Replies to one ticket posted at once are all kept, once"
        marker = f'reply{time.time_ns()}'
        first = email(0, marker)
        self.assertEqual(self.post(first), 204)
        number, = self.sql(
            'SELECT number FROM crm_ticket WHERE email_message_id = %s',
            first['Message-ID'])[0]
        replies = []
        for i in range(REPLIES):
            reply = EmailMessage()
            reply['From'] = 'customer0@example.com'
            reply['Subject'] = f"Re: [{number}] {first['Subject']}"
            reply['Message-ID'] = f'<{marker}.reply.{i}@example.com>'
            reply['In-Reply-To'] = first['Message-ID']
            reply.set_content(f"Reply {i}")
            replies.append(reply)
        barrier = threading.Barrier(THREADS)

        def post(indexed):
            index, message = indexed
            if index < THREADS:
                # the first ones leave together
                barrier.wait()
            return self.post(message)
        with ThreadPoolExecutor(THREADS) as executor:
            statuses = Counter(executor.map(
                    post, enumerate(replies + replies[:10])))
        contents = self.sql(
            "SELECT m.content FROM ir_chat_message AS m "
            "JOIN ir_chat_channel AS c ON c.id = m.channel "
            "JOIN crm_ticket AS t ON c.resource = 'crm.ticket,' || t.id "
            "WHERE t.number = %s AND m.audience = 'public' "
            "ORDER BY m.id", number)
        print(f"\n{REPLIES} replies at once (10 twice): {dict(statuses)}; "
            f"{len(contents)} kept", file=sys.stderr)
        self.assertEqual(statuses, {204: REPLIES + 10}, self.server.log())
        self.assertEqual(
            sorted(c for c, in contents),
            sorted(f"Reply {i}" for i in range(REPLIES)))
        tickets = self.sql(
            'SELECT COUNT(*) FROM crm_ticket WHERE subject LIKE %s',
            '%' + marker + '%')
        self.assertEqual(tickets, [(1,)])


if __name__ == '__main__':
    unittest.main()
