# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The analytics of the surveys and their closed loop, on the backend of the
test run (SQLite or PostgreSQL)"""
import math
import unittest

from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction

from ..analytics import nps_interval


class SurveyAnalyticsTestCase(unittest.TestCase):
    "Test the analytics of crm_survey"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('crm_survey')

    def test_nps_interval(self):
        "The NPS and its 95% interval by the normal approximation"
        self.assertEqual(nps_interval(0, 0, 0), (0, None, None, None))
        n, score, low, high = nps_interval(2, 2, 1)
        margin = 1.96 * 100 * math.sqrt((0.4 + 0.2 - 0.2 ** 2) / 5)
        self.assertEqual(n, 5)
        self.assertAlmostEqual(score, 20)
        self.assertAlmostEqual(low, 20 - margin)
        self.assertAlmostEqual(high, 20 + margin)
        # all promoters: no variance, the interval is the score
        self.assertEqual(nps_interval(40, 0, 0), (40, 100, 100, 100))
        # clamped to -100…100
        _, score, low, high = nps_interval(0, 1, 2)
        self.assertAlmostEqual(score, -200 / 3)
        self.assertEqual(low, -100)

    def _survey(self, anonymous=False):
        pool = Pool()
        Survey = pool.get('crm.survey')
        survey, = Survey.create([{
                    'name': "Survey",
                    'anonymous': anonymous,
                    'questions': [('create', [
                                {'name': "NPS", 'type': 'nps',
                                    'sequence': 1},
                                {'name': "Rating", 'type': 'rating',
                                    'sequence': 2},
                                {'name': "Matrix", 'type': 'matrix',
                                    'sequence': 3,
                                    'options': [('create', [
                                                {'name': "Row A"},
                                                {'name': "Row B"},
                                                ])]},
                                ])],
                    }])
        Survey.open([survey])
        return survey

    def _answer(self, survey, party, values):
        "Answer the survey as the public page does: as root"
        pool = Pool()
        Invitation = pool.get('crm.survey.invitation')
        Response = pool.get('crm.survey.response')
        invitation, = Invitation.create([{
                    'survey': survey.id,
                    'party': party.id if party else None}])
        Invitation.new_tokens([invitation])
        with Transaction().set_user(0), \
                Transaction().set_context(company=None, _check_access=True):
            response = invitation.get_or_start_response()
            response = Response(response.id)
            response.set_answers(values, submit=True)
        return Response(response.id)

    @with_transaction()
    def test_follow_up_once(self):
        "A low score plans one follow-up per response, for a party only"
        pool = Pool()
        Party = pool.get('party.party')
        Activity = pool.get('crm.activity')
        Response = pool.get('crm.survey.response')
        Configuration = pool.get('crm.configuration')
        company = create_company()
        with set_company(company):
            survey = self._survey()
            nps, rating, _ = survey.questions
            party, happy = Party.create([
                    {'name': "Unhappy"}, {'name': "Happy"}])

            response = self._answer(
                survey, party, {nps.id: 9, rating.id: 2})
            activity, = Activity.search([])
            self.assertEqual(activity.resource, response)
            self.assertEqual(activity.party, party)
            self.assertEqual(activity.company, company)
            self.assertEqual(activity.description, "Rating: 2")
            self.assertEqual(list(response.follow_ups), [activity])
            Response.survey_follow_up([response])
            self.assertEqual(Activity.search([], count=True), 1)

            self._answer(survey, happy, {nps.id: 7, rating.id: 4})
            self.assertEqual(Activity.search([], count=True), 1)

            # No threshold, no follow-up
            configuration = Configuration(1)
            configuration.survey_follow_up_nps = None
            configuration.save()
            self._answer(survey, happy, {nps.id: 0})
            self.assertEqual(Activity.search([], count=True), 1)

            # Nobody to call back on an anonymous survey
            anonymous = self._survey(anonymous=True)
            nps, rating, _ = anonymous.questions
            self._answer(anonymous, party, {rating.id: 1})
            self.assertEqual(Activity.search([], count=True), 1)

    @with_transaction()
    def test_distribution_matrix(self):
        "A matrix is counted by row and column, shares within the row"
        pool = Pool()
        Party = pool.get('party.party')
        Distribution = pool.get('crm.survey.distribution')
        company = create_company()
        with set_company(company):
            survey = self._survey()
            nps, rating, matrix = survey.questions
            row_a, row_b = matrix.options
            party, = Party.create([{'name': "Customer"}])
            for a, b in [(5, 1), (5, None), (4, 1)]:
                values = {row_a.id: a}
                if b:
                    values[row_b.id] = b
                self._answer(survey, party, {matrix.id: values})
            with Transaction().set_context(
                    survey=survey.id, question=matrix.id):
                rows = Distribution.search([])
                self.assertEqual(len(rows), 10)
                cells = {(r.option, r.value): (r.count, r.percentage)
                    for r in rows if r.count}
            self.assertEqual(cells, {
                    (row_a, 4): (1, 1 / 3),
                    (row_a, 5): (2, 2 / 3),
                    (row_b, 1): (2, 1.0),
                    })

    @with_transaction()
    def test_timeline_rules(self):
        "The timeline shows a response only to the users of its company"
        pool = Pool()
        Party = pool.get('party.party')
        Timeline = pool.get('crm.timeline')
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        company = create_company()
        other = create_company("Other")
        with set_company(company):
            survey = self._survey()
            nps, _, _ = survey.questions
            party, = Party.create([{'name': "Customer"}])
            response = self._answer(survey, party, {nps.id: 10})
        group = ModelData.get_id('crm_core', 'group_crm')
        users = User.create([{
                    'login': login, 'name': login,
                    'companies': [('add', [c.id])], 'company': c.id,
                    'groups': [('add', [group])],
                    } for login, c in [('a', company), ('b', other)]])
        for user, seen in zip(users, [True, False]):
            with Transaction().set_user(user.id), \
                    Transaction().set_context(
                        company=user.company.id, _check_access=True):
                events = Timeline.search([
                        ('party', '=', party.id),
                        ('kind', '=', 'survey_response'),
                        ])
                self.assertEqual(
                    [e.resource for e in events],
                    [response] if seen else [])
