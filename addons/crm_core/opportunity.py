# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
from collections import defaultdict
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, EvalEnvironment, ModelSQL, ModelView, fields)
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If, PYSONDecoder, PYSONEncoder
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from . import dbtools
from .exceptions import LostReasonError, StageError


class Opportunity(metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    team = fields.Many2One(
        'crm.team', "Team", ondelete='RESTRICT',
        domain=[('company', '=', Eval('company', -1))])
    stage = fields.Many2One(
        'crm.stage', "Stage", ondelete='RESTRICT',
        domain=['OR',
            ('team', '=', None),
            ('team', '=', Eval('team', -1)),
            ],
        states={
            'required': Eval('state') != 'cancelled',
            },
        help="The step of the pipeline; moving it moves the state.")
    crm_stage_next = fields.Function(fields.Many2One(
            'crm.stage', "Next Stage",
            help="The stage the Next Stage button moves to: the following "
            "open stage of the pipeline that the opportunity can reach."),
        'on_change_with_crm_stage_next')
    crm_stage_next_state = fields.Function(fields.Selection(
            'get_crm_stage_states', "Next Stage State"),
        'on_change_with_crm_stage_next_state')
    crm_stage_previous = fields.Function(fields.Many2One(
            'crm.stage', "Previous Stage",
            help="The stage the Previous Stage button moves back to."),
        'on_change_with_crm_stage_previous')
    stage_history = fields.One2Many(
        'crm.stage.history', 'opportunity', "Stage History", readonly=True)
    priority = fields.Selection([
            ('0', "Low"),
            ('1', "Normal"),
            ('2', "High"),
            ('3', "Very High"),
            ], "Priority", required=True, sort=False)
    expected_closing = fields.Date(
        "Expected Closing",
        help="When the salesperson expects the customer to decide.")
    weighted_revenue = fields.Function(Monetary(
            "Weighted Revenue", currency='currency', digits='currency',
            help="The amount weighted by the conversion probability."),
        'get_weighted_revenue', searcher='search_weighted_revenue')
    tags = fields.Many2Many(
        'sale.opportunity-crm.tag', 'opportunity', 'tag', "Tags")
    competitors = fields.Many2Many(
        'sale.opportunity-crm.competitor', 'opportunity', 'competitor',
        "Competitors")
    lost_cause = fields.Many2One(
        'crm.lost_reason', "Lost Reason", ondelete='RESTRICT',
        states={
            'invisible': ~Eval('state').in_(['lead', 'opportunity', 'lost']),
            },
        help="Why the opportunity was lost; required to mark it as lost.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.lost_reason.string = "Lost Comment"
        cls.conversion_probability.help = (
            "The chance to win the deal: the probability of its stage, "
            "which the salesperson may adjust. The weighted revenue is the "
            "amount times this probability.")
        cls._buttons.update({
                'mark_lost': cls._buttons['lost'].copy(),
                'crm_previous_stage': {
                    'invisible': ~Eval('crm_stage_previous'),
                    'icon': 'tryton-back',
                    'depends': ['crm_stage_previous'],
                    },
                'crm_next_stage': {
                    # what the next stage needs is marked on the form
                    # before the move, as the host's Opportunity button does
                    'pre_validate': If(
                        Eval('crm_stage_next_state', '').in_(
                            cls._crm_stage_party_states()),
                        [
                            If(~Eval('party'), ('party', '!=', None), ()),
                            If(~Eval('employee'),
                                ('employee', '!=', None), ()),
                            ],
                        []),
                    'invisible': ~Eval('crm_stage_next'),
                    'icon': 'tryton-forward',
                    'depends': ['crm_stage_next', 'crm_stage_next_state'],
                    },
                })

    @classmethod
    def default_team(cls):
        pool = Pool()
        Member = pool.get('crm.team.member')
        context = Transaction().context
        employee = context.get('employee')
        if employee is None:
            return
        with without_check_access():
            members = Member.search([
                    ('employee', '=', employee),
                    ('team.active', '=', True),
                    ('team.company', '=', context.get('company', -1)),
                    ], limit=1)
        if members:
            member, = members
            return member.team.id

    @classmethod
    def default_stage(cls):
        pool = Pool()
        Stage = pool.get('crm.stage')
        Team = pool.get('crm.team')
        team = cls.default_team()
        with without_check_access():
            stage = Stage.get_first(
                cls.default_state(), Team(team) if team else None)
        return stage.id if stage else None

    @classmethod
    def default_conversion_probability(cls):
        pool = Pool()
        Stage = pool.get('crm.stage')
        stage = cls.default_stage()
        if stage is not None:
            with without_check_access():
                return Stage(stage).probability
        return super().default_conversion_probability()

    @classmethod
    def default_priority(cls):
        return '0'

    @classmethod
    def preprocess_values(cls, mode, values):
        """A salesperson's lead gets their team when they belong to exactly
        one; a lead created for a team starts on the team's first stage

        Whatever makes the lead (form, import, e-mail, RPC). On write: when
        the salesperson changes without a team, when a lead without team
        gets one (the assignment), and when the team changes while the stage
        belongs to another team (see stage.py). The look-ups are memoized
        for the transaction: the import calls it per row."""
        from .stage import (
            employee_team, stage_probability, team_stage, writing_records)
        if mode == 'write':
            records, writing = writing_records(values)
        values = super().preprocess_values(mode, values)
        if mode == 'create':
            if values.get('employee') and not values.get('team'):
                team = employee_team(values['employee'],
                    values.get('company', cls.default_company()))
                if team is not None:
                    values['team'] = team
            if values.get('team'):
                old = values.get('stage')
                stage = team_stage(old,
                    values.get('state') or cls.default_state(),
                    values['team'])
                if stage != old:
                    probability = values.get('conversion_probability')
                    if probability is None or probability == (
                            stage_probability(old) if old
                            else cls.default_conversion_probability()):
                        values['conversion_probability'] = (
                            stage_probability(stage))
                    values['stage'] = stage
        else:
            if records and values.get('employee') and 'team' not in values:
                companies = {r.company.id for r in records}
                team = (employee_team(values['employee'], companies.pop())
                    if len(companies) == 1 else None)
                if team is not None and any(
                        r.team is None or r.team.id != team
                        for r in records):
                    values['team'] = team
            if records and values.get('team') and 'stage' not in values:
                # a lead without team (the pool, a new lead being assigned)
                # enters the team's pipeline as a new lead would
                stages = {
                    team_stage(r.stage.id if r.stage else None, r.state,
                        values['team'], moved=r.team is not None)
                    for r in records}
                if len(stages) == 1:
                    stage, = stages
                    if stage is not None and any(
                            r.stage is None or r.stage.id != stage
                            for r in records):
                        values['stage'] = stage
                        writing['moved'] = True
            if (records and values.get('state')
                    and values['state'] != 'cancelled'
                    and 'stage' not in values
                    and all(not r.stage for r in records)):
                # The stage is required: a lead without stage (cancelled)
                # takes the first stage of its new state in the same write
                pool = Pool()
                Stage = pool.get('crm.stage')
                with without_check_access():
                    stages = {Stage.get_first(values['state'], r.team)
                        for r in records}
                if len(stages) == 1:
                    stage, = stages
                    if stage:
                        values['stage'] = stage.id
                        writing['moved'] = True
            if values.get('stage') and (
                    'conversion_probability' not in values):
                # A stage moved by hand brings its probability
                values['conversion_probability'] = stage_probability(
                    values['stage'])
        return values

    @fields.depends('stage')
    def on_change_stage(self):
        if self.stage:
            self.conversion_probability = self.stage.probability

    @fields.depends('team', 'stage', 'state')
    def on_change_team(self):
        pool = Pool()
        Stage = pool.get('crm.stage')
        if self.stage and self.stage.team and self.stage.team != self.team:
            self.stage = Stage.get_first(self.state, self.team)
            self.on_change_stage()

    @classmethod
    def get_crm_stage_states(cls):
        return [(None, '')] + cls.fields_get(['state'])['state']['selection']

    @classmethod
    def _crm_stage_party_states(cls):
        "The states of the stages that need a party and a salesperson"
        return ['opportunity', 'converted', 'won']

    def _crm_stage_sequence(self):
        """Return the stages the buttons walk through: the active, unfolded
        stages of the open pipeline the opportunity may take (its team's or
        shared), in the order of the pipeline"""
        from .memo import transaction_memo
        pool = Pool()
        Stage = pool.get('crm.stage')
        memo = transaction_memo('crm_core.stage_sequence', ('crm.stage',))
        team = self.team.id if self.team else None
        if team not in memo:
            with without_check_access():
                memo[team] = Stage.search([
                        ('team', 'in', [None, team]),
                        ('folded', '=', False),
                        ('opportunity_state', 'in',
                            Stage._crm_pipeline_tab_states()),
                        ])
        return memo[team]

    def _crm_stage_reachable(self, stage):
        "Whether the workflow of the opportunity may move to the stage"
        if not self.state:
            return False
        state = stage.opportunity_state
        return state == self.state or (
            state != 'won' and self._crm_state_button(state) is not None)

    def _crm_state_button(self, state):
        """Return the name of the button that moves the opportunity to state
        or None if the workflow may not go there"""
        button = self._stage_transitions().get(state)
        invisible = self._buttons.get(button, {}).get('invisible', False)
        if (not button
                or (self.state, state) not in self._transitions
                or PYSONDecoder(EvalEnvironment(self, self.__class__)
                    ).decode(PYSONEncoder().encode(invisible))):
            return None
        return button

    def _crm_stage_step(self, step):
        "Return the open stage step (1 or -1) away from the current one"
        if not self.stage or self.state not in {
                'lead', 'opportunity', 'converted'}:
            return None
        stages = self._crm_stage_sequence()
        if self.stage not in stages:
            return None
        index = stages.index(self.stage) + step
        if 0 <= index < len(stages):
            stage = stages[index]
            if self._crm_stage_reachable(stage):
                return stage

    @fields.depends('stage', 'team', 'state')
    def on_change_with_crm_stage_next(self, name=None):
        return self._crm_stage_step(1)

    @fields.depends('stage', 'team', 'state')
    def on_change_with_crm_stage_next_state(self, name=None):
        stage = self._crm_stage_step(1)
        return stage.opportunity_state if stage else None

    @fields.depends('stage', 'team', 'state')
    def on_change_with_crm_stage_previous(self, name=None):
        return self._crm_stage_step(-1)

    @classmethod
    @ModelView.button
    def crm_next_stage(cls, opportunities):
        "Move the opportunities to their next stage"
        cls._crm_move_stage(opportunities, 1)

    @classmethod
    @ModelView.button
    def crm_previous_stage(cls, opportunities):
        "Move the opportunities back to their previous stage"
        cls._crm_move_stage(opportunities, -1)

    @classmethod
    def _crm_move_stage(cls, opportunities, step):
        to_move = defaultdict(list)
        for opportunity in opportunities:
            stage = opportunity._crm_stage_step(step)
            if stage:
                opportunity._crm_check_stage_needs(stage)
                to_move[stage].append(opportunity)
        if to_move:
            cls.write(*cls._stage_values(to_move))

    def _crm_check_stage_needs(self, stage):
        """Raise the error that says what the opportunity needs before it
        enters the stage"""
        if stage.opportunity_state not in self._crm_stage_party_states():
            return
        needs = [f for f in ['party', 'employee'] if not getattr(self, f)]
        if needs:
            names = self.fields_get(needs)
            raise StageError(gettext(
                    'crm_core.msg_opportunity_stage_needs',
                    opportunity=self.rec_name,
                    stage=stage.rec_name,
                    fields=', '.join(names[f]['string'] for f in needs)))

    @classmethod
    def get_weighted_revenue(cls, opportunities, name):
        result = {}
        for opportunity in opportunities:
            if opportunity.amount is None:
                result[opportunity.id] = None
                continue
            amount = opportunity.amount * Decimal(
                str(opportunity.conversion_probability or 0))
            result[opportunity.id] = opportunity.currency.round(amount)
        return result

    @classmethod
    def _weighted_revenue_column(cls, table):
        return table.amount * table.conversion_probability

    @classmethod
    def search_weighted_revenue(cls, name, clause):
        table = cls.__table__()
        _, operator, value = clause
        Operator = fields.SQL_OPERATORS[operator]
        if isinstance(value, Decimal):
            value = float(value)
        query = table.select(table.id,
            where=Operator(cls._weighted_revenue_column(table), value))
        return [('id', 'in', query)]

    @classmethod
    def order_weighted_revenue(cls, tables):
        table, _ = tables[None]
        return [cls._weighted_revenue_column(table)]

    @classmethod
    def copy(cls, opportunities, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('stage_history', None)
        default.setdefault('lost_cause', None)
        return super().copy(opportunities, default=default)

    @classmethod
    def on_modification(cls, mode, opportunities, field_names=None):
        super().on_modification(mode, opportunities, field_names=field_names)
        if mode == 'create':
            cls._crm_created_stages(opportunities)

    @classmethod
    def _crm_created_stages(cls, opportunities):
        """At creation the state wins: the stage follows it; the first stage
        is recorded in the history

        Read in SQL, not through the records: the leads of an import come
        by thousands."""
        pool = Pool()
        Stage = pool.get('crm.stage')
        Team = pool.get('crm.team')
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        ids = [o.id for o in opportunities]
        rows = {}
        for sub_ids in grouped_slice(ids, dbtools.BATCH):
            cursor.execute(*table.select(
                    table.id, table.state, table.team, table.stage,
                    where=dbtools.in_values(table.id, sub_ids)))
            rows.update((r[0], r[1:]) for r in cursor)
        to_follow, firsts, stages = defaultdict(list), {}, {}
        with without_check_access():
            states = {s.id: s.opportunity_state for s in Stage.browse(
                    list({r[2] for r in rows.values() if r[2]}))}
            for id_ in ids:
                state, team, stage = rows[id_]
                if stage and states[stage] == state:
                    stages[id_] = stage
                    continue
                if (state, team) not in firsts:
                    firsts[state, team] = Stage.get_first(
                        state, Team(team) if team else None)
                first = firsts[state, team]
                stages[id_] = first.id if first else None
                if stages[id_] != stage:
                    to_follow[first].append(id_)
        if to_follow:
            with Transaction().set_context(_crm_stage_created=True):
                cls.write(*cls._stage_values({
                            s: cls.browse(i) for s, i in to_follow.items()}))
        cls._crm_record_created(
            [(i, stages[i]) for i in ids if stages[i]])

    @classmethod
    def _crm_record_created(cls, first_stages):
        """Record the first stage of the new opportunities

        first_stages is a list of (opportunity id, stage id). Set-based: the
        rows are those the history records for a move from no stage."""
        pool = Pool()
        History = pool.get('crm.stage.history')
        transaction = Transaction()
        now = dt.datetime.now()
        ids = dbtools.insert_as_create(History, [{
                    'opportunity': opportunity,
                    'from_stage': None,
                    'to_stage': stage,
                    'user': transaction.user,
                    'date': now,
                    'duration': None,
                    } for opportunity, stage in first_stages])
        # Small slices: the hooks of the history read no field and browse
        # is quadratic in the number of ids
        dbtools.create_hooks(History, ids, browse_size=100)

    @classmethod
    def on_write(cls, opportunities, values):
        pool = Pool()
        Stage = pool.get('crm.stage')
        History = pool.get('crm.stage.history')
        callbacks = super().on_write(opportunities, values)
        if ('stage' in values
                and not Transaction().context.get('_crm_stage_created')):
            stage = Stage(values['stage']) if values['stage'] else None
            moved = {o.id: o.stage for o in opportunities if o.stage != stage}
            if moved:
                def record_moves():
                    records = cls.browse(list(moved))
                    History.record(
                        [(o, moved[o.id], o.stage) for o in records])
                    cls._follow_stage(records)
                callbacks.append(record_moves)
        if 'state' in values:
            ids = list(map(int, opportunities))
            callbacks.append(lambda: cls._follow_state(cls.browse(ids)))
        return callbacks

    @classmethod
    def _stage_transitions(cls):
        """Return the button moving the workflow to each state

        A stage move is the click on the host button of the stage's state,
        with the same access rights and conditions."""
        return {
            'lead': 'lead',
            'opportunity': 'opportunity',
            'converted': 'convert',
            'lost': 'lost',
            'cancelled': 'cancel',
            }

    @classmethod
    def _follow_stage(cls, opportunities):
        "Move the workflow to the state of the stage"
        states = dict(cls.fields_get(['state'])['state']['selection'])
        to_move = defaultdict(list)
        for opportunity in opportunities:
            stage = opportunity.stage
            if not stage or stage.opportunity_state == opportunity.state:
                continue
            state = stage.opportunity_state
            if state == 'won':
                raise StageError(gettext(
                        'crm_core.msg_opportunity_stage_won',
                        opportunity=opportunity.rec_name,
                        stage=stage.rec_name))
            opportunity._crm_check_stage_needs(stage)
            button = opportunity._crm_state_button(state)
            if not button:
                raise StageError(gettext(
                        'crm_core.msg_opportunity_stage_state',
                        opportunity=opportunity.rec_name,
                        stage=stage.rec_name,
                        state=states[opportunity.state],
                        ))
            to_move[button].append(opportunity)
        for button, records in to_move.items():
            getattr(cls, button)(records)

    @classmethod
    def _follow_state(cls, opportunities):
        "Move the stage to the first stage of the state"
        to_write = cls._stage_values(cls._stages_to_follow(opportunities))
        if to_write:
            cls.write(*to_write)

    @classmethod
    def _stages_to_follow(cls, opportunities):
        "Return {stage: opportunities} for the stages that follow the state"
        pool = Pool()
        Stage = pool.get('crm.stage')
        result = defaultdict(list)
        for opportunity in opportunities:
            stage = opportunity.stage
            if stage and stage.opportunity_state == opportunity.state:
                continue
            with without_check_access():
                new_stage = Stage.get_first(
                    opportunity.state, opportunity.team)
            if new_stage != stage:
                result[new_stage].append(opportunity)
        return result

    @classmethod
    def _stage_values(cls, stages):
        args = []
        for stage, opportunities in stages.items():
            values = {'stage': None}
            if stage:
                values['stage'] = stage.id
                values['conversion_probability'] = stage.probability
            args.extend((opportunities, values))
        return args

    @classmethod
    def lost(cls, opportunities):
        for opportunity in opportunities:
            if (opportunity.state in {'lead', 'opportunity'}
                    and not opportunity.lost_cause):
                raise LostReasonError(gettext(
                        'crm_core.msg_opportunity_lost_reason_required',
                        opportunity=opportunity.rec_name))
        super().lost(opportunities)

    @classmethod
    @ModelView.button_action('crm_core.wizard_opportunity_mark_lost')
    def mark_lost(cls, opportunities):
        pass


class OpportunityTag(ModelSQL):
    __name__ = 'sale.opportunity-crm.tag'
    __string__ = "Opportunity - Tag"

    opportunity = fields.Many2One(
        'sale.opportunity', "Opportunity", required=True, ondelete='CASCADE')
    tag = fields.Many2One(
        'crm.tag', "Tag", required=True, ondelete='CASCADE')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('opportunity')


class OpportunityCompetitor(ModelSQL):
    __name__ = 'sale.opportunity-crm.competitor'
    __string__ = "Opportunity - Competitor"

    opportunity = fields.Many2One(
        'sale.opportunity', "Opportunity", required=True, ondelete='CASCADE')
    competitor = fields.Many2One(
        'crm.competitor', "Competitor", required=True, ondelete='CASCADE')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('opportunity')


class LostReason(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'crm.lost_reason'
    __string__ = "CRM Lost Reason"

    name = fields.Char("Name", required=True, translate=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('name', 'ASC'))


class MarkLost(Wizard):
    "Mark Opportunity as Lost"
    __name__ = 'sale.opportunity.mark_lost'
    start = StateView('sale.opportunity.mark_lost.start',
        'crm_core.opportunity_mark_lost_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Mark as Lost", 'lost', 'tryton-ok', default=True),
            ])
    lost = StateTransition()

    def default_start(self, fields):
        values = {}
        if len(self.records) == 1:
            record, = self.records
            if record.lost_cause:
                values['reason'] = record.lost_cause.id
            values['comment'] = record.lost_reason
        return values

    def transition_lost(self):
        records = [r for r in self.records if r.state != 'lost']
        values = {'lost_cause': self.start.reason.id}
        if self.start.comment:
            values['lost_reason'] = self.start.comment
        self.model.write(records, values)
        self.model.lost(records)
        return 'end'


class MarkLostStart(ModelView):
    __name__ = 'sale.opportunity.mark_lost.start'
    __string__ = "Mark Opportunity as Lost"

    reason = fields.Many2One('crm.lost_reason', "Reason", required=True)
    comment = fields.Text("Comment")


class LeadDomainMixin:
    """A rule that applies to the leads matching its PYSON ``domain``

    The domain is checked on save; the model names the error."""
    __slots__ = ()

    @classmethod
    def default_domain(cls):
        return '[]'

    @classmethod
    def validate_fields(cls, rules, field_names):
        super().validate_fields(rules, field_names)
        cls.check_domain(rules, field_names)

    @classmethod
    def check_domain(cls, rules, field_names=None):
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        if field_names and 'domain' not in field_names:
            return
        for rule in rules:
            try:
                with without_check_access():
                    Opportunity.search(rule.get_domain(), limit=0)
            except Exception as exception:
                raise cls._domain_error(rule, exception) from exception

    @classmethod
    def _domain_error(cls, rule, exception):
        "Return the error to raise for the invalid domain of rule"
        raise NotImplementedError

    def get_domain(self):
        "Return the domain as a list, checked"
        value = PYSONDecoder({}).decode(self.domain)
        fields.domain_validate(value)
        return value
