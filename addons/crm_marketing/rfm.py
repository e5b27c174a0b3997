# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Recency, frequency and monetary value of each customer, from the posted
invoices net of credit notes, scored in quintiles per company"""
import datetime as dt

from sql import Cast, Literal, Null, Window
from sql.aggregate import Count, Max, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import Ceil, CumeDist, CurrentTimestamp
from sql.operators import Concat, Like

from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.modules.crm_core.dbtools import (
    analyze, days_between, numeric, serialize)
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction
from trytond.wizard import StateAction, Wizard

#: The named segments by (recency score, frequency score): the usual map of
#: RFM analysis, with the oldest of the hibernating customers told apart as
#: lost
SEGMENTS = [
    ('champions', "Champions"),
    ('loyal', "Loyal"),
    ('potential_loyalist', "Potential Loyalist"),
    ('new', "New Customers"),
    ('promising', "Promising"),
    ('need_attention', "Need Attention"),
    ('about_to_sleep', "About to Sleep"),
    ('at_risk', "At Risk"),
    ('cant_lose', "Can't Lose Them"),
    ('hibernating', "Hibernating"),
    ('lost', "Lost"),
    ]
SEGMENT_MAP = {
    'lost': ['11', '12'],
    'hibernating': ['21', '22'],
    'at_risk': ['13', '14', '23', '24'],
    'cant_lose': ['15', '25'],
    'about_to_sleep': ['31', '32'],
    'need_attention': ['33'],
    'loyal': ['34', '35', '44', '45'],
    'promising': ['41'],
    'new': ['51'],
    'potential_loyalist': ['42', '43', '52', '53'],
    'champions': ['54', '55'],
    }


def segment_of(recency_score, frequency_score):
    "Return the segment of the scores"
    key = f'{recency_score}{frequency_score}'
    return next(s for s, keys in SEGMENT_MAP.items() if key in keys)


class RFM(ModelSQL, ModelView):
    "RFM Score"
    __string__ = "RFM Score"
    __name__ = 'crm.rfm'

    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True,
        ondelete='CASCADE')
    party = fields.Many2One(
        'party.party', "Customer", required=True, readonly=True,
        ondelete='CASCADE',
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    date = fields.Date(
        "Date", required=True, readonly=True,
        help="The day the scores were computed on.")
    last_invoice_date = fields.Date(
        "Last Invoice", readonly=True,
        help="The date of the customer's latest posted invoice.")
    recency = fields.Integer(
        "Recency", readonly=True,
        help="The days from the latest invoice to the date of the scores.")
    frequency = fields.Integer(
        "Frequency", readonly=True,
        help="The posted invoices of the window (credit notes excluded).")
    monetary = fields.Numeric(
        "Monetary", digits=(16, 2), readonly=True,
        help="The invoiced revenue of the window without taxes, net of "
        "credit notes, in the company's currency.")
    currency = fields.Function(fields.Many2One(
            'currency.currency', "Currency"), 'on_change_with_currency')
    recency_score = fields.Integer(
        "R", readonly=True,
        help="1 to 5: 5 for the fifth of customers who bought last.")
    frequency_score = fields.Integer(
        "F", readonly=True,
        help="1 to 5: 5 for the fifth of customers who bought most often.")
    monetary_score = fields.Integer(
        "M", readonly=True,
        help="1 to 5: 5 for the fifth of customers who spent most.")
    score = fields.Char(
        "RFM", readonly=True,
        help="The three scores together, e.g. 545.")
    segment = fields.Selection(
        SEGMENTS, "Segment", readonly=True, sort=False,
        help="The named group of the recency and frequency scores.")
    customers = fields.Function(fields.Integer(
            "Customers", help="1 for each score: the count of a graph."),
        'get_customers')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.company, Index.Equality()),
                    (t.party, Index.Equality())),
                Index(t, (t.party, Index.Equality())),
                Index(t, (t.segment, Index.Equality())),
                })
        cls._order = [('monetary', 'DESC'), ('id', 'ASC')]

    @fields.depends('company')
    def on_change_with_currency(self, name=None):
        return self.company.currency if self.company else None

    def get_customers(self, name):
        return 1

    def get_rec_name(self, name):
        return f'{self.party.rec_name} ({self.score})'

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('party.rec_name',) + tuple(clause[1:])]

    @classmethod
    def compute_all(cls):
        "Compute the scores of every company (the cron job)"
        pool = Pool()
        Company = pool.get('company.company')
        for company in Company.search([]):
            cls.compute(company)

    @classmethod
    def compute(cls, company, date=None):
        """Score the customers of the company on the date (today)

        Every party with a posted customer invoice of the company gets one
        row: the recency from its latest invoice ever, the frequency and
        the monetary value over the window of the configuration; each
        scored 1 to 5 by the fifth of the customers it falls in (ties share
        their score). One statement replaces the company's rows."""
        pool = Pool()
        Configuration = pool.get('crm.configuration')
        Date = pool.get('ir.date')
        Invoice = pool.get('account.invoice')
        MoveLine = pool.get('account.move.line')
        transaction = Transaction()
        with transaction.set_context(company=company.id):
            if date is None:
                date = Date.today()
            window = Configuration(1).rfm_window
        start = date - dt.timedelta(days=window)
        serialize(f'crm.rfm,{company.id}')

        invoice = Invoice.__table__()
        line = MoveLine.__table__()
        table = cls.__table__()
        cursor = transaction.connection.cursor()

        # the revenue of each posted customer invoice, in the company's
        # currency: the move lines of its invoice lines (negative for a
        # credit note)
        revenue = Sum(line.credit - line.debit)
        invoices = invoice.join(line,
            condition=(line.move == invoice.move)
            & Like(line.origin, 'account.invoice.line,%')
            ).select(
            invoice.party.as_('party'),
            invoice.invoice_date.as_('invoice_date'),
            revenue.as_('revenue'),
            where=(invoice.company == company.id)
            & (invoice.type == 'out')
            & invoice.state.in_(['posted', 'paid'])
            & (invoice.invoice_date <= date),
            group_by=[invoice.id, invoice.party, invoice.invoice_date])
        in_window = invoices.invoice_date >= start
        sold = invoices.revenue > 0
        customers = invoices.select(
            invoices.party.as_('party'),
            Max(invoices.invoice_date, filter_=sold).as_('last'),
            Count(invoices.party, filter_=in_window & sold).as_('frequency'),
            Coalesce(Sum(numeric(invoices.revenue), filter_=in_window), 0
                ).as_('monetary'),
            group_by=[invoices.party])
        # parties with credit notes only have no date: the oldest
        last = Coalesce(customers.last, Literal(dt.date.min))

        def quintile(order_by):
            # ⌈5 × the share of the customers at or below⌉, the epsilon
            # against 5 × 0.6 = 3.0000000000000004
            cume = CumeDist(window=Window([], order_by=[order_by]))
            return Cast(Ceil(Literal(5) * cume - Literal(1e-9)), 'INTEGER')
        scored = customers.select(
            customers.party, customers.last, customers.frequency,
            customers.monetary,
            quintile(last).as_('r'),
            quintile(customers.frequency).as_('f'),
            quintile(customers.monetary).as_('m'))
        segment = Case(*((
                    Concat(Cast(scored.r, 'VARCHAR'),
                        Cast(scored.f, 'VARCHAR')).in_(keys), name)
                for name, keys in SEGMENT_MAP.items()),
            else_=Null)
        recency = Case(
            (scored.last != Null, days_between(Literal(date), scored.last)),
            else_=Null)

        cursor.execute(*table.delete(where=table.company == company.id))
        cursor.execute(*table.insert([
                    table.create_uid, table.create_date, table.company,
                    table.party, table.date, table.last_invoice_date,
                    table.recency, table.frequency, table.monetary,
                    table.recency_score, table.frequency_score,
                    table.monetary_score, table.score, table.segment],
                scored.select(
                    Literal(transaction.user), CurrentTimestamp(),
                    Literal(company.id), scored.party, Literal(date),
                    scored.last, recency, scored.frequency, scored.monetary,
                    scored.r, scored.f, scored.m,
                    Concat(Concat(Cast(scored.r, 'VARCHAR'),
                            Cast(scored.f, 'VARCHAR')),
                        Cast(scored.m, 'VARCHAR')),
                    segment)))
        analyze(cls)


class Compute(Wizard):
    "Compute RFM Scores"
    __name__ = 'crm.rfm.compute'
    start_state = 'compute'
    compute = StateAction('crm_marketing.act_rfm_form')

    def do_compute(self, action):
        pool = Pool()
        Company = pool.get('company.company')
        RFM = pool.get('crm.rfm')
        company = Transaction().context.get('company')
        if company is not None:
            RFM.compute(Company(company))
        return action, {}
