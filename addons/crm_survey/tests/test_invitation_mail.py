# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The invitations by e-mail: the message, the queue's batches sent once"""
import datetime as dt
import threading
import unittest

from trytond import backend
from trytond.modules.company.tests import create_company, set_company
from trytond.modules.crm_core.tests.tools import SMTPSink
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    DB_NAME, _DBTestCase, with_transaction)
from trytond.transaction import Transaction

from ..response import INVITE_BATCH, _text_body


class CrmSurveyInvitationMailTestCase(_DBTestCase):
    "Test the invitations by e-mail"
    module = 'crm_survey'

    def survey(self, **values):
        "Create an open survey"
        Survey = Pool().get('crm.survey')
        survey, = Survey.create([{
                    'name': "Test <survey>",
                    'questions': [('create', [{
                                    'name': "Score", 'type': 'nps'}])],
                    **values,
                    }])
        Survey.open([survey])
        return survey

    def test_placeholders(self):
        "The placeholders are replaced once, not those of the values"
        values = {'party': "{link}", 'survey': "S", 'link': "http://l"}
        self.assertEqual(
            _text_body("{party} {survey} {link} {other} {", values),
            "{link} S http://l {other} {")

    @with_transaction()
    def test_email(self):
        "The message has a text and an escaped HTML part, the link in both"
        pool = Pool()
        Invitation = pool.get('crm.survey.invitation')
        Party = pool.get('party.party')
        company = create_company()
        with set_company(company):
            survey = self.survey(
                email_body="Dear {party},\n\n<b>answer</b> {survey}:\n{link}")
            party, = Party.create([{'name': "Ann & <Bob>"}])
            invitation, = Invitation.create([{
                        'survey': survey.id, 'party': party.id,
                        'email': 'ann@example.com'}])
            with SMTPSink() as sink:
                Invitation.invite([invitation])
                sink.deliver()
            self.assertEqual(invitation.state, 'sent')
            self.assertTrue(invitation.sent_date)
            (_, recipients, message), = sink.messages
            self.assertEqual(recipients, ['ann@example.com'])
            self.assertEqual(
                message['Subject'], 'Your opinion on "Test <survey>"')
            text = message.get_body(('plain',)).get_content()
            page = message.get_body(('html',)).get_content()
            self.assertIn("Dear Ann & <Bob>,", text)
            self.assertIn("<b>answer</b> Test <survey>:", text)
            self.assertIn('<html lang="en" dir="ltr">', page)
            self.assertIn("Dear Ann &amp; &lt;Bob&gt;,", page)
            self.assertIn("&lt;b&gt;answer&lt;/b&gt; Test &lt;survey&gt;:",
                page)
            self.assertNotIn('<b>', page)
            token = text.rsplit('/', 1)[1].strip()
            self.assertEqual(Invitation.from_token(token), invitation)
            self.assertIn(f'/crm/survey/{token}">', page)

    @with_transaction()
    def test_without_email(self):
        "An invitation without address stays a draft for Make Link"
        pool = Pool()
        Invitation = pool.get('crm.survey.invitation')
        Party = pool.get('party.party')
        company = create_company()
        with set_company(company):
            survey = self.survey()
            party, = Party.create([{'name': "No Address"}])
            invitation, = Invitation.create([{
                        'survey': survey.id, 'party': party.id}])
            with SMTPSink() as sink:
                Invitation.invite([invitation])
                sink.deliver()
            self.assertEqual(sink.messages, [])
            self.assertEqual(invitation.state, 'draft')
            self.assertIsNone(invitation.token_hash)

    @with_transaction()
    def test_batch_once(self):
        "A queued batch run twice sends once"
        pool = Pool()
        Invitation = pool.get('crm.survey.invitation')
        company = create_company()
        with set_company(company):
            survey = self.survey()
            invitations = Invitation.create([{
                        'survey': survey.id,
                        'email': f'p{i}@example.com'} for i in range(3)])
            queued_at = dt.datetime.now().replace(microsecond=0)
            with SMTPSink() as sink:
                Invitation.deliver_queued(invitations, queued_at)
                Invitation.deliver_queued(invitations, queued_at)
                sink.deliver()
            self.assertEqual(len(sink.messages), 3)
            self.assertEqual(
                sorted(m[1][0] for m in sink.messages),
                ['p0@example.com', 'p1@example.com', 'p2@example.com'])
            self.assertEqual({i.state for i in invitations}, {'sent'})

    @with_transaction()
    def test_many_queued(self):
        "Inviting more than a batch queues tasks of a batch"
        pool = Pool()
        Invitation = pool.get('crm.survey.invitation')
        Queue = pool.get('ir.queue')
        company = create_company()
        with set_company(company):
            survey = self.survey()
            invitations = Invitation.create([{
                        'survey': survey.id,
                        'email': f'p{i}@example.com'}
                    for i in range(INVITE_BATCH + 1)])
            with SMTPSink() as sink:
                Invitation.invite(invitations)
                sink.deliver()
            self.assertEqual(sink.messages, [])
            ids = {i.id for i in invitations}
            tasks = [t for t in Queue.search([('finished_at', '=', None)])
                if set(t.data.get('instances') or []) & ids]
            self.assertEqual(
                sorted(len(t.data['instances']) for t in tasks),
                [1, INVITE_BATCH])
            self.assertEqual({t.data['method'] for t in tasks},
                {'deliver_queued'})

    @unittest.skipUnless(backend.name == 'postgresql', "PostgreSQL only")
    def test_concurrent_batches(self):
        "The same batch run at once by two workers is sent once"
        pool = Pool(DB_NAME)
        pool.init()
        Invitation = pool.get('crm.survey.invitation')
        with Transaction().start(DB_NAME, 0) as transaction:
            company = create_company()
            with set_company(company):
                survey = self.survey()
                ids = [i.id for i in Invitation.create([{
                                'survey': survey.id,
                                'email': f'c{i}@example.com'}
                            for i in range(5)])]
            transaction.commit()
        queued_at = dt.datetime.now().replace(microsecond=0)
        barrier = threading.Barrier(2)
        errors = []

        def worker():
            from trytond.worker import run_task
            Queue = pool.get('ir.queue')
            try:
                with Transaction().start(DB_NAME, 0) as transaction:
                    task, = Queue.create([{
                                'name': 'default',
                                'data': {
                                    'model': 'crm.survey.invitation',
                                    'method': 'deliver_queued',
                                    'user': 0, 'context': {},
                                    'instances': ids,
                                    'args': [queued_at], 'kwargs': {},
                                    },
                                }])
                    transaction.commit()
                barrier.wait(timeout=30)
                run_task(DB_NAME, task.id)
            except Exception as exception:
                errors.append(exception)

        with SMTPSink() as sink:
            threads = [threading.Thread(target=worker) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            self.assertEqual(errors, [])
            # a task that ran out of retries was queued again: it sends
            # nothing more
            with Transaction().start(DB_NAME, 0):
                Queue = pool.get('ir.queue')
                again = [t.id for t in Queue.search(
                        [('finished_at', '=', None)])
                    if set(t.data.get('instances') or []) & set(ids)]
            from trytond.worker import run_task
            for task_id in again:
                run_task(DB_NAME, task_id)
        self.assertEqual(
            sorted(m[1][0] for m in sink.messages),
            [f'c{i}@example.com' for i in range(5)])
        with Transaction().start(DB_NAME, 0):
            self.assertEqual(
                {i.state for i in Invitation.browse(ids)}, {'sent'})


del _DBTestCase
