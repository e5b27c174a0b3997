# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
from types import SimpleNamespace

from trytond.model.exceptions import (
    DomainValidationError, ValidationError)
from trytond.modules.company.tests import (
    CompanyTestMixin, create_company, set_company)
from trytond.modules.crm_core.tests import (
    CrmTestMixin, TranslationTestMixin)
from trytond.modules.party.tests import (
    PartyCheckEraseMixin, PartyCheckReplaceMixin)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction

from ..answering import form_of, parse_answers, visible_questions
from ..exceptions import SurveyError
from ..survey import MATRIX_SCALE, SCALE_TYPES


def _question(id, type, required=False, options=(), condition=None,
        condition_options=(), minimum=None, maximum=None):
    "A question as the rules of answering read it"
    scale = SCALE_TYPES.get(type) or (MATRIX_SCALE if type == 'matrix'
        else None)
    return SimpleNamespace(
        id=id, type=type, required=required,
        options=[SimpleNamespace(id=o) for o in options],
        condition_question=condition,
        condition_options=[SimpleNamespace(id=o) for o in condition_options],
        minimum=minimum, maximum=maximum, scale=scale)


class CrmSurveyTestCase(
        PartyCheckEraseMixin, PartyCheckReplaceMixin, CrmTestMixin,
        TranslationTestMixin,
        CompanyTestMixin, ModuleTestCase):
    "Test CRM Survey module"
    module = 'crm_survey'
    extras = ['crm_service', 'stock']

    @with_transaction()
    def test_invitation_validity(self):
        "Invitations are valid 30 days and never for nothing"
        pool = Pool()
        Configuration = pool.get('crm.configuration')

        config = Configuration(1)
        self.assertEqual(config.survey_invitation_validity, dt.timedelta(30))
        config.survey_invitation_validity = dt.timedelta(0)
        with self.assertRaises(DomainValidationError):
            config.save()


    @with_transaction()
    def test_visible_questions(self):
        "A condition shows a question after an earlier chosen option"
        section = _question(1, 'section')
        choice = _question(2, 'single', options=[20, 21])
        late = _question(
            3, 'number', condition=choice, condition_options=[21])
        why = _question(4, 'char', condition=late, condition_options=[99])
        other = _question(5, 'section')
        hidden = _question(
            6, 'text', condition=choice, condition_options=[21])
        questions = [section, choice, late, why, other, hidden]
        self.assertEqual(visible_questions(questions, {}), [1, 2])
        self.assertEqual(visible_questions(questions, {2: 20}), [1, 2])
        self.assertEqual(
            visible_questions(questions, {2: 21}), [1, 2, 3, 5, 6])
        many = _question(7, 'multiple', options=[70, 71])
        then = _question(8, 'date', condition=many, condition_options=[71])
        self.assertEqual(
            visible_questions([many, then], {7: {70, 71}}), [7, 8])
        self.assertEqual(visible_questions([many, then], {7: {70}}), [7])

    @with_transaction()
    def test_parse_values(self):
        "Each type reads its value and refuses what is not one"
        number = _question(1, 'number', minimum=1, maximum=60)
        nps = _question(2, 'nps')
        choice = _question(3, 'single', options=[30, 31])
        many = _question(4, 'multiple', options=[40, 41])
        matrix = _question(5, 'matrix', options=[50, 51])
        date = _question(6, 'date')
        char = _question(7, 'char')
        csat = _question(8, 'csat')
        questions = [number, nps, choice, many, matrix, date, char, csat]
        form = {
            'q1': ' 2,5 ', 'q2': '10', 'q3': '31', 'q4.41': '1',
            'q5.50': '5', 'q6': '2026-02-28', 'q7': '  a   b ', 'q8': '1'}
        values, shown, problems = parse_answers(questions, form, True)
        self.assertEqual(problems, {})
        self.assertEqual(values, {
                1: 2.5, 2: 10, 3: 31, 4: {41}, 5: {50: 5},
                6: dt.date(2026, 2, 28), 7: 'a b', 8: 1})
        self.assertEqual(
            parse_answers(questions, form_of(questions, values))[0], values)
        for question, raw in [
                (number, '0'), (number, '61'), (number, '1e3'),
                (number, 'nan'), (nps, '11'), (nps, '-1'), (nps, '5.0'),
                (csat, '0'), (choice, '40'), (choice, 'x'),
                (date, '2026-02-30'), (date, '28/02/2026'),
                (char, 'x' * 201), (char, 'a\u202eb'), (char, 'a\x00b')]:
            with self.subTest(type=question.type, raw=raw):
                _, _, problems = parse_answers(
                    [question], {f'q{question.id}': raw})
                self.assertIn(question.id, problems)
        _, _, problems = parse_answers([matrix], {'q5.50': '6'})
        self.assertIn(5, problems)

    @with_transaction()
    def test_required_on_submit(self):
        "Required only on submit, and only when shown; a matrix whole"
        choice = _question(1, 'single', required=True, options=[10, 11])
        late = _question(2, 'number', required=True, condition=choice,
            condition_options=[11])
        matrix = _question(3, 'matrix', required=True, options=[30, 31])
        questions = [choice, late, matrix]
        form = {'q1': '10', 'q3.30': '4', 'q3.31': '2'}
        self.assertEqual(parse_answers(questions, form, True)[2], {})
        form = {'q1': '11', 'q2': '3', 'q3.30': '4'}
        self.assertEqual(list(parse_answers(questions, form, True)[2]), [3])
        self.assertEqual(parse_answers(questions, form, False)[2], {})
        # The answer of a question no longer shown is dropped
        form = {'q1': '10', 'q2': '3', 'q3.30': '4', 'q3.31': '2'}
        self.assertNotIn(2, parse_answers(questions, form, True)[0])

    @with_transaction()
    def test_question_bounds(self):
        "The minimum of a number is not above its maximum"
        pool = Pool()
        Survey = pool.get('crm.survey')
        company = create_company()
        with set_company(company):
            survey, = Survey.create([{
                        'name': "Test",
                        'questions': [('create', [{
                                        'name': "How many?",
                                        'type': 'number',
                                        'minimum': 5, 'maximum': 10}])],
                        }])
            question, = survey.questions
            question.minimum = 11
            with self.assertRaises(SurveyError):
                question.save()

    @with_transaction()
    def test_from_token(self):
        "Only a token of the right shape with a live invitation is found"
        pool = Pool()
        Invitation = pool.get('crm.survey.invitation')
        Survey = pool.get('crm.survey')
        company = create_company()
        with set_company(company):
            survey, = Survey.create([{
                        'name': "Test",
                        'questions': [('create', [{
                                        'name': "Score", 'type': 'nps'}])],
                        }])
            Survey.open([survey])
            invitation, = Invitation.create([{
                        'survey': survey.id, 'email': 'a@example.com'}])
            token, = Invitation.new_tokens([invitation])
            self.assertEqual(Invitation.from_token(token), invitation)
            self.assertNotEqual(invitation.token_hash, token)
            for wrong in [token[:-1], token + 'A', None, 42, 'A' * 43]:
                self.assertIsNone(Invitation.from_token(wrong))
            Invitation.write([invitation], {
                    'expiration_date': dt.datetime(2000, 1, 1)})
            self.assertIsNone(Invitation.from_token(token))

    def _trigger_survey(self):
        "An open survey and a trigger of a customer shipment done"
        pool = Pool()
        Survey = pool.get('crm.survey')
        Trigger = pool.get('crm.survey.trigger')
        survey, = Survey.create([{
                    'name': "After delivery",
                    'questions': [('create', [{
                                    'name': "Score", 'type': 'csat'}])],
                    }])
        Survey.open([survey])
        trigger, = Trigger.create([{
                    'survey': survey.id, 'event': 'shipment_out_done'}])
        return trigger

    @with_transaction()
    def test_trigger_quiet_period(self):
        "A party is invited once a batch and not again in the quiet period"
        pool = Pool()
        Configuration = pool.get('crm.configuration')
        Invitation = pool.get('crm.survey.invitation')
        Party = pool.get('party.party')
        Trigger = pool.get('crm.survey.trigger')
        company = create_company()
        with set_company(company):
            trigger = self._trigger_survey()
            ann, bob = Party.create([{'name': "Ann"}, {'name': "Bob"}])

            # the records the events are about
            records = Party.create([{'name': f"Record {n}"} for n in range(6)])

            def origin(n):
                return str(records[n - 1])
            first = Trigger.invite({trigger: [
                        (origin(1), ann.id), (origin(2), ann.id),
                        (origin(3), bob.id)]})
            self.assertEqual(
                sorted((i.party.id, str(i.origin), i.trigger) for i in first),
                [(ann.id, origin(1), trigger), (bob.id, origin(3), trigger)])

            # quiet: not again, whatever the record
            self.assertEqual(
                Trigger.invite({trigger: [(origin(4), ann.id)]}), [])
            # a cancelled invitation does not count
            Invitation.cancel([i for i in first if i.party == ann])
            again, = Trigger.invite({trigger: [(origin(5), ann.id)]})
            self.assertEqual(again.party, ann)

            # without quiet period, a trigger still invites once a record
            config = Configuration(1)
            config.survey_quiet_days = None
            config.save()
            self.assertEqual(
                Trigger.invite({trigger: [(origin(3), bob.id)]}), [])
            other, = Trigger.invite({trigger: [(origin(6), bob.id)]})
            self.assertEqual(other.party, bob)

    @with_transaction()
    def test_trigger_party_domain(self):
        "A trigger invites the parties of its domain only"
        pool = Pool()
        Party = pool.get('party.party')
        company = create_company()
        with set_company(company):
            trigger = self._trigger_survey()
            ann, bob = Party.create([{'name': "Ann"}, {'name': "Bob"}])
            trigger.party_domain = '[["name", "=", "Bob"]]'
            trigger.save()
            self.assertEqual(trigger.filter_events([
                        ['party.party,1', ann.id], ['party.party,2', bob.id]]),
                [('party.party,2', bob.id)])
            trigger.party_domain = '[["name", "="]]'
            with self.assertRaises(ValidationError):
                trigger.save()

    @with_transaction()
    def test_response_origin(self):
        "A response shows and is searched by the origin of its invitation"
        pool = Pool()
        Invitation = pool.get('crm.survey.invitation')
        Party = pool.get('party.party')
        Response = pool.get('crm.survey.response')
        company = create_company()
        with set_company(company):
            trigger = self._trigger_survey()
            ann, = Party.create([{'name': "Ann"}])
            invitation, = Invitation.create([{
                        'survey': trigger.survey.id, 'party': ann.id,
                        'origin': str(ann)}])
            response = invitation.get_or_start_response()
            self.assertEqual(response.origin, ann)
            self.assertEqual(
                Response.search([('origin', '=', str(ann))]), [response])
            self.assertEqual(
                Response.search([('origin', 'like', 'crm.ticket,%')]), [])


del ModuleTestCase
