# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import hashlib
import html
import re
from email.utils import getaddresses

from sql import Select

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, Unique, fields
from trytond.model.modelsql import SQLConstraintError
from trytond.pool import Pool, PoolMeta
from trytond.tools.email_ import EmailNotValidError, validate_email
from trytond.transaction import Transaction

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

    crm_email_message_id = fields.Char(
        "E-mail Message-ID", readonly=True, strip=False,
        help="The Message-ID of the inbound e-mail posted as the message; "
        "its reference becomes that of the e-mail relaying it to the other "
        "followers.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        # An e-mail is posted once to a chat, whatever the workers do
        cls._sql_constraints += [
            ('crm_email_message_id_unique',
                Unique(t, t.channel, t.crm_email_message_id),
                'crm_core.msg_chat_email_message_id_unique'),
            ]
        # The replies are found by the Message-ID they answer
        cls._sql_indexes.update({
                Index(t, (t.reference, Index.Equality()),
                    where=t.reference != None),  # noqa: E711
                Index(t, (t.crm_email_message_id, Index.Equality()),
                    where=t.crm_email_message_id != None),  # noqa: E711
                })


class InboundEmailMixin:
    """Create a record from an inbound e-mail, or post the e-mail to the chat
    of the record it replies to

    The model has a Char field that keeps the Message-ID of the e-mail that
    created the record (``_inbound_email_id_field``) and a ``number`` quoted
    in brackets in the subjects of its e-mails; it implements
    ``_inbound_email_create``. ``create_from_inbound_email`` is the action of
    an inbound e-mail rule."""
    __slots__ = ()
    _inbound_email_id_field = None
    #: The ir.message listing the attachments kept on the record
    _inbound_email_attachments_message = (
        'crm_core.msg_lead_email_reply_attachments')

    @classmethod
    def create_from_inbound_email(cls, email_, rule):
        """Create a record from the inbound e-mail or post it to the chat of
        the record it replies to; return the record"""
        pool = Pool()
        Attachment = pool.get('ir.attachment')
        message = email_.as_dict()
        headers = message.get('headers', {})
        subject = ' '.join(
            strip_unsafe(str(message.get('subject') or '')).split())
        text = cls._inbound_email_text(message)
        attachments = [a for a in message.get('attachments', [])
            if a.get('data') is not None]
        message_id = inbound_message_id(message)

        cls._inbound_email_lock(message_id)
        try:
            record, stored = cls._inbound_email_store(
                message, headers, subject, text, attachments, message_id)
        except (backend.DatabaseIntegrityError, SQLConstraintError) as e:
            if not message_id:
                raise
            # The other worker committed after this transaction's snapshot
            # was taken and before the lock was: its record or message is
            # unique, the retry in a new snapshot finds it
            raise backend.DatabaseOperationalError(
                f'the e-mail {message_id} was stored meanwhile') from e
        if not stored:
            return record
        Attachment.save([
                Attachment(
                    resource=record, name=(a.get('filename') or 'attachment'),
                    type='data', data=a['data'])
                for a in attachments])
        return record

    @classmethod
    def _inbound_email_store(
            cls, message, headers, subject, text, attachments, message_id):
        """Create the record or post the reply to its chat; return the
        record and whether the e-mail is new to it"""
        record = cls._inbound_email_record(message)
        if record and message_id and message_id == getattr(
                record, cls._inbound_email_id_field):
            # the same e-mail delivered again
            return record, False
        if record:
            if not record._inbound_email_post(
                    message, text, subject, attachments):
                # already posted, with its attachments
                return record, False
        else:
            name, address = '', ''
            if headers.get('From'):
                (name, address), = getaddresses([str(headers['From'])])[:1]
            address = normalize_email(address or message.get('from'))
            if not valid_email(address):
                address = ''
            name = ' '.join(strip_unsafe(name).split())[:100]
            record = cls._inbound_email_create(
                message, name, address, subject, text, message_id)
        return record, True

    @classmethod
    def _inbound_email_create(
            cls, message, name, address, subject, text, message_id):
        """Create and return the record of a new e-mail: the sender's name
        and address (checked, or ''), the subject and text (cleaned) and its
        Message-ID (or None)"""
        raise NotImplementedError

    @classmethod
    def _inbound_email_lock(cls, message_id):
        """Serialise the processing of the same e-mail by workers at once

        On PostgreSQL a transaction that cannot take the lock of the
        Message-ID waits for the one holding it, then fails as a concurrent
        update and is retried by trytond in a new snapshot that sees what
        the other one stored."""
        if not message_id:
            return
        transaction = Transaction()
        database = transaction.database
        if database.name is None or backend.name != 'postgresql':
            return
        key = int.from_bytes(hashlib.blake2b(
                f'{cls.__name__}:{message_id}'.encode(),
                digest_size=8).digest(), 'big', signed=True)
        cursor = transaction.connection.cursor()
        cursor.execute(*Select([database.lock_id(key)]))
        locked, = cursor.fetchone()
        if not locked:
            # Wait for the transaction that holds it to end: the retry,
            # in a snapshot of its own, sees what that one stored
            cursor.execute(*Select([database.lock_id(key, timeout=True)]))
            raise backend.DatabaseOperationalError(
                f'the e-mail {message_id} was being processed')

    def _inbound_email_post(self, message, text, subject, attachments):
        """Post the reply to the chat channel of the record, from its sender;
        return the message, or None when the e-mail was already posted

        The quoted message is left out; the names of the attachments, kept
        as attachments of the record, end the message."""
        pool = Pool()
        Channel = pool.get('ir.chat.channel')
        Message = pool.get('ir.chat.message')
        headers = message.get('headers', {})
        message_id = inbound_message_id(message)
        channel = Channel._get_channel(self)
        if message_id:
            # The same e-mail delivered again is posted once
            posted = Message.search([
                    ('channel', '=', channel.id),
                    ['OR',
                        ('reference', '=', message_id),
                        ('crm_email_message_id', '=', message_id),
                        ],
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
            lines.append(gettext(self._inbound_email_attachments_message,
                    names=', '.join(
                        a.get('filename') or 'attachment'
                        for a in attachments)))
        post = Message(
            channel=channel,
            audience='public',
            content='\n\n'.join(lines) or '-',
            reference=message_id,
            crm_email_message_id=message_id,
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
    def _inbound_email_record(cls, message):
        """Return the record the e-mail replies to

        A Message-ID of In-Reply-To or References matching the e-mail that
        created the record or a message of its chat (a reply posted there,
        an e-mail the chat sent), else a number in brackets in the
        subject."""
        pool = Pool()
        Message = pool.get('ir.chat.message')
        headers = message.get('headers', {})
        ids = []
        for key in ['In-Reply-To', 'References']:
            ids.extend(_MESSAGE_ID.findall(str(headers.get(key, ''))))
        message_id = inbound_message_id(message)
        if message_id:
            # the same e-mail delivered again
            ids.insert(0, message_id)
        if ids:
            ids = ids[:100]
            records = cls.search([
                    (cls._inbound_email_id_field, 'in', ids),
                    ], order=[('id', 'ASC')], limit=1)
            if records:
                return records[0]
            messages = Message.search([
                    ['OR',
                        ('reference', 'in', ids),
                        ('crm_email_message_id', 'in', ids),
                        ],
                    ('channel.resource', 'like', cls.__name__ + ',%'),
                    ], order=[('id', 'ASC')], limit=1)
            if messages:
                return cls(messages[0].channel.resource.id)
        numbers = _REFERENCE.findall(str(message.get('subject') or ''))
        if numbers:
            records = cls.search([
                    ('number', 'in', numbers[:10]),
                    ], order=[('id', 'ASC')], limit=1)
            if records:
                return records[0]


def inbound_message_id(message):
    "Return the Message-ID of the e-mail (as_dict of inbound.email) or None"
    headers = message.get('headers', {})
    found = _MESSAGE_ID.search(str(headers.get('Message-ID', '')))
    return found.group() if found else None


class Opportunity(InboundEmailMixin, metaclass=PoolMeta):
    __name__ = 'sale.opportunity'
    _inbound_email_id_field = 'capture_message_id'

    @classmethod
    def _inbound_email_create(
            cls, message, name, address, subject, text, message_id):
        "A new lead of the sender"
        company = cls.capture_company()
        party = cls.capture_party(
            name or address or subject[:100], address)
        return cls.capture_lead(company, party,
            gettext('crm_core.msg_lead_capture_email_description',
                subject=subject),
            text, capture_channel='email', capture_message_id=message_id)
