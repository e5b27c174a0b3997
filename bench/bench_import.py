"""Lead import of 100k rows from a CSV file (PostgreSQL).

The database `bench_crm_import` is a fresh copy of the template with
crm_core activated (bench/database.py), with a company. A CSV file of
CRM_BENCH_IMPORT_ROWS rows (100k by default) is generated: company, contact
name, e-mail, phone, country, city, amount and closing date, a few percent
of the e-mails already known or repeated. The figure is the check (the dry
run) and the import of crm.lead.import, its queued batches run inline, as
rows per second. Its duration is compared (target: within 5×) with a plain
psycopg executemany INSERT of the same rows into the host tables the import
fills (a party, its address, e-mail and phone, and a lead per row with its
history row; rolled back): the work the database does to store the leads,
the host's indexes included. The ratio to the same INSERT into a scratch
table without index is reported beside it. The rate of the ORM creating the
same leads (party, e-mail, phone, address and lead, one by one,
on 100 rows) is the baseline of the rate.

    CRM_BENCH_PREFIX=bench_import .venv/bin/python bench/run.py import
"""
import csv
import io
import os

from bench import database as benchdb
from bench.generator import DataGenerator
from bench.tools import Result, Timer

SIZE = int(os.environ.get('CRM_BENCH_IMPORT_ROWS', 100_000))
TARGET_RATE = 2000
TARGET_RATIO = 5
ORM_SIZE = min(SIZE, 100)
HEADER = [
    'Company', 'Name', 'E-mail', 'Phone', 'Country', 'City', 'Amount',
    'Close Date']


class Leads(DataGenerator):
    "Leads as a trade fair file gives them, a few e-mails seen twice"

    def __init__(self, size, seed=None):
        super().__init__(size, seed=seed)
        self.emails = []

    def row(self, index):
        name = self.name()
        if self.emails and self.random.random() < 0.03:
            email = self.choice(self.emails).upper()
        else:
            email = self.email(f'{name} {index}')
            self.emails.append(email)
        return [
            f"{self.word(7).title()} Ltd", name, email, self.phone(), 'BG',
            self.word(6).title(),
            f'{self.random.randint(100, 99999)}.{self.random.randint(0, 99):02}',
            f'2027-{self.random.randint(1, 12):02}-'
            f'{self.random.randint(1, 28):02}',
            ]


def make_file(rows):
    content = io.StringIO()
    writer = csv.writer(content)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return content.getvalue().encode('utf-8')


def setup(pool):
    "Create the company and the country of the leads"
    from trytond.modules.company.tests import create_company
    Company = pool.get('company.company')
    Country = pool.get('country.country')
    User = pool.get('res.user')
    if not Country.search([('code', '=', 'BG')]):
        Country(name="Bulgaria", code='BG', code3='BGR').save()
    companies = Company.search([])
    if companies:
        company = companies[0]
    else:
        company = create_company()
    User.write([User(1)], {
            'companies': [('add', [company.id])],
            'company': company.id,
            })
    return company


def baseline(database, rows):
    "A plain executemany INSERT of the same rows into a scratch table"
    with benchdb.connect(database) as conn:
        conn.execute(
            'CREATE TABLE bench_import_baseline ('
            'id SERIAL PRIMARY KEY, company VARCHAR, name VARCHAR, '
            'email VARCHAR, phone VARCHAR, country VARCHAR, city VARCHAR, '
            'amount NUMERIC, closing DATE)')
        conn.commit()
        cursor = conn.cursor()
        with Timer() as timer:
            cursor.executemany(
                'INSERT INTO bench_import_baseline (company, name, email, '
                'phone, country, city, amount, closing) '
                'VALUES (%s, %s, %s, %s, %s, %s, %s, %s)', rows)
            conn.commit()
    return timer.seconds


def host_baseline(database, rows, company):
    """A plain executemany INSERT of the same rows into the host tables the
    import fills: a party, its address, e-mail and phone, and a lead per row
    with its row of the host's history of the opportunities (rolled
    back)"""
    with benchdb.connect(database) as conn:
        cursor = conn.cursor()
        country, = cursor.execute(
            "SELECT id FROM country_country WHERE code = 'BG'").fetchone()
        currency, = cursor.execute(
            "SELECT currency FROM company_company WHERE id = %s",
            (company,)).fetchone()
        cursor.execute(
            "SELECT nextval('party_party_id_seq') "
            "FROM generate_series(1, %s)", (len(rows),))
        parties = [i for i, in cursor]
        with Timer() as timer:
            cursor.executemany(
                "INSERT INTO party_party (id, code, name, active, "
                "create_uid, create_date) VALUES (%s, %s, %s, true, 1, now())",
                [(p, f'B{p}', r[0]) for p, r in zip(parties, rows)])
            cursor.executemany(
                "INSERT INTO party_address (party, city, country, active, "
                "create_uid, create_date) VALUES (%s, %s, %s, true, 1, now())",
                [(p, r[5], country) for p, r in zip(parties, rows)])
            cursor.executemany(
                "INSERT INTO party_contact_mechanism (party, type, value, "
                "value_compact, name, active, create_uid, create_date) "
                "VALUES (%s, %s, %s, %s, %s, true, 1, now())",
                [(p, 'email', r[2], r[2], r[1])
                    for p, r in zip(parties, rows)]
                + [(p, 'phone', r[3], r[3], r[1])
                    for p, r in zip(parties, rows)])
            cursor.execute(
                "SELECT nextval('sale_opportunity_id_seq') "
                "FROM generate_series(1, %s)", (len(rows),))
            leads = [i for i, in cursor]
            lead_rows = [
                (i, f'B{p}', p, company, currency, r[0], r[6], r[7])
                for i, p, r in zip(leads, parties, rows)]
            for table in ['sale_opportunity', 'sale_opportunity__history']:
                # The host keeps the history of the opportunities
                cursor.executemany(
                    f"INSERT INTO {table} (id, number, party, company, "
                    "currency, description, amount, expected_closing, "
                    "state, conversion_probability, priority, start_date, "
                    "create_uid, create_date) VALUES (%s, %s, %s, %s, %s, "
                    "%s, %s, %s, 'lead', 0.1, '1', CURRENT_DATE, 1, now())",
                    lead_rows)
        conn.rollback()
    return timer.seconds


def orm_rate(pool, database, context, rows):
    "Rows per second of the same leads created one by one with the ORM"
    import datetime as dt
    from decimal import Decimal
    # Without the look-alike warning of the interactive create
    context = dict(context, _skip_warnings=True)
    with benchdb.transaction(database, user=1, context=context) as (
            transaction):
        Country = pool.get('country.country')
        Opportunity = pool.get('sale.opportunity')
        Party = pool.get('party.party')
        country, = Country.search([('code', '=', 'BG')])
        with Timer() as timer:
            for company, name, email, phone, _, city, amount, date in rows:
                party = Party(name=company, contact_mechanisms=[
                        {'type': 'email', 'value': email, 'name': name},
                        {'type': 'phone', 'value': phone, 'name': name},
                        ], addresses=[{'city': city, 'country': country}])
                party.save()
                Opportunity(party=party, contact=party.contact_mechanisms[0],
                    address=party.addresses[0], description=company,
                    amount=Decimal(amount),
                    expected_closing=dt.date.fromisoformat(date)).save()
        transaction.rollback()
    return len(rows) / timer.seconds


def bench_import():
    database = benchdb.fresh_database('import')
    rows = list(Leads(SIZE))
    data = make_file(rows)

    pool = benchdb.pool(database)
    with benchdb.transaction(database, user=0) as transaction:
        company = setup(pool)
        transaction.commit()
    context = {'company': company.id, 'companies': [company.id]}
    with benchdb.transaction(database, user=1, context=context) as (
            transaction):
        LeadImport = pool.get('crm.lead.import')
        Opportunity = pool.get('sale.opportunity')
        Queue = pool.get('ir.queue')
        with Timer() as total:
            with Timer() as read:
                record, = LeadImport.create([{
                            'company': company.id,
                            'file': data,
                            'file_name': 'leads.csv',
                            'skip_errors': True,
                            }])
                transaction.commit()
            with Timer() as check:
                LeadImport.check([record])
                transaction.commit()
            with Timer() as import_:
                LeadImport.import_([record])
                tasks = list(transaction.tasks)
                transaction.tasks.clear()
                transaction.commit()
                # No worker: the queued batches run inline, one per
                # transaction as the worker would run them
                for task_id in tasks:
                    Queue(task_id).run()
                    transaction.commit()
        record = LeadImport(record.id)
        imported = Opportunity.search(
            [('lead_import', '=', record.id)], count=True)
        detail = {
            'rows': SIZE,
            'imported': record.rows_imported,
            'found': imported,
            'errors': record.rows_error,
            'skipped': record.rows_skipped,
            'state': record.state,
            'batches': len(tasks),
            'read_seconds': round(read.seconds, 2),
            'check_seconds': round(check.seconds, 2),
            'import_seconds': round(import_.seconds, 2),
            }
    # Right only when every generated row became one lead
    correct = (detail['state'] == 'done'
        and detail['imported'] == detail['found'] == SIZE
        and not detail['errors'])
    check = (f"import {detail['state']}: {detail['found']} leads found, "
        f"{detail['imported']} rows imported of {SIZE}, "
        f"{detail['errors']} with errors")
    seconds = baseline(database, rows)
    host_seconds = host_baseline(database, rows, company.id)
    orm = orm_rate(pool, database, context, Leads(ORM_SIZE, seed=1))
    return [
        Result('import.leads_rate', detail['found'] / total.seconds,
            'rows/s', baseline=orm, better='higher', target=TARGET_RATE,
            correct=correct, check=check,
            detail=dict(detail, baseline_is=(
                    f'ORM create of {ORM_SIZE} of the leads'))),
        Result('import.leads_seconds', total.seconds, 's',
            baseline=host_seconds,
            target=round(TARGET_RATIO * host_seconds, 3),
            correct=correct, check=check,
            detail={
                'rows': SIZE,
                'baseline_is': (
                    'psycopg executemany INSERT into the host tables'),
                'ratio_target': TARGET_RATIO,
                }),
        Result('import.leads_seconds_scratch', total.seconds, 's',
            baseline=seconds, detail={
                'rows': SIZE,
                'baseline_is': (
                    'psycopg executemany INSERT into a scratch table '
                    'without index'),
                }),
        ]
