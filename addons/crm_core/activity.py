# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
import hashlib
import json
import re
import secrets
import urllib.parse
from collections import defaultdict

import icalendar

from trytond import backend
from trytond.i18n import gettext
from trytond.ir.ui.menu import CLIENT_ICONS
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, Unique, Workflow, fields,
    sequence_ordered)
from trytond.model.exceptions import AccessError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.report import Report
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction, without_check_access
from trytond.url import http_host
from trytond.wizard import (
    Button, StateReport, StateTransition, StateView, Wizard)

from . import dbtools
from .exceptions import ActivityValidationError
from .team import EmployeeTeamsMixin


class ActivityType(DeactivableMixin, sequence_ordered(), ModelSQL, ModelView):
    """What kind of follow-up an activity is: a call, a meeting, an e-mail, a
    to-do."""
    __name__ = 'crm.activity.type'
    __string__ = "CRM Activity Type"

    name = fields.Char("Name", required=True, translate=True)
    icon = fields.Selection('list_icons', "Icon", translate=False)
    default_delay = fields.TimeDelta(
        "Default Delay",
        help="The time from now at which a new activity of the type is "
        "planned.")
    default_duration = fields.TimeDelta(
        "Default Duration",
        help="The duration of a new activity of the type.")
    calendar = fields.Boolean(
        "In Calendar",
        help="Check to export the activities of the type to the "
        "employee's calendar.")

    @classmethod
    def list_icons(cls):
        pool = Pool()
        Icon = pool.get('ir.ui.icon')
        return sorted(CLIENT_ICONS
            + [(name, name) for _, name in Icon.list_icons()]
            + [(None, "")],
            key=lambda e: e[1])

    @classmethod
    def default_calendar(cls):
        return False


class Activity(EmployeeTeamsMixin, Workflow, ModelSQL, ModelView):
    """A follow-up planned with a customer, on a lead, an opportunity or a
    party."""
    __name__ = 'crm.activity'
    __string__ = "CRM Activity"
    _rec_name = 'summary'

    _states = {
        'readonly': Eval('state') != 'planned',
        }

    company = fields.Many2One(
        'company.company', "Company", required=True,
        states={
            'readonly': _states['readonly'] | (Eval('id', 0) > 0),
            })
    type = fields.Many2One(
        'crm.activity.type', "Type", required=True, ondelete='RESTRICT',
        states=_states)
    summary = fields.Char("Summary", required=True, states=_states)
    description = fields.Text("Description", states=_states)
    planned_date = fields.DateTime(
        "Planned Date", required=True, states=_states, format='%H:%M')
    deadline = fields.Date(
        "Deadline", states=_states,
        help="The day by which the activity must be done; when empty, it is "
        "late once its planned date is past.")
    duration = fields.TimeDelta("Duration", states=_states)
    planned_end = fields.Function(fields.DateTime(
            "Planned End", format='%H:%M', states=_states,
            help="When the activity is planned to end: its planned date "
            "and its duration."),
        'on_change_with_planned_end', setter='set_planned_end',
        searcher='search_planned_end')
    location = fields.Char("Location", states=_states)
    employee = fields.Many2One(
        'company.employee', "Assigned To", states=_states,
        domain=[('company', '=', Eval('company', -1))],
        help="The employee who does the activity.")
    party = fields.Many2One(
        'party.party', "Party", ondelete='CASCADE', states=_states,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    resource = fields.Reference(
        "Resource", selection='get_resources', states=_states,
        help="The record the activity follows up.")
    resource_name = fields.Function(fields.Char(
            "Follows Up",
            help="The kind and the name of the record the activity "
            "follows up."),
        'get_resource_name')
    state = fields.Selection([
            ('planned', "Planned"),
            ('done', "Done"),
            ('cancelled', "Cancelled"),
            ], "State", readonly=True, required=True, sort=False)
    outcome = fields.Text(
        "Outcome",
        states={
            'readonly': Eval('state') == 'cancelled',
            },
        help="What came out of the activity.")
    date_done = fields.Timestamp("Date Done", readonly=True)
    overdue = fields.Function(
        fields.Boolean("Overdue"), 'get_overdue', searcher='search_overdue')
    icon = fields.Function(fields.Char("Icon"), 'on_change_with_icon')

    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t,
                    (t.employee, Index.Equality()),
                    (t.planned_date, Index.Range()),
                    where=t.state == 'planned'),
                Index(t, (t.resource, Index.Equality())),
                })
        cls._order = [
            ('planned_date', 'ASC'),
            ('id', 'ASC'),
            ]
        cls._transitions |= {
            ('planned', 'done'),
            ('planned', 'cancelled'),
            ('done', 'planned'),
            ('cancelled', 'planned'),
            }
        cls._buttons.update({
                'cancel': {
                    'invisible': Eval('state') != 'planned',
                    'depends': ['state'],
                    },
                'replan': {
                    'invisible': Eval('state') == 'planned',
                    'icon': 'tryton-back',
                    'depends': ['state'],
                    },
                'done': {
                    'invisible': Eval('state') != 'planned',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'schedule_next': {
                    'invisible': Eval('state') != 'planned',
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree/field[@name="planned_date"]', 'visual',
                If(Eval('overdue', False), 'danger', '')),
            ]

    @classmethod
    def _get_resources(cls):
        "Return the models an activity may follow up"
        return ['sale.opportunity', 'party.party']

    @classmethod
    def get_resources(cls):
        pool = Pool()
        Model = pool.get('ir.model')
        resources = cls._get_resources()
        return [(None, '')] + [
            (m, Model.get_name(m)) for m in resources]

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_employee(cls):
        return Transaction().context.get('employee')

    @classmethod
    def default_state(cls):
        return 'planned'

    @classmethod
    def default_planned_date(cls):
        return dt.datetime.now().replace(second=0, microsecond=0)

    @fields.depends(
        'type', 'planned_date', 'duration', 'summary',
        methods=['on_change_with_planned_end'])
    def on_change_type(self):
        if not self.type:
            return
        if self.type.default_delay is not None:
            self.planned_date = (
                dt.datetime.now().replace(second=0, microsecond=0)
                + self.type.default_delay)
        if self.type.default_duration is not None:
            self.duration = self.type.default_duration
        if not self.summary:
            self.summary = self.type.name
        # the end is saved with them: it sets the duration
        self.planned_end = self.on_change_with_planned_end()

    @fields.depends('resource', 'party', '_parent_party.id')
    def on_change_resource(self):
        party = self._resource_party()
        if party:
            self.party = party

    @fields.depends('resource')
    def _resource_party(self):
        "Return the party of the resource"
        if self.resource and getattr(self.resource, 'id', -1) >= 0:
            # read the saved record: the resource is any model
            resource = Pool().get(self.resource.__name__)(self.resource.id)
            if resource.__name__ == 'party.party':
                return resource
            return getattr(resource, 'party', None)

    @fields.depends('type')
    def on_change_with_icon(self, name=None):
        return self.type.icon if self.type else None

    @fields.depends('planned_date', 'duration')
    def on_change_with_planned_end(self, name=None):
        if self.planned_date:
            return self.planned_date + (self.duration or dt.timedelta(0))

    @fields.depends('planned_date', 'planned_end')
    def on_change_planned_end(self):
        if self.planned_date and self.planned_end:
            self.duration = max(
                self.planned_end - self.planned_date, dt.timedelta(0))

    @classmethod
    def set_planned_end(cls, activities, name, value):
        "Keep the planned date: the end sets the duration"
        if not value:
            return
        # read again: the planned date may be written with the end
        for activity in cls.browse([a.id for a in activities]):
            duration = max(value - activity.planned_date, dt.timedelta(0))
            if activity.duration != duration:
                cls.write([activity], {'duration': duration})

    @classmethod
    def search_planned_end(cls, name, clause):
        table = cls.__table__()
        _, operator, value = clause
        Operator = fields.SQL_OPERATORS.get(operator)
        if Operator is None:
            return [('id', '=', -1)]
        end = dbtools.datetime_plus(table.planned_date, table.duration)
        return [('id', 'in', table.select(table.id,
                    where=Operator(end, cls.planned_date.sql_format(value))))]

    @classmethod
    def get_resource_name(cls, activities, name):
        """The kind and the name of the resource: "Sale Opportunity DEMO-O09
        — Office chairs"; only the kind for a record the user may not read"""
        pool = Pool()
        Model = pool.get('ir.model')
        result = dict.fromkeys(map(int, activities))
        by_model = defaultdict(list)
        for activity in activities:
            resource = activity.resource
            if resource is not None and (resource.id or -1) >= 0:
                by_model[resource.__name__].append((activity.id, resource.id))
        for model, pairs in by_model.items():
            Resource = pool.get(model)
            label = Model.get_name(model)
            ids = list({r for _, r in pairs})
            readable = set()
            for sub_ids in grouped_slice(ids, backend.MAX_QUERY_PARAMS):
                # the record rules of the user decide what is named
                readable.update(map(int, Resource.search(
                            [('id', 'in', list(sub_ids))], order=[])))
            names = {r.id: r._crm_resource_name()
                if hasattr(r, '_crm_resource_name') else r.rec_name
                for r in Resource.browse(list(readable))}
            for activity_id, resource_id in pairs:
                if resource_id in names:
                    result[activity_id] = f'{label} {names[resource_id]}'
                else:
                    result[activity_id] = label
        return result

    @classmethod
    def _overdue_clause(cls, table):
        "Return the SQL condition of a late activity"
        today = dt.date.today()
        now = dt.datetime.now().replace(microsecond=0)
        return ((table.state == 'planned')
            & (((table.deadline != None) & (table.deadline < today))  # noqa: E711
                | ((table.deadline == None)  # noqa: E711
                    & (table.planned_date < now))))

    @classmethod
    def get_overdue(cls, activities, name):
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        result = dict.fromkeys(map(int, activities), False)
        for sub_ids in grouped_slice(activities, backend.MAX_QUERY_PARAMS):
            cursor.execute(*table.select(table.id,
                    where=reduce_ids(table.id, map(int, sub_ids))
                    & cls._overdue_clause(table)))
            result.update((i, True) for i, in cursor)
        return result

    @classmethod
    def search_overdue(cls, name, clause):
        table = cls.__table__()
        _, operator, value = clause
        if operator not in {'=', '!='}:
            return [('id', '=', -1)]
        positive = bool(value) == (operator == '=')
        query = table.select(table.id, where=cls._overdue_clause(table))
        return [('id', 'in' if positive else 'not in', query)]

    @classmethod
    def validate_fields(cls, activities, field_names):
        super().validate_fields(activities, field_names)
        cls.check_deadline(activities, field_names)

    @classmethod
    def check_deadline(cls, activities, field_names=None):
        if field_names and not (field_names & {'planned_date', 'deadline'}):
            return
        for activity in activities:
            if (activity.deadline and activity.planned_date
                    and activity.deadline < activity.planned_date.date()):
                raise ActivityValidationError(gettext(
                        'crm_core.msg_activity_deadline_before_planned',
                        activity=activity.rec_name,
                        deadline=activity.deadline,
                        planned_date=activity.planned_date.date()))

    @classmethod
    def check_modification(cls, mode, activities, values=None, external=False):
        super().check_modification(
            mode, activities, values=values, external=external)
        if mode == 'write':
            editable = {'state', 'outcome', 'date_done'}
            if set(values) - editable:
                for activity in activities:
                    if activity.state == 'done':
                        raise AccessError(gettext(
                                'crm_core.msg_activity_done_modify',
                                activity=activity.rec_name))
        elif mode == 'delete':
            for activity in activities:
                if activity.state == 'done':
                    raise AccessError(gettext(
                            'crm_core.msg_activity_done_delete',
                            activity=activity.rec_name))

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        planned_date = values.get('planned_date')
        if isinstance(planned_date, dt.datetime) and (
                planned_date.second or planned_date.microsecond):
            # planned to the minute, as the clients show it
            values['planned_date'] = planned_date.replace(
                second=0, microsecond=0)
        if mode == 'create' and not values.get('party'):
            resource = values.get('resource')
            if resource:
                if isinstance(resource, str):
                    model, id_ = resource.split(',')
                    resource = Pool().get(model)(int(id_))
                if resource.id is not None and resource.id >= 0:
                    if resource.__name__ == 'party.party':
                        values['party'] = resource.id
                    elif getattr(resource, 'party', None):
                        values['party'] = resource.party.id
        return values

    @classmethod
    def copy(cls, activities, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('state', 'planned')
        default.setdefault('outcome', None)
        default.setdefault('date_done', None)
        return super().copy(activities, default=default)

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, activities):
        # the list searches again: the activity changes of tab and counts
        return 'reload'

    @classmethod
    @ModelView.button
    @Workflow.transition('planned')
    def replan(cls, activities):
        cls.write(activities, {'date_done': None})
        return 'reload'

    @classmethod
    @ModelView.button
    @Workflow.transition('done')
    def done(cls, activities):
        cls.write(activities, {'date_done': dt.datetime.now()})
        return 'reload'

    @classmethod
    @ModelView.button_action('crm_core.wizard_activity_schedule_next')
    def schedule_next(cls, activities):
        pass

    @classmethod
    def due_domain(cls, date=None):
        "Return the domain of the activities due by the end of date"
        if date is None:
            date = dt.date.today()
        end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time())
        return [
            ('state', '=', 'planned'),
            ['OR',
                ('planned_date', '<', end),
                ('deadline', '<=', date),
                ],
            ]

    @classmethod
    def notify_due(cls):
        """Notify each employee's users of their activities due today and
        overdue"""
        pool = Pool()
        ActWindow = pool.get('ir.action.act_window')
        ModelData = pool.get('ir.model.data')
        Notification = pool.get('res.notification')
        User = pool.get('res.user')

        activities = cls.search(
            cls.due_domain() + [('employee', '!=', None)],
            order=[('planned_date', 'ASC'), ('id', 'ASC')])
        by_employee = defaultdict(list)
        for activity in activities:
            by_employee[activity.employee.id].append(activity)
        if not by_employee:
            return []

        action_id = ActWindow(
            ModelData.get_id('crm_core', 'act_activity_my')).action.id
        users = User.search([
                ('employees', 'in', list(by_employee)),
                ('active', '=', True),
                ])
        notifications = []
        for user in users:
            employees = [e.id for e in user.employees if e.id in by_employee]
            user_activities = sum(
                (by_employee[e] for e in employees), [])
            overdue = sum(1 for a in user_activities if a.overdue)
            language = user.language.code if user.language else None
            with Transaction().set_context(language=language):
                label = gettext('crm_core.msg_activity_notification_label')
                description = gettext(
                    'crm_core.msg_activity_notification_description',
                    due=len(user_activities) - overdue,
                    overdue=overdue)
            notifications.append(Notification(
                    user=user,
                    label=label,
                    description=description,
                    icon='tryton-date',
                    model=cls.__name__,
                    records=json.dumps([a.id for a in user_activities]),
                    action=action_id,
                    ))
        Notification.save(notifications)
        return notifications

    def get_icalendar_event(self):
        "Return the VEVENT of the activity"
        event = icalendar.Event()
        event.add('uid', self.icalendar_uid)
        event.add('dtstamp', (self.write_date or self.create_date
                or dt.datetime.now()).replace(
                    tzinfo=dt.timezone.utc, microsecond=0))
        start = self.planned_date.replace(tzinfo=dt.timezone.utc)
        event.add('dtstart', start)
        event.add('dtend', start + (self.duration or dt.timedelta(0)))
        event.add('summary', self.summary)
        if self.description:
            event.add('description', self.description)
        if self.location:
            event.add('location', self.location)
        event.add('categories', [self.type.name])
        event.add('status', 'CONFIRMED')
        return event

    @property
    def icalendar_uid(self):
        database = Transaction().database.name
        return f'crm.activity-{self.id}@{database}'

    @classmethod
    def get_icalendar(cls, activities, name=None):
        "Return the iCalendar bytes of the activities"
        calendar = icalendar.Calendar()
        calendar.add('prodid', '-//Tryton//CRM Activities//EN')
        calendar.add('version', '2.0')
        if name:
            calendar.add('x-wr-calname', name)
        for activity in activities:
            calendar.add_component(activity.get_icalendar_event())
        return calendar.to_ical()


class ActivityScheduleNext(Wizard):
    "Done & Schedule Next Activity"
    __name__ = 'crm.activity.schedule_next'
    start = StateView('crm.activity.schedule_next.start',
        'crm_core.activity_schedule_next_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Done & Schedule", 'schedule', 'tryton-ok', default=True),
            ])
    schedule = StateTransition()

    def default_start(self, fields):
        pool = Pool()
        Start = pool.get('crm.activity.schedule_next.start')
        activity = self.record
        values = {
            'outcome': activity.outcome,
            'company': activity.company.id,
            'type': activity.type.id,
            'employee': activity.employee.id if activity.employee else None,
            }
        values.update(Start(
                type=activity.type)._next_values())
        return values

    def transition_schedule(self):
        pool = Pool()
        Activity = pool.get('crm.activity')
        activity = self.record
        if activity.state != 'planned':
            return 'end'
        activity.outcome = self.start.outcome
        activity.save()
        Activity.done([activity])
        next_ = Activity(
            company=activity.company,
            type=self.start.type,
            summary=self.start.summary,
            description=self.start.description,
            planned_date=self.start.planned_date,
            duration=self.start.duration,
            employee=self.start.employee,
            party=activity.party,
            resource=activity.resource,
            )
        next_.save()
        return 'end'


class ActivityScheduleNextStart(ModelView):
    __name__ = 'crm.activity.schedule_next.start'
    __string__ = "Done & Schedule Next Activity"

    outcome = fields.Text("Outcome", help="What came out of the activity.")
    company = fields.Many2One('company.company', "Company", readonly=True)
    type = fields.Many2One('crm.activity.type', "Type", required=True)
    summary = fields.Char("Summary", required=True)
    description = fields.Text("Description")
    planned_date = fields.DateTime(
        "Planned Date", required=True, format='%H:%M')
    duration = fields.TimeDelta("Duration")
    employee = fields.Many2One(
        'company.employee', "Assigned To",
        domain=[('company', '=', Eval('company', -1))])

    @fields.depends('type', 'summary')
    def _next_values(self):
        values = {}
        if self.type:
            delay = self.type.default_delay or dt.timedelta(0)
            values['planned_date'] = (
                dt.datetime.now().replace(second=0, microsecond=0) + delay)
            values['duration'] = self.type.default_duration
            values['summary'] = self.type.name
        return values

    @fields.depends(methods=['_next_values'])
    def on_change_type(self):
        for name, value in self._next_values().items():
            setattr(self, name, value)


class ActivityMixin:
    "Add activities to a model that an activity may follow up"
    __slots__ = ()

    next_activity = fields.Function(fields.Many2One(
            'crm.activity', "Next Activity",
            help="The earliest planned activity."),
        'get_next_activity')
    next_activity_date = fields.Function(fields.DateTime(
            "Next Activity Date", format='%H:%M'),
        'get_next_activity', searcher='search_next_activity_date')
    activity_overdue = fields.Function(fields.Boolean(
            "Activity Overdue",
            help="Checked when a planned activity is late."),
        'get_activity_overdue', searcher='search_activity_overdue')

    @classmethod
    def _activity_owner_column(cls, activity):
        """Return the column of the activity table (activity) that holds the
        record an activity belongs to"""
        raise NotImplementedError

    @classmethod
    def _activity_owner_values(cls, records):
        "Return {value of the owner column: record id} of the records"
        raise NotImplementedError

    @classmethod
    def _activities_query(cls, records, activity, where, columns):
        """Yield the queries of the columns of the activities of the records
        the user may read that match where, by slice of records; the owner
        column comes first"""
        from .access import restrict
        owner = cls._activity_owner_column(activity)
        for sub_records in grouped_slice(records, backend.MAX_QUERY_PARAMS):
            values = cls._activity_owner_values(sub_records)
            query = activity.select(owner, *columns,
                where=owner.in_(list(values)) & where)
            yield values, restrict(
                query, 'crm.activity', activity.id, activity.company)

    @classmethod
    def get_next_activity(cls, records, names):
        """The earliest planned activity among the ones the user may read,
        one query for all the records"""
        pool = Pool()
        Activity = pool.get('crm.activity')
        activity = Activity.__table__()
        cursor = Transaction().connection.cursor()
        result = {n: dict.fromkeys(map(int, records)) for n in names}
        for values, query in cls._activities_query(records, activity,
                activity.state == 'planned',
                [activity.id, activity.planned_date]):
            query.order_by = [activity.planned_date.desc, activity.id.desc]
            cursor.execute(*query)
            # the last row of an owner is its earliest activity
            for owner, id_, planned_date in cursor:
                owner = values[owner]
                if 'next_activity' in result:
                    result['next_activity'][owner] = id_
                if 'next_activity_date' in result:
                    result['next_activity_date'][owner] = planned_date
        return result

    @classmethod
    def get_activity_overdue(cls, records, name):
        """Whether an activity the user may read is overdue, one query for
        all the records"""
        pool = Pool()
        Activity = pool.get('crm.activity')
        activity = Activity.__table__()
        cursor = Transaction().connection.cursor()
        result = dict.fromkeys(map(int, records), False)
        for values, query in cls._activities_query(records, activity,
                Activity._overdue_clause(activity), []):
            query.group_by = query.columns
            cursor.execute(*query)
            result.update((values[o], True) for o, in cursor)
        return result

    @classmethod
    def search_activity_overdue(cls, name, clause):
        _, operator, value = clause
        if operator not in {'=', '!='}:
            return [('id', '=', -1)]
        positive = bool(value) == (operator == '=')
        return [('activities',
                'where' if positive else 'not where',
                [('overdue', '=', True)])]

    @classmethod
    def search_next_activity_date(cls, name, clause):
        _, operator, value = clause
        return [('activities', 'where', [
                    ('state', '=', 'planned'),
                    ('planned_date', operator, value),
                    ])]


class Opportunity(ActivityMixin, metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    activities = fields.One2Many(
        'crm.activity', 'resource', "Activities",
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        order=[('state', 'ASC'), ('planned_date', 'ASC'), ('id', 'ASC')])

    @classmethod
    def _activity_owner_column(cls, activity):
        return activity.resource

    def _crm_resource_name(self):
        "The name of the opportunity as an activity follows it up"
        if self.description:
            return f'{self.rec_name} \u2014 {self.description}'
        return self.rec_name

    @classmethod
    def _activity_owner_values(cls, records):
        return {str(r): r.id for r in records}

    @classmethod
    def copy(cls, opportunities, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('activities', None)
        return super().copy(opportunities, default=default)


class Party(ActivityMixin, metaclass=PoolMeta):
    __name__ = 'party.party'

    activities = fields.One2Many(
        'crm.activity', 'party', "Activities",
        order=[('state', 'ASC'), ('planned_date', 'ASC'), ('id', 'ASC')])

    @classmethod
    def _activity_owner_column(cls, activity):
        return activity.party

    @classmethod
    def _activity_owner_values(cls, records):
        return {r.id: r.id for r in records}

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('activities', None)
        return super().copy(parties, default=default)


class ActivityCalendar(Report):
    "Activity Calendar"
    __name__ = 'crm.activity.calendar'

    @classmethod
    def _calendar_domain(cls, employees):
        return [
            ('employee', 'in', [e.id for e in employees]),
            ('state', '=', 'planned'),
            ('type.calendar', '=', True),
            ]

    @classmethod
    def _execute(cls, records, header, data, action):
        pool = Pool()
        Activity = pool.get('crm.activity')
        activities = Activity.search(cls._calendar_domain(records))
        name = ', '.join(e.rec_name for e in records)
        return 'ics', Activity.get_icalendar(activities, name=name)


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('crm.activity|notify_due', "Notify Due Activities"))


# secrets.token_urlsafe(32): 256 bits in 43 characters of base64url
CALENDAR_TOKEN = re.compile(r'[A-Za-z0-9_-]{43}', re.ASCII)


def calendar_token_hash(token):
    "The hash stored of a calendar token"
    return hashlib.sha256(token.encode('ascii')).hexdigest()


class ActivityCalendarToken(ModelSQL):
    """The secret of a user's calendar link: only its hash is stored, the
    link is shown once when it is made"""
    __name__ = 'crm.activity.calendar.token'
    __string__ = "CRM Activity Calendar Token"

    user = fields.Many2One(
        'res.user', "User", required=True, ondelete='CASCADE')
    token_hash = fields.Char("Token Hash", required=True, strip=False)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('user_unique', Unique(t, t.user),
                'crm_core.msg_activity_calendar_token_user_unique'),
            ('token_hash_unique', Unique(t, t.token_hash),
                'crm_core.msg_activity_calendar_token_unique'),
            ]

    @classmethod
    def reset(cls, user):
        """Make a new secret token for the user, revoking the previous one;
        return the token"""
        token = secrets.token_urlsafe(32)
        assert CALENDAR_TOKEN.fullmatch(token)
        with without_check_access():
            cls.revoke(user)
            cls.create([{
                        'user': user.id,
                        'token_hash': calendar_token_hash(token),
                        }])
        return token

    @classmethod
    def revoke(cls, user):
        "Revoke the calendar link of the user"
        with without_check_access():
            cls.delete(cls.search([('user', '=', user.id)]))

    @classmethod
    def of_user(cls, user):
        "Return the token record of the user or None"
        with without_check_access():
            tokens = cls.search([('user', '=', user.id)], limit=1)
        return tokens[0] if tokens else None

    @classmethod
    def get_user(cls, token):
        """Return the active user of the token or None

        The token is found by its hash: nothing is compared with the secret
        itself, so the time taken tells nothing about it."""
        if not isinstance(token, str) or not CALENDAR_TOKEN.fullmatch(token):
            return None
        with without_check_access():
            tokens = cls.search([
                    ('token_hash', '=', calendar_token_hash(token)),
                    ('user.active', '=', True),
                    ], limit=1)
        return tokens[0].user if tokens else None

    @classmethod
    def url(cls, token):
        "Return the address of the calendar of the token"
        database = Transaction().database.name
        return http_host() + urllib.parse.quote(
            f'/{database}/crm/calendar/{token}.ics')


class ActivityCalendarLink(Wizard):
    "Calendar Link"
    __name__ = 'crm.activity.calendar_link'
    start = StateView('crm.activity.calendar_link.start',
        'crm_core.activity_calendar_link_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Download", 'download', 'tryton-download'),
            Button("Revoke", 'revoke', 'tryton-delete', states={
                    'invisible': ~Eval('linked', False),
                    }),
            Button("New Link", 'reset', 'tryton-refresh', default=True),
            ])
    reset = StateTransition()
    revoke = StateTransition()
    download = StateReport('crm.activity.my_calendar')

    def default_start(self, fields):
        pool = Pool()
        Token = pool.get('crm.activity.calendar.token')
        User = pool.get('res.user')
        token = Token.of_user(User(Transaction().user))
        url = getattr(self.start, 'url', None) if token else None
        return {
            'linked': bool(token),
            'created': token.create_date if token else None,
            'url': url,
            }

    def transition_reset(self):
        pool = Pool()
        Token = pool.get('crm.activity.calendar.token')
        User = pool.get('res.user')
        token = Token.reset(User(Transaction().user))
        self.start.url = Token.url(token)
        return 'start'

    def transition_revoke(self):
        pool = Pool()
        Token = pool.get('crm.activity.calendar.token')
        User = pool.get('res.user')
        Token.revoke(User(Transaction().user))
        self.start.url = None
        return 'start'

    def do_download(self, action):
        return action, {}


class ActivityCalendarLinkStart(ModelView):
    __name__ = 'crm.activity.calendar_link.start'
    __string__ = "Calendar Link"

    linked = fields.Boolean("Linked", readonly=True)
    created = fields.DateTime(
        "Link Created On", format="%H:%M", readonly=True)
    url = fields.Char(
        "Link", readonly=True,
        help="Subscribe to this address from your calendar application; "
        "it is shown only once.")

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/form/group[@id="link"]', 'states', {
                    'invisible': ~Eval('url'),
                    }),
            ('/form/group[@id="linked"]', 'states', {
                    'invisible': ~Eval('linked', False),
                    }),
            ('/form/label[@id="no_link"]', 'states', {
                    'invisible': Eval('linked', False),
                    }),
            ]


class ActivityMyCalendar(ActivityCalendar):
    "My Activity Calendar"
    __name__ = 'crm.activity.my_calendar'

    @classmethod
    def _execute(cls, records, header, data, action):
        pool = Pool()
        User = pool.get('res.user')
        user = User(Transaction().user)
        return 'ics', user.crm_activity_calendar()


class User(metaclass=PoolMeta):
    __name__ = 'res.user'

    def crm_activity_calendar(self):
        "Return the iCalendar bytes of the planned activities of the user"
        pool = Pool()
        Activity = pool.get('crm.activity')
        Calendar = pool.get('crm.activity.calendar', type='report')
        with without_check_access():
            activities = Activity.search(
                Calendar._calendar_domain(self.employees))
        return Activity.get_icalendar(activities, name=self.rec_name)


class PartyReplace(metaclass=PoolMeta):
    __name__ = 'party.replace'

    @classmethod
    def fields_to_replace(cls):
        return super().fields_to_replace() + [
            ('crm.activity', 'party'),
            ('crm.activity', 'resource'),
            ]


class PartyErase(metaclass=PoolMeta):
    __name__ = 'party.erase'

    def to_erase(self, party_id):
        """The texts of the activities with the party: what was said and
        where it took place; the activities stay, as counts"""
        pool = Pool()
        Activity = pool.get('crm.activity')
        return super().to_erase(party_id) + [
            (Activity, ['OR',
                    ('party', '=', party_id),
                    ('resource', '=', f'party.party,{party_id}'),
                    ], True,
                ['summary', 'description', 'location', 'outcome'],
                ['****', None, None, None]),
            ]
