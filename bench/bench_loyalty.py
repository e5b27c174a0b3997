"""Loyalty: the balances of 100k accounts from a 1M-row ledger, and the
nightly expiry over it (PostgreSQL).

The database `<prefix>_loyalty` is a fresh copy of a template with
crm_loyalty activated (bench/database.py). A company and a program with a
365-day validity are created with the ORM; ACCOUNTS customers, their
accounts and a ledger of ROWS transactions (awards of the last two years,
some spendings) are inserted in SQL, with every balance wrong.

Figures:
- loyalty_balances: crm.loyalty.account.update_balances() over every
  account against the same balances hand-written as one grouped UPDATE,
  target 10 s; met only when every balance equals the sum of its ledger.
- loyalty_expiry: crm.loyalty.account.expire_points(), the scheduled task,
  against a hand-written count of the unspent points of the expired awards
  (the window query alone, no insert), no target (the issue sets none);
  correct only when the points expired equal that count, the balances their
  ledger and a second run expires nothing.

    CRM_BENCH_PREFIX=bench_loyalty .venv/bin/python bench/run.py loyalty
    CRM_BENCH_LOYALTY_ROWS=100000 ...   # smaller
"""
import datetime as dt
import os
from decimal import Decimal

from bench import database as benchdb
from bench.tools import Result, Timer

ROWS = int(os.environ.get('CRM_BENCH_LOYALTY_ROWS', 1_000_000))
ACCOUNTS = max(ROWS // 10, 1)
TARGET = 10.0


def setup(database):
    "Create the company and the program; return their ids"
    pool = benchdb.pool(database)
    with benchdb.transaction(database) as transaction:
        Program = pool.get('crm.loyalty.program')
        company = benchdb.create_company(pool)
        with transaction.set_context(company=company.id):
            program, = Program.create([{
                        'name': "Bench Club", 'company': company.id,
                        'currency': company.currency.id,
                        'points_per_amount': Decimal(1),
                        'validity_days': 365,
                        }])
        transaction.commit()
        return company.id, program.id


def insert_ledger(database, company, program):
    "Insert the customers, their accounts and the ledger"
    today = dt.date.today()
    with benchdb.connect(database) as conn:
        conn.execute("""
            INSERT INTO party_party (name, code, active, create_date,
                create_uid)
            SELECT 'Member ' || i, 'LB' || i, TRUE, NOW(), 0
            FROM generate_series(1, %(accounts)s) AS i
            """, {'accounts': ACCOUNTS})
        conn.execute("""
            INSERT INTO crm_loyalty_account (number, company, program,
                party, enrolled_date, balance, active, create_date,
                create_uid)
            SELECT 'LB' || p.id, %(company)s, %(program)s, p.id,
                %(today)s, -1, TRUE, NOW(), 0
            FROM party_party AS p WHERE p.code LIKE 'LB%%'
            """, {'company': company, 'program': program, 'today': today})
        first, = conn.execute(
            "SELECT MIN(id) FROM crm_loyalty_account "
            "WHERE number LIKE 'LB%%'").fetchone()
        conn.execute("""
            INSERT INTO crm_loyalty_transaction (account, company, type,
                points, date, expiry_date, create_date, create_uid)
            SELECT %(first)s + i %% %(accounts)s, %(company)s,
                CASE WHEN (i / %(accounts)s) %% 5 = 0
                    THEN 'redeem' ELSE 'earn' END,
                CASE WHEN (i / %(accounts)s) %% 5 = 0 THEN -(i %% 40 + 1)
                    ELSE i %% 100 + 10 END,
                %(today)s - (i %% 730),
                CASE WHEN (i / %(accounts)s) %% 5 = 0 THEN NULL
                    ELSE %(today)s - (i %% 730) + 365 END,
                NOW(), 0
            FROM generate_series(1, %(rows)s) AS i
            """, {'company': company, 'today': today, 'rows': ROWS,
                'accounts': ACCOUNTS, 'first': first})
        conn.execute('ANALYZE party_party')
        conn.execute('ANALYZE crm_loyalty_account')
        conn.execute('ANALYZE crm_loyalty_transaction')


def bench_loyalty():
    template = benchdb.prepare_template(('crm_loyalty',), kind='loytpl')
    database = benchdb.fresh_database('loyalty', template)
    company, program = setup(database)
    insert_ledger(database, company, program)
    pool = benchdb.pool(database)
    Account = pool.get('crm.loyalty.account')
    today = dt.date.today()

    with benchdb.transaction(database) as transaction:
        cursor = transaction.connection.cursor()
        cursor.execute('SELECT COUNT(*) FROM crm_loyalty_transaction')
        rows, = cursor.fetchone()
        with Timer() as baseline:
            cursor.execute("""
                UPDATE crm_loyalty_account AS a SET balance = s.total
                FROM (SELECT account, SUM(points) AS total
                    FROM crm_loyalty_transaction GROUP BY account) AS s
                WHERE s.account = a.id""")
        transaction.rollback()

    with benchdb.transaction(
            database, context={'company': company}) as transaction:
        with Timer() as timer:
            Account.update_balances()
        cursor = transaction.connection.cursor()
        cursor.execute("""
            SELECT COUNT(*) FROM crm_loyalty_account AS a
            WHERE a.balance != COALESCE((SELECT SUM(points)
                    FROM crm_loyalty_transaction WHERE account = a.id), 0)
            """)
        wrong, = cursor.fetchone()
        transaction.commit()
    results = [Result(
            'loyalty_balances', timer.seconds, 's',
            baseline=baseline.seconds, target=TARGET, correct=not wrong,
            check="every balance equals the sum of its ledger",
            detail={'accounts': ACCOUNTS, 'rows': rows, 'wrong': wrong})]

    with benchdb.transaction(database) as transaction:
        LoyaltyTransaction = pool.get('crm.loyalty.transaction')
        query = LoyaltyTransaction.remaining_query()
        cursor = transaction.connection.cursor()
        from sql.aggregate import Count, Sum
        with Timer() as baseline:
            cursor.execute(*query.select(
                    Count(query.id), Sum(query.remaining),
                    where=(query.expiry_date < today)
                    & (query.remaining > 0)))
            expected_awards, expected_points = cursor.fetchone()
        transaction.rollback()

    with benchdb.transaction(
            database, context={'company': company}) as transaction:
        with Timer() as timer:
            Account.expire_points(today)
        transaction.commit()
    with benchdb.transaction(
            database, context={'company': company}) as transaction:
        cursor = transaction.connection.cursor()
        cursor.execute(
            "SELECT COUNT(*), -SUM(points) FROM crm_loyalty_transaction "
            "WHERE type = 'expire'")
        awards, points = cursor.fetchone()
        with Timer() as again:
            touched = Account.expire_points(today)
        cursor.execute(
            "SELECT COUNT(*) FROM crm_loyalty_account AS a "
            "WHERE a.balance != COALESCE((SELECT SUM(points) "
            "FROM crm_loyalty_transaction WHERE account = a.id), 0) "
            "OR a.balance < 0")
        wrong, = cursor.fetchone()
        transaction.rollback()
    results.append(Result(
            'loyalty_expiry', timer.seconds, 's',
            baseline=baseline.seconds,
            correct=(awards == expected_awards
                and points == expected_points and not touched
                and not wrong),
            check=("the unspent points of every expired award expired once, "
                "balances equal to their ledger and not below zero, a "
                "second run expires nothing"),
            detail={'rows': rows, 'awards_expired': awards,
                'points_expired': points, 'second_run_s': round(
                    again.seconds, 2)}))
    return results
