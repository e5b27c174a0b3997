# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import html
import re
from email.utils import getaddresses

from trytond.i18n import gettext
from trytond.pool import Pool, PoolMeta

from .lead_capture import normalize_email, strip_unsafe, valid_email

_MESSAGE_ID = re.compile(r'<[^<>\s]{1,250}>')
_REFERENCE = re.compile(r'\[([^\[\]\s]{1,50})\]')
_TAG = re.compile(r'<[^>]*>')


class Rule(metaclass=PoolMeta):
    __name__ = 'inbound.email.rule'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.action.selection.append(
            ('sale.opportunity|create_from_inbound_email', "Create CRM Lead"))


class Opportunity(metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    @classmethod
    def create_from_inbound_email(cls, email_, rule):
        """Create a lead from the inbound e-mail or append it to the lead
        it replies to; return the lead"""
        pool = Pool()
        Attachment = pool.get('ir.attachment')
        message = email_.as_dict()
        headers = message.get('headers', {})
        subject = ' '.join(
            strip_unsafe(str(message.get('subject') or '')).split())
        text = cls._inbound_email_text(message)

        lead = cls._inbound_email_lead(message)
        if lead:
            sender = message.get('from') or ''
            lead.comment = '\n\n'.join(filter(None, [
                        lead.comment,
                        f"--- {sender}: {subject}\n{text}".rstrip()]))
            lead.save()
        else:
            name, address = '', ''
            if headers.get('From'):
                (name, address), = getaddresses([str(headers['From'])])[:1]
            address = normalize_email(address or message.get('from'))
            if not valid_email(address):
                address = ''
            company = cls.capture_company()
            party = cls.capture_party(
                ' '.join(strip_unsafe(name).split())[:100]
                or address or subject[:100],
                address)
            message_id = _MESSAGE_ID.search(str(headers.get('Message-ID', '')))
            lead = cls.capture_lead(company, party,
                gettext('crm_core.msg_lead_capture_email_description',
                    subject=subject),
                text, capture_channel='email',
                capture_message_id=message_id.group() if message_id else None)
        Attachment.save([
                Attachment(
                    resource=lead, name=(a.get('filename') or 'attachment'),
                    type='data', data=a['data'])
                for a in message.get('attachments', [])
                if a.get('data') is not None])
        return lead

    @classmethod
    def _inbound_email_text(cls, message):
        text, html_ = message.get('text'), message.get('html')
        # The host gives the payload of a single part message as text
        if html_ and (text is None or text == html_):
            text = html.unescape(_TAG.sub(' ', html_))
            text = '\n'.join(' '.join(l.split()) for l in text.splitlines())
        # What the public may not put in a text (controls, bidi overrides)
        return strip_unsafe(text).strip()

    @classmethod
    def _inbound_email_lead(cls, message):
        """Return the lead the e-mail replies to

        A Message-ID of In-Reply-To or References matching the e-mail that
        created the lead, else a lead number in brackets in the subject."""
        headers = message.get('headers', {})
        ids = []
        for key in ['In-Reply-To', 'References']:
            ids.extend(_MESSAGE_ID.findall(str(headers.get(key, ''))))
        if ids:
            leads = cls.search([
                    ('capture_message_id', 'in', ids[:100]),
                    ], order=[('id', 'ASC')], limit=1)
            if leads:
                return leads[0]
        numbers = _REFERENCE.findall(str(message.get('subject') or ''))
        if numbers:
            leads = cls.search([
                    ('number', 'in', numbers[:10]),
                    ], order=[('id', 'ASC')], limit=1)
            if leads:
                return leads[0]
