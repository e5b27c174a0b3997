# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The loyalty expiry killed mid-run and run again expires nothing twice

A PostgreSQL database of its own with crm_loyalty: ACCOUNTS accounts with a
ledger of awards, half of them expired, and spendings. The scheduled
expiry, run as the scheduler runs it (the `_cron` context: a commit per
batch of accounts), in a process of its own with batches of BATCH accounts,
is killed with SIGKILL once some batches are committed; run again, it
expires what is left. Every award expires at most once, the points expired
are the unspent points of the expired awards as counted before, every
balance equals the sum of its ledger and none is below zero; a third run
expires nothing.

PostgreSQL only, as tests/test_capture_load.py.
"""
import json
import os
import signal
import subprocess
import tempfile
import unittest

from .test_capture_load import CaptureServer, postgresql_uri
from .tools import BIN, ROOT

ACCOUNTS = 400
BATCH = 20

CHILD = r'''
import datetime as dt
import json
import sys
import time
from decimal import Decimal

from trytond import config
config.update_etc(sys.argv[1])
from trytond.pool import Pool
from trytond.transaction import Transaction

database, mode = sys.argv[2], sys.argv[3]
Pool.start()
pool = Pool(database)
pool.init()
Account = pool.get('crm.loyalty.account')
LoyaltyTransaction = pool.get('crm.loyalty.transaction')
today = dt.date.today()

if mode == 'setup':
    accounts = int(sys.argv[4])
    with Transaction().start(database, 0) as transaction:
        Currency = pool.get('currency.currency')
        Party = pool.get('party.party')
        Company = pool.get('company.company')
        User = pool.get('res.user')
        Program = pool.get('crm.loyalty.program')
        currency, = Currency.create([{
                    'name': "Euro", 'code': 'EUR', 'symbol': 'E'}])
        party, = Party.create([{'name': "Tea House"}])
        company, = Company.create([{
                    'party': party.id, 'currency': currency.id}])
        User.write([User(0), User(1)], {
                'companies': [('add', [company.id])],
                'company': company.id})
        with transaction.set_context(company=company.id):
            program, = Program.create([{
                        'name': "Tea Club", 'company': company.id,
                        'currency': currency.id, 'validity_days': 365}])
        cursor = transaction.connection.cursor()
        cursor.execute("""
            INSERT INTO party_party (name, code, active, create_date,
                create_uid)
            SELECT 'Member ' || i, 'EK' || i, TRUE, NOW(), 0
            FROM generate_series(1, %s) AS i""", (accounts,))
        cursor.execute("""
            INSERT INTO crm_loyalty_account (number, company, program,
                party, enrolled_date, balance, active, create_date,
                create_uid)
            SELECT 'EK' || p.id, %s, %s, p.id, %s, 0, TRUE, NOW(), 0
            FROM party_party AS p WHERE p.code LIKE 'EK%%'""",
            (company.id, program.id, today))
        cursor.execute(
            "SELECT MIN(id) FROM crm_loyalty_account "
            "WHERE number LIKE 'EK%%'")
        first, = cursor.fetchone()
        # per account: 10 awards over two years (half expired) and a
        # redemption every fifth row
        cursor.execute("""
            INSERT INTO crm_loyalty_transaction (account, company, type,
                points, date, expiry_date, create_date, create_uid)
            SELECT %(first)s + i %% %(accounts)s, %(company)s,
                CASE WHEN (i / %(accounts)s) %% 5 = 0
                    THEN 'redeem' ELSE 'earn' END,
                CASE WHEN (i / %(accounts)s) %% 5 = 0 THEN -(i %% 7 + 1)
                    ELSE i %% 50 + 10 END,
                %(today)s - (i * 37 %% 730),
                CASE WHEN (i / %(accounts)s) %% 5 = 0 THEN NULL
                    ELSE %(today)s - (i * 37 %% 730) + 365 END,
                NOW(), 0
            FROM generate_series(0, %(rows)s - 1) AS i""",
            {'first': first, 'accounts': accounts, 'company': company.id,
                'today': today, 'rows': accounts * 12})
        Account.update_balances()
        transaction.commit()
elif mode == 'expected':
    from sql.aggregate import Count, Sum
    with Transaction().start(database, 0, readonly=True) as transaction:
        query = LoyaltyTransaction.remaining_query()
        cursor = transaction.connection.cursor()
        cursor.execute(*query.select(Count(query.id), Sum(query.remaining),
                where=(query.expiry_date < today) & (query.remaining > 0)))
        awards, points = cursor.fetchone()
        print(json.dumps({'awards': awards, 'points': int(points or 0)}))
elif mode == 'expire':
    Account._expiry_batch = int(sys.argv[4])
    expire_batch = Account._expire_points.__func__

    @classmethod
    def slow_batch(cls, account_ids, date):
        # time for the test to kill the process between the batches
        time.sleep(0.2)
        expire_batch(cls, account_ids, date)
        print('batch', flush=True)
    Account._expire_points = slow_batch
    with Transaction().start(database, 0, context={
                '_cron': 'crm.loyalty.account|expire_points'}) as transaction:
        expired = Account.expire_points()
        transaction.commit()
    print(json.dumps({'accounts': len(expired)}), flush=True)
'''


class LoyaltyExpiryServer(CaptureServer):
    modules = ['crm_loyalty']
    prefix = 'crm_loyalty_expiry_kill'


@unittest.skipUnless(
    postgresql_uri(),
    "PostgreSQL only (set TRYTOND_DATABASE__URI=postgresql://...): "
    "the expiry commits per batch of accounts on the scheduler's database")
class LoyaltyExpiryKillTestCase(unittest.TestCase):
    "The expiry killed mid-run, run again, expires each award once"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        directory = tempfile.TemporaryDirectory(prefix='crm-loyalty-')
        cls.addClassCleanup(directory.cleanup)
        cls.directory = directory.name
        cls.server = LoyaltyExpiryServer(postgresql_uri(), directory.name)
        cls.addClassCleanup(cls.server.drop)
        cls.server.create()
        cls.script = os.path.join(directory.name, 'child.py')
        with open(cls.script, 'w') as file:
            file.write(CHILD)
        cls.child('setup', ACCOUNTS).check_returncode()

    @classmethod
    def command(cls, mode, *args):
        return [str(BIN / 'python'), cls.script, str(cls.server.config),
            cls.server.name, mode, *map(str, args)]

    @classmethod
    def child(cls, mode, *args):
        return subprocess.run(cls.command(mode, *args), cwd=ROOT,
            env={**os.environ, 'TRYTOND_DATABASE__URI': cls.server.uri},
            capture_output=True, text=True, timeout=600)

    def sql(self, query, *args):
        return self.server.sql(query, *args, database=self.server.name)

    def expire(self):
        process = self.child('expire', BATCH)
        self.assertEqual(process.returncode, 0, process.stderr[-3000:])
        return json.loads(process.stdout.splitlines()[-1])['accounts']

    def test_killed_and_run_again(self):
        "Killed after some batches, run again: each award expired once"
        process = self.child('expected')
        self.assertEqual(process.returncode, 0, process.stderr[-3000:])
        expected = json.loads(process.stdout)
        self.assertGreater(expected['awards'], ACCOUNTS)

        # killed once three batches are done (two committed at least)
        child = subprocess.Popen(self.command('expire', BATCH), cwd=ROOT,
            env={**os.environ, 'TRYTOND_DATABASE__URI': self.server.uri},
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            for _ in range(3):
                self.assertEqual(child.stdout.readline().strip(), 'batch')
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=60)
            child.stdout.close()
        self.assertEqual(child.returncode, -signal.SIGKILL)
        (partial,), = self.sql(
            "SELECT COUNT(DISTINCT account) FROM crm_loyalty_transaction "
            "WHERE type = 'expire'")
        # what was committed stays, the rest is left for the next run
        self.assertGreaterEqual(partial, 2 * BATCH)
        self.assertLess(partial, ACCOUNTS)

        again = self.expire()
        self.assertGreater(again, 0)
        self.assertLessEqual(again, ACCOUNTS - partial + BATCH)
        self.assertEqual(self.expire(), 0)

        self.assertEqual(self.sql(
                "SELECT award FROM crm_loyalty_transaction "
                "WHERE type = 'expire' GROUP BY award "
                "HAVING COUNT(*) > 1"), [])
        (awards, points), = self.sql(
            "SELECT COUNT(*), -SUM(points) FROM crm_loyalty_transaction "
            "WHERE type = 'expire'")
        self.assertEqual(
            (awards, points), (expected['awards'], expected['points']))
        self.assertEqual(self.sql(
                "SELECT a.id FROM crm_loyalty_account AS a "
                "WHERE a.balance != COALESCE((SELECT SUM(points) "
                "FROM crm_loyalty_transaction WHERE account = a.id), 0) "
                "OR a.balance < 0"), [])
        process = self.child('expected')
        self.assertEqual(json.loads(process.stdout),
            {'awards': 0, 'points': 0})
