# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
import re

from sql.aggregate import Count
from sql.functions import Lower

from trytond.i18n import gettext
from trytond.model import Index, fields
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools.email_ import normalize_email as _host_normalize_email
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

# What the public may never put in a text: the C0 controls but tab and line
# ends, DEL, the C1 controls, and the bidirectional overrides and isolates
# that make a text read otherwise than it is stored
UNSAFE_CHARACTERS = frozenset(
    {chr(c) for c in range(0x20)} - {'\t', '\n', '\r'}
    | {chr(c) for c in range(0x7f, 0xa0)}
    | {chr(c) for c in range(0x202a, 0x202f)}
    | {chr(c) for c in range(0x2066, 0x206a)})
_UNSAFE = re.compile('[%s]' % ''.join(
        re.escape(c) for c in sorted(UNSAFE_CHARACTERS)))

# A UTM value that may name a new campaign, medium or source: a letter or
# digit first (no formula character = + - @), then letters, digits, spaces
# and . _ - only
UTM_NAME = re.compile(r'[^\W_][\w .-]{0,63}')


def strip_unsafe(value):
    "Return the text without the UNSAFE_CHARACTERS"
    return _UNSAFE.sub('', value or '')


def normalize_email(value):
    """Return the e-mail address normalised as the party module stores it

    The host's normalisation (trytond.tools.email_) of the stripped value;
    compare them lower-cased."""
    value = (value or '').strip()
    return _host_normalize_email(value) if value else ''


def valid_email(value):
    return bool(EMAIL.match(value))


def valid_utm_name(value):
    "Whether value may be the name of a new campaign, medium or source"
    return bool(UTM_NAME.fullmatch(value or ''))


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

        The address is compared normalised, lower-cased. The party of a
        company or of an employee is never given to a stranger: a new party
        is made then. An e-mail or a phone that the party module refuses is
        left out of the new party (the caller keeps what was typed)."""
        pool = Pool()
        Party = pool.get('party.party')
        ContactMechanism = pool.get('party.contact_mechanism')
        Company = pool.get('company.company')
        Employee = pool.get('company.employee')
        email = normalize_email(email)
        if email:
            mechanism = ContactMechanism.__table__()
            party_table = Party.__table__()
            company = Company.__table__()
            employee = Employee.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*mechanism.join(party_table,
                    condition=mechanism.party == party_table.id
                    ).select(mechanism.party,
                    where=(mechanism.type == 'email')
                    & (Lower(mechanism.value) == email.lower())
                    & (mechanism.active == True)  # noqa: E712
                    & (party_table.active == True)  # noqa: E712
                    & ~mechanism.party.in_(company.select(
                            company.party,
                            where=company.party != None))  # noqa: E711
                    & ~mechanism.party.in_(employee.select(
                            employee.party,
                            where=employee.party != None)),  # noqa: E711
                    order_by=[mechanism.party.asc, mechanism.id.asc],
                    limit=1))
            row = cursor.fetchone()
            if row:
                return Party(row[0])
        party = Party(name=name or email)
        party.save()
        mechanisms = []
        for type_, value, check in [
                ('email', email, ContactMechanism.check_valid_email),
                ('phone', phone, ContactMechanism.check_valid_phonenumber),
                ]:
            if not value:
                continue
            mechanism = ContactMechanism(type=type_, value=value, party=party)
            try:
                check([mechanism])
            except ValidationError:
                continue
            mechanisms.append(mechanism)
        ContactMechanism.save(mechanisms)
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
