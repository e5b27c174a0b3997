# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Redemptions at once on one loyalty account

A real trytond server on a PostgreSQL database of its own with crm_loyalty
and the host's gift cards. One account holds 1,000 points; 100 redemptions
of a 30-point reward are sent at once over JSON-RPC, as many at a time as
THREADS. Each either delivers its gift card or is refused because the
balance is spent (a user error, never a failure of the server); the balance
never goes below zero and equals the sum of the ledger; every redemption
posted has its gift card.

PostgreSQL only, as tests/test_capture_load.py.
"""
import json
import sys
import tempfile
import threading
import time
import unittest
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from .test_capture_load import CaptureServer, postgresql_uri

BALANCE = 1000
COST = 30
REDEMPTIONS = 100
THREADS = 16


class LoyaltyServer(CaptureServer):
    modules = ['crm_loyalty', 'sale_gift_card']
    prefix = 'crm_loyalty_load'

    def call(self, session, method, *params):
        "Return the JSON-RPC answer of the call: its result or its error"
        import base64
        headers = {
            'Content-Type': 'application/json',
            'Authorization': 'Session ' + base64.b64encode(
                f'admin:{session[0]}:{session[1]}'.encode()).decode(),
            }
        status, data = self.request('POST', f'/{self.name}/rpc/', json.dumps({
                    'id': 1, 'method': method, 'params': params}),
            headers=headers, timeout=120)
        return status, json.loads(data) if status == 200 else data


@unittest.skipUnless(
    postgresql_uri(),
    "PostgreSQL only (set TRYTOND_DATABASE__URI=postgresql://...): "
    "concurrent writers are PostgreSQL's; SQLite serialises them")
class LoyaltyRedemptionLoadTestCase(unittest.TestCase):
    "Redemptions at once against a real trytond on PostgreSQL"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        directory = tempfile.TemporaryDirectory(prefix='crm-loyalty-')
        cls.addClassCleanup(directory.cleanup)
        cls.server = LoyaltyServer(postgresql_uri(), directory.name)
        cls.addClassCleanup(cls.server.drop)
        cls.server.create()
        cls.addClassCleanup(cls.server.stop)
        cls.server.start()
        cls.session = cls.server.login()
        cls.context, cls.account, cls.reward = cls.setup_data()

    @classmethod
    def setup_data(cls):
        rpc = cls.server.rpc
        session = cls.session

        def call(method, *args):
            return rpc(method, *args, context, session=session)
        context = cls.server.create_company(session, 'Beans Ltd')
        company = context['company']
        currency, = call('model.currency.currency.search', [
                ('code', '=', 'EUR')])
        unit, = call('model.product.uom.search', [('name', '=', "Unit")])
        template, = call('model.product.template.create', [{
                    'name': "Gift Card", 'type': 'service',
                    'default_uom': unit, 'sale_uom': unit, 'salable': True,
                    'gift_card': True,
                    'list_price': {'__class__': 'Decimal', 'decimal': '3'},
                    'products': [('create', [{}])],
                    }])
        product, = call('model.product.product.search', [
                ('template', '=', template)])
        program, = call('model.crm.loyalty.program.create', [{
                    'name': "Bean Club", 'company': company,
                    'currency': currency,
                    'rewards': [('create', [{
                                    'name': "3 gift card",
                                    'points': COST,
                                    'kind': 'gift_card',
                                    'gift_card_product': product,
                                    'value': {'__class__': 'Decimal',
                                        'decimal': '3'},
                                    }])],
                    }])
        reward, = call('model.crm.loyalty.reward.search', [
                ('program', '=', program)])
        customer, = call('model.party.party.create', [{'name': "Café"}])
        account, = call('model.crm.loyalty.account.create', [{
                    'program': program, 'party': customer}])
        call('model.crm.loyalty.transaction.create', [{
                    'account': account, 'type': 'adjust',
                    'points': BALANCE, 'reason': "Opening balance"}])
        return context, account, reward

    def sql(self, query, *args):
        return self.server.sql(query, *args, database=self.server.name)

    def test_redemptions_at_once(self):
        "100 redemptions at once never take the balance below zero"
        barrier = threading.Barrier(THREADS)

        def redeem(index):
            if index < THREADS:
                barrier.wait()
            status, answer = self.server.call(
                self.session, 'model.crm.loyalty.account.redeem_reward',
                [self.account], self.reward, None, self.context)
            if status != 200:
                return f'HTTP {status}'
            if answer.get('error'):
                error = answer['error']
                return error[0] if isinstance(error, list) else str(error)
            return 'redeemed'

        started = time.monotonic()
        with ThreadPoolExecutor(THREADS) as executor:
            outcomes = Counter(executor.map(redeem, range(REDEMPTIONS)))
        duration = time.monotonic() - started
        (balance,), = self.sql(
            'SELECT balance FROM crm_loyalty_account WHERE id = %s',
            self.account)
        (ledger,), = self.sql(
            'SELECT SUM(points) FROM crm_loyalty_transaction '
            'WHERE account = %s', self.account)
        (redeemed,), = self.sql(
            "SELECT COUNT(*) FROM crm_loyalty_transaction "
            "WHERE account = %s AND type = 'redeem'", self.account)
        (cards,), = self.sql('SELECT COUNT(*) FROM sale_gift_card')
        print(f"\n{REDEMPTIONS} redemptions of {COST} points at once on "
            f"{BALANCE} points, {THREADS} at a time: {dict(outcomes)} in "
            f"{duration:.1f} s; balance {balance}, {redeemed} posted, "
            f"{cards} gift cards", file=sys.stderr)
        expected = BALANCE // COST
        self.assertEqual(outcomes, {
                'redeemed': expected,
                'UserError': REDEMPTIONS - expected,
                }, self.server.log())
        self.assertEqual((balance, ledger), (BALANCE % COST, BALANCE % COST))
        self.assertEqual((redeemed, cards), (expected, expected))


if __name__ == '__main__':
    unittest.main()
