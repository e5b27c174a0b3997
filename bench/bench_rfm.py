"""Marketing: the RFM scores of 100k customers from 1M invoice lines, against
the same scores written by hand as one SQL statement (PostgreSQL).

Issue 14: "RFM over 100k customers / 1M invoice lines within 1.5× of a
hand-written SQL query".

The database `<prefix>_rfm` is a fresh copy of a template with crm_marketing
activated: a company, its chart of accounts and a fiscal year (proteus),
then in SQL CUSTOMERS customers with an address and LINES // 4 posted
customer invoices of four lines over the last two years, each with its move
(a receivable line and one revenue line per invoice line); every
twentieth invoice is a credit note, every fiftieth is in draft.

The figure is crm.rfm.compute() for the company; its baseline a
hand-written statement computing the same scores and segments into a
scratch table. Correct when both give every customer the same scores and
segment, and the monetary values add up to the revenue of the window.

    CRM_BENCH_PREFIX=bench_rfm .venv/bin/python bench/run.py rfm
    CRM_BENCH_RFM_LINES=100000 ...   # smaller
"""
import datetime as dt
import os

from bench import database as benchdb
from bench.tools import Result, Timer

LINES = int(os.environ.get('CRM_BENCH_RFM_LINES', 1_000_000))
INVOICES = max(LINES // 4, 1)
CUSTOMERS = max(LINES // 10, 1)
TARGET_RATIO = 1.5
DAYS = 730

HAND_WRITTEN = """
    CREATE TEMPORARY TABLE rfm_hand AS
    WITH invoices AS (
        SELECT i.party, i.invoice_date, SUM(l.credit - l.debit) AS revenue
        FROM account_invoice AS i
        JOIN account_move_line AS l ON l.move = i.move
            AND l.origin LIKE 'account.invoice.line,%%'
        WHERE i.company = %(company)s AND i.type = 'out'
            AND i.state IN ('posted', 'paid')
            AND i.invoice_date <= %(today)s
        GROUP BY i.id, i.party, i.invoice_date),
    customers AS (
        SELECT party,
            MAX(invoice_date) FILTER (WHERE revenue > 0) AS last,
            COUNT(*) FILTER (WHERE invoice_date >= %(start)s
                AND revenue > 0) AS frequency,
            COALESCE(SUM(revenue) FILTER (
                    WHERE invoice_date >= %(start)s), 0) AS monetary
        FROM invoices GROUP BY party),
    scored AS (
        SELECT party, last, frequency, monetary,
            CEIL(5 * CUME_DIST() OVER (
                    ORDER BY COALESCE(last, DATE '0001-01-01'))
                - 1e-9)::INTEGER AS r,
            CEIL(5 * CUME_DIST() OVER (ORDER BY frequency) - 1e-9)::INTEGER
                AS f,
            CEIL(5 * CUME_DIST() OVER (ORDER BY monetary) - 1e-9)::INTEGER
                AS m
        FROM customers)
    SELECT party, %(today)s - last AS recency, frequency, monetary, r, f, m,
        CASE r::TEXT || f::TEXT
            WHEN '11' THEN 'lost' WHEN '12' THEN 'lost'
            WHEN '21' THEN 'hibernating' WHEN '22' THEN 'hibernating'
            WHEN '13' THEN 'at_risk' WHEN '14' THEN 'at_risk'
            WHEN '23' THEN 'at_risk' WHEN '24' THEN 'at_risk'
            WHEN '15' THEN 'cant_lose' WHEN '25' THEN 'cant_lose'
            WHEN '31' THEN 'about_to_sleep' WHEN '32' THEN 'about_to_sleep'
            WHEN '33' THEN 'need_attention'
            WHEN '41' THEN 'promising' WHEN '51' THEN 'new'
            WHEN '54' THEN 'champions' WHEN '55' THEN 'champions'
            WHEN '42' THEN 'potential_loyalist'
            WHEN '43' THEN 'potential_loyalist'
            WHEN '52' THEN 'potential_loyalist'
            WHEN '53' THEN 'potential_loyalist'
            ELSE 'loyal' END AS segment
    FROM scored
    """


def load(database):
    "The company, its accounts and the invoices; return the company id"
    today = dt.date.today()
    benchdb.create_accounting(database,
        today - dt.timedelta(days=DAYS), today + dt.timedelta(days=30))
    with benchdb.connect(database) as conn:
        company, currency = conn.execute(
            "SELECT id, currency FROM company_company").fetchone()
        receivable, = conn.execute(
            "SELECT a.id FROM account_account AS a "
            "JOIN account_account_type AS t ON t.id = a.type "
            "WHERE t.receivable AND a.closed IS NOT TRUE "
            "AND a.type IS NOT NULL ORDER BY a.id LIMIT 1").fetchone()
        revenue, = conn.execute(
            "SELECT a.id FROM account_account AS a "
            "JOIN account_account_type AS t ON t.id = a.type "
            "WHERE t.revenue ORDER BY a.id LIMIT 1").fetchone()
        journal, = conn.execute(
            "SELECT id FROM account_journal WHERE type = 'revenue' "
            "LIMIT 1").fetchone()
        args = {'customers': CUSTOMERS, 'invoices': INVOICES,
            'company': company, 'currency': currency, 'today': today,
            'days': DAYS, 'receivable': receivable, 'revenue': revenue,
            'journal': journal}
        conn.execute("""
            INSERT INTO party_party (name, code, active, create_date,
                create_uid)
            SELECT 'Customer ' || i, 'RFM' || i, TRUE, NOW(), 0
            FROM generate_series(1, %(customers)s) AS i
            """, args)
        conn.execute("""
            INSERT INTO party_address (party, active, sequence,
                create_date, create_uid)
            SELECT id, TRUE, 1, NOW(), 0 FROM party_party
            WHERE code LIKE 'RFM%%'
            """, args)
        args['first_party'], = conn.execute(
            "SELECT MIN(id) FROM party_party WHERE code LIKE 'RFM%%'"
            ).fetchone()
        # the invoices: every customer buys once, then more often the
        # lower its number (a long tail), on days spread over two years
        conn.execute("""
            CREATE TEMPORARY TABLE bench_invoice AS
            SELECT i,
                %(first_party)s + CASE WHEN i <= %(customers)s THEN i - 1
                    ELSE FLOOR(%(customers)s * POWER(
                            ((i::BIGINT * 2654435761) %% 1000003)
                            / 1000003.0, 2))::INTEGER END AS party,
                (%(today)s - ((i * 7919) %% %(days)s))::DATE AS date,
                CASE WHEN i %% 20 = 0 THEN -1 ELSE 1 END AS sign,
                CASE WHEN i %% 50 = 0 THEN 'draft' ELSE 'posted' END
                    AS state
            FROM generate_series(1, %(invoices)s) AS i
            """, args)
        conn.execute("""
            INSERT INTO account_move (company, period, journal, date,
                state, number, create_date, create_uid)
            SELECT %(company)s, p.id, %(journal)s, b.date, 'posted',
                'RFM' || b.i, NOW(), 0
            FROM bench_invoice AS b
            JOIN account_period AS p ON b.date BETWEEN p.start_date
                AND p.end_date AND p.type = 'standard'
            WHERE b.state = 'posted'
            """, args)
        conn.execute("""
            INSERT INTO account_invoice (company, type, number, reference,
                party, invoice_address, currency, journal, account,
                invoice_date, accounting_date, state, move, create_date,
                create_uid)
            SELECT %(company)s, 'out', 'RFM' || b.i, NULL, b.party, a.id,
                %(currency)s, %(journal)s, %(receivable)s, b.date, NULL,
                b.state, m.id, NOW(), 0
            FROM bench_invoice AS b
            JOIN party_address AS a ON a.party = b.party
            LEFT JOIN account_move AS m ON m.number = 'RFM' || b.i
            """, args)
        conn.execute("""
            INSERT INTO account_invoice_line (invoice, type, sequence,
                quantity, unit_price, account, currency, company,
                description, create_date, create_uid)
            SELECT inv.id, 'line', j, b.sign * (1 + (b.i + j) %% 3),
                10 + (b.i * 7 + j) %% 90, %(revenue)s, %(currency)s,
                %(company)s, 'Item', NOW(), 0
            FROM bench_invoice AS b
            JOIN account_invoice AS inv ON inv.number = 'RFM' || b.i
            CROSS JOIN generate_series(1, 4) AS j
            """, args)
        conn.execute("""
            INSERT INTO account_move_line (move, account, debit, credit,
                origin, state, create_date, create_uid)
            SELECT inv.move, %(revenue)s,
                GREATEST(-l.quantity * l.unit_price, 0),
                GREATEST(l.quantity * l.unit_price, 0),
                'account.invoice.line,' || l.id, 'valid', NOW(), 0
            FROM account_invoice_line AS l
            JOIN account_invoice AS inv ON inv.id = l.invoice
            WHERE inv.move IS NOT NULL AND inv.number LIKE 'RFM%%'
            """, args)
        conn.execute("""
            INSERT INTO account_move_line (move, account, party, debit,
                credit, state, create_date, create_uid)
            SELECT l.move, %(receivable)s, inv.party,
                GREATEST(SUM(l.credit - l.debit), 0),
                GREATEST(SUM(l.debit - l.credit), 0), 'valid', NOW(), 0
            FROM account_move_line AS l
            JOIN account_invoice AS inv ON inv.move = l.move
            WHERE inv.number LIKE 'RFM%%'
            GROUP BY l.move, inv.party
            """, args)
        for table in ['party_party', 'party_address', 'account_move',
                'account_invoice', 'account_invoice_line',
                'account_move_line']:
            conn.execute(f'ANALYZE {table}')
    return company


def bench_rfm():
    template = benchdb.prepare_template(
        ('crm_marketing',), kind='mkttpl')
    database = benchdb.fresh_database('rfm', template)
    company_id = load(database)
    pool = benchdb.pool(database)
    RFM = pool.get('crm.rfm')
    Company = pool.get('company.company')
    Configuration = pool.get('crm.configuration')
    today = dt.date.today()

    with benchdb.transaction(
            database, context={'company': company_id}) as transaction:
        window = Configuration(1).rfm_window
        start = today - dt.timedelta(days=window)
        cursor = transaction.connection.cursor()
        # warm the caches of the database for both sides alike
        cursor.execute(
            "SELECT COUNT(*), SUM(credit - debit) FROM account_move_line")
        cursor.execute("SELECT COUNT(*) FROM account_invoice_line")
        lines, = cursor.fetchone()
        with Timer() as baseline:
            cursor.execute(HAND_WRITTEN, {
                    'company': company_id, 'today': today, 'start': start})
        with Timer() as timer:
            RFM.compute(Company(company_id), today)
        cursor.execute("SELECT COUNT(*) FROM crm_rfm")
        scored, = cursor.fetchone()
        cursor.execute("""
            SELECT COUNT(*) FROM rfm_hand AS h
            FULL JOIN crm_rfm AS r ON r.party = h.party
            WHERE r.id IS NULL OR h.party IS NULL
                OR r.recency IS DISTINCT FROM h.recency
                OR r.frequency != h.frequency
                OR r.monetary != h.monetary
                OR (r.recency_score, r.frequency_score, r.monetary_score)
                    != (h.r, h.f, h.m)
                OR r.segment != h.segment""")
        different, = cursor.fetchone()
        cursor.execute("""
            SELECT (SELECT SUM(monetary) FROM crm_rfm),
                (SELECT SUM(l.credit - l.debit)
                    FROM account_move_line AS l
                    JOIN account_invoice AS i ON i.move = l.move
                    WHERE l.origin LIKE 'account.invoice.line,%%'
                        AND i.invoice_date >= %s)""", [start])
        monetary, revenue = cursor.fetchone()
        cursor.execute(
            "SELECT segment, COUNT(*) FROM crm_rfm GROUP BY segment "
            "ORDER BY COUNT(*) DESC")
        segments = dict(cursor)
        transaction.commit()
    return Result(
        'rfm', timer.seconds, 's', baseline=baseline.seconds,
        target=round(baseline.seconds * TARGET_RATIO, 2),
        correct=not different and monetary == revenue and scored > 0,
        check=("every customer has the scores and segment of the "
            "hand-written statement; the monetary values add up to the "
            "revenue of the window"),
        detail={'invoice_lines': lines, 'customers_scored': scored,
            'different': different, 'target_ratio': TARGET_RATIO,
            'segments': segments})
