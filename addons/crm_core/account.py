# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The accounting part of the 360° view: posted revenue, receivables and
payment behaviour (account_invoice)"""
import datetime as dt
from collections import defaultdict
from decimal import Decimal

from sql import Null
from sql.aggregate import Count, Max, Min, Sum
from sql.conditionals import Case, Coalesce

from trytond import backend
from trytond.i18n import gettext
from trytond.model import fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.tools import grouped_slice, reduce_ids, sqlite_apply_types
from trytond.transaction import Transaction

from .access import read_domain, restrict
from .memo import unchanged_memo
from .party import NEUTRAL, HealthComponent
from .timeline import TimelineSource, reference, typed

POSTED_STATES = ['posted', 'paid']


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    crm_revenue_12m = fields.Function(Monetary(
            "Revenue (12 months)", currency='currency', digits='currency',
            help="The untaxed amount of the posted customer invoices and "
            "credit notes of the last 12 months."),
        'get_crm_revenue')
    crm_revenue = fields.Function(Monetary(
            "Revenue", currency='currency', digits='currency',
            help="The untaxed amount of all the posted customer invoices and "
            "credit notes."),
        'get_crm_revenue')
    crm_overdue = fields.Function(Monetary(
            "Overdue", currency='currency', digits='currency',
            help="The receivable past its maturity date."),
        'get_crm_receivable')
    crm_overdue_since = fields.Function(fields.Date(
            "Overdue Since",
            help="The oldest maturity date still unpaid."),
        'get_crm_receivable')
    crm_invoices = fields.Function(fields.Many2Many(
            'account.invoice', None, None, "Invoices",
            help="The customer invoices and credit notes, the latest first."),
        'get_crm_records')

    @classmethod
    def _crm_records_domains(cls):
        domains = super()._crm_records_domains()
        domains['crm_invoices'] = (
            'account.invoice', 'party',
            [('type', '=', 'out'), ('state', '!=', 'cancelled')],
            [('invoice_date', 'DESC NULLS FIRST'), ('id', 'DESC')])
        return domains

    @classmethod
    def _crm_invoice_query(cls, since):
        """Return the query of (party, date, amount) of the posted invoices
        the user may read"""
        pool = Pool()
        Invoice = pool.get('account.invoice')
        invoice = Invoice.__table__()
        company = Transaction().context.get('company', -1)
        where = ((invoice.type == 'out')
            & invoice.state.in_(POSTED_STATES)
            & (invoice.company == company))
        if since is not None:
            where &= invoice.invoice_date >= since
        return restrict(invoice.select(
                invoice.party.as_('party'), invoice.invoice_date.as_('date'),
                Coalesce(invoice.untaxed_amount_cache, 0).as_('amount'),
                where=where),
            'account.invoice', invoice.id, invoice.company)

    @classmethod
    def _crm_purchase_model(cls):
        return 'account.invoice'

    @classmethod
    def _crm_purchase_query(cls, since):
        return cls._crm_invoice_query(since)

    @classmethod
    def _crm_last_purchase_dates(cls, parties):
        cursor = Transaction().connection.cursor()
        dates = super()._crm_last_purchase_dates(parties)
        invoice = cls._crm_invoice_query(None)
        for sub_ids in grouped_slice(
                [p.id for p in parties], backend.MAX_QUERY_PARAMS):
            query = invoice.select(
                invoice.party.as_('party'), Max(invoice.date).as_('date'),
                where=reduce_ids(invoice.party, sub_ids),
                group_by=invoice.party)
            sqlite_apply_types(query, [None, 'DATE'])
            cursor.execute(*query)
            for party, date in cursor:
                dates[party] = max(filter(None, [dates.get(party), date]))
        return dates

    @classmethod
    def get_crm_revenue(cls, parties, names):
        pool = Pool()
        Date = pool.get('ir.date')
        cursor = Transaction().connection.cursor()
        since = Date.today() - dt.timedelta(days=365)
        if read_domain('account.invoice') is None:
            return {n: dict.fromkeys(map(int, parties)) for n in names}
        invoice = cls._crm_invoice_query(None)
        result = {n: defaultdict(Decimal) for n in names}
        for sub_ids in grouped_slice(
                [p.id for p in parties], backend.MAX_QUERY_PARAMS):
            query = invoice.select(
                invoice.party.as_('party'),
                Sum(invoice.amount).as_('total'),
                Sum(invoice.amount, filter_=invoice.date >= since).as_(
                    'last_year'),
                where=reduce_ids(invoice.party, sub_ids),
                group_by=invoice.party)
            sqlite_apply_types(query, [None, 'NUMERIC', 'NUMERIC'])
            cursor.execute(*query)
            for party, total, last_year in cursor:
                if 'crm_revenue' in result:
                    result['crm_revenue'][party] = Decimal(total or 0)
                if 'crm_revenue_12m' in result:
                    result['crm_revenue_12m'][party] = Decimal(last_year or 0)
        return result

    @classmethod
    def _crm_receivables(cls, parties):
        """Return {party id: (lines, open, overdue, overdue since)} of the
        receivable move lines of the company that the user may read"""
        pool = Pool()
        Account = pool.get('account.account')
        AccountType = pool.get('account.account.type')
        Date = pool.get('ir.date')
        Move = pool.get('account.move')
        MoveLine = pool.get('account.move.line')
        account = Account.__table__()
        account_type = AccountType.__table__()
        move = Move.__table__()
        line = MoveLine.__table__()
        cursor = Transaction().connection.cursor()
        company = Transaction().context.get('company', -1)
        today = Date.today()
        # the overdue figures and the health score of one read share it
        memo = unchanged_memo('crm_core.receivables')
        key = (Transaction().user, company, today,
            tuple(p.id for p in parties))
        if key in memo:
            return memo[key]

        maturity = Coalesce(line.maturity_date, move.date)
        open_ = line.reconciliation == Null
        overdue = open_ & (maturity < today)
        result = {}
        for sub_ids in grouped_slice(
                [p.id for p in parties], backend.MAX_QUERY_PARAMS):
            query = restrict((line
                    .join(move, condition=line.move == move.id)
                    .join(account, condition=line.account == account.id)
                    .join(account_type,
                        condition=account.type == account_type.id)
                    .select(
                        line.party.as_('party'),
                        Count(line.id).as_('lines'),
                        Sum(line.debit - line.credit, filter_=open_).as_(
                            'open'),
                        Sum(line.debit - line.credit, filter_=overdue).as_(
                            'overdue'),
                        Min(maturity, filter_=overdue).as_('since'),
                        where=reduce_ids(line.party, sub_ids)
                        & account_type.receivable
                        & (account.company == company),
                        group_by=line.party)),
                'account.move.line', line.id, {'move.company': move.company})
            sqlite_apply_types(
                query, [None, None, 'NUMERIC', 'NUMERIC', 'DATE'])
            cursor.execute(*query)
            for party, count, open_amount, overdue_amount, since in cursor:
                result[party] = (
                    count, Decimal(open_amount or 0),
                    Decimal(overdue_amount or 0), since)
        memo[key] = result
        return result

    @classmethod
    def get_crm_receivable(cls, parties, names):
        if read_domain('account.move.line') is None:
            return {n: dict.fromkeys(map(int, parties)) for n in names}
        receivables = cls._crm_receivables(parties)
        result = {n: {} for n in names}
        for party in parties:
            _, _, overdue, since = receivables.get(
                party.id, (0, 0, Decimal(0), None))
            if 'crm_overdue' in result:
                result['crm_overdue'][party.id] = (
                    party.currency.round(overdue) if party.currency
                    else overdue)
            if 'crm_overdue_since' in result:
                result['crm_overdue_since'][party.id] = since
        return result

    @classmethod
    def _crm_health_components(cls, parties):
        components = super()._crm_health_components(parties)
        today = Pool().get('ir.date').today()
        if read_domain('account.move.line') is None:
            hidden = cls._crm_health_hidden('payment',
                gettext('crm_core.msg_health_payment'), 'account.move.line')
            for party in parties:
                components[party.id].append(hidden)
            return components
        receivables = cls._crm_receivables(parties)
        for party in parties:
            components[party.id].append(cls._crm_health_payment(
                    receivables.get(party.id), today))
        return components

    @classmethod
    def _crm_health_payment(cls, receivable, today):
        "100 when nothing is overdue, the share paid on time otherwise"
        string = gettext('crm_core.msg_health_payment')
        if not receivable:
            return HealthComponent('payment', string, NEUTRAL,
                gettext('crm_core.msg_health_payment_none'))
        _, open_amount, overdue, since = receivable
        if overdue <= 0 or open_amount <= 0:
            return HealthComponent('payment', string, 100,
                gettext('crm_core.msg_health_payment_ok'))
        return HealthComponent('payment', string,
            100 * (1 - min(overdue / open_amount, 1)),
            gettext('crm_core.msg_health_payment_overdue',
                overdue=cls._crm_format_amount(overdue),
                receivable=cls._crm_format_amount(open_amount),
                days=(today - since).days))


class Timeline(metaclass=PoolMeta):
    __name__ = 'crm.timeline'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.kind.selection += [
            ('invoice', "Invoice"),
            ('credit_note', "Credit Note"),
            ('payment', "Payment"),
            ]

    @classmethod
    def _timeline_resources(cls):
        return super()._timeline_resources() + [
            'account.invoice', 'account.move.line']

    @classmethod
    def _timeline_sources(cls):
        pool = Pool()
        Account = pool.get('account.account')
        AccountType = pool.get('account.account.type')
        Invoice = pool.get('account.invoice')
        Move = pool.get('account.move')
        MoveLine = pool.get('account.move.line')
        invoice = Invoice.__table__()
        invoice_move = Invoice.__table__()
        account = Account.__table__()
        account_type = AccountType.__table__()
        move = Move.__table__()
        line = MoveLine.__table__()
        payments = (line
            .join(move, condition=line.move == move.id)
            .join(account, condition=line.account == account.id)
            .join(account_type, condition=account.type == account_type.id))
        return super()._timeline_sources() + [
            TimelineSource(5, 'account.invoice', invoice.select(
                    invoice.id, invoice.company, invoice.party,
                    invoice.invoice_date,
                    Case((invoice.total_amount_cache < 0, 'credit_note'),
                        else_='invoice'),
                    Coalesce(invoice.number, invoice.description),
                    typed(None, 'INTEGER'), invoice.total_amount_cache,
                    reference('account.invoice', invoice),
                    where=(invoice.type == 'out')
                    & invoice.state.in_(POSTED_STATES))),
            TimelineSource(6, 'account.move.line', payments.select(
                    line.id, move.company, line.party, move.date,
                    typed('payment', 'VARCHAR'),
                    Coalesce(
                        line.description, move.description, move.number),
                    typed(None, 'INTEGER'), line.credit - line.debit,
                    reference('account.move.line', line),
                    where=account_type.receivable
                    & (line.party != Null)
                    & (line.credit > 0)
                    & (move.state == 'posted')
                    & ~move.id.in_(invoice_move.select(
                            invoice_move.move,
                            where=invoice_move.move != Null))),
                {'move.company': move.company}),
            ]
