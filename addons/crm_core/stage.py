# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt

from sql import Null
from sql.aggregate import Max

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, fields, sequence_ordered)
from trytond.model.exceptions import AccessError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import PYSONEncoder
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access

from .memo import transaction_memo


class Stage(DeactivableMixin, sequence_ordered(), ModelSQL, ModelView):
    """A step of the sales pipeline; it stands for one state of the host
    opportunity workflow."""
    __name__ = 'crm.stage'
    __string__ = "CRM Stage"
    # What is ordered by stage (the Pipeline) follows the pipeline
    _order_name = 'sequence'

    name = fields.Char("Name", required=True, translate=True)
    opportunity_state = fields.Selection(
        'get_opportunity_states', "Opportunity State", required=True,
        sort=False,
        help="The state of the lead or opportunity while it is in the stage.")
    probability = fields.Float(
        "Probability", digits=(1, 4), required=True,
        domain=[
            ('probability', '>=', 0),
            ('probability', '<=', 1),
            ],
        help="The conversion probability set on the opportunities that "
        "enter the stage.")
    folded = fields.Boolean(
        "Folded", help="Check to fold the stage in the pipeline.")
    team = fields.Many2One(
        'crm.team', "Team", ondelete='CASCADE',
        help="The team that uses the stage; leave empty to share it "
        "with all teams.")

    @classmethod
    def get_opportunity_states(cls):
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        return Opportunity.fields_get(['state'])['state']['selection']

    @classmethod
    def default_opportunity_state(cls):
        return 'opportunity'

    @classmethod
    def default_probability(cls):
        return 0

    @classmethod
    def default_folded(cls):
        return False

    @classmethod
    def __register__(cls, module_name):
        super().__register__(module_name)
        # A database updated from a version without the pipeline tabs gets
        # them for its stages (the XML of the stages is noupdate)
        cls._crm_sync_pipeline_tabs()

    @classmethod
    def on_modification(cls, mode, stages, field_names=None):
        super().on_modification(mode, stages, field_names=field_names)
        if mode == 'create':
            cls._crm_place_stageless(stages)
        # a deleted stage deletes its tab (ondelete CASCADE)
        if mode == 'create' or (mode == 'write'
                and field_names & cls._crm_pipeline_tab_fields()):
            cls._crm_sync_pipeline_tabs()

    @classmethod
    def _crm_place_stageless(cls, stages):
        """Put the opportunities without stage on the new stages of their
        state: those made before the CRM was installed (the stage is
        required), in SQL, keeping their probability; the history records
        it as their first stage"""
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        table = Opportunity.__table__()
        cursor = Transaction().connection.cursor()
        placed = []
        for stage in stages:
            if stage.opportunity_state == 'cancelled' or not stage.active:
                continue
            where = ((table.stage == Null)
                & (table.state == stage.opportunity_state))
            if stage.team:
                where &= table.team == stage.team.id
            cursor.execute(*table.select(table.id, where=where))
            ids = [i for i, in cursor]
            for sub_ids in grouped_slice(ids, backend.MAX_QUERY_PARAMS):
                sub_ids = list(sub_ids)
                cursor.execute(*table.update(
                        [table.stage], [stage.id],
                        where=table.id.in_(sub_ids)))
                placed.extend((i, stage.id) for i in sub_ids)
        if placed:
            Opportunity._crm_record_created(placed)

    @classmethod
    def _crm_pipeline_tab_fields(cls):
        "The fields that shape the tabs of the stages"
        return {'name', 'sequence', 'opportunity_state', 'folded', 'active',
            'team'}

    @classmethod
    def _crm_pipeline_tab_states(cls):
        "The states of the open pipeline, whose stages have a tab"
        return ['lead', 'opportunity', 'converted']

    @classmethod
    def _crm_sync_pipeline_tabs(cls):
        """Keep one tab (ir.action.act_window.domain) with its count on the
        Pipeline action per active, unfolded stage of the open pipeline

        Tryton's tabs are records of the action; the stages are data that a
        manager edits, so the tabs follow the stages here: created, renamed
        (in every translated language), reordered and deleted with them."""
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        Domain = pool.get('ir.action.act_window.domain')
        Lang = pool.get('ir.lang')
        Config = pool.get('ir.configuration')
        try:
            action = ModelData.get_id('crm_core', 'act_opportunity_pipeline')
        except KeyError:
            # the action is created later in the installation
            return
        encoder = PYSONEncoder(sort_keys=True)
        with without_check_access(), Transaction().set_context(
                active_test=False, language=Config.get_language()):
            stages = cls.search([
                    ('active', '=', True),
                    ('folded', '=', False),
                    ('opportunity_state', 'in',
                        cls._crm_pipeline_tab_states()),
                    ], order=[('sequence', 'ASC NULLS FIRST'), ('id', 'ASC')])
            tabs = {t.crm_stage.id: t for t in Domain.search([
                        ('act_window', '=', action),
                        ('crm_stage', '!=', None),
                        ])}
            to_save = []
            for rank, stage in enumerate(stages):
                tab = tabs.pop(stage.id, None) or Domain(
                    act_window=action, crm_stage=stage, count=True)
                tab.name = stage.crm_tab_name
                # after "Open" (10), before "Won" (1000)
                tab.sequence = 100 + rank
                tab.domain = encoder.encode([('stage', '=', stage.id)])
                tab.active = True
                to_save.append(tab)
            Domain.save(to_save)
            Domain.delete(list(tabs.values()))
            languages = Lang.search([
                    ('translatable', '=', True),
                    ('code', '!=', Config.get_language()),
                    ])
            for language in languages:
                with Transaction().set_context(language=language.code):
                    names = {s.id: s.crm_tab_name
                        for s in cls.browse(stages)}
                    tabs = Domain.browse(to_save)
                    for tab in tabs:
                        tab.name = names[tab.crm_stage.id]
                    Domain.save(tabs)

    @property
    def crm_tab_name(self):
        "The name of the stage on its tab of the Pipeline"
        if self.team:
            return f'{self.name} ({self.team.rec_name})'
        return self.name

    @classmethod
    def get_first(cls, state, team=None):
        "Return the first active stage for the state and the team"
        stages = cls.search([
                ('opportunity_state', '=', state),
                ('team', 'in', [None, team.id if team else None]),
                ], limit=1)
        if stages:
            stage, = stages
            return stage


class StageHistory(ModelSQL, ModelView):
    """One row each time an opportunity changes stage."""
    __name__ = 'crm.stage.history'
    __string__ = "CRM Stage History"

    opportunity = fields.Many2One(
        'sale.opportunity', "Opportunity", required=True, ondelete='CASCADE')
    from_stage = fields.Many2One(
        'crm.stage', "From Stage", ondelete='SET NULL')
    to_stage = fields.Many2One('crm.stage', "To Stage", ondelete='SET NULL')
    user = fields.Many2One('res.user', "User", ondelete='SET NULL')
    date = fields.Timestamp("Date", required=True)
    duration = fields.TimeDelta(
        "Duration", help="The time spent in the previous stage.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('opportunity')
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t,
                (t.opportunity, Index.Range()),
                (t.date, Index.Range(order='DESC'))))
        cls._order = [
            ('date', 'DESC'),
            ('id', 'DESC'),
            ]

    @classmethod
    def default_date(cls):
        return dt.datetime.now()

    @classmethod
    def check_modification(cls, mode, history, values=None, external=False):
        super().check_modification(
            mode, history, values=values, external=external)
        if external:
            raise AccessError(gettext('crm_core.msg_stage_history_readonly'))

    @classmethod
    def record(cls, changes):
        """Record the stage changes

        changes is a list of (opportunity, from_stage, to_stage)."""
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        table = cls.__table__()
        opportunity = Opportunity.__table__()
        if not changes:
            return []

        ids = list({o.id for o, _, _ in changes})
        # The moment each opportunity entered its current stage, in one query
        entered = {}
        for sub_ids in grouped_slice(ids, backend.MAX_QUERY_PARAMS):
            query = opportunity.join(
                table, 'LEFT', condition=table.opportunity == opportunity.id
                ).select(
                    opportunity.id,
                    Max(table.date), opportunity.create_date,
                    where=opportunity.id.in_(list(sub_ids)),
                    group_by=[opportunity.id, opportunity.create_date])
            cursor.execute(*query)
            for id_, last, created in cursor:
                entered[id_] = _timestamp(last) or _timestamp(created)

        now = dt.datetime.now()
        user = transaction.user
        vlist = []
        for opportunity, from_stage, to_stage in changes:
            start = entered.get(opportunity.id)
            duration = now - start if start and from_stage else None
            if duration is not None and duration < dt.timedelta(0):
                duration = dt.timedelta(0)
            vlist.append({
                    'opportunity': opportunity.id,
                    'from_stage': from_stage.id if from_stage else None,
                    'to_stage': to_stage.id if to_stage else None,
                    'user': user,
                    'date': now,
                    'duration': duration,
                    })
            entered[opportunity.id] = now
        with without_check_access():
            return cls.create(vlist)


class Opportunity(metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    @classmethod
    def on_write(cls, records, values):
        """Give preprocess_values the records of the write, and record the
        stage moves it adds"""
        pool = Pool()
        History = pool.get('crm.stage.history')
        callbacks = super().on_write(records, values)
        if 'stage' in values or not (
                {'employee', 'team', 'state'} & values.keys()):
            return callbacks
        before = {r.id: r.stage for r in records}
        entry = {'moved': False}
        memo = transaction_memo('crm_core.opportunity.writing')
        memo['writing'] = (values, records, entry)

        def record_moves():
            if not entry['moved']:
                return
            History.record([
                    (o, before[o.id], o.stage)
                    for o in cls.browse(list(before))
                    if o.stage != before[o.id]])
        return callbacks + [record_moves]


def writing_records(values):
    """Return the records of the write of values, between on_write and
    preprocess_values, and the entry where preprocess_values sets 'moved'
    when it adds the stage (recorded in the history after the write)"""
    memo = transaction_memo('crm_core.opportunity.writing')
    writing = memo.pop('writing', None)
    if writing is None or writing[0] is not values:
        return None, {}
    _, records, entry = writing
    return records, entry


def employee_team(employee, company):
    """Return the id of the only active team of the company the employee
    belongs to, or None"""
    pool = Pool()
    Member = pool.get('crm.team.member')
    if not employee or company is None:
        return None
    memo = transaction_memo(
        'crm_core.employee_team', ('crm.team', 'crm.team.member'))
    key = (int(employee), int(company))
    if key not in memo:
        with without_check_access():
            members = Member.search([
                    ('employee', '=', key[0]),
                    ('team.active', '=', True),
                    ('team.company', '=', key[1]),
                    ])
        teams = {m.team.id for m in members}
        memo[key] = teams.pop() if len(teams) == 1 else None
    return memo[key]


def _stage_values(stage):
    "Return (team id, probability) of the stage id"
    pool = Pool()
    Stage = pool.get('crm.stage')
    memo = transaction_memo('crm_core.stage', ('crm.stage',))
    if stage not in memo:
        with without_check_access():
            record = Stage(stage)
            memo[stage] = (
                record.team.id if record.team else None, record.probability)
    return memo[stage]


def stage_probability(stage):
    "Return the probability of the stage id"
    return _stage_values(stage)[1] if stage else None


def team_stage(stage, state, team, moved=False):
    """Return the id of the stage of a lead in state for the team

    A new lead, or one without team until now, (moved False) takes the first
    stage of the team for the state unless its stage is the team's, or shared
    while the team has none for the state; when the team changes (moved
    True), only the stage of another team is replaced. A lead without stage
    (cancelled) keeps none on write."""
    pool = Pool()
    Stage = pool.get('crm.stage')
    if moved and not stage:
        return stage
    memo = transaction_memo('crm_core.first_stage', ('crm.stage',))
    key = (state, team)
    if key not in memo:
        with without_check_access():
            first = Stage.get_first(state, Pool().get('crm.team')(team))
        memo[key] = first.id if first else None
    first = memo[key]
    if not stage:
        return first
    stage_team = _stage_values(stage)[0]
    if stage_team == team:
        return stage
    if stage_team is not None:
        return first
    if not moved and first and _stage_values(first)[0] == team:
        return first
    return stage


def _timestamp(value):
    "Convert a raw SQLite timestamp string into datetime"
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    return value
