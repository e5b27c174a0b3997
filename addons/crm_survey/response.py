# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Invitations to answer a survey, and the responses with their answers

An invitation is reached by the secret token of its link; only the token's
SHA-256 hash is kept, as crm_core does for the calendar links and
crm_service for the ticket status pages: the link is shown once. Making a
new link revokes the previous one. An invitation has at most one response
(a unique constraint), and the submissions of one invitation are
serialised."""
import datetime as dt
import hashlib
import html
import re
import secrets
import urllib.parse
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from sql import Literal
from sql.conditionals import Coalesce

from trytond.config import config
from trytond.i18n import gettext
from trytond.model import (
    Index, ModelSQL, ModelView, Unique, Workflow, fields)
from trytond.modules.crm_core.activity import CALENDAR_TOKEN
from trytond.modules.crm_core.dbtools import serialize
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.sendmail import send_message_transactional
from trytond.tools import grouped_slice
from trytond.tools.email_ import format_address
from trytond.transaction import Transaction, without_check_access
from trytond.url import http_host
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .exceptions import SurveyError

# secrets.token_urlsafe(32): 256 bits in 43 characters of base64url, as the
# calendar links of crm_core
TOKEN = CALENDAR_TOKEN


def token_hash(token):
    "The hash stored of an invitation token"
    return hashlib.sha256(token.encode('ascii')).hexdigest()


def _now():
    return dt.datetime.now().replace(microsecond=0)


#: How many invitations one queued task e-mails
INVITE_BATCH = 100
#: The states of an invitation that can still be answered
OPEN_STATES = {'draft', 'sent', 'opened'}


def _today():
    "The day of the reminders: the context's date, by default today"
    Date = Pool().get('ir.date')
    return Transaction().context.get('date') or Date.today()


#: The placeholders of the text of an invitation e-mail
PLACEHOLDER = re.compile(r'(\{(?:party|survey|link)\})')


def _text_body(body, values):
    """The body with its placeholders replaced by their values, in one pass
    (a value holding a placeholder stays as it is); not str.format: the text
    is the user's, it may hold any other brace"""
    return PLACEHOLDER.sub(lambda m: values[m.group(1)[1:-1]], body)


def _html_body(body, values, lang, title):
    """The body as an HTML document in the direction of the language: each
    part escaped, the link a link, a paragraph by blank line"""
    parts = []
    for part in PLACEHOLDER.split(body):
        if part == '{link}':
            url = html.escape(values['link'])
            parts.append(f'<a href="{url}">{url}</a>')
        elif PLACEHOLDER.fullmatch(part):
            parts.append(html.escape(values[part[1:-1]]))
        else:
            parts.append(html.escape(part))
    paragraphs = ''.join(
        '<p>%s</p>' % p.strip().replace('\n', '<br>\n')
        for p in ''.join(parts).split('\n\n') if p.strip())
    code = lang.code.replace('_', '-')
    direction = 'rtl' if lang.direction == 'rtl' else 'ltr'
    return (f'<!DOCTYPE html>\n<html lang="{html.escape(code)}" '
        f'dir="{direction}">\n<head><meta charset="utf-8">'
        f'<title>{html.escape(title)}</title></head>\n'
        f'<body>{paragraphs}</body>\n</html>\n')


class SurveyCompanyMixin:
    "The company of the record is its survey's"
    __slots__ = ()

    company = fields.Function(
        fields.Many2One('company.company', "Company"), 'get_company',
        searcher='search_company')

    def get_company(self, name):
        return self.survey.company.id if self.survey else None

    @classmethod
    def search_company(cls, name, clause):
        return [('survey.' + clause[0],) + tuple(clause[1:])]


class Invitation(SurveyCompanyMixin, Workflow, ModelSQL, ModelView):
    "Survey Invitation"
    __string__ = "Survey Invitation"
    __name__ = 'crm.survey.invitation'

    _states = {
        'readonly': Eval('state') != 'draft',
        }

    survey = fields.Many2One(
        'crm.survey', "Survey", required=True, ondelete='CASCADE',
        states=_states,
        domain=[('state', 'in', ['draft', 'open'])])
    party = fields.Many2One(
        'party.party', "Party", ondelete='RESTRICT', states=_states,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    email = fields.Char(
        "E-mail", states=_states,
        help="Where the link is sent; by default the party's e-mail.")
    origin = fields.Reference(
        "Origin", selection='get_origins', states=_states,
        help="The record the invitation is about.")
    token_hash = fields.Char(
        "Token Hash", readonly=True, strip=False,
        help="The SHA-256 hash of the secret of the invitation's link.")
    expiration_date = fields.DateTime(
        "Expiration Date", readonly=True,
        help="When the link stops working.")
    sent_date = fields.DateTime("Sent Date", readonly=True)
    reminder_date = fields.DateTime(
        "Reminder Date", readonly=True,
        help="When the last reminder was sent.")
    reminder_count = fields.Integer(
        "Reminders", readonly=True,
        help="How many reminders were sent.")
    opened_date = fields.DateTime("Opened Date", readonly=True)
    answered_date = fields.DateTime("Answered Date", readonly=True)
    response = fields.Function(
        fields.Many2One('crm.survey.response', "Response"), 'get_response')
    state = fields.Selection([
            ('draft', "Draft"),
            ('sent', "Sent"),
            ('opened', "Opened"),
            ('answered', "Answered"),
            ('cancelled', "Cancelled"),
            ], "State", readonly=True, required=True, sort=False)

    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._order = [('id', 'DESC')]
        cls._sql_constraints += [
            ('token_hash_unique', Unique(t, t.token_hash),
                'crm_survey.msg_invitation_token_unique'),
            ]
        cls._sql_indexes.add(
            Index(t, (t.survey, Index.Equality()), (t.state, Index.Equality())))
        cls._transitions |= {
            ('draft', 'sent'),
            ('sent', 'sent'),
            ('opened', 'sent'),
            ('sent', 'opened'),
            ('opened', 'answered'),
            ('sent', 'answered'),
            ('draft', 'cancelled'),
            ('sent', 'cancelled'),
            ('opened', 'cancelled'),
            ('cancelled', 'draft'),
            }
        cls._buttons.update({
                'make_link': {
                    'invisible': ~Eval('state').in_(
                        ['draft', 'sent', 'opened']),
                    'icon': 'tryton-link',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': ~Eval('state').in_(
                        ['draft', 'sent', 'opened']),
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                'draft': {
                    'invisible': Eval('state') != 'cancelled',
                    'icon': 'tryton-clear',
                    'depends': ['state'],
                    },
                })
        cls.__access__.add('survey')

    @classmethod
    def default_state(cls):
        return 'draft'

    @classmethod
    def get_origins(cls):
        "Return the models an invitation can be about"
        pool = Pool()
        IrModel = pool.get('ir.model')
        models = cls._get_origins()
        return [(None, '')] + [
            (m, IrModel.get_name(m)) for m in models]

    @classmethod
    def _get_origins(cls):
        "The names of the models an invitation can be about"
        return ['party.party', 'sale.opportunity']

    @classmethod
    def get_response(cls, invitations, name):
        pool = Pool()
        Response = pool.get('crm.survey.response')
        result = {i.id: None for i in invitations}
        for response in Response.search([
                    ('invitation', 'in', [i.id for i in invitations]),
                    ]):
            result[response.invitation.id] = response.id
        return result

    @fields.depends('party', 'email')
    def on_change_party(self):
        if self.party and not self.email:
            self.email = self.party.email

    def get_rec_name(self, name):
        who = (self.party.rec_name if self.party
            else (self.email or str(self.id)))
        return f'{self.survey.rec_name} - {who}'

    @classmethod
    def copy(cls, invitations, default=None):
        default = default.copy() if default is not None else {}
        for name in ['token_hash', 'expiration_date', 'sent_date',
                'opened_date', 'answered_date', 'reminder_date',
                'reminder_count']:
            default.setdefault(name, None)
        default.setdefault('state', 'draft')
        return super().copy(invitations, default=default)

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, invitations):
        "The link of a cancelled invitation stops working"
        cls.write(invitations, {'token_hash': None})

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, invitations):
        pass

    @classmethod
    @ModelView.button_action('crm_survey.wizard_invitation_link')
    def make_link(cls, invitations):
        pass

    @classmethod
    def new_tokens(cls, invitations, reminder=False):
        """Make a new secret link for each invitation, revoking its previous
        one, and mark it sent; return the tokens in the same order

        A reminder counts one more reminder at the reminder date instead of
        changing the sent date."""
        pool = Pool()
        Configuration = pool.get('crm.configuration')
        validity = Configuration(1).survey_invitation_validity
        now = _now()
        if reminder:
            today = _today()
            reminded = (now if today == now.date()
                else dt.datetime.combine(today, now.time()))
        tokens, to_write = [], []
        for invitation in invitations:
            if invitation.survey.state == 'closed':
                raise SurveyError(gettext(
                        'crm_survey.msg_invitation_survey_closed',
                        invitation=invitation.rec_name))
            token = secrets.token_urlsafe(32)
            assert TOKEN.fullmatch(token)
            tokens.append(token)
            values = {
                'token_hash': token_hash(token),
                'expiration_date': now + validity,
                }
            if reminder:
                values['reminder_date'] = reminded
                values['reminder_count'] = (invitation.reminder_count or 0) + 1
            else:
                values['sent_date'] = now
            to_write.extend(([invitation], values))
        if to_write:
            with without_check_access():
                cls.write(*to_write)
        cls.send([i for i in invitations if i.state != 'answered'])
        return tokens

    @classmethod
    @Workflow.transition('sent')
    def send(cls, invitations):
        pass

    @classmethod
    def invite(cls, invitations):
        """Deliver each invitation its link (a new token) by e-mail

        The entry point of everything that invites: the wizards, the
        triggers and the queue call it. Up to INVITE_BATCH invitations are
        e-mailed in the transaction (the messages leave once it is
        committed); more are queued in batches of INVITE_BATCH. An
        invitation without e-mail address is left as it is: its link is
        made with *Make Link*."""
        invitations = [i for i in invitations if i.state in OPEN_STATES]
        for invitation in invitations:
            if invitation.survey.state == 'closed':
                raise SurveyError(gettext(
                        'crm_survey.msg_invitation_survey_closed',
                        invitation=invitation.rec_name))
        if len(invitations) > INVITE_BATCH:
            cls.queue_invite(invitations)
        else:
            cls.deliver(invitations)

    @classmethod
    def queue_invite(cls, invitations, reminder=False):
        """Queue the e-mailing of the invitations (records or ids), or of a
        reminder, in tasks of INVITE_BATCH invitations

        Each task is one transaction: its invitations are marked sent and
        the task finished in the same commit, and the messages leave after
        it, so a batch committed is never sent again; a task that fails
        before its commit sends nothing and is tried again."""
        queued_at = _now()
        for sub_ids in grouped_slice(sorted(map(int, invitations)),
                INVITE_BATCH):
            cls.__queue__.deliver_queued(
                cls.browse(list(sub_ids)), queued_at, reminder=reminder)

    @classmethod
    def deliver_queued(cls, invitations, queued_at, reminder=False):
        """E-mail the invitations of a queued batch

        Idempotent: the invitations are locked, and those no longer open,
        of a closed survey, sent since the batch was queued (the same batch
        queued twice) or, for a reminder, no longer due are skipped."""
        cls.lock(invitations)
        today = _today()
        todo = []
        for invitation in cls.browse(list(map(int, invitations))):
            if (invitation.state not in OPEN_STATES
                    or invitation.survey.state == 'closed'):
                continue
            if reminder:
                if not invitation.reminder_due(today):
                    continue
            elif invitation.sent_date and invitation.sent_date >= queued_at:
                continue
            todo.append(invitation)
        cls.deliver(todo, reminder=reminder)

    @classmethod
    def deliver(cls, invitations, reminder=False):
        """E-mail a new link to each invitation that has an address; return
        those e-mailed

        The messages leave when the transaction is committed."""
        invitations = [i for i in invitations if i.email_address]
        tokens = cls.new_tokens(invitations, reminder=reminder)
        for invitation, token in zip(invitations, tokens):
            invitation.send_email(token, reminder=reminder)
        return invitations

    @property
    def email_address(self):
        "The address the link is e-mailed to: the e-mail, else the party's"
        return (self.email
            or (self.party.email if self.party else None) or None)

    def email_language(self):
        """The code of the language of the e-mail: the survey's, else the
        party's, else the company's, else the default one"""
        pool = Pool()
        Configuration = pool.get('ir.configuration')
        survey = self.survey
        for lang in [
                survey.language,
                self.party.lang if self.party else None,
                survey.company.party.lang]:
            if lang:
                return lang.code
        return Configuration.get_language()

    def send_email(self, token, reminder=False):
        """E-mail the link of the token, in the language of the invitation

        The subject and the body are the survey's, or the default ones;
        their placeholders {party}, {survey} and {link} are replaced. The
        message has a text part and an HTML part, right to left in a
        right-to-left language."""
        pool = Pool()
        Configuration = pool.get('crm.configuration')
        Lang = pool.get('ir.lang')
        code = self.email_language()
        with Transaction().set_context(language=code):
            invitation = self.__class__(self.id)
            survey = invitation.survey
            lang = Lang.get(code)
            subject = survey.email_subject or gettext(
                'crm_survey.msg_invitation_email_subject',
                survey=survey.name)
            body = survey.email_body or gettext(
                'crm_survey.msg_invitation_email_body')
            if reminder:
                subject = gettext(
                    'crm_survey.msg_invitation_reminder_subject',
                    subject=subject)
            values = {
                'party': invitation.party.name if invitation.party else '',
                'survey': survey.name,
                'link': self.url(token),
                }
        body = body.replace('\r\n', '\n')
        if '{link}' not in body:
            body += '\n\n{link}'
        address = self.email_address
        # compat32 headers: the folding of email.policy.default drops the
        # space between two encoded words ("Петров,как")
        message = MIMEMultipart('alternative')
        from_ = (Configuration(1).survey_email_from
            or config.get('email', 'from'))
        message['From'] = from_
        message['To'] = format_address(address, values['party'] or None)
        subject = ' '.join(_text_body(subject, values).split())
        message['Subject'] = Header(subject, 'utf-8')
        message['Content-Language'] = code.replace('_', '-')
        message.attach(MIMEText(_text_body(body, values), 'plain', 'utf-8'))
        message.attach(MIMEText(
                _html_body(body, values, lang, subject), 'html', 'utf-8'))
        send_message_transactional(message, to_addrs=[address])

    def reminder_due(self, today):
        """Whether a reminder is due on the day: sent, not answered, its
        survey answered that day and asking for reminders, fewer reminders
        than the survey's most and the last sent reminder_days ago"""
        survey = self.survey
        if (self.state not in {'sent', 'opened'}
                or not survey.reminder_days
                or (self.reminder_count or 0) >= (survey.reminder_count or 0)
                or not survey.accepts_answers(today)):
            return False
        last = self.reminder_date or self.sent_date
        return bool(last) and (
            last.date() + dt.timedelta(days=survey.reminder_days) <= today)

    @classmethod
    def send_reminders(cls):
        """Queue a reminder to the invitations due one (see reminder_due),
        in batches; the task of the *Send Survey Reminders* scheduled
        action. Run twice the same day, it sends nothing more."""
        pool = Pool()
        Survey = pool.get('crm.survey')
        invitation = cls.__table__()
        survey = Survey.__table__()
        cursor = Transaction().connection.cursor()
        today = _today()
        cursor.execute(*invitation.join(survey,
                condition=invitation.survey == survey.id).select(
                invitation.id,
                where=invitation.state.in_(['sent', 'opened'])
                & (survey.state == 'open')
                & (survey.active == Literal(True))
                & (survey.reminder_days > 0)
                & (Coalesce(invitation.reminder_count, 0)
                    < survey.reminder_count)))
        ids = [i for i, in cursor]
        due = []
        with without_check_access():
            for sub_ids in grouped_slice(ids):
                due.extend(i for i in cls.browse(list(sub_ids))
                    if i.reminder_due(today) and i.email_address)
        if due:
            cls.queue_invite(due, reminder=True)
    @classmethod
    @Workflow.transition('opened')
    def open(cls, invitations):
        cls.write(
            [i for i in invitations if not i.opened_date],
            {'opened_date': _now()})

    @classmethod
    @Workflow.transition('answered')
    def answer(cls, invitations):
        cls.write(invitations, {'answered_date': _now()})

    @classmethod
    def url(cls, token):
        "Return the address of the answer page of the token"
        database = Transaction().database.name
        return http_host() + urllib.parse.quote(
            f'/{database}/crm/survey/{token}')

    @classmethod
    def from_token(cls, token):
        """Return the invitation of the token or None

        The token is found by its hash: nothing is compared with the secret
        itself. An expired or cancelled link is None too."""
        if not isinstance(token, str) or not TOKEN.fullmatch(token):
            return None
        with without_check_access():
            invitations = cls.search([
                    ('token_hash', '=', token_hash(token)),
                    ('state', 'in', ['sent', 'opened', 'answered']),
                    ], limit=1)
        if not invitations:
            return None
        invitation, = invitations
        if (invitation.expiration_date
                and invitation.expiration_date < dt.datetime.now()
                and invitation.state != 'answered'):
            return None
        return invitation

    def get_or_start_response(self):
        """Return the response of the invitation, started if none

        The responses of one invitation are made one at a time: a unique
        constraint keeps one, and the writers are serialised."""
        pool = Pool()
        Response = pool.get('crm.survey.response')
        serialize(str(self))
        with without_check_access():
            responses = Response.search(
                [('invitation', '=', self.id)], limit=1)
            if responses:
                return responses[0]
            survey = self.survey
            response = Response(
                survey=survey, invitation=self,
                party=None if survey.anonymous else self.party,
                state='in_progress', start_date=_now())
            response.save()
        return response


class InvitationLinkStart(ModelView):
    "Survey Invitation Link"
    __string__ = "Survey Invitation Link"
    __name__ = 'crm.survey.invitation.link.start'

    url = fields.Char("Link", readonly=True,
        help="The address of the answer page, shown only once: "
        "a new link revokes this one.")


class InvitationLink(Wizard):
    "Survey Invitation Link"
    __string__ = "Survey Invitation Link"
    __name__ = 'crm.survey.invitation.link'
    start_state = 'make'
    make = StateTransition()
    show = StateView(
        'crm.survey.invitation.link.start',
        'crm_survey.invitation_link_start_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def transition_make(self):
        token, = self.model.new_tokens([self.record])
        self.show.url = self.model.url(token)
        return 'show'

    def default_show(self, fields):
        return {'url': self.show.url}


class Response(SurveyCompanyMixin, ModelSQL, ModelView):
    "Survey Response"
    __string__ = "Survey Response"
    __name__ = 'crm.survey.response'

    survey = fields.Many2One(
        'crm.survey', "Survey", required=True, readonly=True,
        ondelete='CASCADE')
    invitation = fields.Many2One(
        'crm.survey.invitation', "Invitation", readonly=True,
        ondelete='CASCADE',
        domain=[('survey', '=', Eval('survey', -1))])
    party = fields.Many2One(
        'party.party', "Party", readonly=True, ondelete='RESTRICT',
        states={
            'invisible': ~Eval('party'),
            },
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    origin = fields.Function(fields.Reference(
            "Origin", selection='get_origins',
            help="The record the invitation was about: the ticket, "
            "shipment, invoice or purchase of a trigger."),
        'get_origin', searcher='search_origin')
    start_date = fields.DateTime("Start Date", readonly=True)
    submit_date = fields.DateTime("Submit Date", readonly=True)
    answers = fields.One2Many(
        'crm.survey.answer', 'response', "Answers", readonly=True)
    state = fields.Selection([
            ('in_progress', "In Progress"),
            ('submitted', "Submitted"),
            ], "State", readonly=True, required=True, sort=False)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._order = [('id', 'DESC')]
        cls._sql_constraints += [
            ('invitation_unique', Unique(t, t.invitation),
                'crm_survey.msg_response_invitation_unique'),
            ]
        cls._sql_indexes.add(
            Index(t, (t.survey, Index.Equality()), (t.state, Index.Equality())))
        cls.__access__.add('survey')

    @classmethod
    def default_state(cls):
        return 'in_progress'

    def get_rec_name(self, name):
        who = self.party.rec_name if self.party else str(self.id)
        return f'{self.survey.rec_name} - {who}'

    @classmethod
    def get_origins(cls):
        return Pool().get('crm.survey.invitation').get_origins()

    def get_origin(self, name):
        if self.invitation and self.invitation.origin:
            return str(self.invitation.origin)

    @classmethod
    def search_origin(cls, name, clause):
        return [('invitation.' + clause[0],) + tuple(clause[1:])]

    def answer_values(self):
        "Return the values of the answers, as answering.parse_answers does"
        values = {}
        for answer in self.answers:
            question = answer.question
            if question.type == 'single':
                values[question.id] = answer.option.id
            elif question.type == 'multiple':
                values.setdefault(question.id, set()).add(answer.option.id)
            elif question.type == 'matrix':
                values.setdefault(question.id, {})[answer.option.id] = int(
                    answer.number)
            elif question.type in {'char', 'text'}:
                values[question.id] = answer.text
            elif question.type == 'date':
                values[question.id] = answer.date
            elif question.type == 'number':
                values[question.id] = answer.number
            elif question.type in {'rating', 'nps', 'csat'}:
                values[question.id] = int(answer.number)
        return values

    def set_answers(self, values, submit=False):
        """Replace the answers of the response in progress by the values;
        submit it when asked"""
        pool = Pool()
        Answer = pool.get('crm.survey.answer')
        Invitation = pool.get('crm.survey.invitation')
        assert self.state == 'in_progress'
        questions = {q.id: q for q in self.survey.questions}
        answers = []
        for question_id, value in values.items():
            question = questions[question_id]
            answer = {'response': self.id, 'question': question_id}
            if question.type == 'single':
                answers.append({**answer, 'option': value})
            elif question.type == 'multiple':
                answers.extend(
                    {**answer, 'option': o} for o in sorted(value))
            elif question.type == 'matrix':
                answers.extend({**answer, 'option': o, 'number': v}
                    for o, v in sorted(value.items()))
            elif question.type in {'char', 'text'}:
                answers.append({**answer, 'text': value})
            elif question.type == 'date':
                answers.append({**answer, 'date': value})
            else:
                answers.append({**answer, 'number': value})
        with without_check_access():
            Answer.delete(Answer.search([('response', '=', self.id)]))
            Answer.create(answers)
            if submit:
                self.__class__.write([self], {
                        'state': 'submitted',
                        'submit_date': _now(),
                        })
                if self.invitation:
                    Invitation.answer([self.invitation])


class Answer(ModelSQL, ModelView):
    "Survey Answer"
    __string__ = "Survey Answer"
    __name__ = 'crm.survey.answer'

    response = fields.Many2One(
        'crm.survey.response', "Response", required=True, readonly=True,
        ondelete='CASCADE')
    question = fields.Many2One(
        'crm.survey.question', "Question", required=True, readonly=True,
        ondelete='CASCADE')
    option = fields.Many2One(
        'crm.survey.question.option', "Option", readonly=True,
        ondelete='CASCADE',
        domain=[If(Eval('question'),
                ('question', '=', Eval('question', -1)), ())])
    text = fields.Text("Text", readonly=True)
    number = fields.Float("Number", readonly=True)
    date = fields.Date("Date", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._order = [('response', 'DESC'), ('id', 'ASC')]
        cls._sql_indexes.update({
                Index(t, (t.response, Index.Equality())),
                Index(t, (t.question, Index.Equality()),
                    (t.option, Index.Equality())),
                })
        cls.__access__.add('response')


class PartyReplace(metaclass=PoolMeta):
    __name__ = 'party.replace'

    @classmethod
    def fields_to_replace(cls):
        return super().fields_to_replace() + [
            ('crm.survey.invitation', 'party'),
            ('crm.survey.invitation', 'origin'),
            ('crm.survey.response', 'party'),
            ]


class PartyErase(metaclass=PoolMeta):
    __name__ = 'party.erase'

    def to_erase(self, party_id):
        """The links of an erased party stop working and the text of their
        answers is erased"""
        pool = Pool()
        Invitation = pool.get('crm.survey.invitation')
        Answer = pool.get('crm.survey.answer')
        return super().to_erase(party_id) + [
            (Invitation, [('party', '=', party_id)], True,
                ['email', 'token_hash'], [None, None]),
            (Answer, [('response.party', '=', party_id)], False,
                ['text'], [None]),
            ]
