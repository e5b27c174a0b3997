# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Service levels: the deadlines of the tickets in business time"""
import datetime as dt
import json
from collections import defaultdict

from sql import Null
from sql.aggregate import Count
from sql.operators import Not

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, fields, sequence_ordered)
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If, PYSONDecoder
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction, without_check_access

from .ticket import now_minute

#: The states in which the clock of a ticket runs
RUNNING_STATES = ['new', 'open']
#: The share of a target after which a ticket is at risk, by default
AT_RISK = 80


class Policy(DeactivableMixin, sequence_ordered(), ModelSQL, ModelView):
    "The service level the tickets it matches must meet"
    __name__ = 'crm.sla.policy'
    __string__ = "SLA Policy"

    name = fields.Char("Name", required=True, translate=True)
    company = fields.Many2One('company.company', "Company", required=True)
    team = fields.Many2One(
        'crm.team', "Team", ondelete='CASCADE',
        domain=[
            ('company', '=', Eval('company', -1)),
            ('kind', '=', 'service'),
            ],
        help="Leave empty for the tickets of every team.")
    priorities = fields.MultiSelection(
        'get_priorities', "Priorities",
        help="Leave empty for every priority.")
    categories = fields.Many2Many(
        'crm.sla.policy-crm.ticket.category', 'policy', 'category',
        "Categories",
        help="The tickets of these categories and of their subcategories; "
        "leave empty for every category.")
    customer_domain = fields.Char(
        "Customers",
        help="A PYSON domain on the customers, e.g. "
        "[('categories.name', '=', 'Gold')]; leave empty for every "
        "customer.")
    calendar = fields.Many2One(
        'crm.business.calendar', "Business Hours", required=True,
        ondelete='RESTRICT',
        domain=[('company', '=', Eval('company', -1))])
    response_time = fields.TimeDelta(
        "First Response", required=True,
        help="The working time within which an agent first answers.")
    resolution_time = fields.TimeDelta(
        "Resolution", required=True,
        help="The working time within which the ticket is resolved; the "
        "clock stops while the ticket waits on the customer.")
    at_risk = fields.Integer(
        "At Risk (%)", required=True,
        domain=[('at_risk', '>', 0), ('at_risk', '<', 100)],
        help="The share of a target after which the ticket is at risk and "
        "escalated.")
    reassign_absent = fields.Boolean(
        "Reassign When Away",
        help="When a ticket is at risk and its agent is away, give it to a "
        "present member of its team.")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_at_risk(cls):
        return AT_RISK

    @classmethod
    def default_reassign_absent(cls):
        return True

    @classmethod
    def default_calendar(cls):
        pool = Pool()
        Calendar = pool.get('crm.business.calendar')
        calendars = Calendar.search([
                ('company', '=', cls.default_company()),
                ], limit=2)
        if len(calendars) == 1:
            return calendars[0].id

    @classmethod
    def get_priorities(cls):
        pool = Pool()
        Ticket = pool.get('crm.ticket')
        return Ticket.fields_get(['priority'])['priority']['selection']

    @classmethod
    def validate_fields(cls, policies, field_names):
        super().validate_fields(policies, field_names)
        if field_names is None or 'customer_domain' in field_names:
            pool = Pool()
            Party = pool.get('party.party')
            for policy in policies:
                try:
                    with without_check_access():
                        Party.search(policy.get_customer_domain(), limit=0)
                except Exception as exception:
                    raise ValidationError(gettext(
                            'crm_service.msg_sla_policy_invalid_domain',
                            policy=policy.rec_name,
                            error=exception)) from exception

    def get_customer_domain(self):
        "Return the customer domain as a list"
        if not self.customer_domain:
            return []
        value = PYSONDecoder({}).decode(self.customer_domain)
        fields.domain_validate(value)
        return value

    def match(self, ticket):
        "Whether the policy applies to the ticket"
        pool = Pool()
        Party = pool.get('party.party')
        if self.company != ticket.company:
            return False
        if self.team and self.team != ticket.team:
            return False
        if self.priorities and ticket.priority not in self.priorities:
            return False
        if self.categories:
            if not ticket.category:
                return False
            category = ticket.category
            while category and category not in self.categories:
                category = category.parent
            if not category:
                return False
        domain = self.get_customer_domain()
        if domain:
            if not ticket.party:
                return False
            with without_check_access():
                if not Party.search(
                        [('id', '=', ticket.party.id)] + domain, limit=1):
                    return False
        return True


class PolicyCategory(ModelSQL):
    __name__ = 'crm.sla.policy-crm.ticket.category'
    __string__ = "SLA Policy - Ticket Category"

    policy = fields.Many2One(
        'crm.sla.policy', "Policy", required=True, ondelete='CASCADE')
    category = fields.Many2One(
        'crm.ticket.category', "Category", required=True,
        ondelete='CASCADE')


class Ticket(metaclass=PoolMeta):
    __name__ = 'crm.ticket'

    sla_policy = fields.Many2One(
        'crm.sla.policy', "SLA Policy", readonly=True, ondelete='RESTRICT',
        help="The first policy, in their order, that the ticket matches.")
    first_response_date = fields.DateTime(
        "First Response", format='%H:%M', readonly=True,
        help="When an agent first answered or took the ticket.")
    response_deadline = fields.DateTime(
        "Response Deadline", format='%H:%M', readonly=True)
    resolution_deadline = fields.DateTime(
        "Resolution Deadline", format='%H:%M', readonly=True)
    response_breached = fields.Boolean(
        "Response Breached", readonly=True,
        help="The first response came after its deadline; it stays so.")
    resolution_breached = fields.Boolean(
        "Resolution Breached", readonly=True,
        help="The ticket was not resolved in time; it stays so even once "
        "it is resolved.")
    sla_paused = fields.TimeDelta(
        "Paused", readonly=True,
        help="The working time the ticket waited on the customer.")
    sla_paused_since = fields.DateTime(
        "Paused Since", format='%H:%M', readonly=True)
    sla_risk_date = fields.DateTime(
        "At Risk From", format='%H:%M', readonly=True,
        help="When the running target of the ticket gets at risk.")
    sla_escalation = fields.Selection([
            (None, ""),
            ('at_risk', "At Risk"),
            ('breached', "Breached"),
            ], "Escalation", readonly=True,
        help="How far the ticket has been escalated.")
    sla_status = fields.Function(fields.Selection([
                (None, ""),
                ('on_track', "On Track"),
                ('at_risk', "At Risk"),
                ('breached', "Breached"),
                ('paused', "Paused"),
                ('met', "Met"),
                ], "SLA"),
        'get_sla_status', searcher='search_sla_status')
    sla_deadline = fields.Function(fields.DateTime(
            "Next Deadline", format='%H:%M',
            help="The deadline the ticket runs against."),
        'get_sla_status')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(
                t, (t.sla_risk_date, Index.Range()),
                where=t.state.in_(RUNNING_STATES)))

    @classmethod
    def default_response_breached(cls):
        return False

    @classmethod
    def default_resolution_breached(cls):
        return False

    @classmethod
    def default_sla_paused(cls):
        return dt.timedelta(0)

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree/field[@name="sla_status"]', 'visual',
                If(Eval('sla_status') == 'breached', 'danger',
                    If(Eval('sla_status') == 'at_risk', 'warning', ''))),
            ]

    def _running_target(self):
        "Return (deadline, target) of the clock that runs, if any"
        if self.first_response_date is None:
            return self.response_deadline, 'response'
        return self.resolution_deadline, 'resolution'

    @classmethod
    def get_sla_status(cls, tickets, names):
        now = dt.datetime.now()
        result = {n: {} for n in names}
        for ticket in tickets:
            status = deadline = None
            if ticket.sla_policy:
                deadline, _ = ticket._running_target()
                if ticket.state in {'resolved', 'closed', 'cancelled'}:
                    deadline = None
                    status = ('breached' if ticket.resolution_breached
                        or ticket.response_breached else 'met')
                elif ticket.state == 'waiting':
                    # the deadline moves by the time it waits
                    status, deadline = 'paused', None
                elif (ticket.response_breached
                        or ticket.resolution_breached
                        or (deadline and deadline < now)):
                    status = 'breached'
                elif ticket.sla_risk_date and ticket.sla_risk_date <= now:
                    status = 'at_risk'
                else:
                    status = 'on_track'
            if 'sla_status' in result:
                result['sla_status'][ticket.id] = status
            if 'sla_deadline' in result:
                result['sla_deadline'][ticket.id] = deadline
        return result

    @classmethod
    def search_sla_status(cls, name, clause):
        _, operator, value = clause
        if operator not in {'=', 'in'}:
            return [('id', '=', -1)]
        values = [value] if operator == '=' else value
        now = dt.datetime.now()
        running = [('state', 'in', RUNNING_STATES)]
        breached = ['OR',
            ('response_breached', '=', True),
            ('resolution_breached', '=', True),
            [('first_response_date', '=', None),
                ('response_deadline', '<', now)],
            [('first_response_date', '!=', None),
                ('resolution_deadline', '<', now)],
            ]
        domains = {
            'breached': [('sla_policy', '!=', None), breached],
            'at_risk': [('sla_policy', '!=', None)] + running + [
                ('sla_risk_date', '<=', now),
                ('response_breached', '=', False),
                ('resolution_breached', '=', False),
                ['OR',
                    [('first_response_date', '=', None),
                        ('response_deadline', '>=', now)],
                    [('first_response_date', '!=', None),
                        ('resolution_deadline', '>=', now)],
                    ]],
            'paused': [('sla_policy', '!=', None), ('state', '=', 'waiting')],
            }
        domain = ['OR']
        for value in values:
            if value in domains:
                domain.append(domains[value])
        return domain if len(domain) > 1 else [('id', '=', -1)]

    def find_sla_policy(self):
        pool = Pool()
        Policy = pool.get('crm.sla.policy')
        with without_check_access():
            for policy in Policy.search([
                        ('company', '=', self.company.id),
                        ]):
                if policy.match(self):
                    return policy

    def _compute_deadlines(self, now):
        """Set the policy and the deadlines from the creation of the ticket,
        the paused time added to the resolution"""
        policy = self.find_sla_policy()
        self.sla_policy = policy
        if not policy:
            self.response_deadline = self.resolution_deadline = None
            self.sla_risk_date = None
            return
        calendar = policy.calendar
        start = self.reported_date or now
        paused = self.sla_paused or dt.timedelta(0)
        self.response_deadline = calendar.add(start, policy.response_time)
        self.resolution_deadline = calendar.add(
            start, policy.resolution_time + paused)
        self._compute_risk_date()

    def _compute_risk_date(self):
        policy = self.sla_policy
        if not policy:
            self.sla_risk_date = None
            return
        calendar = policy.calendar
        start = self.reported_date or now_minute()
        share = policy.at_risk / 100
        if self.first_response_date is None:
            self.sla_risk_date = calendar.add(
                start, policy.response_time * share)
        else:
            self.sla_risk_date = calendar.add(
                start, policy.resolution_time * share
                + (self.sla_paused or dt.timedelta(0)))

    @classmethod
    def _sla_fields(cls):
        "The fields that choose the policy of a ticket"
        return {
            'company', 'team', 'priority', 'category', 'party',
            'reported_date'}

    @classmethod
    def on_modification(cls, mode, tickets, field_names=None):
        super().on_modification(mode, tickets, field_names=field_names)
        if mode == 'create' or (
                mode == 'write' and field_names
                and field_names & cls._sla_fields()):
            cls.update_sla([t for t in tickets if t.state != 'cancelled'])

    @classmethod
    def update_sla(cls, tickets):
        "Choose the policy of the tickets and compute their deadlines"
        now = now_minute()
        to_save = []
        for ticket in tickets:
            if ticket.state in {'resolved', 'closed'}:
                continue
            old = (ticket.sla_policy, ticket.response_deadline,
                ticket.resolution_deadline, ticket.sla_risk_date)
            ticket._compute_deadlines(now)
            if old != (ticket.sla_policy, ticket.response_deadline,
                    ticket.resolution_deadline, ticket.sla_risk_date):
                to_save.append(ticket)
        if to_save:
            cls.save(to_save)

    def _sla_respond(self, now):
        "Record the first response at now"
        if self.first_response_date is None:
            self.first_response_date = now
            if (self.response_deadline
                    and now > self.response_deadline):
                self.response_breached = True
            self._compute_risk_date()
            if self.sla_escalation == 'at_risk':
                self.sla_escalation = None

    def _sla_pause(self, now):
        if self.sla_paused_since is None:
            self.sla_paused_since = now

    def _sla_resume(self, now):
        "Add the paused working time to the resolution deadline"
        if self.sla_paused_since is None:
            return
        if self.sla_policy:
            paused = self.sla_policy.calendar.between(
                self.sla_paused_since, now)
            self.sla_paused = (self.sla_paused or dt.timedelta(0)) + paused
            if self.resolution_deadline:
                self.resolution_deadline = self.sla_policy.calendar.add(
                    self.reported_date, self.sla_policy.resolution_time
                    + self.sla_paused)
            self._compute_risk_date()
        self.sla_paused_since = None

    @classmethod
    def _sla_transition(cls, tickets, state, *steps):
        """Apply the clock steps (names of methods taking now) to the
        tickets that the transition to state moves, and save them"""
        now = now_minute()
        moving = [t for t in tickets if (t.state, state) in cls._transitions]
        for ticket in moving:
            for step in steps:
                getattr(ticket, step)(now)
        cls.save(moving)

    def _sla_check_resolution(self, now):
        if self.resolution_deadline and now > self.resolution_deadline:
            self.resolution_breached = True

    @classmethod
    def open(cls, tickets):
        cls._sla_transition(tickets, 'open', '_sla_respond', '_sla_resume')
        super().open(tickets)

    @classmethod
    def wait(cls, tickets):
        cls._sla_transition(tickets, 'waiting', '_sla_respond', '_sla_pause')
        super().wait(tickets)

    @classmethod
    def resolve(cls, tickets):
        # then the customer's turn: the clock stops until a reopening
        cls._sla_transition(tickets, 'resolved', '_sla_respond',
            '_sla_resume', '_sla_check_resolution', '_sla_pause')
        super().resolve(tickets)

    @classmethod
    def reopen(cls, tickets):
        cls._sla_transition(tickets, 'open', '_sla_resume')
        super().reopen(tickets)

    @classmethod
    def copy(cls, tickets, default=None):
        default = default.copy() if default is not None else {}
        for name in [
                'sla_policy', 'first_response_date', 'response_deadline',
                'resolution_deadline', 'sla_paused_since', 'sla_risk_date',
                'sla_escalation']:
            default.setdefault(name, None)
        default.setdefault('response_breached', False)
        default.setdefault('resolution_breached', False)
        default.setdefault('sla_paused', dt.timedelta(0))
        return super().copy(tickets, default=default)

    @classmethod
    def sla_sweep(cls, now=None):
        """Record the breaches and escalate the tickets at risk or breached,
        set-based: the deadlines are stored, the sweep compares them"""
        if now is None:
            now = dt.datetime.now()
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        running = (table.state.in_(RUNNING_STATES)
            & (table.sla_policy != Null))
        cursor.execute(*table.update(
                [table.response_breached], [True],
                where=running & (table.first_response_date == Null)
                & (table.response_deadline < now)
                & Not(table.response_breached)))
        cursor.execute(*table.update(
                [table.resolution_breached], [True],
                where=running & (table.first_response_date != Null)
                & (table.resolution_deadline < now)
                & Not(table.resolution_breached)))

        escalated = defaultdict(list)
        for level, where in [
                ('breached', running
                    & (table.response_breached | table.resolution_breached)
                    & ((table.sla_escalation == Null)
                        | (table.sla_escalation != 'breached'))),
                ('at_risk', running & (table.sla_risk_date <= now)
                    & (table.sla_escalation == Null)),
                ]:
            cursor.execute(*table.select(table.id, where=where))
            ids = escalated[level] = [i for i, in cursor]
            for sub_ids in grouped_slice(ids, backend.MAX_QUERY_PARAMS):
                cursor.execute(*table.update(
                        [table.sla_escalation], [level],
                        where=reduce_ids(table.id, sub_ids)))
        if escalated['at_risk'] or escalated['breached']:
            cls._sla_escalate(
                cls.browse(escalated['at_risk']),
                cls.browse(escalated['breached']))
        return escalated

    @classmethod
    def _sla_escalate(cls, at_risk, breached):
        """Give the tickets at risk whose agent is away to a present member
        of their team, and notify the team leaders"""
        cls._sla_reassign_absent([t for t in at_risk + breached
                if t.sla_policy and t.sla_policy.reassign_absent])
        cls._sla_notify(at_risk, breached)

    @classmethod
    def _sla_reassign_absent(cls, tickets):
        """Give the tickets whose agent is absent today to the present
        members of their team, the least busy first, spreading them"""
        pool = Pool()
        Date = pool.get('ir.date')
        by_team = defaultdict(list)
        for ticket in tickets:
            if ticket.team and ticket.employee:
                by_team[ticket.team].append(ticket)
        to_save = []
        for team, team_tickets in by_team.items():
            with Transaction().set_context(company=team.company.id):
                today = Date.today()
            members = [m for m in team.members if m.active]
            absent = cls._sla_away(team.company, members, today)
            present = [m.employee for m in members
                if m.employee not in absent]
            if not absent or not present:
                continue
            load = cls._sla_load(present)
            for ticket in team_tickets:
                if ticket.employee not in absent:
                    continue
                employee = min(present, key=lambda e: (load[e.id], e.id))
                load[employee.id] += 1
                ticket.employee = employee
                to_save.append(ticket)
        if to_save:
            cls.save(to_save)

    @classmethod
    def _sla_away(cls, company, members, date):
        """Return the employees of the team members who are away on the
        date: absent as team members (and not clocked in, with attendance)"""
        return {m.employee for m in members if m.absence_on(date)}

    @classmethod
    def _sla_load(cls, employees):
        "Return {employee id: number of running tickets}"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        load = dict.fromkeys((e.id for e in employees), 0)
        for sub_ids in grouped_slice(list(load), backend.MAX_QUERY_PARAMS):
            cursor.execute(*table.select(
                    table.employee, Count(table.id),
                    where=reduce_ids(table.employee, sub_ids)
                    & table.state.in_(RUNNING_STATES),
                    group_by=[table.employee]))
            load.update(cursor)
        return load

    @classmethod
    def _sla_notify(cls, at_risk, breached):
        "Notify the leader of each team and the agent of the ticket"
        pool = Pool()
        Notification = pool.get('res.notification')
        User = pool.get('res.user')
        by_employee = defaultdict(lambda: defaultdict(list))
        for level, tickets in [('at_risk', at_risk), ('breached', breached)]:
            for ticket in tickets:
                for employee in {
                        ticket.team.leader if ticket.team else None,
                        ticket.employee} - {None}:
                    by_employee[employee.id][level].append(ticket.id)
        if not by_employee:
            return
        notifications = []
        for sub_ids in grouped_slice(list(by_employee), backend.MAX_QUERY_PARAMS):
            for user in User.search([
                        ('employees', 'in', list(sub_ids)),
                        ('active', '=', True),
                        ]):
                levels = defaultdict(set)
                for employee in user.employees:
                    for level, ids in by_employee.get(employee.id, {}).items():
                        levels[level].update(ids)
                language = user.language.code if user.language else None
                for level, ids in levels.items():
                    with Transaction().set_context(language=language):
                        label = gettext(
                            f'crm_service.msg_sla_notification_{level}')
                        description = gettext(
                            'crm_service.msg_sla_notification_description',
                            count=len(ids))
                    notifications.append(Notification(
                            user=user, label=label, description=description,
                            icon='tryton-warning',
                            model=cls.__name__,
                            records=json.dumps(sorted(ids))))
        Notification.save(notifications)
