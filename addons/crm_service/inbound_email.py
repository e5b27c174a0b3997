# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""E-mail to ticket: a new e-mail opens a ticket, a reply goes to its chat"""
import datetime as dt
from email.utils import parsedate_to_datetime

from trytond.model import Index, Unique, fields
from trytond.modules.crm_core.inbound_email import InboundEmailMixin
from trytond.pool import Pool, PoolMeta
from trytond.tools import timezone as tz

from .ticket import now_minute


class Rule(metaclass=PoolMeta):
    __name__ = 'inbound.email.rule'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.action.selection.append(
            ('crm.ticket|create_from_inbound_email',
                "Create Helpdesk Ticket"))


class Ticket(InboundEmailMixin, metaclass=PoolMeta):
    __name__ = 'crm.ticket'
    _inbound_email_id_field = 'email_message_id'
    _inbound_email_attachments_message = (
        'crm_service.msg_ticket_email_attachments')

    email_message_id = fields.Char(
        "E-mail Message-ID", readonly=True, strip=False,
        help="The Message-ID of the e-mail that opened the ticket.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('email_message_id_unique', Unique(t, t.email_message_id),
                'crm_service.msg_ticket_email_message_id_unique'),
            ]
        cls._sql_indexes.add(
            Index(t, (t.email_message_id, Index.Equality()),
                where=t.email_message_id != None))  # noqa: E711

    @classmethod
    def copy(cls, tickets, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('email_message_id', None)
        return super().copy(tickets, default=default)

    @classmethod
    def _inbound_email_create(
            cls, message, name, address, subject, text, message_id):
        """A new ticket of the sender, reported when the e-mail was sent;
        the sender follows its chat and gets the public answers"""
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Channel = pool.get('ir.chat.channel')
        company = Opportunity.capture_company()
        party = contact = None
        if address:
            party = Opportunity.capture_party(name or address, address)
            contact = next((m for m in party.contact_mechanisms
                    if m.type == 'email'
                    and (m.value or '').lower() == address.lower()), None)
        ticket = cls(
            company=company, party=party, contact=contact,
            subject=(subject or '-')[:200],
            description=text or None,
            channel='email',
            reported_date=cls._inbound_email_date(message),
            email_message_id=message_id)
        ticket.save()
        if address:
            Channel.subscribe_email(ticket, address)
        return ticket

    @classmethod
    def _inbound_email_date(cls, message):
        """When the e-mail was sent by its Date header, to the minute; now
        when it is missing, malformed or in the future"""
        now = now_minute()
        value = message.get('headers', {}).get('Date')
        try:
            date = parsedate_to_datetime(str(value))
        except (TypeError, ValueError, IndexError):
            return now
        if date is None:
            return now
        if date.tzinfo is not None:
            date = date.astimezone(tz.UTC).replace(tzinfo=None)
        date = date.replace(second=0, microsecond=0)
        if date > now or date < now - dt.timedelta(days=366):
            return now
        return date

    def _inbound_email_post(self, message, text, subject, attachments):
        """The customer's answer brings back a ticket waiting on them or
        resolved"""
        post = super()._inbound_email_post(
            message, text, subject, attachments)
        if post:
            if self.state == 'waiting':
                self.__class__.open([self])
            elif self.state == 'resolved':
                self.__class__.reopen([self])
        return post


class ChatChannel(metaclass=PoolMeta):
    __name__ = 'ir.chat.channel'

    @classmethod
    def post(cls, resource, content, audience='internal'):
        "A public answer of an agent is the first response of a ticket"
        pool = Pool()
        Ticket = pool.get('crm.ticket')
        message = super().post(resource, content, audience=audience)
        if audience == 'public' and str(resource).startswith('crm.ticket,'):
            ticket = Ticket(int(str(resource).split(',')[1]))
            if (ticket.first_response_date is None
                    and ticket.state in {'new', 'open'}):
                ticket._sla_respond(now_minute())
                ticket.save()
        return message
