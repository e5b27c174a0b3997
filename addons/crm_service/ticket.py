# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt

from sql import Null
from sql.aggregate import Count
from sql.functions import CharLength

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    ChatMixin, DeactivableMixin, Index, ModelSQL, ModelView, Workflow,
    fields, tree)
from trytond.model.exceptions import AccessError
from trytond.modules.crm_core.activity import ActivityMixin
from trytond.modules.crm_core.party import NEUTRAL, HealthComponent
from trytond.modules.crm_core.team import EmployeeTeamsMixin
from trytond.modules.crm_core.timeline import (
    DateOf, TimelineSource, reference, typed)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

#: The states of a ticket the helpdesk still works on
ACTIVE_STATES = ['new', 'open', 'waiting']


def now_minute():
    "Return now to the minute: the dates of a ticket are shown so"
    return dt.datetime.now().replace(second=0, microsecond=0)


class Category(DeactivableMixin, tree(separator=' / '), ModelSQL, ModelView):
    __name__ = 'crm.ticket.category'
    __string__ = "Ticket Category"

    name = fields.Char("Name", required=True, translate=True)
    parent = fields.Many2One(
        'crm.ticket.category', "Parent", ondelete='RESTRICT')
    childs = fields.One2Many('crm.ticket.category', 'parent', "Children")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('name', 'ASC'))


class Ticket(
        EmployeeTeamsMixin, ActivityMixin, Workflow, ModelSQL, ModelView,
        ChatMixin):
    __name__ = 'crm.ticket'
    __string__ = "Ticket"
    _rec_name = 'number'

    _states = {
        'readonly': Eval('state').in_(['closed', 'cancelled']),
        }

    number = fields.Char("Number", readonly=True)
    subject = fields.Char("Subject", required=True, states=_states)
    description = fields.Text("Description", states=_states)
    company = fields.Many2One(
        'company.company', "Company", required=True,
        states={
            'readonly': (Eval('state') != 'new') | Eval('number'),
            })
    party = fields.Many2One(
        'party.party', "Customer", ondelete='RESTRICT', states=_states,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        help="The customer who asks; a supplier for a purchase or a "
        "supplier shipment.")
    contact = fields.Many2One(
        'party.contact_mechanism', "Contact", ondelete='RESTRICT',
        domain=[
            If(Eval('party'),
                ('party', '=', Eval('party', -1)),
                ()),
            ],
        states=_states,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        help="Where the customer is answered.")
    team = fields.Many2One(
        'crm.team', "Team", ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ('kind', '=', 'service'),
            ],
        states=_states)
    employee = fields.Many2One(
        'company.employee', "Assigned To", ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ],
        states=_states)
    priority = fields.Selection([
            ('0', "Low"),
            ('1', "Normal"),
            ('2', "High"),
            ('3', "Urgent"),
            ], "Priority", required=True, sort=False, states=_states)
    category = fields.Many2One(
        'crm.ticket.category', "Category", ondelete='RESTRICT',
        states=_states)
    tags = fields.Many2Many(
        'crm.ticket-crm.tag', 'ticket', 'tag', "Tags", states=_states)
    channel = fields.Selection([
            ('email', "E-mail"),
            ('phone', "Phone"),
            ('web', "Web"),
            ('chat', "Chat"),
            ], "Channel", required=True, states=_states,
        help="How the customer reached the helpdesk.")
    origin = fields.Reference(
        "Origin", selection='get_origin', states=_states,
        domain={
            'sale.sale': [
                If(Eval('party'), ('party', '=', Eval('party', -1)), ()),
                ('company', '=', Eval('company', -1)),
                ],
            'sale.line': [
                ('type', '=', 'line'),
                If(Eval('party'),
                    ('sale.party', '=', Eval('party', -1)), ()),
                ('sale.company', '=', Eval('company', -1)),
                ],
            'account.invoice': [
                If(Eval('party'), ('party', '=', Eval('party', -1)), ()),
                ('company', '=', Eval('company', -1)),
                ],
            'stock.shipment.out': [
                If(Eval('party'),
                    ('customer', '=', Eval('party', -1)), ()),
                ('company', '=', Eval('company', -1)),
                ],
            'stock.shipment.in': [
                If(Eval('party'),
                    ('supplier', '=', Eval('party', -1)), ()),
                ('company', '=', Eval('company', -1)),
                ],
            'purchase.purchase': [
                If(Eval('party'), ('party', '=', Eval('party', -1)), ()),
                ('company', '=', Eval('company', -1)),
                ],
            },
        help="The sale, invoice, shipment, product or lot the ticket is "
        "about.")
    activities = fields.One2Many(
        'crm.activity', 'resource', "Activities",
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        order=[('state', 'ASC'), ('planned_date', 'ASC'), ('id', 'ASC')])
    reported_date = fields.DateTime(
        "Reported", format='%H:%M', required=True,
        states={
            'readonly': Eval('state') != 'new',
            },
        help="When the customer asked; the service levels count from it.")
    opened_date = fields.DateTime(
        "Opened", format='%H:%M', readonly=True,
        help="When an agent first took the ticket.")
    resolved_date = fields.DateTime(
        "Resolved", format='%H:%M', readonly=True)
    closed_date = fields.DateTime("Closed", format='%H:%M', readonly=True)
    reopened = fields.Integer("Reopened", readonly=True,
        help="How many times the ticket was reopened after its resolution.")
    state = fields.Selection([
            ('new', "New"),
            ('open', "Open"),
            ('waiting', "Waiting on Customer"),
            ('resolved', "Resolved"),
            ('closed', "Closed"),
            ('cancelled', "Cancelled"),
            ], "State", readonly=True, required=True, sort=False)

    del _states

    @classmethod
    def __setup__(cls):
        cls.number.search_unaccented = False
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.number, Index.Similarity())),
                Index(t, (t.party, Index.Range())),
                Index(
                    t,
                    (t.state, Index.Equality(cardinality='low')),
                    where=t.state.in_(ACTIVE_STATES)),
                })
        cls._order = [
            ('priority', 'DESC'),
            ('reported_date', 'DESC'),
            ('id', 'DESC'),
            ]
        cls._transitions |= {
            ('new', 'open'),
            ('new', 'resolved'),
            ('new', 'cancelled'),
            ('open', 'waiting'),
            ('open', 'resolved'),
            ('open', 'cancelled'),
            ('waiting', 'open'),
            ('waiting', 'resolved'),
            ('waiting', 'cancelled'),
            ('resolved', 'closed'),
            ('resolved', 'open'),
            ('closed', 'open'),
            ('cancelled', 'new'),
            }
        cls._buttons.update({
                'open': {
                    'invisible': ~Eval('state').in_(['new', 'waiting']),
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'wait': {
                    'invisible': Eval('state') != 'open',
                    'icon': 'tryton-switch',
                    'depends': ['state'],
                    },
                'resolve': {
                    'invisible': ~Eval('state').in_(ACTIVE_STATES),
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'close': {
                    'invisible': Eval('state') != 'resolved',
                    'icon': 'tryton-archive',
                    'depends': ['state'],
                    },
                'reopen': {
                    'invisible': ~Eval('state').in_(['resolved', 'closed']),
                    'icon': 'tryton-undo',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': ~Eval('state').in_(ACTIVE_STATES),
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                'draft': {
                    'invisible': Eval('state') != 'cancelled',
                    'icon': 'tryton-clear',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def order_number(cls, tables):
        table, _ = tables[None]
        return [CharLength(table.number), table.number]

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_state():
        return 'new'

    @staticmethod
    def default_priority():
        return '1'

    @staticmethod
    def default_channel():
        return 'phone'

    @staticmethod
    def default_reopened():
        return 0

    @staticmethod
    def default_reported_date():
        return now_minute()

    @classmethod
    def default_team(cls):
        pool = Pool()
        Member = pool.get('crm.team.member')
        context = Transaction().context
        if context.get('employee') is None:
            return
        members = Member.search([
                ('employee', '=', context['employee']),
                ('team.kind', '=', 'service'),
                ('team.active', '=', True),
                ('team.company', '=', context.get('company', -1)),
                ], limit=2)
        if len(members) == 1:
            member, = members
            return member.team.id

    @classmethod
    def _get_origin(cls):
        "Return the models a ticket may be about"
        return [
            'sale.sale', 'sale.line', 'account.invoice',
            'stock.shipment.out', 'stock.shipment.in', 'purchase.purchase',
            'product.product', 'stock.lot',
            ]

    @classmethod
    def get_origin(cls):
        pool = Pool()
        IrModel = pool.get('ir.model')
        selection = [(None, '')]
        for model in cls._get_origin():
            try:
                pool.get(model)
            except KeyError:
                # the module of the model is not activated
                continue
            selection.append((model, IrModel.get_name(model)))
        return selection

    @fields.depends('origin', 'party')
    def on_change_origin(self):
        if self.party or not self.origin or self.origin.id is None:
            return
        if self.origin.id < 0:
            return
        party = None
        name = self.origin.__name__
        if name in {'sale.sale', 'account.invoice', 'purchase.purchase'}:
            party = self.origin.party
        elif name == 'sale.line':
            party = self.origin.sale.party if self.origin.sale else None
        elif name == 'stock.shipment.out':
            party = self.origin.customer
        elif name == 'stock.shipment.in':
            party = self.origin.supplier
        if party:
            self.party = party

    @fields.depends('party', 'contact')
    def on_change_party(self):
        if self.contact and self.contact.party != self.party:
            self.contact = None
        if self.party and not self.contact:
            self.contact = self.party.contact_mechanism_get('email')

    def get_rec_name(self, name):
        # the number in brackets: the replies to its e-mails find it
        if self.number:
            return f'[{self.number}] {self.subject}'
        return self.subject

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value, *_ = clause
        if operator.startswith('!') or operator.startswith('not '):
            bool_op = 'AND'
        else:
            bool_op = 'OR'
        return [bool_op,
            ('number', *clause[1:]),
            ('subject', *clause[1:]),
            ]

    @classmethod
    def _activity_owner_column(cls, activity):
        return activity.resource

    @classmethod
    def _activity_owner_values(cls, records):
        return {str(r): r.id for r in records}

    def chat_language(self, audience='internal'):
        language = super().chat_language(audience=audience)
        if audience == 'public' and self.party and self.party.lang:
            language = self.party.lang.code
        return language

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree', 'visual',
                If(Eval('state').in_(['closed', 'cancelled']), 'muted',
                    If(Eval('priority') == '3', 'danger', ''))),
            ]

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Configuration = pool.get('crm.configuration')
        values = super().preprocess_values(mode, values)
        if mode == 'create' and not values.get('number'):
            company_id = values.get('company', cls.default_company())
            if company_id is not None:
                configuration = Configuration(1)
                sequence = configuration.get_multivalue(
                    'ticket_sequence', company=company_id)
                if sequence:
                    values['number'] = sequence.get()
        return values

    @classmethod
    def check_modification(cls, mode, tickets, values=None, external=False):
        super().check_modification(
            mode, tickets, values=values, external=external)
        if mode == 'delete':
            for ticket in tickets:
                if ticket.state not in {'new', 'cancelled'}:
                    raise AccessError(gettext(
                            'crm_service.msg_ticket_delete_new',
                            ticket=ticket.rec_name))

    @classmethod
    def copy(cls, tickets, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('reported_date', cls.default_reported_date())
        for name in [
                'number', 'opened_date', 'resolved_date', 'closed_date',
                'activities']:
            default.setdefault(name, None)
        default.setdefault('reopened', 0)
        return super().copy(tickets, default=default)

    @classmethod
    @ModelView.button
    @Workflow.transition('new')
    def draft(cls, tickets):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('open')
    def open(cls, tickets):
        """The agent takes the ticket: an unassigned one becomes theirs, the
        first opening is dated"""
        employee = Transaction().context.get('employee')
        now = now_minute()
        for ticket in tickets:
            if not ticket.employee and employee is not None:
                ticket.employee = employee
            if not ticket.opened_date:
                ticket.opened_date = now
        cls.save(tickets)

    @classmethod
    @ModelView.button
    @Workflow.transition('waiting')
    def wait(cls, tickets):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('resolved')
    def resolve(cls, tickets):
        now = now_minute()
        for ticket in tickets:
            ticket.resolved_date = now
            if not ticket.opened_date:
                ticket.opened_date = now
        cls.save(tickets)

    @classmethod
    @ModelView.button
    @Workflow.transition('closed')
    def close(cls, tickets):
        cls.write(tickets, {'closed_date': now_minute()})

    @classmethod
    @ModelView.button
    @Workflow.transition('open')
    def reopen(cls, tickets):
        for ticket in tickets:
            ticket.reopened = (ticket.reopened or 0) + 1
            ticket.resolved_date = None
            ticket.closed_date = None
        cls.save(tickets)

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, tickets):
        pass


class TicketTag(ModelSQL):
    __name__ = 'crm.ticket-crm.tag'
    __string__ = "Ticket - Tag"

    ticket = fields.Many2One(
        'crm.ticket', "Ticket", required=True, ondelete='CASCADE')
    tag = fields.Many2One(
        'crm.tag', "Tag", required=True, ondelete='CASCADE')


class Activity(metaclass=PoolMeta):
    __name__ = 'crm.activity'

    @classmethod
    def _get_resources(cls):
        return super()._get_resources() + ['crm.ticket']


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    service_tickets = fields.Function(fields.Many2Many(
            'crm.ticket', None, None, "Tickets",
            help="The tickets of the customer, the latest first."),
        'get_crm_records')

    @classmethod
    def _crm_records_domains(cls):
        domains = super()._crm_records_domains()
        domains['service_tickets'] = (
            'crm.ticket', 'party',
            [('state', '!=', 'cancelled')],
            [('reported_date', 'DESC'), ('id', 'DESC')])
        return domains

    @classmethod
    def _crm_health_components(cls, parties):
        """The open tickets of the customer: each one lowers the score, none
        is neutral"""
        pool = Pool()
        Ticket = pool.get('crm.ticket')
        components = super()._crm_health_components(parties)
        ticket = Ticket.__table__()
        cursor = Transaction().connection.cursor()
        readable = Ticket.search([
                ('company', '=', Transaction().context.get('company')),
                ('state', 'in', ACTIVE_STATES),
                ], order=[], query=True)
        open_tickets = {}
        for sub_ids in grouped_slice(
                [p.id for p in parties], backend.MAX_QUERY_PARAMS):
            cursor.execute(*ticket.select(
                    ticket.party, Count(ticket.id),
                    where=reduce_ids(ticket.party, sub_ids)
                    & ticket.id.in_(readable),
                    group_by=[ticket.party]))
            open_tickets.update(cursor)
        string = gettext('crm_service.msg_health_service')
        for party in parties:
            count = open_tickets.get(party.id, 0)
            if count:
                component = HealthComponent(
                    'service', string, 100 - 20 * count,
                    gettext('crm_service.msg_health_service_open',
                        count=count))
            else:
                component = HealthComponent(
                    'service', string, NEUTRAL,
                    gettext('crm_service.msg_health_service_none'))
            components.setdefault(party.id, []).append(component)
        return components


class Timeline(metaclass=PoolMeta):
    __name__ = 'crm.timeline'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.kind.selection += [
            ('ticket', "Ticket"),
            ('ticket_resolved', "Ticket Resolved"),
            ]

    @classmethod
    def _timeline_resources(cls):
        return super()._timeline_resources() + ['crm.ticket']

    @classmethod
    def _timeline_sources(cls):
        pool = Pool()
        Ticket = pool.get('crm.ticket')
        opened = Ticket.__table__()
        resolved = Ticket.__table__()
        return super()._timeline_sources() + [
            TimelineSource(40, 'crm.ticket', opened.select(
                    opened.id, opened.company, opened.party,
                    DateOf(opened.reported_date),
                    typed('ticket', 'VARCHAR'),
                    opened.subject,
                    opened.employee, typed(None, 'NUMERIC'),
                    reference('crm.ticket', opened),
                    where=(opened.party != Null)
                    & (opened.state != 'cancelled'))),
            TimelineSource(41, 'crm.ticket', resolved.select(
                    resolved.id, resolved.company, resolved.party,
                    DateOf(resolved.resolved_date),
                    typed('ticket_resolved', 'VARCHAR'),
                    resolved.subject,
                    resolved.employee, typed(None, 'NUMERIC'),
                    reference('crm.ticket', resolved),
                    where=(resolved.party != Null)
                    & (resolved.resolved_date != Null)
                    & resolved.state.in_(['resolved', 'closed']))),
            ]


class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    @classmethod
    def _crm_employee_models(cls):
        return super()._crm_employee_models() | {'crm.ticket'}


class PartyReplace(metaclass=PoolMeta):
    __name__ = 'party.replace'

    @classmethod
    def fields_to_replace(cls):
        return super().fields_to_replace() + [
            ('crm.ticket', 'party'),
            ]


class PartyErase(metaclass=PoolMeta):
    __name__ = 'party.erase'

    def to_erase(self, party_id):
        pool = Pool()
        Ticket = pool.get('crm.ticket')
        return super().to_erase(party_id) + [
            (Ticket, [('party', '=', party_id)], True,
                ['subject', 'description'],
                ['****', None]),
            ]
