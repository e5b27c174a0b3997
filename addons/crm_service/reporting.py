# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The helpdesk's backlog, service level compliance and response and
resolution times, set-based over the tickets, with their XLSX export"""
import datetime as dt

from sql import Literal, Null, Union
from sql.aggregate import Avg, Count, Max, Min, Sum
from sql.conditionals import Case

from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.crm_core.dbtools import hours_between, period_start
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.transaction import Transaction

from .sla import RUNNING_STATES
from .ticket import ACTIVE_STATES

DIMENSIONS = ['team', 'employee', 'category', 'priority']


def count(condition):
    return Sum(Case((condition, Literal(1)), else_=Literal(0)))


class ReportingContext(ModelView):
    __name__ = 'crm.ticket.reporting.context'
    __string__ = "Helpdesk Reporting Context"

    company = fields.Many2One('company.company', "Company", required=True)
    from_date = fields.Date(
        "From Date",
        domain=[
            If(Eval('to_date') & Eval('from_date'),
                ('from_date', '<=', Eval('to_date')),
                ()),
            ])
    to_date = fields.Date(
        "To Date",
        domain=[
            If(Eval('from_date') & Eval('to_date'),
                ('to_date', '>=', Eval('from_date')),
                ()),
            ])
    period = fields.Selection([
            ('day', "Day"),
            ('week', "Week"),
            ('month', "Month"),
            ], "Period", required=True)
    dimension = fields.Selection([
            (None, "Helpdesk"),
            ('team', "Team"),
            ('employee', "Agent"),
            ('category', "Category"),
            ('priority', "Priority"),
            ], "By",
        help="What the rows are split by; the whole helpdesk when empty.")
    team = fields.Many2One(
        'crm.team', "Team",
        domain=[
            ('company', '=', Eval('company', -1)),
            ('kind', '=', 'service'),
            ])
    employee = fields.Many2One(
        'company.employee', "Agent",
        domain=[('company', '=', Eval('company', -1))])

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_from_date(cls):
        return Transaction().context.get('from_date')

    @classmethod
    def default_to_date(cls):
        return Transaction().context.get('to_date')

    @classmethod
    def default_period(cls):
        return Transaction().context.get('period', 'month')

    @classmethod
    def default_dimension(cls):
        return Transaction().context.get('dimension', 'team')

    @classmethod
    def default_team(cls):
        return Transaction().context.get('team')


class _Reporting(ModelSQL, ModelView):
    """Tickets of the context's company grouped by the context's dimension
    (team, agent, category or priority)"""

    company = fields.Many2One('company.company', "Company")
    team = fields.Many2One('crm.team', "Team")
    employee = fields.Many2One('company.employee', "Agent")
    category = fields.Many2One('crm.ticket.category', "Category")
    priority = fields.Selection(
        'get_priorities', "Priority", sort=False)
    dimension_name = fields.Function(
        fields.Char("Name"), 'get_dimension_name')

    # The fields exported to XLSX, in order, the dimensions first
    _xlsx_fields = []
    _xlsx_date_format = 'yyyy-mm-dd'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('team', 'ASC NULLS FIRST'),
            ('employee', 'ASC NULLS FIRST'),
            ('category', 'ASC NULLS FIRST'),
            ('priority', 'DESC'),
            ('id', 'ASC'),
            ]

    @classmethod
    def get_priorities(cls):
        pool = Pool()
        Ticket = pool.get('crm.ticket')
        return [(None, '')] + Ticket.fields_get(
            ['priority'])['priority']['selection']

    @classmethod
    def _dimension(cls):
        dimension = Transaction().context.get('dimension')
        return dimension if dimension in DIMENSIONS else None

    @classmethod
    def _group_columns(cls, ticket):
        "Return {name: column} of the grouping columns"
        dimension = cls._dimension()
        columns = {'company': ticket.company}
        for name in DIMENSIONS:
            if name == dimension:
                columns[name] = getattr(ticket, name)
        return columns

    @classmethod
    def _empty_columns(cls):
        "The dimensions not grouped by, as typed nulls"
        dimension = cls._dimension()
        return {name: getattr(cls, name).sql_cast(Literal(None))
            for name in DIMENSIONS if name != dimension}

    @classmethod
    def _where(cls, ticket):
        context = Transaction().context
        where = ticket.company == context.get('company', -1)
        if context.get('team'):
            where &= ticket.team == context['team']
        if context.get('employee'):
            where &= ticket.employee == context['employee']
        return where

    @classmethod
    def _date_where(cls, column):
        "The condition of column's date in the context's dates"
        context = Transaction().context
        where = Literal(True)
        if context.get('from_date'):
            where &= column >= dt.datetime.combine(
                context['from_date'], dt.time.min)
        if context.get('to_date'):
            where &= column < dt.datetime.combine(
                context['to_date'] + dt.timedelta(days=1), dt.time.min)
        return where

    @classmethod
    def _period(cls):
        period = Transaction().context.get('period')
        return period if period in {'day', 'week', 'month'} else 'month'

    @classmethod
    def _select(cls, from_item, where, groups, values):
        columns = [Min(from_item.id).as_('id')]
        columns += [c.as_(n) for n, c in groups.items()]
        columns += [c.as_(n) for n, c in cls._empty_columns().items()]
        columns += [c.as_(n) for n, c in values.items()]
        # Group by the aliases: a parameter repeated in GROUP BY does not
        # match the one in the select list on PostgreSQL
        return from_item.select(*columns,
            where=where, group_by=[c.as_(n) for n, c in groups.items()])

    def get_dimension_name(self, name):
        "The name of the team, agent, category or priority of the row"
        dimension = self._dimension()
        if dimension is None:
            return self.company.rec_name if self.company else None
        value = getattr(self, dimension)
        if value and dimension == 'priority':
            return dict(self.get_priorities()).get(value, value)
        elif value:
            return value.rec_name


class Backlog(_Reporting):
    """The tickets the helpdesk still works on, by how long ago the customer
    asked."""
    __name__ = 'crm.ticket.backlog'
    __string__ = "Helpdesk Backlog"

    number = fields.Integer("Open Tickets")
    age_day = fields.Integer("Under a Day")
    age_week = fields.Integer("1 to 7 Days")
    age_month = fields.Integer("7 to 30 Days")
    age_older = fields.Integer("Over 30 Days")
    unassigned = fields.Integer("Unassigned")
    waiting = fields.Integer("Waiting on Customer")
    oldest = fields.DateTime("Oldest", format='%H:%M')

    _xlsx_fields = [
        'dimension_name', 'number', 'age_day', 'age_week', 'age_month',
        'age_older', 'unassigned', 'waiting', 'oldest']

    @classmethod
    def table_query(cls):
        pool = Pool()
        Ticket = pool.get('crm.ticket')
        ticket = Ticket.__table__()
        now = dt.datetime.now()
        day = now - dt.timedelta(days=1)
        week = now - dt.timedelta(days=7)
        month = now - dt.timedelta(days=30)
        reported = ticket.reported_date
        return cls._select(ticket,
            cls._where(ticket) & ticket.state.in_(ACTIVE_STATES),
            cls._group_columns(ticket), {
                'number': Count(ticket.id),
                'age_day': count(reported >= day),
                'age_week': count((reported < day) & (reported >= week)),
                'age_month': count((reported < week) & (reported >= month)),
                'age_older': count(reported < month),
                'unassigned': count(ticket.employee == Null),
                'waiting': count(ticket.state == 'waiting'),
                'oldest': Min(reported),
                })


class _PeriodReporting(_Reporting):
    "Grouped by the context's period too"

    date = fields.Date("Date", help="The first day of the period.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('date', 'ASC'))

    @classmethod
    def _date_column(cls, ticket):
        return ticket.reported_date

    @classmethod
    def _group_columns(cls, ticket):
        return super()._group_columns(ticket) | {
            'date': cls.date.sql_cast(period_start(
                    cls._period(), cls._date_column(ticket))),
            }


class BacklogPeriod(_PeriodReporting):
    """The tickets reported and resolved in each period: the backlog grows
    when more come in than go out."""
    __name__ = 'crm.ticket.backlog.period'
    __string__ = "Helpdesk Backlog over Time"

    reported = fields.Integer("Reported")
    resolved = fields.Integer("Resolved")
    balance = fields.Integer(
        "Balance", help="The reported minus the resolved tickets.")

    _xlsx_fields = ['date', 'dimension_name', 'reported', 'resolved',
        'balance']

    @classmethod
    def _date_column(cls, ticket):
        return ticket.date

    @classmethod
    def table_query(cls):
        pool = Pool()
        Ticket = pool.get('crm.ticket')
        reported = Ticket.__table__()
        resolved = Ticket.__table__()

        def events(ticket, date, kind, where):
            # Each ticket counts once a kind: its id doubled plus the kind
            # keeps the ids of the rows apart
            return ticket.select(
                (ticket.id * 2 + kind).as_('id'),
                ticket.company.as_('company'),
                ticket.team.as_('team'), ticket.employee.as_('employee'),
                ticket.category.as_('category'),
                ticket.priority.as_('priority'),
                date.as_('date'),
                Literal(1 - kind).as_('reported'),
                Literal(kind).as_('resolved'),
                where=cls._where(ticket) & cls._date_where(date) & where)

        event = Union(
            events(reported, reported.reported_date, 0,
                reported.state != 'cancelled'),
            events(resolved, resolved.resolved_date, 1,
                (resolved.resolved_date != Null)
                & resolved.state.in_(['resolved', 'closed'])),
            all_=True)
        return cls._select(event, None, cls._group_columns(event), {
                'reported': Sum(event.reported),
                'resolved': Sum(event.resolved),
                'balance': Sum(event.reported - event.resolved),
                })


class SLACompliance(_PeriodReporting):
    """The tickets under a service level, by the period they were reported
    in: how many met and how many breached their first response and
    resolution targets."""
    __name__ = 'crm.ticket.sla.compliance'
    __string__ = "Helpdesk SLA Compliance"

    number = fields.Integer("Tickets", help="The tickets with a target.")
    response_met = fields.Integer("Response Met")
    response_breached = fields.Integer("Response Breached")
    response_rate = fields.Function(
        fields.Float("Response Compliance", digits=(1, 4),
            help="The share of the first responses in time among those "
            "met or breached."),
        'get_rate')
    resolution_met = fields.Integer("Resolution Met")
    resolution_breached = fields.Integer("Resolution Breached")
    resolution_rate = fields.Function(
        fields.Float("Resolution Compliance", digits=(1, 4),
            help="The share of the resolutions in time among those met or "
            "breached."),
        'get_rate')

    _xlsx_fields = [
        'date', 'dimension_name', 'number',
        'response_met', 'response_breached', 'response_rate',
        'resolution_met', 'resolution_breached', 'resolution_rate']

    @classmethod
    def table_query(cls):
        pool = Pool()
        Ticket = pool.get('crm.ticket')
        ticket = Ticket.__table__()
        now = dt.datetime.now()
        running = ticket.state.in_(RUNNING_STATES)
        # A running ticket past its deadline is breached even before the
        # sweep records it
        response_breached = (
            (ticket.response_breached == Literal(True))
            | ((ticket.first_response_date == Null)
                & running & (ticket.response_deadline < now)))
        response_met = ((ticket.first_response_date != Null)
            & (ticket.response_breached == Literal(False)))
        resolution_breached = (
            (ticket.resolution_breached == Literal(True))
            | (running & (ticket.resolution_deadline < now)))
        resolution_met = (ticket.state.in_(['resolved', 'closed'])
            & (ticket.resolution_breached == Literal(False)))
        where = (cls._where(ticket)
            & cls._date_where(ticket.reported_date)
            & (ticket.sla_policy != Null)
            & (ticket.state != 'cancelled'))
        return cls._select(ticket, where, cls._group_columns(ticket), {
                'number': Count(ticket.id),
                'response_met': count(response_met),
                'response_breached': count(response_breached),
                'resolution_met': count(resolution_met),
                'resolution_breached': count(resolution_breached),
                })

    def get_rate(self, name):
        kind = name[:-len('_rate')]
        met = getattr(self, kind + '_met')
        total = met + getattr(self, kind + '_breached')
        if total:
            return met / total


class Time(_PeriodReporting):
    """The hours from the customer's request to the first response and to
    the resolution, on average, by the period the tickets were reported
    in."""
    __name__ = 'crm.ticket.time'
    __string__ = "Helpdesk Response and Resolution Times"

    number = fields.Integer("Tickets")
    responded = fields.Integer("Responded")
    response_hours = fields.Float(
        "First Response (Hours)", digits=(16, 1),
        help="The average hours to the first response.")
    response_hours_max = fields.Float(
        "Longest First Response (Hours)", digits=(16, 1))
    resolved = fields.Integer("Resolved")
    resolution_hours = fields.Float(
        "Resolution (Hours)", digits=(16, 1),
        help="The average hours to the resolution.")
    resolution_hours_max = fields.Float(
        "Longest Resolution (Hours)", digits=(16, 1))

    _xlsx_fields = [
        'date', 'dimension_name', 'number', 'responded', 'response_hours',
        'response_hours_max', 'resolved', 'resolution_hours',
        'resolution_hours_max']

    @classmethod
    def table_query(cls):
        pool = Pool()
        Ticket = pool.get('crm.ticket')
        ticket = Ticket.__table__()
        response = Case(
            (ticket.first_response_date != Null,
                hours_between(ticket.first_response_date,
                    ticket.reported_date)),
            else_=Null)
        resolution = Case(
            (ticket.state.in_(['resolved', 'closed'])
                & (ticket.resolved_date != Null),
                hours_between(ticket.resolved_date, ticket.reported_date)),
            else_=Null)
        where = (cls._where(ticket)
            & cls._date_where(ticket.reported_date)
            & (ticket.state != 'cancelled'))
        return cls._select(ticket, where, cls._group_columns(ticket), {
                'number': Count(ticket.id),
                'responded': Count(ticket.first_response_date),
                'response_hours': cls.response_hours.sql_cast(
                    Avg(response)),
                'response_hours_max': cls.response_hours_max.sql_cast(
                    Max(response)),
                'resolved': Count(resolution),
                'resolution_hours': cls.resolution_hours.sql_cast(
                    Avg(resolution)),
                'resolution_hours_max': cls.resolution_hours_max.sql_cast(
                    Max(resolution)),
                })
