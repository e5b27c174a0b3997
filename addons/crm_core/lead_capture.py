# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
import re

from sql.aggregate import Count
from sql.functions import Lower

from trytond.i18n import gettext
from trytond.model import Index, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import (
    Transaction, inactive_records, without_check_access)

# A pragmatic address check: one @, no spaces or controls, a dotted domain
EMAIL = re.compile(
    r'^[^@\s\x00-\x1f\x7f<>()\[\]\\,;:"]{1,64}'
    r'@(?=.{1,253}$)([A-Za-z0-9-]{1,63}\.)+[A-Za-z0-9-]{2,63}$')

# The form fields and their maximal length in characters
FORM_FIELDS = {
    'name': 100,
    'email': 254,
    'phone': 40,
    'company': 100,
    'message': 5000,
    'utm_campaign': 100,
    'utm_medium': 100,
    'utm_source': 100,
    }


def normalize_email(value):
    "Return the e-mail address stripped and lower-cased"
    return (value or '').strip().lower()


def valid_email(value):
    return bool(EMAIL.match(value))


class Opportunity(metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    capture_channel = fields.Selection([
            (None, ""),
            ('web_form', "Web Form"),
            ('email', "E-mail"),
            ('import', "Import"),
            ], "Capture Channel", readonly=True,
        help="How the lead came in.")
    capture_address = fields.Char(
        "Capture Address", readonly=True,
        states={
            'invisible': Eval('capture_channel') != 'web_form',
            },
        help="The network address that submitted the web form.")
    capture_message_id = fields.Char(
        "Capture Message-ID", readonly=True,
        states={
            'invisible': Eval('capture_channel') != 'email',
            },
        help="The Message-ID of the e-mail that created the lead; "
        "replies to it go into the chat of the lead.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t,
                    (t.capture_address, Index.Equality()),
                    (t.create_date, Index.Range()),
                    where=t.capture_address != None),  # noqa: E711
                Index(t,
                    (t.capture_message_id, Index.Equality()),
                    where=t.capture_message_id != None),  # noqa: E711
                })

    @classmethod
    def copy(cls, opportunities, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('capture_channel', None)
        default.setdefault('capture_address', None)
        default.setdefault('capture_message_id', None)
        return super().copy(opportunities, default=default)

    @classmethod
    def capture_company(cls, company_id=None):
        """Return the company that receives the captured leads

        The given company if it exists, else the first company."""
        pool = Pool()
        Company = pool.get('company.company')
        domain = []
        if company_id is not None:
            domain.append(('id', '=', company_id))
        companies = Company.search(domain, order=[('id', 'ASC')], limit=1)
        if companies:
            company, = companies
            return company

    @classmethod
    def capture_count(cls, address, since=None):
        "Return how many leads the network address submitted since"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        if since is None:
            since = dt.datetime.now() - dt.timedelta(hours=1)
        cursor.execute(*table.select(Count(table.id),
                where=(table.capture_address == address)
                & (table.create_date >= since)))
        count, = cursor.fetchone()
        return count

    @classmethod
    def capture_party(cls, name, email=None, phone=None):
        """Return the party with the e-mail address or a new one

        The address is compared normalised (stripped, lower-cased)."""
        pool = Pool()
        Party = pool.get('party.party')
        ContactMechanism = pool.get('party.contact_mechanism')
        email = normalize_email(email)
        if email:
            mechanism = ContactMechanism.__table__()
            party_table = Party.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*mechanism.join(party_table,
                    condition=mechanism.party == party_table.id
                    ).select(mechanism.party,
                    where=(mechanism.type == 'email')
                    & (Lower(mechanism.value) == email)
                    & (mechanism.active == True)  # noqa: E712
                    & (party_table.active == True),  # noqa: E712
                    order_by=[mechanism.party.asc, mechanism.id.asc],
                    limit=1))
            row = cursor.fetchone()
            if row:
                return Party(row[0])
        party = Party(name=name or email)
        mechanisms = []
        if email:
            mechanisms.append(ContactMechanism(type='email', value=email))
        if phone:
            mechanisms.append(ContactMechanism(type='phone', value=phone))
        party.contact_mechanisms = mechanisms
        party.save()
        return party

    @classmethod
    def capture_web_form(cls, values, address, company=None):
        """Create a lead from the validated values of the web form

        values is a dictionary of FORM_FIELDS names and stripped strings."""
        if company is None:
            company = cls.capture_company()
        party = cls.capture_party(
            values['name'], values.get('email'), values.get('phone'))
        lines = []
        for name, label in [
                ('name', "Name"),
                ('email', "E-mail"),
                ('phone', "Phone"),
                ('company', "Company"),
                ]:
            if values.get(name):
                lines.append(f"{label}: {values[name]}")
        if values.get('message'):
            lines.extend(['', values['message']])
        return cls.capture_lead(company, party,
            gettext('crm_core.msg_lead_capture_web_form_description',
                name=values.get('company') or values['name']),
            '\n'.join(lines), utm=values,
            capture_channel='web_form', capture_address=address)

    @classmethod
    def capture_lead(
            cls, company, party, description, comment, utm=None, **values):
        """Create and return a lead of the company captured from outside

        utm is a dictionary with utm_campaign, utm_medium and utm_source."""
        with Transaction().set_context(company=company.id):
            lead = cls(
                company=company,
                party=party,
                description=description[:200],
                comment=comment,
                **values)
            if utm:
                lead._set_capture_utm(utm)
            lead.save()
        return lead

    def _set_capture_utm(self, values):
        "Set the UTM parameters utm_campaign, utm_medium and utm_source"
        pass



class PartyErase(metaclass=PoolMeta):
    __name__ = 'party.erase'

    def transition_erase(self):
        """Stop the chats sending e-mails to the addresses of the parties:
        their followers by e-mail are removed"""
        pool = Pool()
        ContactMechanism = pool.get('party.contact_mechanism')
        Follower = pool.get('ir.chat.follower')
        Party = pool.get('party.party')
        parties = replacing = [self.ask.party]
        with without_check_access(), inactive_records():
            while replacing:
                replacing = Party.search([
                        ('replaced_by', 'in', [p.id for p in replacing]),
                        ])
                parties += replacing
            emails = {m.value.strip().lower()
                for m in ContactMechanism.search([
                        ('party', 'in', [p.id for p in parties]),
                        ('type', '=', 'email'),
                        ]) if m.value}
            if emails:
                follower = Follower.__table__()
                cursor = Transaction().connection.cursor()
                cursor.execute(*follower.select(follower.id,
                        where=Lower(follower.email).in_(sorted(emails))))
                Follower.delete(Follower.browse([i for i, in cursor]))
        return super().transition_erase()

    def to_erase(self, party_id):
        """What the party's leads and opportunities hold of the person: the
        comment (the message of the form or the e-mail), the network
        address and e-mail reference of the capture, the description made
        from the visitor's name or subject, their attachments and notes, and
        the conversation of their chat channel"""
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Message = pool.get('ir.chat.message')
        channel = ('channel.resource.party', '=', party_id, 'sale.opportunity')
        return super().to_erase(party_id) + [
            (Opportunity, [('party', '=', party_id)], True,
                ['comment', 'capture_address', 'capture_message_id'],
                [None, None, None]),
            (Opportunity, [
                    ('party', '=', party_id),
                    ('capture_channel', '!=', None),
                    ], False,
                ['description'],
                [None]),
            (Message, [channel, ('email', '!=', None)], False,
                ['content', 'email'],
                ['****', '****']),
            (Message, [channel, ('email', '=', None)], False,
                ['content'],
                ['****']),
            ]
