"""Lead scoring: retrain on 1M closed opportunities, score 10k leads
(PostgreSQL).

The database `<prefix>_scoring` is a fresh copy of the template with crm_core
activated (bench/database.py). A company, its teams, salespeople, countries
and party categories are created with the ORM; the parties, their addresses
and categories, the closed (won or lost) opportunities and the open leads are
inserted with COPY, as an import would. Whether an opportunity is won is drawn
from a logistic model of its team, country, category, capture channel,
priority and amount, so the model has something to learn: its AUC on the
held-out part is reported (the AUC of the true probabilities, the best any
model can do, is reported beside it).

Figures: the Retrain button, crm.scoring.model.retrain (the training: the
frequencies by SQL GROUP BY and the AUC/Brier of the held-out fifth; then the
scoring of the open leads with the new model) against a plain GROUP BY of
won/lost by team, target 20 s, met only with a trained model whose AUC is
within AUC_BAND of the true probabilities' and every open lead scored;
Opportunity.crm_compute_scoring of the open leads (five scoring rules, the
learned values, the bulk update) against a plain UPDATE of the leads setting
a constant, target 1 s, met only when every open lead has a probability.

    CRM_BENCH_PREFIX=bench_scoring .venv/bin/python bench/run.py scoring
    CRM_BENCH_CLOSED=100000 CRM_BENCH_LEADS=1000 ...   # smaller
"""
import math
import os

from bench import database as benchdb
from bench.generator import DataGenerator
from bench.tools import Result, Timer

CLOSED = int(os.environ.get('CRM_BENCH_CLOSED', 1_000_000))
LEADS = int(os.environ.get('CRM_BENCH_LEADS', 10_000))
PARTIES = max(CLOSED // 10, 100)
RETRAIN_TARGET = 20.0
#: How far the held-out AUC may fall from that of the true probabilities
AUC_BAND = 0.02
SCORING_TARGET = 1.0

COUNTRIES = ['BG', 'FR', 'DE', 'ES', 'IT', 'NL', 'PL', 'RO', 'GR', 'PT']
CATEGORIES = ['Partner', 'Reseller', 'Public', 'Startup', 'Enterprise']
TEAMS = ['North', 'South', 'East', 'West', 'Key Accounts']
EMPLOYEES = 20
CHANNELS = [None, 'web_form', 'email']


class Parties(DataGenerator):
    "Parties with a country and maybe a category"

    def row(self, index):
        country = self.random.randrange(len(COUNTRIES))
        category = (self.random.randrange(len(CATEGORIES))
            if self.random.random() < 0.6 else None)
        return self.name(), country, category


class Opportunities(DataGenerator):
    "Opportunities whose odds depend on their facts"

    def __init__(self, size, parties, closed=True, seed=None):
        super().__init__(size, seed=seed)
        self.parties = parties
        self.closed = closed
        self.country_effect = [
            self.random.gauss(0, 0.6) for _ in COUNTRIES]
        self.category_effect = [
            self.random.gauss(0, 0.5) for _ in CATEGORIES]
        self.team_effect = [self.random.gauss(0, 0.4) for _ in TEAMS]
        self.employee_effect = [
            self.random.gauss(0, 0.3) for _ in range(EMPLOYEES)]
        self.channel_effect = {None: 0, 'web_form': -0.4, 'email': 0.3}

    def row(self, index):
        random = self.random
        party = random.randrange(len(self.parties))
        _, country, category = self.parties[party]
        team = random.randrange(len(TEAMS))
        employee = random.randrange(EMPLOYEES)
        channel = random.choice(CHANNELS)
        priority = random.choice('0123')
        amount = round(math.exp(random.uniform(5, 12)))
        logit = (-0.8 + self.country_effect[country]
            + (self.category_effect[category] if category is not None
                else 0)
            + self.team_effect[team] + self.employee_effect[employee]
            + self.channel_effect[channel] + 0.2 * int(priority)
            - 0.15 * math.log10(amount))
        probability = 1 / (1 + math.exp(-logit))
        if self.closed:
            state = 'won' if random.random() < probability else 'lost'
        else:
            state = 'lead'
        return (party, team, employee, channel, priority, amount, state,
            probability)


def setup(database):
    "Create the company and its reference records with the ORM"
    pool = benchdb.pool(database)
    with benchdb.transaction(database) as transaction:
        Party = pool.get('party.party')
        Employee = pool.get('company.employee')
        Country = pool.get('country.country')
        Category = pool.get('party.category')
        Team = pool.get('crm.team')
        Rule = pool.get('crm.scoring.rule')
        company = benchdb.create_company(pool)
        employees = Employee.create([{
                    'party': p.id, 'company': company.id}
                for p in Party.create([{'name': f"Salesperson {i}"}
                        for i in range(EMPLOYEES)])])
        countries = Country.create([{'name': c, 'code': c}
                for c in COUNTRIES])
        categories = Category.create([{'name': c} for c in CATEGORIES])
        teams = Team.create([{'name': t, 'company': company.id}
                for t in TEAMS])
        with transaction.set_context(company=company.id):
            Rule.create([{
                        'name': name, 'points': points, 'domain': domain,
                        'company': company.id,
                        } for name, points, domain in [
                        ("Partner", 20,
                            '[["party.categories.name", "=", "Partner"]]'),
                        ("Big deal", 10, '[["amount", ">=", 50000]]'),
                        ("Web form", -5,
                            '[["capture_channel", "=", "web_form"]]'),
                        ("Urgent", 15, '[["priority", "=", "3"]]'),
                        ("Bulgaria", 5,
                            '[["party.addresses.country.code", "=", "BG"]]'),
                        ]])
        transaction.commit()
        return {
            'company': company.id,
            'currency': company.currency.id,
            'employees': [e.id for e in employees],
            'countries': [c.id for c in countries],
            'categories': [c.id for c in categories],
            'teams': [t.id for t in teams],
            }


def load(database, ids):
    "Insert the parties, the closed opportunities and the leads with COPY"
    parties = list(Parties(PARTIES))
    closed = Opportunities(CLOSED, parties)
    leads = Opportunities(LEADS, parties, closed=False, seed=7)
    # The leads follow the same world as the history
    for name in ['country_effect', 'category_effect', 'team_effect',
            'employee_effect']:
        setattr(leads, name, getattr(closed, name))
    truth = []
    with benchdb.connect(database) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM party_party")
        start, = cursor.fetchone()
        with cursor.copy(
                "COPY party_party (id, name, code, active, create_uid, "
                "create_date) FROM STDIN") as copy:
            for offset, (name, _, _) in enumerate(parties, 1):
                copy.write_row((start + offset, name, f'S{start + offset}',
                        True, 0, '2026-01-01'))
        cursor.execute(
            "SELECT setval('party_party_id_seq', %s)",
            (start + len(parties),))
        with cursor.copy(
                "COPY party_address (party, country, active, sequence, "
                "create_uid, create_date) FROM STDIN") as copy:
            for offset, (_, country, _) in enumerate(parties, 1):
                copy.write_row((start + offset, ids['countries'][country],
                        True, 10, 0, '2026-01-01'))
        with cursor.copy(
                'COPY "party_party-party_category" (party, category, '
                'create_uid, create_date) FROM STDIN') as copy:
            for offset, (_, _, category) in enumerate(parties, 1):
                if category is not None:
                    copy.write_row((start + offset,
                            ids['categories'][category], 0, '2026-01-01'))
        with cursor.copy(
                "COPY party_contact_mechanism (party, type, value, "
                "value_compact, active, create_uid, create_date) "
                "FROM STDIN") as copy:
            for offset, (name, _, _) in enumerate(parties, 1):
                if offset % 10 < 7:
                    email = f'info{offset}@example.com'
                    copy.write_row((start + offset, 'email', email, email,
                            True, 0, '2026-01-01'))
        cursor.execute(
            "SELECT COALESCE(MAX(id), 0) FROM sale_opportunity")
        opportunity_start, = cursor.fetchone()
        with cursor.copy(
                "COPY sale_opportunity (id, number, party, company, "
                "currency, employee, team, capture_channel, priority, "
                "amount, state, conversion_probability, start_date, "
                "create_uid, create_date) FROM STDIN") as copy:
            number = opportunity_start
            for generator in [closed, leads]:
                for (party, team, employee, channel, priority, amount,
                        state, probability) in generator:
                    number += 1
                    if state in {'won', 'lost'} and number % 5 == 0:
                        truth.append((probability, state == 'won'))
                    copy.write_row((number, f'B{number}', start + party + 1,
                            ids['company'], ids['currency'],
                            ids['employees'][employee], ids['teams'][team],
                            channel, priority, amount, state,
                            {'won': 1.0, 'lost': 0.0}.get(state, 0.1),
                            '2026-01-01', 0, '2026-01-01'))
        cursor.execute(
            "SELECT setval('sale_opportunity_id_seq', %s)", (number,))
        for table in ['party_party', 'party_address',
                '"party_party-party_category"', 'party_contact_mechanism',
                'sale_opportunity']:
            cursor.execute(f"ANALYZE {table}")
    return truth


def baselines(database):
    "Plain SQL: won/lost by team, and a constant set on the leads"
    with benchdb.connect(database) as conn:
        with Timer() as group_by:
            conn.execute(
                "SELECT team, SUM(CASE WHEN state = 'won' THEN 1 ELSE 0 END), "
                "SUM(CASE WHEN state = 'lost' THEN 1 ELSE 0 END) "
                "FROM sale_opportunity WHERE state IN ('won', 'lost') "
                "GROUP BY team").fetchall()
        with Timer() as update:
            conn.execute(
                "UPDATE sale_opportunity SET win_probability = 0.5 "
                "WHERE state = 'lead'")
        conn.rollback()
    return group_by.seconds, update.seconds


def bench_scoring():
    database = benchdb.fresh_database('scoring')
    ids = setup(database)
    # After the pool: trytond reads the database URI on import
    from trytond.modules.crm_core.scoring import auc_score
    with Timer() as load_timer:
        truth = load(database, ids)

    pool = benchdb.pool(database)
    with benchdb.transaction(
            database, context={'company': ids['company']}) as transaction:
        ScoringModel = pool.get('crm.scoring.model')
        Opportunity = pool.get('sale.opportunity')
        model = ScoringModel.get_model(ids['company'])
        transaction.commit()
        # What the Retrain button and the weekly cron do: train, then score
        # the open leads of the company with the new model
        with Timer() as retrain:
            ScoringModel.retrain([model])
        transaction.commit()
        with Timer() as scoring:
            Opportunity.crm_compute_scoring(companies=[ids['company']])
        transaction.commit()
        model = ScoringModel(model.id)
        leads = Opportunity.search([('state', '=', 'lead')],
            order=[('win_probability', 'DESC')], limit=1)
        unscored = Opportunity.search([
                ('state', '=', 'lead'),
                ['OR',
                    ('win_probability', '=', None),
                    ('win_probability', '<', 0),
                    ('win_probability', '>', 1),
                    ('win_factors', '=', None),
                    ],
                ], count=True)
        scored = Opportunity.search([('state', '=', 'lead')], count=True)
        detail = {
            'closed': CLOSED, 'leads': LEADS,
            'won': model.won_count, 'lost': model.lost_count,
            'held_out': model.holdout_count,
            'auc': model.auc, 'brier': model.brier,
            'auc_true_probabilities': round(auc_score(truth), 4),
            'features': len(model.features),
            'load_seconds': round(load_timer.seconds, 1),
            }
        scoring_detail = {
            'leads': LEADS, 'rules': 5,
            'best_lead': leads[0].win_factors if leads else None,
            }
    group_by, update = baselines(database)
    best = detail['auc_true_probabilities']
    trained = (model.state == 'trained' and model.auc is not None
        and best - AUC_BAND <= model.auc <= best + AUC_BAND)
    return [
        Result('scoring.retrain_1m', retrain.seconds, 's',
            baseline=group_by, target=RETRAIN_TARGET, detail=detail,
            correct=trained and not unscored,
            check=f"model {model.state}, AUC {model.auc} within "
            f"{AUC_BAND} of the true probabilities' {best}; "
            f"{unscored} open leads without a probability"),
        Result('scoring.score_10k', scoring.seconds, 's',
            baseline=update, target=SCORING_TARGET, detail=scoring_detail,
            correct=scored == LEADS and not unscored,
            check=f"{scored - unscored} of {LEADS} open leads scored with "
            "a probability between 0 and 1 and its factors"),
        ]
