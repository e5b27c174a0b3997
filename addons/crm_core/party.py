# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The 360° view of a customer: the CRM tab of the party and its health
score, both extension points of the suite"""
import datetime as dt
from collections import defaultdict
from decimal import Decimal

from sql import Null
from sql.aggregate import Count, Max, Sum
from sql.conditionals import Coalesce

from trytond import backend
from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.tools import grouped_slice, reduce_ids, sqlite_apply_types
from trytond.transaction import Transaction

from .access import read_domain, restrict
from .memo import unchanged_memo

OPEN_OPPORTUNITY_STATES = ['lead', 'opportunity']
CONFIRMED_SALE_STATES = ['confirmed', 'processing', 'done']
#: The score of a component without data
NEUTRAL = 50


class HealthComponent:
    "A named part of the health score of a party"
    __slots__ = ('name', 'string', 'score', 'weight', 'explanation')

    def __init__(self, name, string, score, explanation, weight=1):
        self.name = name
        self.string = string
        self.score = None if score is None else max(0, min(100, round(score)))
        self.weight = weight
        self.explanation = explanation

    def __repr__(self):
        return f'<{self.name} {self.score} x{self.weight}>'


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    crm_opportunities = fields.Function(fields.Many2Many(
            'sale.opportunity', None, None, "Open Opportunities",
            help="The leads and opportunities still in progress."),
        'get_crm_records')
    crm_sales = fields.Function(fields.Many2Many(
            'sale.sale', None, None, "Quotations and Sales",
            help="The quotations and sales, the latest first."),
        'get_crm_records')
    crm_timeline = fields.Function(fields.Many2Many(
            'crm.timeline', None, None, "Timeline",
            help="Every interaction with the party, the latest first."),
        'get_crm_records')
    health_score = fields.Function(fields.Integer(
            "Health Score",
            help="From 0 (at risk) to 100 (healthy): the weighted average "
            "of the components."),
        'get_health')
    health_components = fields.Function(fields.Text(
            "Health Components",
            help="The components of the health score and what they are "
            "made of."),
        'get_health')

    @classmethod
    def _crm_records_domains(cls):
        """Return {field name: (model, party field, domain, order)} of the
        lists of the CRM tab"""
        return {
            'crm_opportunities': (
                'sale.opportunity', 'party',
                [('state', 'in', OPEN_OPPORTUNITY_STATES)],
                [('start_date', 'DESC'), ('id', 'DESC')]),
            'crm_sales': (
                'sale.sale', 'party', [],
                [('sale_date', 'DESC NULLS FIRST'), ('id', 'DESC')]),
            'crm_timeline': ('crm.timeline', 'party', [], None),
            }

    @classmethod
    def get_crm_records(cls, parties, names):
        "One search per list for all the parties"
        pool = Pool()
        cursor = Transaction().connection.cursor()
        domains = cls._crm_records_domains()
        result = {}
        for name in names:
            model, party_field, domain, order = domains[name]
            Model = pool.get(model)
            values = result[name] = {p.id: [] for p in parties}
            # the records the user may read: getters run without access check
            rule = read_domain(model)
            if rule is None:
                continue
            if rule:
                domain = domain + [rule]
            for sub_parties in grouped_slice(
                    parties, backend.MAX_QUERY_PARAMS):
                sub_ids = [p.id for p in sub_parties]
                # the ids only: a search of records would read every column
                cursor.execute(*Model.search(
                        [(party_field, 'in', sub_ids)] + domain,
                        order=order, query=True))
                ids = [i for i, in cursor]
                if len(sub_ids) == 1:
                    values[sub_ids[0]] = ids
                    continue
                for row in Model.read(ids, [party_field]):
                    values[row[party_field]].append(row['id'])
        return result

    @classmethod
    def get_health(cls, parties, names):
        components = cls._crm_health_components(parties)
        result = {n: {} for n in names}
        for party in parties:
            party_components = components.get(party.id, [])
            scored = [c for c in party_components if c.score is not None]
            weights = sum(c.weight for c in scored)
            if 'health_score' in result:
                result['health_score'][party.id] = (
                    round(sum(c.score * c.weight for c in scored) / weights)
                    if weights else None)
            if 'health_components' in result:
                result['health_components'][party.id] = '\n'.join(
                    gettext('crm_core.msg_health_component_line',
                        component=c.string,
                        score=('-' if c.score is None else c.score),
                        weight=c.weight, explanation=c.explanation)
                    for c in party_components)
        return result

    @classmethod
    def _crm_health_components(cls, parties):
        """Return {party id: [HealthComponent]}

        Each module of the suite extends it with its own components; each
        component is computed set-based for all the parties."""
        today = Pool().get('ir.date').today()
        components = defaultdict(list)
        if read_domain(cls._crm_purchase_model()) is None:
            hidden = [
                cls._crm_health_hidden(name, string, cls._crm_purchase_model())
                for name, string in [
                    ('recency', gettext('crm_core.msg_health_recency')),
                    ('frequency', gettext('crm_core.msg_health_frequency')),
                    ('monetary', gettext('crm_core.msg_health_monetary')),
                    ]]
            for party in parties:
                components[party.id].extend(hidden)
            return components
        purchases = cls._crm_purchases(parties, today)
        last_dates = cls._crm_last_purchase_dates(parties)
        reference = cls._crm_reference_revenue(today)
        for party in parties:
            count, revenue = purchases.get(party.id, (0, Decimal(0)))
            components[party.id].extend([
                    cls._crm_health_recency(last_dates.get(party.id), today),
                    cls._crm_health_frequency(count),
                    cls._crm_health_monetary(revenue, reference),
                    ])
        return components

    @classmethod
    def _crm_health_hidden(cls, name, string, model):
        """The component without score of a user who may not read the
        records of model it is made of"""
        Model = Pool().get('ir.model')
        return HealthComponent(name, string, None,
            gettext('crm_core.msg_health_no_access',
                model=Model.get_name(model)))

    @classmethod
    def _crm_health_recency(cls, last_date, today):
        "100 within a month of the last purchase, 0 after a year"
        string = gettext('crm_core.msg_health_recency')
        if last_date is None:
            return HealthComponent('recency', string, NEUTRAL,
                gettext('crm_core.msg_health_recency_none'))
        days = (today - last_date).days
        score = 100 - (max(days, 30) - 30) * 100 / (365 - 30)
        return HealthComponent('recency', string, score,
            gettext('crm_core.msg_health_recency_days', days=days))

    @classmethod
    def _crm_health_frequency(cls, count):
        "100 for a purchase a month over the last 12 months"
        string = gettext('crm_core.msg_health_frequency')
        if not count:
            return HealthComponent('frequency', string, NEUTRAL,
                gettext('crm_core.msg_health_frequency_none'))
        return HealthComponent('frequency', string, count * 100 / 12,
            gettext('crm_core.msg_health_frequency_count', count=count))

    @classmethod
    def _crm_health_monetary(cls, revenue, reference):
        "50 for the revenue of the average customer, 100 for twice as much"
        string = gettext('crm_core.msg_health_monetary')
        if not revenue or not reference:
            return HealthComponent('monetary', string, NEUTRAL,
                gettext('crm_core.msg_health_monetary_none'))
        return HealthComponent('monetary', string,
            float(revenue / reference) * 50,
            gettext('crm_core.msg_health_monetary_revenue',
                revenue=cls._crm_format_amount(revenue),
                reference=cls._crm_format_amount(reference)))

    @classmethod
    def _crm_format_amount(cls, amount):
        "Format the amount in the currency of the company"
        pool = Pool()
        Company = pool.get('company.company')
        Lang = pool.get('ir.lang')
        context = Transaction().context
        company = context.get('company')
        memo = unchanged_memo('crm_core.amount_format')
        key = (context.get('language'), company)
        if key not in memo:
            memo[key] = (Lang.get(),
                Company(company).currency
                if company is not None and company >= 0 else None)
        lang, currency = memo[key]
        if currency:
            return lang.currency(amount, currency)
        return lang.format('%.2f', amount)

    @classmethod
    def _crm_purchase_model(cls):
        "The model of the purchases of _crm_purchase_query"
        return 'sale.sale'

    @classmethod
    def _crm_purchase_query(cls, since):
        """Return the query of (party, date, amount) of the purchases since
        the date that make frequency and revenue; account_invoice makes them
        the posted invoices"""
        return cls._crm_sale_query(since)

    @classmethod
    def _crm_sale_query(cls, since):
        """Return the query of (party, date, amount) of the confirmed sales
        the user may read"""
        pool = Pool()
        Sale = pool.get('sale.sale')
        sale = Sale.__table__()
        company = Transaction().context.get('company', -1)
        where = (sale.state.in_(CONFIRMED_SALE_STATES)
            & (sale.company == company))
        if since is not None:
            where &= sale.sale_date >= since
        return restrict(sale.select(
                sale.party.as_('party'), sale.sale_date.as_('date'),
                Coalesce(sale.untaxed_amount_cache, 0).as_('amount'),
                where=where),
            'sale.sale', sale.id, sale.company)

    @classmethod
    def _crm_purchases(cls, parties, today):
        "Return {party id: (count, revenue)} of the last 12 months"
        cursor = Transaction().connection.cursor()
        purchase = cls._crm_purchase_query(today - dt.timedelta(days=365))
        result = {}
        for sub_ids in grouped_slice(
                [p.id for p in parties], backend.MAX_QUERY_PARAMS):
            query = purchase.select(
                purchase.party.as_('party'),
                Count(purchase.party).as_('count'),
                Sum(purchase.amount).as_('amount'),
                where=reduce_ids(purchase.party, sub_ids),
                group_by=purchase.party)
            sqlite_apply_types(query, [None, None, 'NUMERIC'])
            cursor.execute(*query)
            for party, count, amount in cursor:
                result[party] = (count, Decimal(amount or 0))
        return result

    @classmethod
    def _crm_last_purchase_dates(cls, parties):
        """Return {party id: date} of the last confirmed sale;
        account_invoice adds the posted invoices"""
        cursor = Transaction().connection.cursor()
        purchase = cls._crm_sale_query(None)
        result = {}
        for sub_ids in grouped_slice(
                [p.id for p in parties], backend.MAX_QUERY_PARAMS):
            query = purchase.select(
                purchase.party.as_('party'), Max(purchase.date).as_('date'),
                where=reduce_ids(purchase.party, sub_ids)
                & (purchase.date != Null),
                group_by=purchase.party)
            sqlite_apply_types(query, [None, 'DATE'])
            cursor.execute(*query)
            result.update(cursor)
        return result

    @classmethod
    def _crm_reference_revenue(cls, today):
        "The revenue of the average customer over the last 12 months"
        cursor = Transaction().connection.cursor()
        purchase = cls._crm_purchase_query(today - dt.timedelta(days=365))
        query = purchase.select(
            Sum(purchase.amount).as_('amount'),
            Count(purchase.party, distinct=True).as_('customers'))
        sqlite_apply_types(query, ['NUMERIC', None])
        cursor.execute(*query)
        total, customers = cursor.fetchone()
        if not total or not customers:
            return None
        return Decimal(total) / customers
