# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
import math
from collections import defaultdict

from sql import Cast, Literal, Null, Table, Union, Window
from sql.aggregate import Count, Min, Sum
from sql.functions import Abs, RowNumber
from sql.conditionals import Case, Coalesce
from sql.operators import Exists

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, Unique, fields,
    sequence_ordered)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction, without_check_access

from . import dbtools
from .exceptions import ScoringRuleError
from .opportunity import LeadDomainMixin

# The states of the leads that are scored and of the closed history
OPEN_STATES = ['lead', 'opportunity', 'converted']
CLOSED_STATES = ['won', 'lost']
# Below this many closed opportunities the stage probability is used
MIN_HISTORY = 20
# One closed opportunity in HOLDOUT is kept apart to measure the model
HOLDOUT = 5
# The Laplace smoothing of the frequencies
ALPHA = 1.0
# The factors shown change the odds by at least this ratio
FACTOR_RATIO = 1.1
FACTOR_COUNT = 3
AMOUNT_BUCKETS = [1000, 10000, 100000]
# The ids in one query
BATCH = 1000


class ScoringFeature:
    """A fact known when the lead comes in, learned from the history

    query(table, bulk) returns (from_, value): the FROM item containing the
    opportunity table and the SQL expression of the value; a value joined
    through a relation may give several rows per opportunity. bulk is true
    when most opportunities are read (training), false for a few leads.
    The words of a value come from the rec_name of model, from the
    selection of the opportunity field, or from labels. A value that is
    never NULL is not tested for it."""

    def __init__(self, name, string, query, model=None, field=None,
            labels=None, name_field='rec_name', nullable=True):
        self.name = name
        self.nullable = nullable
        self.name_field = name_field
        self.string = string
        self.query = query
        self.model = model
        self.field = field
        self.labels = labels or {}

    def value_names(self, values):
        "Return {value: words} of the values (strings)"
        pool = Pool()
        names = {v: self.labels.get(v, v) for v in values}
        if self.model:
            Model = pool.get(self.model)
            ids = [int(v) for v in values if v.lstrip('-').isdigit()]
            with without_check_access(), Transaction().set_context(
                    active_test=False):
                for record in Model.browse(ids):
                    names[str(record.id)] = getattr(
                        record, self.name_field)
        elif self.field:
            Opportunity = pool.get('sale.opportunity')
            selection = dict(Opportunity.fields_get(
                    [self.field])[self.field]['selection'])
            for value in values:
                names[value] = selection.get(value, value)
        return names


def logistic(value):
    if value >= 0:
        return 1 / (1 + math.exp(-value))
    exp = math.exp(value)
    return exp / (1 + exp)


def auc_score(pairs):
    """Return the area under the ROC curve of [(probability, won)]

    The Mann-Whitney statistic with the mean rank of ties; None when one
    class is missing."""
    pairs = sorted(pairs, key=lambda p: p[0])
    positives = sum(1 for _, won in pairs if won)
    negatives = len(pairs) - positives
    if not positives or not negatives:
        return None
    rank_sum = 0.0
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        rank = (i + 1 + j) / 2
        rank_sum += rank * sum(1 for _, won in pairs[i:j] if won)
        i = j
    return ((rank_sum - positives * (positives + 1) / 2)
        / (positives * negatives))


def brier_score(pairs):
    "Return the mean squared error of [(probability, won)]"
    if not pairs:
        return None
    return sum((p - (1 if won else 0)) ** 2 for p, won in pairs) / len(pairs)


class ScoringRule(
        LeadDomainMixin, DeactivableMixin, sequence_ordered(), ModelSQL,
        ModelView):
    """Points given to the open leads that match the domain."""
    __name__ = 'crm.scoring.rule'
    __string__ = "CRM Scoring Rule"

    name = fields.Char("Name", required=True, translate=True)
    company = fields.Many2One('company.company', "Company", required=True)
    domain = fields.Char(
        "Domain", required=True,
        help="A PYSON domain on the leads that get the points, "
        "e.g. [('party.addresses.country.code', '=', 'BG')].")
    points = fields.Integer(
        "Points", required=True,
        help="Added to the score of the matching leads; may be negative.")

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_points(cls):
        return 0

    @classmethod
    def _domain_error(cls, rule, exception):
        return ScoringRuleError(gettext(
                'crm_core.msg_scoring_rule_invalid_domain',
                rule=rule.rec_name, exception=exception))


class ScoringModel(ModelSQL, ModelView):
    """Naive Bayes frequencies of the company's won and lost opportunities."""
    __name__ = 'crm.scoring.model'
    __string__ = "CRM Win Probability Model"

    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    state = fields.Selection([
            ('untrained', "Untrained"),
            ('trained', "Trained"),
            ], "State", required=True, readonly=True, sort=False)
    trained_on = fields.DateTime("Trained On", readonly=True)
    won_count = fields.Integer(
        "Won", readonly=True,
        help="The won opportunities of the history.")
    lost_count = fields.Integer(
        "Lost", readonly=True,
        help="The lost opportunities of the history.")
    holdout_count = fields.Integer(
        "Held Out", readonly=True,
        help="The closed opportunities kept apart to measure the model "
        "(one in %s, in the order of creation)." % HOLDOUT)
    prior = fields.Float(
        "Prior Log-Odds", readonly=True,
        help="The log-odds of winning before any factor.")
    auc = fields.Float(
        "AUC", digits=(1, 4), readonly=True,
        help="The area under the ROC curve on the held-out opportunities: "
        "0.5 is chance, 1 is perfect.")
    brier = fields.Float(
        "Brier Score", digits=(1, 4), readonly=True,
        help="The mean squared error of the probabilities on the held-out "
        "opportunities: 0 is perfect, 0.25 is a coin flip.")
    features = fields.One2Many(
        'crm.scoring.model.feature', 'model', "Features", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('company_unique', Unique(t, t.company),
                'crm_core.msg_scoring_model_company_unique'),
            ]
        cls._buttons.update({
                'retrain': {},
                'compute_scores': {},
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_state(cls):
        return 'untrained'

    def get_rec_name(self, name):
        return self.company.rec_name

    @classmethod
    def get_model(cls, company):
        "Return the model of the company, created if needed"
        models = cls.search([('company', '=', company)], limit=1)
        if models:
            model, = models
        else:
            model, = cls.create([{'company': company}])
        return model

    @classmethod
    @ModelView.button
    def retrain(cls, models):
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        for model in models:
            model.train()
            Opportunity.crm_compute_scoring(companies=[model.company.id])

    @classmethod
    @ModelView.button
    def compute_scores(cls, models):
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Opportunity.crm_compute_scoring(
            companies=[m.company.id for m in models])

    @classmethod
    def retrain_all(cls):
        "Train the model of each company and score its open leads"
        pool = Pool()
        Company = pool.get('company.company')
        models = [cls.get_model(c) for c in Company.search([])]
        cls.retrain(models)

    def train(self):
        """Learn the frequencies from the closed opportunities

        One in HOLDOUT (by order of creation) is kept apart to measure the AUC
        and the Brier score of the model learned from the others."""
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Feature = pool.get('crm.scoring.model.feature')
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        feature_table = Feature.__table__()
        company = self.company.id

        def closed(table):
            return (table.company == company) & table.state.in_(CLOSED_STATES)

        holdout = self._create_holdout(closed)

        def held_out(table):
            return table.id.in_(holdout.select(holdout.id))

        def train_part(table):
            return closed(table) & ~held_out(table)

        table = Opportunity.__table__()
        # GROUP BY on a subquery: an expression with parameters is not the
        # same expression twice for PostgreSQL
        rows = table.select(
            table.state.as_('state'),
            held_out(table).as_('holdout'),
            where=closed(table))
        cursor.execute(*rows.select(
                rows.state, rows.holdout, Count(rows.state),
                group_by=[rows.state, rows.holdout]))
        counts = defaultdict(int)
        for state, is_held_out, count in cursor:
            counts[state, bool(is_held_out)] += count
        won = counts['won', False]
        lost = counts['lost', False]
        self.won_count = won + counts['won', True]
        self.lost_count = lost + counts['lost', True]
        self.holdout_count = counts['won', True] + counts['lost', True]
        self.trained_on = dt.datetime.now()
        cursor.execute(*feature_table.delete(
                where=feature_table.model == self.id))
        if (self.won_count + self.lost_count < MIN_HISTORY
                or not won or not lost):
            self.state = 'untrained'
            self.prior = self.auc = self.brier = None
            self.save()
            cursor.execute('DROP TABLE "%s"' % holdout._name)
            return

        self.prior = math.log((won + ALPHA) / (lost + ALPHA))
        won_denominator = math.log(won + 2 * ALPHA)
        lost_denominator = math.log(lost + 2 * ALPHA)
        user, now = transaction.user, dt.datetime.now()
        rows = []
        for feature in Opportunity._scoring_features():
            table = Opportunity.__table__()
            from_, value = feature.query(table, True)
            condition = train_part(table)
            if feature.nullable:
                condition &= value != Null
            values = from_.select(
                Cast(value, Feature.value.sql_type().base).as_('value'),
                table.state.as_('state'),
                where=condition)
            with dbtools.without_jit():
                cursor.execute(*values.select(
                        values.value,
                        Sum(Case((values.state == 'won', 1), else_=0)),
                        Sum(Case((values.state == 'lost', 1), else_=0)),
                        group_by=[values.value]))
                counts = cursor.fetchall()
            names = feature.value_names([str(v) for v, _, _ in counts])
            for value, value_won, value_lost in counts:
                value = str(value)
                weight = (
                    math.log(value_won + ALPHA) - won_denominator
                    - math.log(value_lost + ALPHA) + lost_denominator)
                rows.append([
                        self.id, feature.name, value,
                        gettext('crm_core.msg_scoring_feature_value',
                            feature=feature.string,
                            value=names.get(value, value))[:200],
                        value_won, value_lost, weight, user, now])
        columns = [feature_table.model, feature_table.feature,
            feature_table.value, feature_table.description,
            feature_table.won, feature_table.lost, feature_table.weight,
            feature_table.create_uid, feature_table.create_date]
        for sub_rows in grouped_slice(rows, BATCH):
            cursor.execute(*feature_table.insert(columns, list(sub_rows)))
        # The planner joins the new values with the opportunities
        dbtools.analyze(Feature)
        self.state = 'trained'

        # Measure on the held-out part
        table = Opportunity.__table__()
        contributions = self._contributions(
            lambda t: closed(t) & held_out(t), bulk=True)
        totals = contributions.select(
            contributions.id, Sum(contributions.weight).as_('total'),
            group_by=[contributions.id])
        with dbtools.without_jit():
            cursor.execute(*table.join(totals, 'LEFT',
                    condition=totals.id == table.id
                    ).select(table.state, Coalesce(totals.total, 0),
                    where=closed(table) & held_out(table)))
            pairs = [(logistic(self.prior + total), state == 'won')
                for state, total in cursor]
        auc, brier = auc_score(pairs), brier_score(pairs)
        self.auc = round(auc, 4) if auc is not None else None
        self.brier = round(brier, 4) if brier is not None else None
        self.save()
        cursor.execute('DROP TABLE "%s"' % holdout._name)

    @classmethod
    def _create_holdout(cls, closed):
        """Return the temporary table of the ids of the held-out part

        One in HOLDOUT of the opportunities matching closed(table) by rank,
        not by id: ids have gaps that differ between backends (a rolled back
        insert keeps its id on PostgreSQL). Computed once for all the
        queries of a training; the caller drops it."""
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        cursor = Transaction().connection.cursor()
        holdout = Table('crm_scoring_holdout')
        # A failed training may have left it on the connection
        cursor.execute('DROP TABLE IF EXISTS "%s"' % holdout._name)
        cursor.execute('CREATE TEMPORARY TABLE "%s" '
            '(id INTEGER PRIMARY KEY)' % holdout._name)
        history = Opportunity.__table__()
        ranked = history.select(history.id,
            RowNumber(window=Window([], order_by=[history.id.asc])
                ).as_('rank'),
            where=closed(history))
        cursor.execute(*holdout.insert([holdout.id], ranked.select(
                    ranked.id, where=(ranked.rank % HOLDOUT) == 0)))
        # Temporary tables are not analyzed by autovacuum
        dbtools.analyze(holdout._name)
        return holdout

    def _contributions(self, where, bulk=False):
        """Return the query of (id, feature, weight) of the learned values
        of the opportunities matching where(table)"""
        pool = Pool()
        Feature = pool.get('crm.scoring.model.feature')
        facts = self._facts(where, bulk=bulk)
        feature = Feature.__table__()
        return facts.join(feature,
            condition=(feature.model == self.id)
            & (feature.feature == facts.feature)
            & (feature.value == facts.value)
            ).select(
                facts.id.as_('id'),
                feature.id.as_('feature'),
                feature.weight.as_('weight'))

    @classmethod
    def _facts(cls, where, bulk=False):
        """Return the query of (id, feature, value) of the facts of the
        opportunities matching where(table), bulk when many"""
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Feature = pool.get('crm.scoring.model.feature')
        type_ = Feature.value.sql_type().base
        queries = []
        for feature in Opportunity._scoring_features():
            table = Opportunity.__table__()
            from_, value = feature.query(table, bulk)
            condition = where(table)
            if feature.nullable:
                condition &= value != Null
            queries.append(from_.select(
                    table.id.as_('id'),
                    Cast(Literal(feature.name), type_).as_('feature'),
                    Cast(value, type_).as_('value'),
                    where=condition))
        return Union(*queries, all_=True)

    def predict(self, ids, where=None):
        """Return {id: (probability, factors)} of the opportunities

        Of the ids, read by batches, or of the opportunities matching
        where(table) when given. factors are the words of the values that
        change the odds most. The sums and the ranking are done in SQL."""
        pool = Pool()
        Feature = pool.get('crm.scoring.model.feature')
        cursor = Transaction().connection.cursor()
        feature_table = Feature.__table__()
        more = gettext('crm_core.msg_scoring_factor_more')
        less = gettext('crm_core.msg_scoring_factor_less')
        none = gettext('crm_core.msg_scoring_factor_none')
        threshold = math.log(FACTOR_RATIO)
        cursor.execute(*feature_table.select(
                feature_table.id, feature_table.weight,
                feature_table.description,
                where=feature_table.model == self.id))
        # The words of each learned value, once: None when it changes the
        # odds too little to be shown
        words = {i: (more if w > 0 else less) % {
                'factor': d,
                'ratio': '%.1f' % math.exp(abs(w)),
                } if abs(w) >= threshold else None
            for i, w, d in cursor}
        bulk = where is not None
        if bulk:
            wheres = [where]
        else:
            wheres = []
            for sub_ids in grouped_slice(ids, BATCH):
                sub_ids = list(sub_ids)
                wheres.append(
                    lambda t, sub_ids=sub_ids: reduce_ids(t.id, sub_ids))
        totals, factors = {}, defaultdict(list)
        for where in wheres:
            # One pass: the sum of the weights of each opportunity with its
            # values ranked by how much they change the odds
            contributions = self._contributions(where, bulk=bulk)
            ranked = contributions.select(
                contributions.id.as_('id'),
                contributions.feature.as_('feature'),
                Sum(contributions.weight,
                    window=Window([contributions.id])).as_('total'),
                RowNumber(window=Window([contributions.id],
                        order_by=[Abs(contributions.weight).desc,
                            contributions.feature.asc])).as_('rank'))
            with dbtools.without_jit():
                cursor.execute(*ranked.select(
                        ranked.id, ranked.feature, ranked.total,
                        where=ranked.rank <= FACTOR_COUNT,
                        order_by=[ranked.id, ranked.rank]))
                ranks = cursor.fetchall()
            for id_, feature, total in ranks:
                totals[id_] = total
                if words[feature]:
                    factors[id_].append(words[feature])
        prior = self.prior
        return {id_: (logistic(prior + (totals.get(id_) or 0)),
                '\n'.join(factors.get(id_, ())) or none)
            for id_ in ids}


class ScoringModelFeature(ModelSQL, ModelView):
    """How often the opportunities with a value were won and lost."""
    __name__ = 'crm.scoring.model.feature'
    __string__ = "CRM Win Probability Model Feature"

    model = fields.Many2One(
        'crm.scoring.model', "Model", required=True, readonly=True,
        ondelete='CASCADE')
    feature = fields.Char("Feature", required=True, readonly=True)
    value = fields.Char("Value", required=True, readonly=True)
    description = fields.Char("Description", readonly=True)
    won = fields.Integer("Won", readonly=True)
    lost = fields.Integer("Lost", readonly=True)
    weight = fields.Float(
        "Weight", readonly=True,
        help="The log-likelihood ratio of the value: positive when the "
        "opportunities with it are more often won.")
    odds_ratio = fields.Function(fields.Float(
            "Odds Ratio", digits=(3, 2),
            help="How many times the odds of winning are multiplied."),
        'get_odds_ratio')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('weight', 'DESC'),
            ('id', 'ASC'),
            ]

    def get_odds_ratio(self, name):
        if self.weight is not None:
            return math.exp(self.weight)


class Opportunity(metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    score = fields.Integer(
        "Score", readonly=True,
        help="The points of the scoring rules the lead matches.")
    score_details = fields.Text(
        "Score Details", readonly=True,
        help="The scoring rules the lead matches with their points.")
    win_probability = fields.Float(
        "Win Probability", digits=(1, 4), readonly=True,
        states={
            'invisible': ~Eval('state').in_(OPEN_STATES),
            },
        help="The statistical estimate learned from the won and lost "
        "history of the company (else the probability of the stage when "
        "scored), for comparison with the probability of the stage; it is "
        "not updated once the lead is closed.")
    win_factors = fields.Text(
        "Win Factors", readonly=True,
        help="The facts of the lead that change its win probability most.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.company, Index.Equality()),
                    where=t.state.in_(OPEN_STATES)),
                # The rules on the party probe the open leads of a party:
                # cheap even when the planner misjudges how many parties
                Index(t, (t.party, Index.Equality()),
                    where=t.state.in_(OPEN_STATES)),
                })

    @classmethod
    def default_score(cls):
        return 0

    @classmethod
    def copy(cls, opportunities, default=None):
        default = default.copy() if default is not None else {}
        for fname in ['score', 'score_details', 'win_probability',
                'win_factors']:
            default.setdefault(fname, None)
        return super().copy(opportunities, default=default)

    @classmethod
    def on_modification(cls, mode, opportunities, field_names=None):
        super().on_modification(mode, opportunities, field_names=field_names)
        # Scored on save
        if mode in {'create', 'write'}:
            cls.crm_compute_scoring(ids=[o.id for o in opportunities])

    @classmethod
    def _scoring_features(cls):
        """Return the list of ScoringFeature learned from the history

        Only facts known when the lead comes in: a module adds its own."""
        pool = Pool()
        Address = pool.get('party.address')
        PartyCategory = pool.get('party.party-party.category')
        OpportunityTag = pool.get('sale.opportunity-crm.tag')
        ContactMechanism = pool.get('party.contact_mechanism')

        def column(name):
            return lambda table, bulk: (table, getattr(table, name))

        def country(table, bulk):
            address = Address.__table__()
            first_address = Address.__table__()
            from_ = table.join(address, 'LEFT',
                condition=address.id == table.address)
            party_address = Address.__table__()
            if bulk:
                # The first active address of each party by a join: a
                # correlated subquery costs a probe per opportunity
                first = party_address.select(
                    party_address.party.as_('party'),
                    Min(party_address.id).as_('id'),
                    where=party_address.active,
                    group_by=[party_address.party])
                from_ = (from_
                    .join(first, 'LEFT', condition=first.party == table.party)
                    .join(first_address, 'LEFT',
                        condition=first_address.id == first.id))
                return from_, Coalesce(address.country, first_address.country)
            # A few leads: a probe each rather than a scan of all addresses
            first = party_address.select(Min(party_address.id),
                where=(party_address.party == table.party)
                & party_address.active)
            return from_, Coalesce(address.country, first_address.select(
                    first_address.country,
                    where=first_address.id == first))

        def category(table, bulk):
            relation = PartyCategory.__table__()
            return (table.join(relation,
                    condition=relation.party == table.party),
                relation.category)

        def tag(table, bulk):
            relation = OpportunityTag.__table__()
            return (table.join(relation,
                    condition=relation.opportunity == table.id),
                relation.tag)

        def amount(table, bulk):
            column = dbtools.numeric(table.amount)
            # No amount or zero tells nothing (a won opportunity takes the
            # amount of its sales)
            whens = [((column == Null) | (column == 0), Null)]
            low = None
            for high in AMOUNT_BUCKETS:
                whens.append((column < high, Literal(f'<{high}')))
                low = high
            return table, Case(*whens, else_=Literal(f'>={low}'))

        def email(table, bulk):
            mechanism = ContactMechanism.__table__()
            return table, Case(
                (Exists(mechanism.select(mechanism.id,
                            where=(mechanism.party == table.party)
                            & (mechanism.type == 'email')
                            & mechanism.active)),
                    Literal('yes')),
                else_=Literal('no'))

        amount_labels = {}
        low = 0
        for high in AMOUNT_BUCKETS:
            amount_labels[f'<{high}'] = gettext(
                'crm_core.msg_scoring_amount_between', low=low, high=high)
            low = high
        amount_labels[f'>={low}'] = gettext(
            'crm_core.msg_scoring_amount_above', low=low)
        return [
            ScoringFeature('team', gettext('crm_core.msg_scoring_team'),
                column('team'), model='crm.team'),
            ScoringFeature('employee',
                gettext('crm_core.msg_scoring_employee'),
                column('employee'), model='company.employee'),
            ScoringFeature('country',
                gettext('crm_core.msg_scoring_country'),
                country, model='country.country', name_field='name'),
            ScoringFeature('category',
                gettext('crm_core.msg_scoring_category'),
                category, model='party.category'),
            ScoringFeature('capture_channel',
                gettext('crm_core.msg_scoring_capture_channel'),
                column('capture_channel'), field='capture_channel'),
            ScoringFeature('priority',
                gettext('crm_core.msg_scoring_priority'),
                column('priority'), field='priority'),
            ScoringFeature('amount',
                gettext('crm_core.msg_scoring_amount'),
                amount, labels=amount_labels),
            ScoringFeature('tag', gettext('crm_core.msg_scoring_tag'),
                tag, model='crm.tag'),
            ScoringFeature('email', gettext('crm_core.msg_scoring_email'),
                email, nullable=False, labels={
                    'yes': gettext('crm_core.msg_scoring_email_yes'),
                    'no': gettext('crm_core.msg_scoring_email_no'),
                    }),
            ]

    @classmethod
    def _crm_unscored_values(cls, probability):
        """The scoring values that crm_compute_scoring gives a lead of the
        stage probability that matches no rule, without a trained model"""
        return {
            'score': 0,
            'score_details': '',
            'win_probability': round(float(probability or 0), 4),
            'win_factors': gettext('crm_core.msg_scoring_fallback'),
            }

    @classmethod
    def crm_compute_scores(cls):
        "Score every open lead (the scheduled job)"
        cls.crm_compute_scoring()

    @classmethod
    def crm_compute_scoring(cls, ids=None, companies=None):
        """Set the score and the win probability of the open leads

        Of the ids if given, else of all the open leads of the companies
        (or of every company). One search per rule, one query for the
        learned values, then a bulk update."""
        pool = Pool()
        Rule = pool.get('crm.scoring.rule')
        ScoringModel = pool.get('crm.scoring.model')
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        table = cls.__table__()
        if ids is not None and not ids:
            return

        where = table.state.in_(OPEN_STATES)
        if companies is not None:
            where &= table.company.in_(companies or [-1])
        # company: {id: stage probability}, id: current values
        leads, current = defaultdict(dict), {}
        columns = [table.id, table.company, table.conversion_probability,
            table.score, table.score_details, table.win_probability,
            table.win_factors]
        if ids is not None:
            queries = [table.select(*columns,
                    where=where & reduce_ids(table.id, list(sub_ids)))
                for sub_ids in grouped_slice(ids, BATCH)]
        else:
            queries = [table.select(*columns, where=where)]
        for query in queries:
            cursor.execute(*query)
            for row in cursor.fetchall():
                id_, company, probability = row[:3]
                leads[company][id_] = probability
                current[id_] = row[3:]
        if not leads:
            return

        with without_check_access(), transaction.set_context(
                active_test=False):
            rules = Rule.search([
                    ('company', 'in', list(leads)),
                    ('active', '=', True),
                    ])
            models = {m.company.id: m for m in ScoringModel.search([
                        ('company', 'in', list(leads)),
                        ])}

        # The words of the lead without trained model, as the import stores
        fallback = cls._crm_unscored_values(None)['win_factors']
        rows = []
        for company, probabilities in leads.items():
            scores = defaultdict(int)
            details = defaultdict(list)
            lead_ids = list(probabilities)
            for rule in rules:
                if rule.company.id != company:
                    continue
                points = rule.points
                detail = '%s: %+d' % (rule.name, points)
                for id_ in cls._crm_rule_matches(
                        rule, lead_ids if ids is not None else None,
                        company):
                    scores[id_] += points
                    details[id_].append(detail)
            model = models.get(company)
            if model and model.state == 'trained':
                if ids is None:
                    predictions = model.predict(lead_ids,
                        where=lambda t: t.state.in_(OPEN_STATES)
                        & (t.company == company))
                else:
                    predictions = model.predict(lead_ids)
            else:
                predictions = {id_: (p or 0.0, fallback)
                    for id_, p in probabilities.items()}
            for id_ in lead_ids:
                probability, factors = predictions[id_]
                values = (scores.get(id_, 0),
                    '\n'.join(details.get(id_, ())),
                    round(float(probability), 4), factors)
                # Idempotent: the unchanged leads are not written
                if values != current[id_]:
                    rows.append((id_, *values))
        cls._crm_update_scoring(rows)

    @classmethod
    def _crm_rule_matches(cls, rule, ids, company):
        "Return the ids of the open leads matching the rule"
        cursor = Transaction().connection.cursor()
        domain = [
            ('company', '=', company),
            ('state', 'in', OPEN_STATES),
            rule.get_domain(),
            ]
        result = []
        with without_check_access(), Transaction().set_context(
                active_test=False):
            if ids is None:
                cursor.execute(*cls.search(domain, order=[], query=True))
                result.extend(r[0] for r in cursor.fetchall())
            else:
                for sub_ids in grouped_slice(ids, BATCH):
                    cursor.execute(*cls.search(
                            [('id', 'in', list(sub_ids))] + domain,
                            order=[], query=True))
                    result.extend(r[0] for r in cursor.fetchall())
        return result

    @classmethod
    def _crm_update_scoring(cls, rows):
        "Write (id, score, details, probability, factors) in bulk"
        dbtools.update_rows(cls, ['id', 'score', 'score_details',
                'win_probability', 'win_factors'], rows)


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.extend([
                ('crm.scoring.model|retrain_all',
                    "Retrain Win Probability Models"),
                ('sale.opportunity|crm_compute_scores',
                    "Compute Lead Scores"),
                ])
