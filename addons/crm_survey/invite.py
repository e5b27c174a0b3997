# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Inviting by e-mail: the texts and reminders of a survey, and the mass
invitation of parties

The invitations of a mass invitation are made in one INSERT … SELECT and
their e-mails queued in batches (Invitation.queue_invite); the sending
itself is Invitation.invite's, in response.py."""
import re

from sql import Literal, Null
from sql.aggregate import Count
from sql.functions import CurrentTimestamp
from sql.operators import Exists, Or

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.model.exceptions import AccessError
from trytond.modules.crm_core.dbtools import (
    create_hooks, in_values, serialize)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .exceptions import SurveyError
from .response import INVITE_BATCH, OPEN_STATES

#: A placeholder of the subject or the body, known or not
_PLACEHOLDER = re.compile(r'\{([^{}\s]*)\}')
PLACEHOLDERS = {'party', 'survey', 'link'}


class Survey(metaclass=PoolMeta):
    __name__ = 'crm.survey'

    email_subject = fields.Char(
        "E-mail Subject", translate=True,
        help="The subject of the invitation e-mails.\n"
        "Leave empty for the default one. {survey} is replaced by the title "
        "of the survey and {party} by the name of the party.")
    email_body = fields.Text(
        "E-mail Body", translate=True,
        help="The text of the invitation e-mails.\n"
        "Leave empty for the default one. {link} is replaced by the link to "
        "the answer page (added at the end when missing), {party} by the "
        "name of the party and {survey} by the title of the survey.")
    reminder_days = fields.Integer(
        "Reminder Days", required=True,
        domain=[('reminder_days', '>=', 0)],
        help="How many days after the invitation (or the previous reminder) "
        "a reminder is sent to whom has not answered.\n"
        "0 sends no reminder.")
    reminder_count = fields.Integer(
        "Reminders", required=True,
        domain=[('reminder_count', '>=', 0)],
        states={
            'invisible': ~Eval('reminder_days'),
            },
        help="The most reminders sent for one invitation.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'invite': {
                    'invisible': Eval('state') != 'open',
                    'icon': 'tryton-email',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_reminder_days(cls):
        return 0

    @classmethod
    def default_reminder_count(cls):
        return 1

    @classmethod
    @ModelView.button_action('crm_survey.wizard_survey_invite')
    def invite(cls, surveys):
        pass

    @classmethod
    def validate_fields(cls, surveys, field_names):
        super().validate_fields(surveys, field_names)
        cls.check_email_texts(surveys, field_names)

    @classmethod
    def check_email_texts(cls, surveys, field_names=None):
        "Check that the e-mail texts have only known placeholders"
        if field_names and not (
                field_names & {'email_subject', 'email_body'}):
            return
        for survey in surveys:
            for name in ['email_subject', 'email_body']:
                for placeholder in _PLACEHOLDER.findall(
                        getattr(survey, name) or ''):
                    if placeholder not in PLACEHOLDERS:
                        raise SurveyError(gettext(
                                'crm_survey.msg_survey_email_placeholder',
                                survey=survey.rec_name,
                                field=cls.__names__(name)['field'],
                                placeholder='{%s}' % placeholder))


class InviteStart(ModelView):
    "Survey Invite"
    __string__ = "Survey Invite"
    __name__ = 'crm.survey.invite.start'

    survey = fields.Many2One(
        'crm.survey', "Survey", required=True,
        domain=[('state', '=', 'open')])
    selected = fields.Integer(
        "Selected Parties", readonly=True,
        states={
            'invisible': ~Eval('selected'),
            },
        help="The parties selected in their list, invited.")
    parties = fields.Many2Many(
        'party.party', None, None, "Parties",
        help="The parties to invite.")
    categories = fields.Many2Many(
        'party.category', None, None, "Party Categories",
        help="Invite also the parties of these categories (and of their "
        "subcategories).")


class InviteDone(ModelView):
    "Survey Invite"
    __string__ = "Survey Invite Done"
    __name__ = 'crm.survey.invite.done'

    survey = fields.Many2One('crm.survey', "Survey", readonly=True)
    invited = fields.Integer(
        "Invited", readonly=True,
        help="The invitations made; their e-mails are being sent.")
    skipped = fields.Integer(
        "Skipped", readonly=True,
        help="The parties without e-mail address, inactive or already "
        "invited to the survey (an invitation neither cancelled nor "
        "answered).")


class Invite(Wizard):
    """Invite parties to a survey by e-mail

    From a survey (*Invite*) or from the parties chosen in their list."""
    __string__ = "Survey Invite"
    __name__ = 'crm.survey.invite'
    start = StateView(
        'crm.survey.invite.start', 'crm_survey.invite_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Invite", 'invite', 'tryton-ok', default=True),
            ])
    invite = StateTransition()
    done = StateView(
        'crm.survey.invite.done', 'crm_survey.invite_done_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    @classmethod
    def execute(cls, session_id, data, state_name):
        """Keep the parties selected in their list out of the host's log of
        the wizard: it would log the run on each of them, thousands maybe;
        the invitations made are the trace"""
        context = Transaction().context
        if (state_name == 'invite'
                and context.get('active_model') == 'party.party'):
            cls.check_access()
            with Transaction().set_context(
                    active_ids=[], active_id=None,
                    _survey_invite_selected=context.get('active_ids') or []):
                return super().execute(session_id, data, state_name)
        return super().execute(session_id, data, state_name)

    def default_start(self, fields):
        context = Transaction().context
        values = {}
        model = context.get('active_model')
        if model == 'crm.survey' and context.get('active_id') is not None:
            values['survey'] = context['active_id']
        elif model == 'party.party':
            # the ids, not the records: browsing thousands is slow
            values['selected'] = len(context.get('active_ids') or [])
        return values

    def transition_invite(self):
        context = Transaction().context
        parties = [p.id for p in self.start.parties]
        parties.extend(context.get('_survey_invite_selected') or [])
        invitations, skipped = self.invite_parties(
            self.start.survey, parties, self.start.categories)
        self.done.survey = self.start.survey
        self.done.invited = len(invitations)
        self.done.skipped = skipped
        return 'done'

    def default_done(self, fields):
        return {
            'survey': self.done.survey.id,
            'invited': self.done.invited,
            'skipped': self.done.skipped,
            }

    @classmethod
    def invite_parties(cls, survey, parties=(), categories=()):
        """Invite the parties, and those of the categories, to the survey;
        return the ids of the invitations and how many parties were skipped

        The parties are records or ids. The invitations are inserted in one
        INSERT … SELECT and their
        e-mails queued in batches. Skipped: the parties inactive, without
        e-mail address or with an open invitation (neither cancelled nor
        answered) to the survey. The mass invitations of one survey are made
        one at a time."""
        pool = Pool()
        Invitation = pool.get('crm.survey.invitation')
        Party = pool.get('party.party')
        Category = pool.get('party.category')
        PartyCategory = pool.get('party.party-party.category')
        ContactMechanism = pool.get('party.contact_mechanism')
        ModelAccess = pool.get('ir.model.access')
        transaction = Transaction()
        database = transaction.database
        cursor = transaction.connection.cursor()

        if not ModelAccess.check(
                'crm.survey.invitation', 'create', raise_exception=False):
            raise AccessError(gettext(
                    'crm_survey.msg_survey_invite_access',
                    survey=survey.rec_name))
        if survey.state != 'open':
            raise SurveyError(gettext(
                    'crm_survey.msg_survey_invite_not_open',
                    survey=survey.rec_name))
        party_ids = sorted(set(map(int, parties)))
        category_ids = [c.id for c in categories]
        if not party_ids and not category_ids:
            raise SurveyError(gettext(
                    'crm_survey.msg_survey_invite_nobody',
                    survey=survey.rec_name))
        serialize(str(survey))

        party = Party.__table__()
        mechanism = ContactMechanism.__table__()
        party_category = PartyCategory.__table__()
        invitation = Invitation.__table__()
        chosen = []
        if party_ids:
            chosen.append(in_values(party.id, party_ids))
        if category_ids:
            category_ids = [c.id for c in Category.search([
                        ('parent', 'child_of', category_ids),
                        ])]
            chosen.append(party.id.in_(party_category.select(
                    party_category.party,
                    where=in_values(party_category.category, category_ids))))
        chosen = Or(chosen) & (party.active == Literal(True))
        cursor.execute(*party.select(Count(party.id), where=chosen))
        total, = cursor.fetchone()

        # The party's e-mail as Party.email: its first e-mail mechanism
        is_email = ((mechanism.party == party.id)
            & (mechanism.type == 'email')
            & (mechanism.active == Literal(True))
            & (mechanism.value != Null) & (mechanism.value != ''))
        email = mechanism.select(mechanism.value, where=is_email,
            order_by=[mechanism.sequence.asc.nulls_first, mechanism.id.asc],
            limit=1)
        invited = invitation.select(invitation.party,
            where=(invitation.survey == survey.id)
            & (invitation.party != Null)
            & invitation.state.in_(sorted(OPEN_STATES)))
        query = party.select(
            Literal(survey.id), party.id, email, Literal('draft'),
            Literal(transaction.user), CurrentTimestamp(),
            where=chosen
            & Exists(mechanism.select(Literal(1), where=is_email))
            & ~party.id.in_(invited),
            order_by=[party.id.asc])
        columns = [invitation.survey, invitation.party, invitation.email,
            invitation.state, invitation.create_uid, invitation.create_date]
        if database.has_returning():
            cursor.execute(*invitation.insert(
                    columns, query, returning=[invitation.id]))
            ids = [i for i, in cursor]
        else:
            cursor.execute(*invitation.select(
                    Literal(0) + invitation.id, order_by=[
                        invitation.id.desc], limit=1))
            last, = cursor.fetchone() or (0,)
            cursor.execute(*invitation.insert(columns, query))
            cursor.execute(*invitation.select(invitation.id,
                    where=(invitation.id > last)
                    & (invitation.survey == survey.id)))
            ids = [i for i, in cursor]
        ids.sort()
        # in slices of a batch: browse is quadratic in the ids it gets
        create_hooks(Invitation, ids, browse_size=INVITE_BATCH)
        Invitation.queue_invite(ids)
        return ids, total - len(ids)
