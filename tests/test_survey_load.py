# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Survey answer pages under concurrent submissions

A real trytond server (werkzeug, threaded) on a PostgreSQL database of its
own with crm_survey: the same invitation submitted 10 times at once (a
nervous double click, two tabs) stores one response with its answers; one
post is thanked, the others are told the answers were already submitted;
none answers 5xx.

PostgreSQL only, as tests/test_capture_load.py.
"""
import hashlib
import secrets
import sys
import tempfile
import time
import unittest
import urllib.parse
from collections import Counter

from . import test_helpdesk_web_load as _web
from .test_capture_load import CaptureServer, postgresql_uri

SAME = 10


class SurveyServer(CaptureServer):
    modules = ['crm_survey']
    prefix = 'crm_survey_load'


def setup_data(server):
    """Create the company and an open survey with one NPS question; return
    the question id"""
    user_id, session = server.login()
    rpc = server.rpc

    def call(method, *args):
        return rpc(method, *args, context, session=(user_id, session))
    context = server.create_company((user_id, session), 'Survey Corp')
    company = context['company']
    survey, = call('model.crm.survey.create', [{
                'name': "Load survey", 'company': company,
                'questions': [('create', [{
                                'name': "Recommend?", 'type': 'nps',
                                'required': True}])],
                }])
    call('model.crm.survey.open', [survey])
    question, = call('model.crm.survey.read', [survey], ['questions'])
    return survey, question['questions'][0], call


@unittest.skipUnless(
    postgresql_uri(),
    "PostgreSQL only (set TRYTOND_DATABASE__URI=postgresql://...): the "
    "concurrent posts and the connection pool are PostgreSQL's")
class SurveyLoadTestCase(unittest.TestCase):
    "The survey answer page against a real trytond on PostgreSQL"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        directory = tempfile.TemporaryDirectory(prefix='crm-survey-load-')
        cls.addClassCleanup(directory.cleanup)
        cls.server = SurveyServer(postgresql_uri(), directory.name)
        cls.addClassCleanup(cls.server.drop)
        cls.server.create()
        cls.addClassCleanup(cls.server.stop)
        cls.server.start()
        cls.survey, cls.question, call = setup_data(cls.server)
        cls.call = staticmethod(call)

    def sql(self, query, *args):
        return self.server.sql(query, *args, database=self.server.name)

    def invitation(self):
        "Return the token of a new invitation whose link was sent"
        invitation, = self.call('model.crm.survey.invitation.create', [{
                    'survey': self.survey, 'email': 'ann@example.com'}])
        token = secrets.token_urlsafe(32)
        # The link is made as Make Link does, without its wizard
        self.sql(
            "UPDATE crm_survey_invitation SET state = 'sent', "
            "token_hash = %s, sent_date = now() at time zone 'utc', "
            "expiration_date = now() at time zone 'utc' + interval '1 day' "
            "WHERE id = %s",
            hashlib.sha256(token.encode()).hexdigest(), invitation)
        return invitation, token

    # Run the calls in threads leaving together; return their results
    at_once = _web.HelpdeskWebLoadTestCase.at_once

    def submit(self, token, score):
        return self.server.request(
            'POST', f'/{self.server.name}/crm/survey/{token}',
            urllib.parse.urlencode({
                    'action': 'submit', f'q{self.question}': str(score)}),
            {'Content-Type': 'application/x-www-form-urlencoded'})

    def test_same_token_at_once(self):
        "The same token submitted 10 times at once: one response"
        invitation, token = self.invitation()
        started = time.monotonic()
        results = self.at_once([
                (lambda i=i: self.submit(token, i)) for i in range(SAME)])
        duration = time.monotonic() - started
        statuses = Counter(status for status, _ in results)
        responses = self.sql(
            "SELECT id, state FROM crm_survey_response "
            "WHERE invitation = %s", invitation)
        answers = self.sql(
            "SELECT COUNT(*) FROM crm_survey_answer a "
            "JOIN crm_survey_response r ON a.response = r.id "
            "WHERE r.invitation = %s", invitation)
        print(f"\nthe same survey token submitted {SAME} times at once: "
            f"{dict(statuses)} in {duration:.1f} s; {len(responses)} "
            f"response, {answers[0][0]} answer", file=sys.stderr)
        self.assertEqual(statuses, {200: 1, 409: SAME - 1}, self.server.log())
        self.assertEqual(len(responses), 1)
        self.assertEqual(responses[0][1], 'submitted')
        self.assertEqual(answers, [(1,)])
        state, = self.sql(
            "SELECT state FROM crm_survey_invitation WHERE id = %s",
            invitation)
        self.assertEqual(state, ('answered',))
