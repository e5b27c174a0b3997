# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from sql import As, Cast, Literal, Null, Union
from sql.conditionals import Case, Coalesce
from sql.functions import Function
from sql.operators import Concat

from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval

#: The most event sources the timeline unites (ids are record id × SOURCES
#: + the index of the source)
SOURCES = 100
#: The columns every event source selects, in this order
COLUMNS = [
    'id', 'company', 'party', 'date', 'kind', 'summary', 'employee',
    'amount', 'resource']


class DateOf(Function):
    "The date of a timestamp (SQLite and PostgreSQL both know DATE())"
    __slots__ = ()
    _function = 'DATE'


def typed(value, type_):
    "A constant of the SQL type, so that the union agrees on its columns"
    return Cast(Literal(value), type_)


def reference(model, table):
    "The Reference value 'model,id' of the rows of table"
    return Concat(model + ',', Cast(table.id, 'VARCHAR'))


class Timeline(ModelSQL, ModelView):
    """Every interaction with a party in date order: one query over the event
    sources of each module of the suite (see _timeline_sources)."""
    __name__ = 'crm.timeline'
    __string__ = "CRM Timeline"
    _rec_name = 'summary'

    company = fields.Many2One('company.company', "Company", readonly=True)
    party = fields.Many2One(
        'party.party', "Party", readonly=True,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    date = fields.Date("Date", readonly=True)
    kind = fields.Selection([
            ('activity', "Activity"),
            ('opportunity', "Opportunity"),
            ('opportunity_won', "Opportunity Won"),
            ('opportunity_lost', "Opportunity Lost"),
            ('quotation', "Quotation"),
            ('sale', "Sale"),
            ], "Kind", readonly=True)
    summary = fields.Char("Summary", readonly=True)
    employee = fields.Many2One('company.employee', "Employee", readonly=True)
    amount = fields.Numeric("Amount", digits=(16, 2), readonly=True)
    resource = fields.Reference(
        "Resource", selection='get_resources', readonly=True,
        help="The record of the event.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('date', 'DESC'),
            ('id', 'DESC'),
            ]

    @classmethod
    def _timeline_resources(cls):
        "Return the models of the events"
        return ['crm.activity', 'sale.opportunity', 'sale.sale']

    @classmethod
    def get_resources(cls):
        pool = Pool()
        Model = pool.get('ir.model')
        return [(None, '')] + [
            (m, Model.get_name(m)) for m in cls._timeline_resources()]

    @classmethod
    def _timeline_sources(cls):
        """Return the queries of the events

        Each selects the columns of COLUMNS in that order; 'id' is the id of
        the record, unique within the source. Modules extend the list with
        their own events."""
        pool = Pool()
        Activity = pool.get('crm.activity')
        Opportunity = pool.get('sale.opportunity')
        Sale = pool.get('sale.sale')
        activity = Activity.__table__()
        opportunity = Opportunity.__table__()
        closed = Opportunity.__table__()
        sale = Sale.__table__()
        return [
            activity.select(
                activity.id, activity.company, activity.party,
                DateOf(Coalesce(activity.date_done, activity.planned_date)),
                typed('activity', 'VARCHAR'), activity.summary,
                activity.employee, typed(None, 'NUMERIC'),
                reference('crm.activity', activity),
                where=(activity.party != Null)
                & (activity.state != 'cancelled')),
            opportunity.select(
                opportunity.id, opportunity.company, opportunity.party,
                opportunity.start_date, typed('opportunity', 'VARCHAR'),
                Coalesce(opportunity.description, opportunity.number),
                opportunity.employee, opportunity.amount,
                reference('sale.opportunity', opportunity),
                where=opportunity.party != Null),
            closed.select(
                closed.id, closed.company, closed.party, closed.end_date,
                Case((closed.state == 'won', 'opportunity_won'),
                    else_='opportunity_lost'),
                Coalesce(closed.description, closed.number),
                closed.employee, closed.amount,
                reference('sale.opportunity', closed),
                where=(closed.party != Null)
                & closed.state.in_(['won', 'lost'])
                & (closed.end_date != Null)),
            sale.select(
                sale.id, sale.company, sale.party,
                Coalesce(sale.sale_date, DateOf(sale.create_date)),
                Case((sale.state.in_(['draft', 'quotation']), 'quotation'),
                    else_='sale'),
                Coalesce(sale.description, sale.number, sale.reference),
                typed(None, 'INTEGER'), sale.untaxed_amount_cache,
                reference('sale.sale', sale),
                where=sale.state != 'cancelled'),
            ]

    @classmethod
    def table_query(cls):
        sources = cls._timeline_sources()
        assert len(sources) <= SOURCES, "too many timeline sources"
        for index, source in enumerate(sources):
            id_, *columns = [
                c.expression if isinstance(c, As) else c
                for c in source.columns]
            source.columns = [
                (Cast(id_, 'BIGINT') * SOURCES + index).as_('id')] + [
                c.as_(n) for c, n in zip(columns, COLUMNS[1:])]
        if len(sources) == 1:
            return sources[0]
        return Union(*sources, all_=True)
