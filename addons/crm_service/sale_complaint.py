# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Returns and credit notes: the host's customer complaints made from a
ticket, and their outcome shown on the ticket"""
from collections import defaultdict

from trytond import backend
from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.tools import grouped_slice
from trytond.wizard import Button, StateAction, StateView, Wizard

#: The origins a complaint accepts, with the states they must be in
COMPLAINT_ORIGINS = {
    'sale.sale': ('state', ['confirmed', 'processing', 'done']),
    'sale.line': ('sale.state', ['confirmed', 'processing', 'done']),
    'account.invoice': ('state', ['posted', 'paid']),
    'account.invoice.line': ('invoice.state', ['posted', 'paid']),
    }


def _origin_party(origin):
    "Return the customer of a complaint origin"
    name = origin.__name__
    if name in {'sale.sale', 'account.invoice'}:
        return origin.party
    elif name == 'sale.line':
        return origin.sale.party if origin.sale else None
    elif name == 'account.invoice.line':
        return origin.invoice.party if origin.invoice else None


class Complaint(metaclass=PoolMeta):
    __name__ = 'sale.complaint'

    service_ticket = fields.Many2One(
        'crm.ticket', "Ticket", ondelete='SET NULL',
        domain=[
            ('company', '=', Eval('company', -1)),
            If(Eval('customer'),
                ('party', '=', Eval('customer', -1)),
                ()),
            ],
        states={
            'readonly': Eval('state') != 'draft',
            },
        help="The helpdesk ticket the complaint comes from.")

    @classmethod
    def copy(cls, complaints, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('service_ticket', None)
        return super().copy(complaints, default=default)


class Ticket(metaclass=PoolMeta):
    __name__ = 'crm.ticket'

    complaints = fields.One2Many(
        'sale.complaint', 'service_ticket', "Complaints", readonly=True,
        help="The customer complaints made from the ticket: returns and "
        "credit notes.")
    return_sales = fields.Function(fields.Many2Many(
            'sale.sale', None, None, "Return Sales",
            help="The return sales the complaints of the ticket created."),
        'get_complaint_results')
    return_shipments = fields.Function(fields.Many2Many(
            'stock.shipment.out.return', None, None, "Return Shipments",
            help="The customer return shipments of the return sales."),
        'get_complaint_results')
    credit_notes = fields.Function(fields.Many2Many(
            'account.invoice', None, None, "Credit Notes",
            help="The credit notes the complaints of the ticket created."),
        'get_complaint_results')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'create_complaint': {
                    'invisible': Eval('state') == 'cancelled',
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def copy(cls, tickets, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('complaints', None)
        return super().copy(tickets, default=default)

    @classmethod
    def get_complaint_results(cls, tickets, names):
        "The records the actions of the complaints of the tickets created"
        pool = Pool()
        Action = pool.get('sale.complaint.action')
        results = {n: defaultdict(list) for n in names}
        for sub_ids in grouped_slice([t.id for t in tickets], backend.MAX_QUERY_PARAMS):
            actions = Action.search([
                    ('complaint.service_ticket', 'in', list(sub_ids)),
                    ('result', '!=', None),
                    ], order=[('complaint', 'ASC'), ('id', 'ASC')])
            for action in actions:
                ticket_id = action.complaint.service_ticket.id
                result = action.result
                if result.__name__ == 'sale.sale':
                    if 'return_sales' in results:
                        results['return_sales'][ticket_id].append(result.id)
                    if 'return_shipments' in results:
                        results['return_shipments'][ticket_id].extend(
                            s.id for s in result.shipment_returns)
                elif (result.__name__ == 'account.invoice'
                        and 'credit_notes' in results):
                    results['credit_notes'][ticket_id].append(result.id)
        return {n: {t.id: values.get(t.id, []) for t in tickets}
            for n, values in results.items()}

    def check_complaint(self):
        "Raise the reason why no complaint can be made from the ticket"
        if self.state == 'cancelled':
            raise UserError(gettext(
                    'crm_service.msg_ticket_complaint_cancelled',
                    ticket=self.rec_name))
        if not self.party:
            raise UserError(gettext(
                    'crm_service.msg_ticket_complaint_no_party',
                    ticket=self.rec_name))
        origin = self.complaint_origin
        if origin:
            party = _origin_party(origin)
            if party and party != self.party:
                raise UserError(gettext(
                        'crm_service.msg_ticket_complaint_origin_party',
                        ticket=self.rec_name,
                        origin=origin.rec_name,
                        customer=self.party.rec_name))
            field, states = COMPLAINT_ORIGINS[origin.__name__]
            state = origin
            for name in field.split('.'):
                state = getattr(state, name)
            if state not in states:
                raise UserError(gettext(
                        'crm_service.msg_ticket_complaint_origin_state',
                        ticket=self.rec_name,
                        origin=origin.rec_name))

    @property
    def complaint_origin(self):
        "The origin of the ticket when a complaint may be about it"
        if (self.origin and self.origin.id is not None and self.origin.id >= 0
                and self.origin.__name__ in COMPLAINT_ORIGINS):
            return self.origin

    def get_complaint(self, type_):
        "Return a complaint of the type about the ticket, not saved"
        pool = Pool()
        Complaint = pool.get('sale.complaint')
        complaint = Complaint(
            company=self.company,
            customer=self.party,
            type=type_,
            service_ticket=self,
            reference=self.number,
            description=self.description or self.subject,
            )
        origin = self.complaint_origin
        if origin and type_.origin.name == origin.__name__:
            complaint.origin = origin
        return complaint

    @classmethod
    @ModelView.button_action('crm_service.wizard_ticket_create_complaint')
    def create_complaint(cls, tickets):
        pass


class CreateComplaintStart(ModelView):
    __name__ = 'crm.ticket.create_complaint.start'
    __string__ = "Create Complaint"

    ticket = fields.Many2One('crm.ticket', "Ticket", readonly=True)
    origin_model = fields.Char("Origin Model", readonly=True)
    type = fields.Many2One(
        'sale.complaint.type', "Type", required=True,
        domain=[
            If(Eval('origin_model'),
                ('origin.name', '=', Eval('origin_model')),
                ()),
            ],
        help="The kind of complaint: what it is about and so which actions "
        "(return, credit note) it takes.")


class CreateComplaint(Wizard):
    "Make a customer complaint from a ticket"
    __name__ = 'crm.ticket.create_complaint'

    start = StateView(
        'crm.ticket.create_complaint.start',
        'crm_service.ticket_create_complaint_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Create", 'create_', 'tryton-ok', default=True),
            ])
    create_ = StateAction('sale_complaint.act_complaint_form')

    def default_start(self, fields):
        pool = Pool()
        Type = pool.get('sale.complaint.type')
        ticket = self.record
        ticket.check_complaint()
        origin = ticket.complaint_origin
        values = {
            'ticket': ticket.id,
            'origin_model': origin.__name__ if origin else None,
            }
        domain = []
        if origin:
            domain.append(('origin.name', '=', origin.__name__))
        types = Type.search(domain, limit=2)
        if len(types) == 1:
            values['type'], = [t.id for t in types]
        return values

    def do_create_(self, action):
        ticket = self.record
        ticket.check_complaint()
        complaint = ticket.get_complaint(self.start.type)
        complaint.save()
        action['res_id'] = [complaint.id]
        action['views'].reverse()
        return action, {}

    def transition_create_(self):
        return 'end'

