# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from collections import namedtuple

from sql import As, Cast, Literal, Null, Union
from sql.conditionals import Case, Coalesce
from sql.functions import Function
from sql.operators import Concat

from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval

from .access import restrict

#: Event ids are record id × SOURCES + the key of the source
SOURCES = 100
#: The columns every event source selects, in this order
COLUMNS = [
    'id', 'company', 'party', 'date', 'kind', 'summary', 'employee',
    'amount', 'resource']


class DateOf(Function):
    "The date of a timestamp (SQLite and PostgreSQL both know DATE())"
    __slots__ = ()
    _function = 'DATE'


class TimelineSource(namedtuple('TimelineSource',
            ['key', 'model', 'query', 'company_paths'], defaults=[{}])):
    """An event source of the timeline

    key: the fixed integer (1-99) of the source kind, which makes the ids of
    its events (see the reference of the extension points); model: the model
    of the records whose ids the query selects first; query: the python-sql
    query selecting the columns of COLUMNS, in that order; company_paths:
    {path: column} of the other company columns of the query the company
    rules of the model may test (e.g. 'move.company' of a move line)."""
    __slots__ = ()


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
        """Return the list of TimelineSource of the events

        Each query selects the columns of COLUMNS in that order; 'id' is the
        id of the record of the source's model, 'company' its company.
        Modules extend the list with their own events, each under a key of
        their own."""
        pool = Pool()
        Activity = pool.get('crm.activity')
        Opportunity = pool.get('sale.opportunity')
        Sale = pool.get('sale.sale')
        activity = Activity.__table__()
        opportunity = Opportunity.__table__()
        closed = Opportunity.__table__()
        sale = Sale.__table__()
        return [
            TimelineSource(1, 'crm.activity', activity.select(
                    activity.id, activity.company, activity.party,
                    DateOf(Coalesce(
                            activity.date_done, activity.planned_date)),
                    typed('activity', 'VARCHAR'), activity.summary,
                    activity.employee, typed(None, 'NUMERIC'),
                    reference('crm.activity', activity),
                    where=(activity.party != Null)
                    & (activity.state != 'cancelled'))),
            TimelineSource(2, 'sale.opportunity', opportunity.select(
                    opportunity.id, opportunity.company, opportunity.party,
                    opportunity.start_date, typed('opportunity', 'VARCHAR'),
                    Coalesce(opportunity.description, opportunity.number),
                    opportunity.employee, opportunity.amount,
                    reference('sale.opportunity', opportunity),
                    where=opportunity.party != Null)),
            TimelineSource(3, 'sale.opportunity', closed.select(
                    closed.id, closed.company, closed.party, closed.end_date,
                    Case((closed.state == 'won', 'opportunity_won'),
                        else_='opportunity_lost'),
                    Coalesce(closed.description, closed.number),
                    closed.employee, closed.amount,
                    reference('sale.opportunity', closed),
                    where=(closed.party != Null)
                    & closed.state.in_(['won', 'lost'])
                    & (closed.end_date != Null))),
            TimelineSource(4, 'sale.sale', sale.select(
                    sale.id, sale.company, sale.party,
                    Coalesce(sale.sale_date, DateOf(sale.create_date)),
                    Case((sale.state.in_(['draft', 'quotation']),
                            'quotation'),
                        else_='sale'),
                    Coalesce(sale.description, sale.number, sale.reference),
                    typed(None, 'INTEGER'), sale.untaxed_amount_cache,
                    reference('sale.sale', sale),
                    where=sale.state != 'cancelled')),
            ]

    @classmethod
    def _timeline_queries(cls):
        """Return the queries of the sources with their columns named, each
        restricted to the records the user may read

        The id of an event is the id of its record × SOURCES + the key of
        its source."""
        sources = cls._timeline_sources()
        keys = [s.key for s in sources]
        assert len(set(keys)) == len(keys), (
            "timeline source keys used twice: %s" % sorted(
                k for k in set(keys) if keys.count(k) > 1))
        assert all(0 < k < SOURCES for k in keys), (
            "timeline source keys out of 1-%s" % (SOURCES - 1))
        queries = []
        for source in sources:
            key, model, query = source.key, source.model, source.query
            id_, company, *columns = [
                c.expression if isinstance(c, As) else c
                for c in query.columns]
            query.columns = [
                (Cast(id_, 'BIGINT') * SOURCES + key).as_('id'),
                company.as_('company')] + [
                c.as_(n) for c, n in zip(columns, COLUMNS[2:])]
            queries.append(restrict(query, model, id_,
                    {'company': company, **source.company_paths}))
        return queries

    @classmethod
    def table_query(cls):
        queries = cls._timeline_queries()
        if len(queries) == 1:
            return queries[0]
        return Union(*queries, all_=True)
