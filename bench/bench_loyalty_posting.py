"""Loyalty: posting 10k customer invoices with a loyalty program active
against the same posting without it (PostgreSQL).

Issue 12: "Posting 10k invoices with loyalty active costs ≤ 15% more than
without (ratio printed)".

One database `<prefix>_loyalty_invoices` is built from a template with
crm_loyalty activated: a company, its chart of accounts, a fiscal year,
200 customers in two product categories' worth of products and INVOICES
draft customer invoices of one to three lines (the ORM, in batches). It is
then copied twice, so both runs post the very same invoices:

- `<prefix>_loyalty_post_without`: no loyalty program (the baseline);
- `<prefix>_loyalty_post_with`: an active program with automatic enrolment,
  an earning rule on a product category and one on a product, two tiers
  and a 365-day validity; every customer earns.

Each run posts the invoices as an accountant would post a day's batch from
the invoice list: Invoice.post() on BATCH invoices (500 by default), one
transaction and commit per batch, the batches in turn, each batch posted
in the run without then in the run with (so a load that comes and goes
weighs on both). Only the posting is timed. The figure is the duration
with the program, its baseline the duration without; the ratio must stay
at or under 1.15. It is correct when every invoice is posted and earned
exactly once, and every balance equals the sum of its ledger.

    CRM_BENCH_PREFIX=bench_loyalty .venv/bin/python bench/run.py loyalty_posting
    CRM_BENCH_LOYALTY_INVOICES=1000 ...   # smaller
    CRM_BENCH_LOYALTY_BATCH=10000 ...     # all at once
"""
import datetime as dt
import os
from decimal import Decimal

from bench import database as benchdb
from bench.tools import Result, Timer

INVOICES = int(os.environ.get('CRM_BENCH_LOYALTY_INVOICES', 10_000))
BATCH = int(os.environ.get('CRM_BENCH_LOYALTY_BATCH', 500))
CUSTOMERS = 200
TARGET_RATIO = 1.15
#: the invoices posted first, untimed, in each run
WARMUP = 50
RESTARTS = []


def load(database):
    "The company, chart, customers, products and draft invoices"
    today = dt.date.today()
    _, accounts, payment_term = benchdb.create_accounting(database,
        today - dt.timedelta(days=60), today + dt.timedelta(days=300))
    from proteus import Model

    Category = Model.get('product.category')
    Uom = Model.get('product.uom')
    Template = Model.get('product.template')
    unit, = Uom.find([('name', '=', "Unit")])
    goods = Category(name="Goods", accounting=True)
    goods.account_expense = accounts['expense']
    goods.account_revenue = accounts['revenue']
    goods.save()
    coffee = Category(name="Coffee", parent=goods)
    coffee.save()
    beans = Category(name="Beans", parent=coffee)
    beans.save()
    products = []
    for index, category in enumerate([goods, coffee, beans, beans, goods]):
        template = Template(name=f"Product {index}", default_uom=unit,
            type='service', salable=True, list_price=Decimal(10 + index),
            account_category=goods)
        template.categories.append(Category(category.id))
        template.save()
        products.append(template.products[0].id)

    pool = benchdb.pool(database)
    Party = pool.get('party.party')
    Invoice = pool.get('account.invoice')
    Journal = pool.get('account.journal')
    Company = pool.get('company.company')
    with benchdb.transaction(database) as transaction:
        company, = Company.search([])
        with transaction.set_context(company=company.id):
            parties = Party.create([{
                        'name': f"Customer {i}",
                        'addresses': [('create', [{}])],
                        } for i in range(CUSTOMERS)])
            journal, = Journal.search([('type', '=', 'revenue')], limit=1)
            for start in range(0, INVOICES, 1000):
                vlist = []
                for i in range(start, min(start + 1000, INVOICES)):
                    party = parties[i % CUSTOMERS]
                    vlist.append({
                            'company': company.id,
                            'type': 'out',
                            'party': party.id,
                            'invoice_address': party.addresses[0].id,
                            'currency': company.currency.id,
                            'journal': journal.id,
                            'account': accounts['receivable'].id,
                            'payment_term': payment_term.id,
                            # in the order of the invoice numbers
                            'invoice_date': today - dt.timedelta(
                                days=30 * (INVOICES - i) // INVOICES),
                            'lines': [('create', [{
                                            'type': 'line',
                                            'product': products[
                                                (i + j) % len(products)],
                                            'description': "Item",
                                            'quantity': 1 + (i + j) % 4,
                                            'unit': unit.id,
                                            'unit_price': Decimal(
                                                10 + (i * 7 + j) % 90),
                                            'account': (
                                                accounts['revenue'].id),
                                            'company': company.id,
                                            'currency': company.currency.id,
                                            } for j in range(1 + i % 3)])],
                            })
                Invoice.create(vlist)
        transaction.commit()
        return company.id, products


def add_program(database, company, products):
    "The program of the run with loyalty"
    pool = benchdb.pool(database)
    Program = pool.get('crm.loyalty.program')
    Category = pool.get('product.category')
    with benchdb.transaction(
            database, context={'company': company}) as transaction:
        coffee, = Category.search([('name', '=', "Coffee")])
        program, = Program.create([{
                    'name': "Bench Club", 'company': company,
                    'points_per_amount': Decimal(1),
                    'validity_days': 365,
                    'rules': [('create', [
                                {'product': products[4],
                                    'multiplier': Decimal(0)},
                                {'category': coffee.id,
                                    'multiplier': Decimal(2)},
                                ])],
                    'tiers': [('create', [
                                {'name': "Silver", 'threshold': 1000,
                                    'multiplier': Decimal('1.25')},
                                {'name': "Gold", 'threshold': 5000,
                                    'multiplier': Decimal('1.5')},
                                ])],
                    }])
        transaction.commit()


def draft_invoices(database):
    "The ids of the draft customer invoices, in the order of their numbers"
    pool = benchdb.pool(database)
    Invoice = pool.get('account.invoice')
    with benchdb.transaction(database):
        return [i.id for i in Invoice.search(
                [('type', '=', 'out'), ('state', '=', 'draft')],
                order=[('id', 'ASC')])]


def post(without, with_, company):
    """Post the draft invoices of both databases BATCH at a time, a batch
    without then the same batch with; return the seconds of each run

    Alternating the runs batch by batch gives both the same machine: a
    load that comes and goes during the hour the benchmark takes weighs
    on both sides instead of skewing the ratio."""
    Invoices = {database: benchdb.pool(database).get('account.invoice')
        for database in [without, with_]}
    ids = draft_invoices(without)
    assert ids == draft_invoices(with_)
    context = {'company': company, 'companies': [company]}
    seconds = {without: 0, with_: 0}
    # the first invoices warm the caches of the pool, untimed
    for database in seconds:
        post_batches(Invoices[database], database, context, ids[:WARMUP])
    for start in range(WARMUP, len(ids), BATCH):
        for database in seconds:
            with Timer() as timer:
                post_batches(Invoices[database], database, context,
                    ids[start:start + BATCH])
            seconds[database] += timer.seconds
    return seconds[without], seconds[with_]


def post_batches(Invoice, database, context, ids):
    from trytond.transaction import TransactionError
    for start in range(0, len(ids), BATCH):
        # as the server does: a transaction that must first lock
        # records (the invoice sequence, the accounts) starts again
        extras = {}
        while True:
            try:
                with benchdb.transaction(database, context=context,
                        **extras) as transaction:
                    Invoice.post(Invoice.browse(
                            ids[start:start + BATCH]))
                    transaction.commit()
            except TransactionError as exception:
                RESTARTS.append(type(exception).__name__)
                exception.fix(extras)
                continue
            break


def check(database):
    "Return the (posted invoices, earned once, wrong balances) of the run"
    with benchdb.connect(database) as conn:
        posted, = conn.execute(
            "SELECT COUNT(*) FROM account_invoice "
            "WHERE type = 'out' AND state = 'posted'").fetchone()
        earned, = conn.execute(
            "SELECT COUNT(DISTINCT origin) FROM crm_loyalty_transaction "
            "WHERE type = 'earn'").fetchone()
        twice, = conn.execute(
            "SELECT COUNT(*) FROM (SELECT origin FROM "
            "crm_loyalty_transaction WHERE type = 'earn' "
            "GROUP BY account, origin HAVING COUNT(*) > 1) AS t").fetchone()
        wrong, = conn.execute(
            "SELECT COUNT(*) FROM crm_loyalty_account AS a "
            "WHERE a.balance != COALESCE((SELECT SUM(points) "
            "FROM crm_loyalty_transaction WHERE account = a.id), 0)"
            ).fetchone()
        tiers, = conn.execute(
            "SELECT COUNT(*) FROM crm_loyalty_account "
            "WHERE tier IS NOT NULL").fetchone()
    return posted, earned, twice, wrong, tiers


def bench_loyalty_posting():
    template = benchdb.prepare_template(
        ('crm_loyalty',), kind='loytpl')
    source = benchdb.fresh_database('loyalty_invoices', template)
    company, products = load(source)
    from trytond import backend
    backend.Database(source).close()
    without = benchdb.fresh_database('loyalty_post_without', source)
    with_ = benchdb.fresh_database('loyalty_post_with', source)
    add_program(with_, company, products)

    baseline, seconds = post(without, with_, company)
    posted_without = check(without)[0]
    posted, earned, twice, wrong, tiers = check(with_)
    return Result(
        'loyalty_posting', seconds, 's', baseline=baseline,
        target=round(baseline * TARGET_RATIO, 2),
        correct=(posted == posted_without == INVOICES
            and earned and not twice and not wrong),
        check=("every invoice posted in both runs and earned at most once "
            "with loyalty (not those of products that earn nothing), every "
            "balance the sum of its ledger"),
        detail={'invoices': INVOICES, 'batch': BATCH,
            'customers': CUSTOMERS, 'earned': earned,
            'restarts': len(RESTARTS), 'target_ratio': TARGET_RATIO, 'accounts_in_a_tier': tiers})
