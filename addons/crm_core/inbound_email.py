# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import html
import re
from email.utils import getaddresses

from trytond.i18n import gettext
from trytond.model import Index
from trytond.pool import Pool, PoolMeta
from trytond.tools.email_ import EmailNotValidError, validate_email

from .lead_capture import normalize_email, strip_unsafe, valid_email

_MESSAGE_ID = re.compile(r'<[^<>\s]{1,250}>')
_REFERENCE = re.compile(r'\[([^\[\]\s]{1,50})\]')
_TAG = re.compile(r'<[^>]*>')
# The line of Outlook and others above the message replied to
_ORIGINAL = re.compile(r'^\s*-{2,}\s*original message\s*-{2,}\s*$', re.I)


def reply_text(text):
    """The text of a reply without the message it quotes: the lines after
    an "Original Message" line, the block of lines quoted with ">" at the
    end and the line introducing it ("On … wrote:")"""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if _ORIGINAL.match(line):
            del lines[i:]
            break

    def strip_blank():
        while lines and not lines[-1].strip():
            lines.pop()
    strip_blank()
    if lines and lines[-1].lstrip().startswith('>'):
        while lines and (
                lines[-1].lstrip().startswith('>') or not lines[-1].strip()):
            lines.pop()
        if lines and lines[-1].rstrip().endswith(':'):
            lines.pop()
        strip_blank()
    return '\n'.join(lines).strip()


class Rule(metaclass=PoolMeta):
    __name__ = 'inbound.email.rule'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.action.selection.append(
            ('sale.opportunity|create_from_inbound_email', "Create CRM Lead"))


class ChatMessage(metaclass=PoolMeta):
    __name__ = 'ir.chat.message'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        # The replies are found by the Message-ID they answer
        cls._sql_indexes.add(
            Index(t, (t.reference, Index.Equality()),
                where=t.reference != None))  # noqa: E711


class Opportunity(metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    @classmethod
    def create_from_inbound_email(cls, email_, rule):
        """Create a lead from the inbound e-mail or post it to the chat of
        the lead it replies to; return the lead"""
        pool = Pool()
        Attachment = pool.get('ir.attachment')
        message = email_.as_dict()
        headers = message.get('headers', {})
        subject = ' '.join(
            strip_unsafe(str(message.get('subject') or '')).split())
        text = cls._inbound_email_text(message)
        attachments = [a for a in message.get('attachments', [])
            if a.get('data') is not None]

        lead = cls._inbound_email_lead(message)
        if lead:
            if not lead._inbound_email_post(
                    message, text, subject, attachments):
                # already posted, with its attachments
                return lead
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
                for a in attachments])
        return lead

    def _inbound_email_post(self, message, text, subject, attachments):
        """Post the reply to the chat channel of the lead, from its sender;
        return the message, or None when the e-mail was already posted

        The quoted message is left out; the names of the attachments, kept
        as attachments of the lead, end the message."""
        pool = Pool()
        Channel = pool.get('ir.chat.channel')
        Message = pool.get('ir.chat.message')
        headers = message.get('headers', {})
        message_id = _MESSAGE_ID.search(str(headers.get('Message-ID', '')))
        message_id = message_id.group() if message_id else None
        channel = Channel._get_channel(self)
        if message_id:
            # The same e-mail delivered again is posted once
            posted = Message.search([
                    ('channel', '=', channel.id),
                    ('reference', '=', message_id),
                    ], limit=1)
            if posted:
                return
        content = reply_text(Channel._email_content(text)) or text or subject
        lines = [content] if content else []
        sender = normalize_email(message.get('from'))
        author = None
        if valid_email(sender):
            try:
                author = {'email': validate_email(sender)}
            except EmailNotValidError:
                pass
        if author is None:
            # The system writes what the sender gave
            author = {'user': 0}
            sender = headers.get('From') or message.get('from') or ''
            lines.insert(0, gettext('crm_core.msg_lead_email_reply_from',
                    sender=' '.join(str(sender).split())[:200]))
        if attachments:
            lines.append(gettext('crm_core.msg_lead_email_reply_attachments',
                    names=', '.join(
                        a.get('filename') or 'attachment'
                        for a in attachments)))
        post = Message(
            channel=channel,
            audience='public',
            content='\n\n'.join(lines) or '-',
            reference=message_id,
            **author)
        post.save()
        sender = (author.get('email') or '').lower()
        Channel.dispatch_message(post,
            lambda follower: (
                isinstance(follower, str) and follower.lower() == sender))
        return post

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
        created the lead or a message of its chat (a reply posted there, an
        e-mail the chat sent), else a lead number in brackets in the
        subject."""
        pool = Pool()
        Message = pool.get('ir.chat.message')
        headers = message.get('headers', {})
        ids = []
        for key in ['In-Reply-To', 'References']:
            ids.extend(_MESSAGE_ID.findall(str(headers.get(key, ''))))
        if ids:
            ids = ids[:100]
            leads = cls.search([
                    ('capture_message_id', 'in', ids),
                    ], order=[('id', 'ASC')], limit=1)
            if leads:
                return leads[0]
            messages = Message.search([
                    ('reference', 'in', ids),
                    ('channel.resource', 'like', cls.__name__ + ',%'),
                    ], order=[('id', 'ASC')], limit=1)
            if messages:
                return cls(messages[0].channel.resource.id)
        numbers = _REFERENCE.findall(str(message.get('subject') or ''))
        if numbers:
            leads = cls.search([
                    ('number', 'in', numbers[:10]),
                    ], order=[('id', 'ASC')], limit=1)
            if leads:
                return leads[0]
