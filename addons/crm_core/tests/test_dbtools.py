# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The database plumbing of dbtools, on the backend of the test run (SQLite
or PostgreSQL): each helper gives the same result on both."""
import datetime as dt
import unittest

from sql import Literal, Select

from trytond import backend
from trytond.model import fields
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction, TransactionError


class DbtoolsTestCase(unittest.TestCase):
    "Test the database plumbing of crm_core"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('crm_core')

    @with_transaction()
    def test_insert_as_create(self):
        "insert_as_create stores what create stores, multi-values included"
        from trytond.modules.crm_core import dbtools
        pool = Pool()
        Party = pool.get('party.party')
        with Transaction().set_context(_check_access=False):
            created, = Party.create([{'name': "Created"}])
            # The code the ORM takes from the sequence
            inserted_id, = dbtools.insert_as_create(
                Party, [{'name': "Inserted", 'code': 'crm-test-1'}])
        created, inserted = Party.browse([created.id, inserted_id])
        self.assertEqual(inserted.name, "Inserted")
        self.assertEqual(inserted.create_uid, created.create_uid)
        self.assertTrue(inserted.create_date)
        for name in dbtools.column_fields(Party):
            if name in {'name', 'code', 'code_alnum', 'code_digit'}:
                continue
            self.assertEqual(
                getattr(inserted, name), getattr(created, name), msg=name)
        for name, field in Party._fields.items():
            if isinstance(field, fields.MultiValue):
                self.assertEqual(
                    getattr(inserted, name), getattr(created, name),
                    msg=name)

    @with_transaction()
    def test_insert_as_create_history(self):
        "insert_as_create writes the history rows of a model with history"
        from trytond.modules.crm_core import dbtools
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        self.assertTrue(Opportunity._history)
        self.assertEqual(dbtools.insert_as_create(Opportunity, []), [])

    @with_transaction()
    def test_update_rows(self):
        "update_rows writes the columns of the rows and forgets the cache"
        from trytond.modules.crm_core import dbtools
        pool = Pool()
        Party = pool.get('party.party')
        parties = Party.create([{'name': "A"}, {'name': "B"}])
        # Read into the cache first
        self.assertEqual([p.name for p in parties], ["A", "B"])
        dbtools.update_rows(Party, ['id', 'name'], [
                (parties[0].id, "A'"), (parties[1].id, "B\u00e9")])
        self.assertEqual(
            [p.name for p in Party.browse(parties)], ["A'", "B\u00e9"])
        dbtools.update_rows(Party, ['id', 'name'], [])

    @with_transaction()
    def test_in_values(self):
        "in_values is the condition of a column in a list"
        from trytond.modules.crm_core import dbtools
        pool = Pool()
        Party = pool.get('party.party')
        parties = Party.create([{'name': n} for n in "ABC"])
        table = Party.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.id,
                where=dbtools.in_values(table.name, ["A", "C"])
                & dbtools.in_values(table.id, [p.id for p in parties])))
        self.assertEqual(
            sorted(i for i, in cursor), [parties[0].id, parties[2].id])

    @with_transaction()
    def test_period_start(self):
        "period_start gives the first day of the period of a date in SQL"
        from trytond.modules.crm_core import dbtools
        cursor = Transaction().connection.cursor()
        Date = fields.Date('Date')
        dates = [
            dt.date(2026, 1, 1), dt.date(2026, 2, 15), dt.date(2026, 5, 31),
            dt.date(2026, 6, 1), dt.date(2026, 11, 29), dt.date(2026, 12, 31)]
        for period in dbtools.PERIODS:
            for date in dates:
                value = Literal(date)
                for column in [value, Date.sql_cast(value)]:
                    cursor.execute(*Select([
                                dbtools.period_start(period, column)]))
                    start, = cursor.fetchone()
                    if isinstance(start, str):
                        start = dt.date.fromisoformat(start)
                    expected, = dbtools.period_starts(period, date, date)
                    self.assertEqual(start, expected, msg=(period, date))
                    self.assertLessEqual(start, date)
        self.assertEqual(
            list(dbtools.period_starts(
                    'quarter', dt.date(2025, 11, 3), dt.date(2026, 4, 1))),
            [dt.date(2025, 10, 1), dt.date(2026, 1, 1), dt.date(2026, 4, 1)])
        self.assertEqual(
            list(dbtools.period_starts(
                    'week', dt.date(2026, 12, 2), dt.date(2026, 12, 14))),
            [dt.date(2026, 11, 30), dt.date(2026, 12, 7),
                dt.date(2026, 12, 14)])
        self.assertEqual(
            list(dbtools.period_starts(
                    'month', dt.date(2026, 11, 30), dt.date(2027, 1, 1))),
            [dt.date(2026, 11, 1), dt.date(2026, 12, 1), dt.date(2027, 1, 1)])

    @with_transaction()
    def test_numeric(self):
        "numeric compares the amounts as numbers"
        from trytond.modules.crm_core import dbtools
        cursor = Transaction().connection.cursor()
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        table = Opportunity.__table__()
        cursor.execute(*table.select(
                dbtools.numeric(table.amount) > 0, limit=1))
        cursor.fetchall()

    @with_transaction()
    def test_savepoint(self):
        "A failed block is rolled back, the transaction goes on"
        from trytond.modules.crm_core import dbtools
        pool = Pool()
        Party = pool.get('party.party')
        kept, = Party.create([{'name': "Kept"}])
        with self.assertRaises(ZeroDivisionError):
            with dbtools.savepoint('crm_test'):
                dbtools.insert_as_create(
                    Party, [{'name': "Lost", 'code': 'crm-test-lost'}])
                1 / 0
        with dbtools.savepoint('crm_test'):
            dbtools.insert_as_create(
                Party, [{'name': "Saved", 'code': 'crm-test-saved'}])
        self.assertEqual(
            sorted(p.name for p in Party.search([
                        ('name', 'in', ["Kept", "Lost", "Saved"])])),
            ["Kept", "Saved"])

    @with_transaction()
    def test_statistics_and_jit(self):
        "analyze, analyze_grown and without_jit run on every backend"
        from trytond.modules.crm_core import dbtools
        pool = Pool()
        Party = pool.get('party.party')
        cursor = Transaction().connection.cursor()
        dbtools.analyze(Party, Party._table)
        dbtools.analyze_grown([Party], 10 ** 9)
        with dbtools.without_jit():
            cursor.execute(*Party.__table__().select(Literal(1), limit=1))
            cursor.fetchall()
        self.assertIsInstance(dbtools.has_extension('pg_trgm'), bool)

    @with_transaction()
    def test_clear_cache(self):
        "clear_cache forgets the values read before an SQL update"
        from trytond.modules.crm_core import dbtools
        pool = Pool()
        Party = pool.get('party.party')
        party, = Party.create([{'name': "Before"}])
        party = Party(party.id)
        self.assertEqual(party.name, "Before")
        table = Party.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.update(
                [table.name], ["After"], where=table.id == party.id))
        dbtools.clear_cache(Party, [party.id])
        self.assertEqual(Party(party.id).name, "After")
        dbtools.clear_cache(Party)
        dbtools.clear_all_caches()

    @with_transaction()
    def test_serialize(self):
        "serialize holds a lock per name until the end of the transaction"
        from trytond.modules.crm_core import dbtools
        transaction = Transaction()
        dbtools.serialize('crm.test,1', 'crm.test,2')
        # taken again by the same transaction: no wait
        dbtools.serialize('crm.test,1')
        if not dbtools.is_postgresql():
            return
        cursor = transaction.connection.cursor()
        cursor.execute(
            "SELECT COUNT(DISTINCT objid) FROM pg_locks "
            "WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        self.assertEqual(cursor.fetchone()[0], 2)
        # another transaction waits for them (here until its lock timeout)
        with transaction.new_transaction() as other:
            other.connection.cursor().execute(
                "SET LOCAL lock_timeout = '100ms'")
            with self.assertRaises(backend.DatabaseOperationalError):
                dbtools.serialize('crm.test,2')

    @with_transaction()
    def test_serialize_rows(self):
        "serialize starts again only when a commit updated the rows since"
        from trytond.modules.crm_core import dbtools
        if not dbtools.is_postgresql():
            self.skipTest("snapshots are PostgreSQL's")
        pool = Pool()
        Stage = pool.get('crm.stage')
        stage, other_stage = Stage.search([], limit=2)
        table = Stage.__table__()
        transaction = Transaction()
        # the snapshot of the transaction is taken by its first statement
        Stage.read([stage.id], ['name'])
        with transaction.new_transaction() as other:
            other.connection.cursor().execute(*table.update(
                    [table.write_date], [table.write_date],
                    where=table.id == stage.id))
            other.commit()
        # a row no commit updated since the snapshot: on with it
        dbtools.serialize('crm.test,1', rows=(table, [other_stage.id]))
        with self.assertRaises(TransactionError):
            dbtools.serialize('crm.test,2', rows=(table, [stage.id]))
