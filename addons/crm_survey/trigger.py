# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Surveys triggered by the events of the ERP

A trigger invites the party of a record to a survey when the record
reaches a state of its workflow: a ticket closed, a customer shipment done,
a customer invoice paid, a supplier shipment received, a purchase done.
The events are offered by the glue files of the host modules
(crm_service.py, stock.py, account_invoice.py, purchase.py), which hook the
host's transitions and call `fire`.

The host's transition never waits on nor fails because of a survey: it only
pushes a queued task (`Trigger.invite_events`), in a savepoint, and logs
what went wrong. The task filters the events, plans those of triggers with
a delay (`crm.survey.trigger.planned`, invited by a cron) and invites the
others at once. The quiet period of the configuration keeps a party from
being invited twice within its days: the parties of a batch are serialised
(an advisory lock each) and checked in one query."""
import datetime as dt
import logging
from collections import defaultdict
from contextlib import contextmanager

from sql.operators import NotEqual

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, fields)
from trytond.model.exceptions import ValidationError
from trytond.modules.crm_core.dbtools import in_values, savepoint, serialize
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, PYSONDecoder
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access

logger = logging.getLogger(__name__)


class Trigger(DeactivableMixin, ModelSQL, ModelView):
    "Survey Trigger"
    __string__ = "Survey Trigger"
    __name__ = 'crm.survey.trigger'

    survey = fields.Many2One(
        'crm.survey', "Survey", required=True, ondelete='CASCADE',
        domain=[
            ('company', '=', Eval('company', -1)),
            ('state', '=', 'open'),
            ],
        help="The open survey the party is invited to.")
    company = fields.Many2One('company.company', "Company", required=True)
    event = fields.Selection(
        'get_events', "Event", required=True,
        help="When the party of the record is invited; only the events "
        "of the activated modules are offered.")
    party_domain = fields.Char(
        "Parties",
        help="A PYSON domain on the parties who are invited, e.g. "
        "[('categories.name', '=', 'Retail')]; leave empty for all.")
    delay = fields.Integer(
        "Delay", required=True,
        domain=[('delay', '>=', 0)],
        help="The days after the event when the party is invited; "
        "0 invites at once.")
    planned = fields.One2Many(
        'crm.survey.trigger.planned', 'trigger', "Planned Invitations",
        readonly=True,
        help="The events waiting for their delay to pass.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.event, Index.Equality()),
                (t.company, Index.Equality())))
        cls.__access__.add('survey')

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_delay(cls):
        return 0

    @classmethod
    def get_events(cls):
        "Return the events a trigger can wait for, as a selection"
        return [(None, '')] + cls._get_events()

    @classmethod
    def _get_events(cls):
        """The (event, label) of the activated host modules

        Each glue file adds its own."""
        return []

    def get_rec_name(self, name):
        event = dict(self.get_events()).get(self.event) or ''
        return f'{self.survey.rec_name} - {event}'

    @classmethod
    def validate_fields(cls, triggers, field_names):
        super().validate_fields(triggers, field_names)
        if field_names is None or 'party_domain' in field_names:
            Party = Pool().get('party.party')
            for trigger in triggers:
                try:
                    with without_check_access():
                        Party.search(trigger.get_party_domain(), limit=0)
                except Exception as exception:
                    raise ValidationError(gettext(
                            'crm_survey.msg_trigger_invalid_party_domain',
                            trigger=trigger.rec_name,
                            error=exception)) from exception

    def get_party_domain(self):
        "Return the domain of the parties invited as a list"
        if not self.party_domain:
            return []
        value = PYSONDecoder({}).decode(self.party_domain)
        fields.domain_validate(value)
        return value

    @classmethod
    def fire(cls, event, records, party):
        """Push the task that invites the party (a function of the record)
        of each record for the triggers of the event

        Called by the glue files in the host's transaction: nothing that
        fails here fails the host, it is logged."""
        if not records:
            return
        try:
            with savepoint('crm_survey_trigger'), without_check_access():
                cls._fire(event, records, party)
        except Exception:
            logger.exception(
                "survey triggers of %s failed for %s", event,
                ', '.join(map(str, records[:10])))

    @classmethod
    def _fire(cls, event, records, party):
        companies = {r.company.id for r in records}
        triggers = cls.search([
                ('event', '=', event),
                ('company', 'in', list(companies)),
                ])
        if not triggers:
            return
        by_company = defaultdict(list)
        for trigger in triggers:
            by_company[trigger.company.id].append(trigger)
        events = defaultdict(list)
        for record in records:
            party_ = party(record)
            if not party_:
                continue
            events[record.company.id].append([str(record), party_.id])
        for company, company_events in events.items():
            if by_company[company]:
                cls.__queue__.invite_events(
                    by_company[company], company_events)

    @classmethod
    def invite_events(cls, triggers, events):
        """Invite the parties of the events [origin, party id] for the
        triggers, or plan them for those with a delay (a queued task)"""
        pool = Pool()
        Planned = pool.get('crm.survey.trigger.planned')
        Date = pool.get('ir.date')
        today = Date.today()
        planned, now = [], {}
        for trigger in triggers:
            if not trigger.active or trigger.survey.state != 'open':
                continue
            selected = trigger.filter_events(events)
            if trigger.delay:
                date = today + dt.timedelta(days=trigger.delay)
                planned.extend({
                        'trigger': trigger.id,
                        'origin': origin,
                        'party': party,
                        'date': date,
                        } for origin, party in selected)
            elif selected:
                now[trigger] = selected
        if planned:
            # the same event planned once: a task that runs again after a
            # crash plans nothing more
            planned = Planned.new_only(planned)
            Planned.create(planned)
        cls.invite(now)

    def filter_events(self, events):
        """Return the events [origin, party id] of the trigger: those of
        the parties of its domain (one search)"""
        Party = Pool().get('party.party')
        events = [tuple(e) for e in events]
        domain = self.get_party_domain()
        if domain:
            party_ids = {e[1] for e in events}
            with without_check_access():
                party_ids = set(map(int, Party.search(
                            [('id', 'in', list(party_ids))] + domain)))
            events = [e for e in events if e[1] in party_ids]
        return events

    @classmethod
    def invite(cls, trigger_events):
        """Create the invitations of the events of each trigger
        ({trigger: [(origin, party id)]}) and push their invitation

        A party is invited once a batch and not within the quiet period of
        the configuration; the same trigger invites once for an origin. The
        writers of the same party are serialised."""
        pool = Pool()
        Invitation = pool.get('crm.survey.invitation')
        Party = pool.get('party.party')
        Configuration = pool.get('crm.configuration')
        trigger_events = {t: e for t, e in trigger_events.items() if e}
        if not trigger_events:
            return []
        party_ids = sorted({
                p for events in trigger_events.values() for _, p in events})
        serialize(*(f'crm.survey.quiet,{p}' for p in party_ids))

        quiet_days = Configuration(1).survey_quiet_days or 0
        quiet = cls._quiet_parties(party_ids, quiet_days)
        done = cls._origins_invited(trigger_events)

        to_create = []
        invited = set(quiet)
        for trigger in sorted(trigger_events, key=lambda t: t.id):
            company = trigger.company.id
            for origin, party in trigger_events[trigger]:
                if ((company, party) in invited
                        or (trigger.id, origin) in done):
                    continue
                invited.add((company, party))
                to_create.append((trigger, origin, party))
        if not to_create:
            return []
        with without_check_access():
            parties = {p.id: p for p in Party.browse(
                    list({p for _, _, p in to_create}))}
            invitations = Invitation.create([{
                        'survey': trigger.survey.id,
                        'party': party,
                        'email': parties[party].email,
                        'origin': origin,
                        'trigger': trigger.id,
                        } for trigger, origin, party in to_create])
        Invitation.__queue__.invite(invitations)
        return invitations

    @classmethod
    def _quiet_parties(cls, party_ids, days):
        """Return the (company, party) of the parties invited within the
        last days, by a trigger or by hand (one query a slice)"""
        pool = Pool()
        Invitation = pool.get('crm.survey.invitation')
        Survey = pool.get('crm.survey')
        if not days or not party_ids:
            return set()
        invitation = Invitation.__table__()
        survey = Survey.__table__()
        cursor = Transaction().connection.cursor()
        since = dt.datetime.now() - dt.timedelta(days=days)
        quiet = set()
        for sub_ids in grouped_slice(party_ids):
            cursor.execute(*invitation.join(
                    survey, condition=invitation.survey == survey.id
                    ).select(
                    survey.company, invitation.party,
                    where=in_values(invitation.party, sub_ids)
                    & NotEqual(invitation.state, 'cancelled')
                    & (invitation.create_date >= since),
                    group_by=[survey.company, invitation.party]))
            quiet.update(cursor)
        return quiet

    @classmethod
    def _origins_invited(cls, trigger_events):
        """Return the (trigger id, origin) that already have an invitation
        (one query a slice)"""
        Invitation = Pool().get('crm.survey.invitation')
        invitation = Invitation.__table__()
        cursor = Transaction().connection.cursor()
        origins = sorted({
                o for events in trigger_events.values() for o, _ in events})
        trigger_ids = [t.id for t in trigger_events]
        done = set()
        for sub_origins in grouped_slice(origins):
            cursor.execute(*invitation.select(
                    invitation.trigger, invitation.origin,
                    where=in_values(invitation.trigger, trigger_ids)
                    & in_values(invitation.origin, list(sub_origins))))
            done.update(cursor)
        return done

    @classmethod
    def invite_planned(cls):
        """Invite the planned events whose date has come (a cron)

        The date is today's, or the context's date."""
        pool = Pool()
        Planned = pool.get('crm.survey.trigger.planned')
        Date = pool.get('ir.date')
        context = Transaction().context
        today = context.get('date') or Date.today()
        with without_check_access():
            planned = Planned.search([('date', '<=', today)], order=[
                    ('date', 'ASC'), ('id', 'ASC')])
        for sub_planned in grouped_slice(planned, 1000):
            sub_planned = list(sub_planned)
            trigger_events = defaultdict(list)
            for record in sub_planned:
                trigger = record.trigger
                if (trigger.active and trigger.survey.state == 'open'
                        and record.party):
                    trigger_events[trigger].append(
                        (str(record.origin), record.party.id))
            cls.invite(trigger_events)
            with without_check_access():
                Planned.delete(sub_planned)


class TriggerPlanned(ModelSQL, ModelView):
    "Planned Survey Invitation"
    __string__ = "Planned Survey Invitation"
    __name__ = 'crm.survey.trigger.planned'

    trigger = fields.Many2One(
        'crm.survey.trigger', "Trigger", required=True, readonly=True,
        ondelete='CASCADE')
    origin = fields.Reference(
        "Origin", selection='get_origins', required=True, readonly=True)
    party = fields.Many2One(
        'party.party', "Party", required=True, readonly=True,
        ondelete='CASCADE')
    date = fields.Date(
        "Date", required=True, readonly=True,
        help="When the party is invited, unless invited meanwhile.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._order = [('date', 'ASC'), ('id', 'ASC')]
        cls._sql_indexes.add(Index(t, (t.date, Index.Range())))
        cls.__access__.add('trigger')

    @classmethod
    def get_origins(cls):
        return Pool().get('crm.survey.invitation').get_origins()

    @classmethod
    def new_only(cls, vlist):
        """Return the values of the vlist whose (trigger, origin) is not
        planned yet (one query a slice)"""
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        origins = sorted({v['origin'] for v in vlist})
        trigger_ids = sorted({v['trigger'] for v in vlist})
        planned = set()
        for sub_origins in grouped_slice(origins):
            cursor.execute(*table.select(
                    table.trigger, table.origin,
                    where=in_values(table.trigger, trigger_ids)
                    & in_values(table.origin, list(sub_origins))))
            planned.update(cursor)
        result = []
        for values in vlist:
            key = (values['trigger'], values['origin'])
            if key not in planned:
                planned.add(key)
                result.append(values)
        return result


class Invitation(metaclass=PoolMeta):
    __name__ = 'crm.survey.invitation'

    trigger = fields.Many2One(
        'crm.survey.trigger', "Trigger", readonly=True, ondelete='SET NULL',
        help="The trigger that made the invitation.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.party, Index.Equality()),
                    (t.create_date, Index.Range())),
                Index(t, (t.trigger, Index.Equality()),
                    (t.origin, Index.Equality())),
                })


class Configuration(metaclass=PoolMeta):
    __name__ = 'crm.configuration'

    survey_quiet_days = fields.Integer(
        "Survey Quiet Days",
        domain=['OR',
            ('survey_quiet_days', '=', None),
            ('survey_quiet_days', '>=', 0),
            ],
        help="A party invited to a survey within these days is not "
        "invited again by a trigger; leave empty to invite each time.")

    @classmethod
    def default_survey_quiet_days(cls):
        return 30


class PartyReplace(metaclass=PoolMeta):
    __name__ = 'party.replace'

    @classmethod
    def fields_to_replace(cls):
        return super().fields_to_replace() + [
            ('crm.survey.trigger.planned', 'party'),
            ('crm.survey.trigger.planned', 'origin'),
            ]


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('crm.survey.trigger|invite_planned',
                "Invite the Planned Survey Invitations"))


@contextmanager
def survey_event(event, Model, records, states, party):
    """Fire the triggers of the event for the records that reach one of the
    states during the block (a transition of the host)

    party is a function of a record that returns the party invited."""
    ids = [r.id for r in records if r.state not in states]
    yield
    if not ids:
        return
    Trigger = Pool().get('crm.survey.trigger')
    try:
        with without_check_access():
            reached = Model.search([
                    ('id', 'in', ids),
                    ('state', 'in', list(states)),
                    ])
    except Exception:
        logger.exception("survey triggers of %s failed", event)
        return
    Trigger.fire(event, reached, party)
