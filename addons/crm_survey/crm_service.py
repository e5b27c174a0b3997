# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""A survey when a ticket is closed; the responses about tickets in the
trends of their team"""
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import without_check_access

from .trigger import survey_event


class Trigger(metaclass=PoolMeta):
    __name__ = 'crm.survey.trigger'

    ticket_category = fields.Many2One(
        'crm.ticket.category', "Ticket Category", ondelete='RESTRICT',
        states={
            'invisible': Eval('event') != 'ticket_closed',
            },
        help="Only the tickets of this category or of its subcategories.")
    ticket_team = fields.Many2One(
        'crm.team', "Ticket Team", ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ('kind', '=', 'service'),
            ],
        states={
            'invisible': Eval('event') != 'ticket_closed',
            },
        help="Only the tickets of this service team.")

    @classmethod
    def _get_events(cls):
        return super()._get_events() + [
            ('ticket_closed', "Ticket Closed"),
            ]

    def filter_events(self, events):
        "Keep the tickets of the category and team (one search)"
        pool = Pool()
        Ticket = pool.get('crm.ticket')
        events = super().filter_events(events)
        if (self.event != 'ticket_closed' or not events
                or not (self.ticket_category or self.ticket_team)):
            return events
        domain = [('id', 'in', [int(o.split(',')[1]) for o, _ in events])]
        if self.ticket_category:
            domain.append(
                ('category', 'child_of', [self.ticket_category.id], 'parent'))
        if self.ticket_team:
            domain.append(('team', '=', self.ticket_team.id))
        with without_check_access():
            kept = set(map(str, Ticket.search(domain)))
        return [e for e in events if e[0] in kept]


class Invitation(metaclass=PoolMeta):
    __name__ = 'crm.survey.invitation'

    @classmethod
    def _get_origins(cls):
        return super()._get_origins() + ['crm.ticket']


class Ticket(metaclass=PoolMeta):
    __name__ = 'crm.ticket'

    @classmethod
    def close(cls, tickets):
        """The customer of a closed ticket is invited (closed, not
        resolved: the customer confirmed the solution or the helpdesk
        closed it)"""
        with survey_event(
                'ticket_closed', cls, tickets, {'closed'},
                lambda t: t.party):
            super().close(tickets)


class Trend(metaclass=PoolMeta):
    __name__ = 'crm.survey.trend'

    @classmethod
    def _origin_teams(cls):
        pool = Pool()
        Ticket = pool.get('crm.ticket')
        return super()._origin_teams() + [('crm.ticket', Ticket.__table__())]
