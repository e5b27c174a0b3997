# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The quiet period of the survey triggers under concurrency: real threads,
each in its own transaction, on PostgreSQL"""
import threading
import time

from trytond import backend
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, _DBTestCase
from trytond.transaction import Transaction, TransactionError


class TriggerConcurrencyTestCase(_DBTestCase):
    "Survey triggers at once for the same party"
    # the database of the module's test (the same modules)
    module = 'crm_survey'
    extras = ['crm_service', 'stock']

    def setUp(self):
        super().setUp()
        if backend.name != 'postgresql':
            self.skipTest("SQLite serialises the writers already")

    def _setup(self):
        "Commit a company, an open survey, its trigger and the parties"
        with Transaction().start(DB_NAME, 0) as transaction:
            pool = Pool()
            Party = pool.get('party.party')
            Survey = pool.get('crm.survey')
            Trigger = pool.get('crm.survey.trigger')
            company = create_company()
            with set_company(company):
                survey, = Survey.create([{
                            'name': "After delivery",
                            'questions': [('create', [{
                                            'name': "Score",
                                            'type': 'csat'}])],
                            }])
                Survey.open([survey])
                trigger, = Trigger.create([{
                            'survey': survey.id,
                            'event': 'shipment_out_done'}])
                party, *records = Party.create(
                    [{'name': "Ann"}] + [
                        {'name': f"Record {n}"} for n in range(4)])
            transaction.commit()
            return company.id, trigger.id, party.id, [str(r) for r in records]

    def test_concurrent_events_invite_once(self):
        "Events of one party at once make one invitation"
        company, trigger_id, party, origins = self._setup()
        barrier = threading.Barrier(len(origins))
        results, errors = [], []

        def event(origin):
            extras, first = {}, True
            try:
                while True:
                    with Transaction().start(
                            DB_NAME, 0, context={'company': company},
                            **extras) as transaction:
                        Trigger = Pool().get('crm.survey.trigger')
                        trigger = Trigger(trigger_id)
                        # the snapshots are taken before any invites
                        trigger.survey.state
                        if first:
                            first = False
                            barrier.wait(timeout=30)
                        try:
                            invitations = Trigger.invite(
                                {trigger: [(origin, party)]})
                            # hold the lock while the others come
                            time.sleep(0.2)
                            transaction.commit()
                        except TransactionError as e:
                            transaction.rollback()
                            e.fix(extras)
                            continue
                        results.append(len(invitations))
                        break
            except Exception as exception:
                errors.append(exception)

        threads = [
            threading.Thread(target=event, args=(o,)) for o in origins]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        self.assertFalse(errors)
        self.assertEqual(sorted(results), [0] * (len(origins) - 1) + [1])

        with Transaction().start(DB_NAME, 0):
            Invitation = Pool().get('crm.survey.invitation')
            invitations = Invitation.search([('party', '=', party)])
            self.assertEqual(len(invitations), 1)
