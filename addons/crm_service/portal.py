# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Tickets from the web: the public form and the customer's status page

The status page is reached by a secret token; only its SHA-256 hash is kept
on the ticket, so the link is shown once (on the thanks page) and sent by
e-mail. Sending the link again makes a new one: the previous one stops
working."""
import datetime as dt
import hashlib
import secrets
import urllib.parse
from email.header import Header
from email.mime.text import MIMEText

from sql.aggregate import Count

from trytond.config import config
from trytond.i18n import gettext
from trytond.model import Index, ModelView, Unique, fields
from trytond.model.exceptions import AccessError
from trytond.modules.crm_core.activity import CALENDAR_TOKEN
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval
from trytond.sendmail import send_message_transactional
from trytond.tools.email_ import set_from_header
from trytond.transaction import Transaction, without_check_access
from trytond.url import http_host

from .ticket import now_minute

# secrets.token_urlsafe(32): 256 bits in 43 characters of base64url, as the
# calendar links of crm_core
TOKEN = CALENDAR_TOKEN
#: The same post again within this delay is the same ticket (a double click)
DUPLICATE_WINDOW = dt.timedelta(minutes=10)


def token_hash(token):
    "The hash stored of a status page token"
    return hashlib.sha256(token.encode('ascii')).hexdigest()


class Ticket(metaclass=PoolMeta):
    __name__ = 'crm.ticket'

    portal_token_hash = fields.Char(
        "Status Page Token Hash", readonly=True, strip=False,
        help="The SHA-256 hash of the secret of the customer's status page.")
    web_address = fields.Char(
        "Web Address", readonly=True,
        help="The network address that submitted the web form.")
    web_key = fields.Char(
        "Web Key", readonly=True, strip=False,
        help="The hash of the e-mail, subject and description posted and of "
        "the period they were posted in: the same post again is the same "
        "ticket.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('portal_token_hash_unique', Unique(t, t.portal_token_hash),
                'crm_service.msg_ticket_portal_token_unique'),
            ('web_key_unique', Unique(t, t.web_key),
                'crm_service.msg_ticket_web_key_unique'),
            ]
        cls._sql_indexes.update({
                Index(t,
                    (t.web_address, Index.Equality()),
                    (t.create_date, Index.Range()),
                    where=t.web_address != None),  # noqa: E711
                })
        cls._buttons.update({
                'portal_send_link': {
                    'invisible': ~Bool(Eval('party')),
                    'icon': 'tryton-email',
                    'depends': ['party'],
                    },
                })

    @classmethod
    def copy(cls, tickets, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('portal_token_hash', None)
        default.setdefault('web_address', None)
        default.setdefault('web_key', None)
        return super().copy(tickets, default=default)

    @property
    def portal_email(self):
        "The address of the customer where the link is sent, or None"
        if self.contact and self.contact.type == 'email' and (
                self.contact.value):
            return self.contact.value
        if self.party:
            mechanism = self.party.contact_mechanism_get('email')
            if mechanism and mechanism.value:
                return mechanism.value

    def portal_new_token(self):
        """Make a new secret of the status page, revoking the previous one;
        return it"""
        token = secrets.token_urlsafe(32)
        assert TOKEN.fullmatch(token)
        with without_check_access():
            self.__class__.write([self], {
                    'portal_token_hash': token_hash(token),
                    })
        return token

    @classmethod
    def portal_get(cls, token):
        """Return the ticket of the status page token or None

        The token is found by its hash: nothing is compared with the secret
        itself."""
        if not isinstance(token, str) or not TOKEN.fullmatch(token):
            return None
        with without_check_access():
            tickets = cls.search([
                    ('portal_token_hash', '=', token_hash(token)),
                    ], limit=1)
        return tickets[0] if tickets else None

    @classmethod
    def portal_url(cls, token):
        "Return the address of the status page of the token"
        database = Transaction().database.name
        return http_host() + urllib.parse.quote(
            f'/{database}/crm/ticket/{token}')

    def portal_send(self, token, email):
        """Send the link of the status page to the address, in the language
        of the transaction"""
        url = self.portal_url(token)
        # compat32 headers: the folding of email.policy.default drops the
        # space between two encoded words of a long non-ASCII subject
        message = MIMEText(gettext(
                'crm_service.msg_ticket_portal_email_body',
                number=self.number or '', subject=self.subject, url=url),
            'plain', 'utf-8')
        from_ = config.get('email', 'from')
        set_from_header(message, from_, from_)
        message['To'] = email
        message['Subject'] = Header(gettext(
                'crm_service.msg_ticket_portal_email_subject',
                number=self.number or '', subject=self.subject), 'utf-8')
        send_message_transactional(message)

    @classmethod
    @ModelView.button
    def portal_send_link(cls, tickets):
        """Send the customers a new link to the status page of their
        ticket; the previous link stops working"""
        pool = Pool()
        Channel = pool.get('ir.chat.channel')
        for ticket in tickets:
            email = ticket.portal_email
            if not email:
                raise AccessError(gettext(
                        'crm_service.msg_ticket_portal_no_email',
                        ticket=ticket.rec_name))
            token = ticket.portal_new_token()
            Channel.subscribe_email(ticket, email)
            with Transaction().set_context(
                    language=ticket.chat_language(audience='public')):
                ticket.portal_send(token, email)

    @classmethod
    def web_count(cls, address, since=None):
        "Return how many tickets the network address submitted since"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        if since is None:
            since = dt.datetime.now() - dt.timedelta(hours=1)
        cursor.execute(*table.select(Count(table.id),
                where=(table.web_address == address)
                & (table.create_date >= since)))
        count, = cursor.fetchone()
        return count

    @classmethod
    def web_create(cls, values, address, company):
        """Create a ticket from the validated values of the web form: name,
        email, phone, subject, description; return the ticket and the token
        of its status page, sent to the customer

        The same e-mail, subject and description posted again in the same
        or the previous period of DUPLICATE_WINDOW (a double click, a reload)
        return the ticket already made and no token: its link was sent by
        e-mail and is never shown to whoever posts the same words. The key
        of the post is unique: the same post at once waits for the first
        one's commit, fails and is started again by the route, then finds
        its ticket."""
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Channel = pool.get('ir.chat.channel')
        email = values['email']
        period = int(dt.datetime.now().timestamp()
            // DUPLICATE_WINDOW.total_seconds())

        def key(period):
            return hashlib.sha256('\0'.join([
                        str(period), email.lower(), values['subject'],
                        values['description']]).encode()).hexdigest()
        with without_check_access():
            same = cls.search([
                    ('web_key', 'in', [key(period), key(period - 1)]),
                    ], order=[('id', 'ASC')], limit=1)
        if same:
            return same[0], None

        party = Opportunity.capture_party(
            values['name'], email, values.get('phone'))
        contact = next((m for m in party.contact_mechanisms
                if m.type == 'email'
                and (m.value or '').lower() == email.lower()), None)
        with Transaction().set_context(company=company.id):
            ticket = cls(
                company=company, party=party, contact=contact,
                subject=values['subject'],
                description=values['description'],
                channel='web',
                reported_date=now_minute(),
                web_address=address,
                web_key=key(period))
            ticket.save()
        Channel.subscribe_email(ticket, email)
        token = ticket.portal_new_token()
        ticket.portal_send(token, email)
        return ticket, token

    def portal_messages(self):
        "Return the public messages of the chat of the ticket, oldest first"
        pool = Pool()
        Message = pool.get('ir.chat.message')
        with without_check_access():
            return Message.search([
                    ('channel.resource', '=', str(self)),
                    ('audience', '=', 'public'),
                    ], order=[('id', 'ASC')])

    def portal_answer(self, text):
        """Post the customer's answer of the status page to the chat, as a
        reply by e-mail is: it brings back a ticket waiting on the customer
        or resolved"""
        email = self.portal_email or ''
        message = {
            'from': email,
            'headers': {'From': email or (
                    self.party.rec_name if self.party else '')},
            }
        return self._inbound_email_post(message, text, '', [])

    @classmethod
    def portal_close(cls, tickets):
        "The customer confirms the resolution: the resolved tickets close"
        cls.close([t for t in tickets if t.state == 'resolved'])


class PartyErase(metaclass=PoolMeta):
    __name__ = 'party.erase'

    def to_erase(self, party_id):
        "The status page of the tickets of an erased party stops working"
        pool = Pool()
        Ticket = pool.get('crm.ticket')
        return super().to_erase(party_id) + [
            (Ticket, [('party', '=', party_id)], True,
                ['portal_token_hash', 'web_address', 'web_key'],
                [None, None, None]),
            ]
