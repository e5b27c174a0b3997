# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Time on tickets: the host's timesheet lines on a timesheet work per
ticket, costed at the employee's cost price with timesheet_cost"""
import datetime as dt
from collections import defaultdict
from decimal import Decimal

from sql import Cast
from sql.aggregate import Count, Min, Sum
from sql.operators import Concat

from trytond import backend
from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.crm_core.dbtools import interval_hours, numeric
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If, PYSONEncoder
from trytond.tools import grouped_slice
from trytond.transaction import Transaction
from trytond.wizard import StateAction, Wizard


def _seconds(duration):
    "A sum of durations as read from the database (SQLite: seconds)"
    if duration is None:
        return 0
    if isinstance(duration, dt.timedelta):
        return duration.total_seconds()
    return float(duration)


class Work(metaclass=PoolMeta):
    __name__ = 'timesheet.work'

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['crm.ticket']

    def _validate_company(self):
        pool = Pool()
        Ticket = pool.get('crm.ticket')
        result = super()._validate_company()
        if isinstance(self.origin, Ticket) and self.origin.id >= 0:
            result &= self.origin.company == self.company
        return result


class Ticket(metaclass=PoolMeta):
    __name__ = 'crm.ticket'

    timesheet_works = fields.One2Many(
        'timesheet.work', 'origin', "Timesheet Works", readonly=True,
        help="The work the agents record their time on, made with the "
        "first time recorded.")
    timesheet_lines = fields.Function(fields.Many2Many(
            'timesheet.line', None, None, "Timesheet Lines",
            help="The time the agents spent on the ticket."),
        'get_timesheet_lines')
    timesheet_duration = fields.Function(fields.TimeDelta(
            "Time Spent", 'company_work_time',
            help="The total time the agents spent on the ticket."),
        'get_timesheet_duration')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'record_time': {
                    'invisible': Eval('state') == 'cancelled',
                    'icon': 'tryton-timesheet',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def copy(cls, tickets, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('timesheet_works', None)
        return super().copy(tickets, default=default)

    @classmethod
    def _timesheet_query(cls, tickets, columns, group_by=None):
        """Yield the rows of a query on the timesheet lines of the tickets,
        the reference of the ticket first"""
        pool = Pool()
        Work = pool.get('timesheet.work')
        Line = pool.get('timesheet.line')
        work = Work.__table__()
        line = Line.__table__()
        cursor = Transaction().connection.cursor()
        for sub_tickets in grouped_slice(tickets, backend.MAX_QUERY_PARAMS):
            references = [str(t) for t in sub_tickets]
            cursor.execute(*work.join(
                    line, condition=line.work == work.id).select(
                    work.origin, *columns(line),
                    where=work.origin.in_(references),
                    group_by=[work.origin] + (
                        group_by(line) if group_by else [])))
            for origin, *values in cursor:
                yield int(origin.split(',')[1]), values

    @classmethod
    def get_timesheet_lines(cls, tickets, name):
        lines = defaultdict(list)
        for ticket_id, (line_id,) in cls._timesheet_query(
                tickets, lambda l: [l.id],
                group_by=lambda l: [l.id, l.date]):
            lines[ticket_id].append(line_id)
        return {t.id: lines.get(t.id, []) for t in tickets}

    @classmethod
    def get_timesheet_duration(cls, tickets, name):
        durations = dict.fromkeys((t.id for t in tickets))
        for ticket_id, (duration,) in cls._timesheet_query(
                tickets, lambda l: [Sum(l.duration)]):
            durations[ticket_id] = dt.timedelta(seconds=_seconds(duration))
        return durations

    @classmethod
    def get_timesheet_works(cls, tickets):
        """Return {ticket: timesheet work}, making the work of the tickets
        that have none in the ticket's company"""
        pool = Pool()
        Work = pool.get('timesheet.work')
        works = {}
        for sub_tickets in grouped_slice(tickets, backend.MAX_QUERY_PARAMS):
            sub_tickets = list(sub_tickets)
            by_origin = {str(t): t for t in sub_tickets}
            for work in Work.search([
                        ('origin', 'in', list(by_origin)),
                        ]):
                ticket = by_origin[str(work.origin)]
                if work.company == ticket.company:
                    works[ticket] = work
            to_save = [Work(origin=t, company=t.company)
                for t in sub_tickets if t not in works]
            Work.save(to_save)
            works.update((w.origin, w) for w in to_save)
        return works

    @classmethod
    @ModelView.button_action('crm_service.wizard_ticket_record_time')
    def record_time(cls, tickets):
        pass


class RecordTime(Wizard):
    "Open the timesheet lines of a ticket, its work made when it has none"
    __name__ = 'crm.ticket.record_time'

    start_state = 'open_'
    open_ = StateAction('timesheet.act_line_form')

    def do_open_(self, action):
        pool = Pool()
        Ticket = pool.get('crm.ticket')
        ticket = self.record
        work = Ticket.get_timesheet_works([ticket])[ticket]
        encoder = PYSONEncoder()
        action['name'] += f' ({ticket.rec_name})'
        action['pyson_domain'] = encoder.encode([('work', '=', work.id)])
        action['pyson_context'] = encoder.encode({
                'default_work': work.id,
                'default_company': ticket.company.id,
                })
        return action, {}


class TicketCost(metaclass=PoolMeta):
    __name__ = 'crm.ticket'

    timesheet_cost = fields.Function(Monetary(
            "Time Cost", currency='timesheet_currency',
            digits='timesheet_currency',
            help="The time spent on the ticket at the cost price of each "
            "agent."),
        'get_timesheet_cost')
    timesheet_currency = fields.Function(fields.Many2One(
            'currency.currency', "Currency"),
        'on_change_with_timesheet_currency')

    @fields.depends('company')
    def on_change_with_timesheet_currency(self, name=None):
        return self.company.currency if self.company else None

    @classmethod
    def get_timesheet_cost(cls, tickets, name):
        costs = dict.fromkeys((t.id for t in tickets), Decimal(0))
        for ticket_id, (cost_price, duration) in cls._timesheet_query(
                tickets, lambda l: [l.cost_price, Sum(l.duration)],
                group_by=lambda l: [l.cost_price]):
            hours = Decimal(str(_seconds(duration) / 3600))
            costs[ticket_id] += Decimal(str(cost_price or 0)) * hours
        for ticket in tickets:
            costs[ticket.id] = ticket.company.currency.round(costs[ticket.id])
        return costs


class TimeContext(ModelView):
    __name__ = 'crm.ticket.time.context'
    __string__ = "Ticket Time Context"

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

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')


class _TimeMixin(ModelSQL, ModelView):
    "The time spent on tickets and its cost, grouped by a column of tickets"
    __slots__ = ()

    company = fields.Many2One('company.company', "Company")
    tickets = fields.Integer("Tickets")
    hours = fields.Float("Hours", digits=(16, 2))
    cost = Monetary("Cost", currency='currency', digits='currency')
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"), 'get_currency')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('cost', 'DESC'), ('id', 'ASC')]

    @classmethod
    def _group_column(cls, ticket):
        raise NotImplementedError

    @classmethod
    def table_query(cls):
        pool = Pool()
        Ticket = pool.get('crm.ticket')
        Work = pool.get('timesheet.work')
        Line = pool.get('timesheet.line')
        ticket = Ticket.__table__()
        work = Work.__table__()
        line = Line.__table__()
        context = Transaction().context
        where = ticket.company == context.get('company', -1)
        if context.get('from_date'):
            where &= line.date >= context['from_date']
        if context.get('to_date'):
            where &= line.date <= context['to_date']
        hours = interval_hours(line.duration)
        group = cls._group_column(ticket)
        query = ticket.join(work, condition=work.origin == _reference(ticket)
            ).join(line, condition=(line.work == work.id)
                & (line.company == ticket.company)
            ).select(
                Min(ticket.id).as_('id'),
                ticket.company.as_('company'),
                group.as_(cls._group_name),
                Count(ticket.id, distinct=True).as_('tickets'),
                cls.hours.sql_cast(Sum(hours)).as_('hours'),
                Sum(numeric(line.cost_price) * hours).as_('cost'),
                where=where,
                group_by=[ticket.company, group])
        return query

    def get_currency(self, name):
        return self.company.currency.id


def _reference(table):
    "The reference to the ticket as the origin of a timesheet work stores it"
    return Concat('crm.ticket,', Cast(table.id, 'VARCHAR'))


class TimeCustomer(_TimeMixin):
    __name__ = 'crm.ticket.time.customer'
    __string__ = "Ticket Time per Customer"
    _group_name = 'party'

    party = fields.Many2One(
        'party.party', "Customer",
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})

    @classmethod
    def _group_column(cls, ticket):
        return ticket.party


class TimeCategory(_TimeMixin):
    __name__ = 'crm.ticket.time.category'
    __string__ = "Ticket Time per Category"
    _group_name = 'category'

    category = fields.Many2One('crm.ticket.category', "Category")

    @classmethod
    def _group_column(cls, ticket):
        return ticket.category
