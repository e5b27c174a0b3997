# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
import json
import urllib.parse
from collections import Counter
from decimal import Decimal
from email.message import EmailMessage
from unittest.mock import patch

import icalendar

from trytond import backend
from trytond.exceptions import UserError
from trytond.modules.company.tests import (
    CompanyTestMixin, create_company, create_employee, set_company)
from trytond.pool import Pool
from trytond.transaction import Transaction
from trytond.model.exceptions import AccessError, ValidationError
from trytond.modules.crm_core.exceptions import (
    ActivityValidationError, DuplicateWarning, LostReasonError, MergeError,
    StageError)
from trytond.modules.crm_core.exceptions import AssignmentRuleDomainError
from trytond.modules.crm_core.exceptions import ScoringRuleError
from trytond.modules.crm_core.assignment import weighted_order
from trytond.modules.crm_core.lead_capture import normalize_email
from trytond.modules.crm_core.routes import FormError, validate_form
from trytond.modules.crm_core.tests import CrmTestMixin
from trytond.modules.crm_core.tests.tools import SMTPSink
from trytond.modules.crm_core.timeline import COLUMNS, SOURCES
from trytond.modules.party.tests import (
    PartyCheckEraseMixin, PartyCheckReplaceMixin)
from trytond.protocols.wrappers import HTTPStatus
from trytond.tests.test_tryton import (
    DB_NAME, ModuleTestCase, RouteTestCase, with_transaction)


def create_opportunity(company, **values):
    "Create a lead of the company"
    pool = Pool()
    Opportunity = pool.get('sale.opportunity')
    Party = pool.get('party.party')
    if 'employee' not in values:
        values['employee'] = create_employee(company)
    if 'party' not in values:
        values['party'] = Party(name="Customer")
        values['party'].save()
    values.setdefault('amount', Decimal('1000'))
    opportunity = Opportunity(**values)
    opportunity.save()
    return opportunity


def module_record(model, xml_id):
    "Return the record of the module's XML data"
    pool = Pool()
    ModelData = pool.get('ir.model.data')
    return pool.get(model)(ModelData.get_id('crm_core', xml_id))


def activity_type(name):
    "Return the default activity type of the module"
    return module_record('crm.activity.type', 'activity_type_' + name)


def ModelData_action(name):
    "Return the ir.action id of the window action"
    return module_record('ir.action.act_window', name).action.id


def group(name):
    "Return the group of the module"
    return module_record('res.group', name)


def create_activity(company, **values):
    "Create a planned call"
    pool = Pool()
    Activity = pool.get('crm.activity')
    values.setdefault('type', activity_type('call'))
    values.setdefault('summary', "Call back")
    values.setdefault('planned_date', dt.datetime.now() + dt.timedelta(
            days=1))
    if 'employee' not in values:
        values['employee'] = create_employee(company)
    activity = Activity(**values)
    activity.save()
    return activity


def stage(name):
    "Return the default stage of the module"
    return module_record('crm.stage', 'stage_' + name)


def create_party(name, email=None, phone=None, **values):
    "Create a party with an e-mail and a phone"
    pool = Pool()
    Party = pool.get('party.party')
    mechanisms = []
    if email:
        mechanisms.append({'type': 'email', 'value': email})
    if phone:
        mechanisms.append({'type': 'phone', 'value': phone})
    party = Party(name=name, contact_mechanisms=mechanisms, **values)
    party.save()
    return party


class CrmCoreTestCase(
        PartyCheckEraseMixin, PartyCheckReplaceMixin, CrmTestMixin,
        CompanyTestMixin, ModuleTestCase):
    "Test CRM Core module"
    module = 'crm_core'
    extras = [
        'account_invoice', 'stock', 'inbound_email', 'marketing_campaign']
    # A candidate names the two parties compared: the replace closes it
    party_fields_not_replaced = {
        ('crm.duplicate', 'party_a'), ('crm.duplicate', 'party_b')}

    @with_transaction()
    def test_team_member_unique(self):
        "An employee is a member of a team only once"
        pool = Pool()
        Team = pool.get('crm.team')

        company = create_company()
        with set_company(company):
            employee = create_employee(company)
            team = Team(name="Direct Sales")
            team.members = [{'employee': employee}, {'employee': employee}]
            with self.assertRaisesRegex(UserError, "only once"):
                team.save()

    @with_transaction()
    def test_configuration_defaults(self):
        "The configuration has sensible defaults"
        pool = Pool()
        Configuration = pool.get('crm.configuration')

        config = Configuration(1)
        self.assertEqual(config.duplicate_threshold, 0.6)
        self.assertEqual(config.web_form_rate_limit, 20)


    @with_transaction()
    def test_stage_default(self):
        "A new lead enters the first lead stage with its probability"
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            self.assertEqual(opportunity.state, 'lead')
            self.assertEqual(opportunity.stage, stage('new'))
            self.assertEqual(opportunity.conversion_probability, 0.1)
            history, = opportunity.stage_history
            self.assertEqual(history.from_stage, None)
            self.assertEqual(history.to_stage, stage('new'))
            self.assertEqual(history.duration, None)

    @with_transaction()
    def test_stage_follows_state(self):
        "A host transition moves the stage to the first stage of the state"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            Opportunity.opportunity([opportunity])

            self.assertEqual(opportunity.stage, stage('qualified'))
            self.assertEqual(opportunity.conversion_probability, 0.3)
            self.assertEqual(len(opportunity.stage_history), 2)
            last = opportunity.stage_history[0]
            self.assertEqual(last.from_stage, stage('new'))
            self.assertEqual(last.to_stage, stage('qualified'))
            self.assertGreaterEqual(last.duration, dt.timedelta(0))

    @with_transaction()
    def test_state_follows_stage(self):
        "Moving the stage moves the host workflow"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            Opportunity.write([opportunity], {'stage': stage('qualified').id})
            self.assertEqual(opportunity.state, 'opportunity')
            self.assertEqual(opportunity.conversion_probability, 0.3)

            Opportunity.write([opportunity], {'stage': stage('new').id})
            self.assertEqual(opportunity.state, 'lead')
            self.assertEqual(opportunity.stage, stage('new'))
            self.assertEqual(len(opportunity.stage_history), 3)

    @with_transaction()
    def test_stage_won_refused(self):
        "The won stage is not reachable by hand"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            with self.assertRaisesRegex(StageError, "confirms its quotation"):
                Opportunity.write([opportunity], {'stage': stage('won').id})

    @with_transaction()
    def test_stage_unreachable_state(self):
        "A stage whose state the host cannot reach is refused"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            # the host converts only opportunities, not leads
            with self.assertRaisesRegex(StageError, "Proposition"):
                Opportunity.write(
                    [opportunity], {'stage': stage('proposition').id})

    @with_transaction()
    def test_stage_history_readonly(self):
        "The stage history is not changed by hand"
        pool = Pool()
        History = pool.get('crm.stage.history')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            with Transaction().set_context(_check_access=True):
                with self.assertRaisesRegex(AccessError, "by the system"):
                    History.write(
                        list(opportunity.stage_history), {'duration': None})
                with self.assertRaisesRegex(AccessError, "by the system"):
                    History.create([{
                                'opportunity': opportunity.id,
                                'date': dt.datetime.now(),
                                }])

    @with_transaction()
    def test_lost_requires_reason(self):
        "Marking lost requires a lost reason"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        LostReason = pool.get('crm.lost_reason')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            with self.assertRaisesRegex(LostReasonError, opportunity.number):
                Opportunity.lost([opportunity])
            with self.assertRaises(LostReasonError):
                Opportunity.write([opportunity], {'stage': stage('lost').id})

            reason, = LostReason.search([('name', '=', "No budget")])
            opportunity.lost_cause = reason
            opportunity.save()
            Opportunity.lost([opportunity])
            self.assertEqual(opportunity.state, 'lost')
            self.assertEqual(opportunity.stage, stage('lost'))
            self.assertEqual(opportunity.conversion_probability, 0)

    @with_transaction()
    def test_cancel_clears_stage(self):
        "Without a stage for the state, the stage is cleared"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            Opportunity.cancel([opportunity])
            self.assertEqual(opportunity.stage, None)
            self.assertEqual(opportunity.stage_history[0].to_stage, None)

            Opportunity.lead([opportunity])
            self.assertEqual(opportunity.stage, stage('new'))

    @with_transaction()
    def test_stage_required(self):
        "The stage cannot be emptied; one made before the CRM gets one"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Stage = pool.get('crm.stage')
        History = pool.get('crm.stage.history')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)
            with self.assertRaises(ValidationError):
                Opportunity.write([opportunity], {'stage': None})

            # an opportunity without stage, as made before the CRM
            table = Opportunity.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.update(
                    [table.stage], [None],
                    where=table.id == opportunity.id))
            first, = Stage.create([{
                        'name': "Inbox", 'sequence': 1,
                        'opportunity_state': 'lead', 'probability': 0.05,
                        }])
            values, = Opportunity.read([opportunity.id], ['stage'])
            self.assertEqual(values['stage'], first.id)
            history = History.search([('opportunity', '=', opportunity.id)])
            self.assertEqual(history[0].to_stage, first)

    @with_transaction()
    def test_stage_buttons(self):
        "Next and Previous Stage follow the open stages the workflow reaches"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)
            self.assertEqual(opportunity.crm_stage_next, stage('qualified'))
            self.assertEqual(opportunity.crm_stage_previous, None)

            Opportunity.crm_next_stage([opportunity])
            self.assertEqual(
                (opportunity.state, opportunity.stage),
                ('opportunity', stage('qualified')))
            self.assertEqual(opportunity.crm_stage_previous, stage('new'))
            Opportunity.crm_previous_stage([opportunity])
            self.assertEqual(
                (opportunity.state, opportunity.stage),
                ('lead', stage('new')))

            lead = create_opportunity(company, party=None)
            with self.assertRaises(StageError) as context:
                Opportunity.crm_next_stage([lead])
            self.assertIn('Party', str(context.exception))

    @with_transaction()
    def test_pipeline_tabs(self):
        "The Pipeline has a counted tab per open stage"
        pool = Pool()
        Action = pool.get('ir.action.act_window')
        Stage = pool.get('crm.stage')
        pipeline = module_record(
            'ir.action.act_window', 'act_opportunity_pipeline')
        self.assertEqual(
            [(d.name, d.count) for d in Action(pipeline).act_window_domains],
            [('Open', True), ('New', True), ('Qualified', True),
                ('Proposition', True), ('Negotiation', True),
                ('Won', False), ('Lost', False), ('All', False)])
        Stage.write([stage('qualified')], {'folded': True})
        self.assertNotIn('Qualified',
            [d.name for d in Action(pipeline).act_window_domains])

    @with_transaction()
    def test_team_stages(self):
        "A team stage comes before the shared stages of its sequence"
        pool = Pool()
        Stage = pool.get('crm.stage')
        Team = pool.get('crm.team')
        company = create_company()
        with set_company(company):
            team = Team(name="Key Accounts")
            team.save()
            own = Stage(
                name="Discovery", opportunity_state='lead', sequence=1,
                probability=0.05, team=team)
            own.save()

            # a lead created for the team starts on its first stage
            opportunity = create_opportunity(company, team=team)
            self.assertEqual(opportunity.stage, own)
            self.assertEqual(Stage.get_first('lead', team), own)
            self.assertEqual(Stage.get_first('lead'), stage('new'))

            other = Team(name="Retail")
            other.save()
            opportunity.team = other
            with self.assertRaises(ValidationError):
                opportunity.stage = own
                opportunity.save()

    @with_transaction()
    def test_default_team(self):
        "The default team is the team of the user's employee"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Team = pool.get('crm.team')
        company = create_company()
        with set_company(company):
            employee = create_employee(company)
            team = Team(name="Direct Sales", members=[{'employee': employee}])
            team.save()
            with Transaction().set_context(employee=employee.id):
                self.assertEqual(Opportunity.default_team(), team.id)
            self.assertEqual(Opportunity.default_team(), None)

    @with_transaction()
    def test_weighted_revenue(self):
        "The weighted revenue is the amount times the probability"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            self.assertEqual(opportunity.weighted_revenue, Decimal('100.00'))
            self.assertEqual(Opportunity.search([
                        ('weighted_revenue', '>=', Decimal('100')),
                        ]), [opportunity])
            self.assertEqual(Opportunity.search([
                        ('weighted_revenue', '>', Decimal('100')),
                        ]), [])
            self.assertEqual(Opportunity.search([], order=[
                        ('weighted_revenue', 'DESC')]), [opportunity])

    @with_transaction()
    def test_copy_restarts_pipeline(self):
        "A copy is a new lead with its own history"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)
            Opportunity.opportunity([opportunity])

            copy, = Opportunity.copy([opportunity])
            self.assertEqual(copy.state, 'lead')
            self.assertEqual(copy.stage, stage('new'))
            self.assertEqual(len(copy.stage_history), 1)

    def test_duplicate_keys(self):
        "E-mails and phones are compared normalised"
        from trytond.modules.crm_core.duplicate import (
            email_key, phone_key, similarity, trigrams)
        self.assertEqual(
            email_key("  John.Doe@Example.COM "), "john.doe@example.com")
        self.assertEqual(phone_key("+359 2 987 6543"), "+35929876543")
        self.assertEqual(phone_key("02 987 6543", ['BG']), "+35929876543")
        self.assertEqual(phone_key("02 987 6543"), "")
        self.assertEqual(phone_key("not a number", ['BG']), "")
        self.assertEqual(similarity(trigrams("word"), trigrams("word")), 1)
        # pg_trgm: similarity('word', 'two words') = 0.363636
        self.assertAlmostEqual(
            similarity(trigrams("word"), trigrams("two words")),
            4 / 11)

    @with_transaction()
    def test_duplicate_find(self):
        "Duplicates are found by e-mail, phone and name, once per pair"
        pool = Pool()
        Duplicate = pool.get('crm.duplicate')

        company = create_company()
        with set_company(company):
            a = create_party("Acme Trading", email="Sales@Acme.example ")
            b = create_party("Zenith Ltd", email="sales@acme.example",
                phone="+359 2 987 6543")
            c = create_party("Globex", phone="+35929876543")
            d = create_party("Acme Tradings")
            create_party("Initech", email="info@initech.example")

            self.assertEqual(Duplicate.find_duplicates(), 3)
            self.assertEqual(Duplicate.find_duplicates(), 3)
            duplicates = Duplicate.search([])
            self.assertEqual(len(duplicates), 3)
            pairs = {(x.party_a, x.party_b): x for x in duplicates}
            self.assertEqual(
                set(pairs), {(a, b), (b, c), (a, d)})
            self.assertIn("same e-mail sales@acme.example", pairs[a, b].reasons)
            self.assertIn("same phone +35929876543", pairs[b, c].reasons)
            self.assertIn("similar names", pairs[a, d].reasons)
            self.assertEqual(duplicates[0].score, pairs[a, b].score)
            self.assertGreaterEqual(pairs[a, b].score, 0.9)

            Duplicate.dismiss([pairs[a, d]])
            Duplicate.find_duplicates()
            self.assertEqual(pairs[a, d].state, 'dismissed')
            self.assertEqual(Duplicate.search([], count=True), 3)

    @with_transaction()
    def test_duplicate_threshold(self):
        "The threshold of the configuration filters the names"
        pool = Pool()
        Duplicate = pool.get('crm.duplicate')
        Configuration = pool.get('crm.configuration')

        create_party("Jonathan Smith")
        create_party("Jonathon Smith")
        self.assertEqual(Duplicate.find_duplicates(), 1)
        configuration = Configuration(1)
        configuration.duplicate_threshold = 0.9
        configuration.save()
        self.assertEqual(Duplicate.find_duplicates(), 0)
        self.assertEqual(Duplicate.search([]), [])

    @with_transaction()
    def test_duplicate_phone_region(self):
        "A national number takes the country of the party or company"
        pool = Pool()
        Country = pool.get('country.country')
        Address = pool.get('party.address')

        bulgaria = Country(name="Bulgaria", code='BG')
        bulgaria.save()
        party = create_party("Acme")
        Address(party=party, country=bulgaria).save()
        mechanism, = create_party(
            "Other", phone="+359 2 987 6543").contact_mechanisms
        self.assertEqual(mechanism.crm_key, '+35929876543')
        party.contact_mechanisms = [{'type': 'phone', 'value': '02 987 6543'}]
        party.save()
        self.assertEqual(party.contact_mechanisms[0].crm_key, '+35929876543')

        company = create_company()
        Address(party=company.party, country=bulgaria).save()
        with set_company(company):
            other = create_party("Other", phone="029876543")
            self.assertEqual(
                other.contact_mechanisms[0].crm_key, '+35929876543')

    @with_transaction()
    def test_duplicate_merge(self):
        "Merging moves the opportunities and deactivates the other party"
        pool = Pool()
        Duplicate = pool.get('crm.duplicate')
        Opportunity = pool.get('sale.opportunity')

        company = create_company()
        with set_company(company):
            a = create_party("Acme Trading", email="sales@acme.example")
            b = create_party("Acme Tradings", email="sales@acme.example")
            c = create_party("Acme Trading.")
            opportunity = Opportunity(party=b, description="Fleet")
            with Transaction().set_context(_skip_warnings=True):
                opportunity.save()
            Duplicate.find_duplicates()
            duplicate, = Duplicate.search([
                    ('party_a', '=', a.id), ('party_b', '=', b.id)])

            Duplicate.merge_parties(a, b)
            Duplicate.write([duplicate], {'state': 'merged'})

            b = b.__class__(b.id)
            self.assertFalse(b.active)
            self.assertEqual(b.replaced_by, a)
            self.assertEqual(
                Opportunity.search([('party', '=', a.id)]), [opportunity])
            # the candidates of b are gone, those of a stay
            self.assertEqual(Duplicate.search([
                        ('state', '=', 'open'),
                        ['OR', ('party_a', '=', b.id),
                            ('party_b', '=', b.id)],
                        ]), [])
            Duplicate.find_duplicates()
            self.assertEqual(duplicate.state, 'merged')
            self.assertEqual(
                [(x.party_a, x.party_b) for x in Duplicate.search(
                        [('state', '=', 'open')])],
                [(a, c)])

    @with_transaction()
    def test_duplicate_merge_activities(self):
        "Merging moves the activities of the merged party"
        pool = Pool()
        Activity = pool.get('crm.activity')
        Duplicate = pool.get('crm.duplicate')
        Opportunity = pool.get('sale.opportunity')

        company = create_company()
        with set_company(company):
            a = create_party("Acme Trading", email="sales@acme.example")
            b = create_party("Acme Tradings", email="sales@acme.example")
            opportunity = Opportunity(party=b, description="Fleet")
            with Transaction().set_context(_skip_warnings=True):
                opportunity.save()
            on_party = create_activity(company, resource=b)
            on_opportunity = create_activity(company, resource=opportunity)
            done = create_activity(company, resource=b)
            Activity.done([done])
            self.assertEqual(
                [x.party for x in [on_party, on_opportunity, done]], [b] * 3)
            Duplicate.find_duplicates()
            duplicate, = Duplicate.search([
                    ('party_a', '=', a.id), ('party_b', '=', b.id)])

            Duplicate.merge_parties(a, b)
            # the replace writes in SQL: read anew, as after its commit
            Transaction().cache.clear()

            on_party, on_opportunity, done = Activity.browse(
                [on_party, on_opportunity, done])
            self.assertEqual(
                [x.party for x in [on_party, on_opportunity, done]], [a] * 3)
            self.assertEqual(on_party.resource, a)
            self.assertEqual(done.resource, a)
            self.assertEqual(on_opportunity.resource, opportunity)
            self.assertEqual(
                Activity.search([('party', '=', a.id)], order=[('id', 'ASC')]),
                [on_party, on_opportunity, done])
            self.assertEqual(a.next_activity, on_party)
            # the merged candidate is closed by the replace itself
            self.assertEqual(duplicate.state, 'merged')

    @with_transaction()
    def test_party_replace_duplicates(self):
        "The host's replace closes the candidates of the replaced party"
        pool = Pool()
        Duplicate = pool.get('crm.duplicate')
        Replace = pool.get('party.replace', type='wizard')

        a = create_party("Acme Trading", email="sales@acme.example")
        b = create_party("Acme Tradings", email="sales@acme.example")
        c = create_party("Acme Trading.")
        Duplicate.find_duplicates()
        ab, = Duplicate.search([('party_a', '=', a), ('party_b', '=', b)])
        bc, = Duplicate.search([('party_a', '=', b), ('party_b', '=', c)])
        Duplicate.dismiss([bc])

        session_id, _, _ = Replace.create()
        replace = Replace(session_id)
        replace.ask.source = b
        replace.ask.destination = a
        with Transaction().set_context(_skip_warnings=True):
            replace.transition_replace()

        self.assertEqual(ab.state, 'merged')
        # a dismissed pair is what the user decided of these two parties
        self.assertEqual((bc.party_a, bc.party_b, bc.state), (b, c, 'dismissed'))
        self.assertEqual(
            [(d.party_a, d.party_b) for d in Duplicate.search([
                        ('state', '=', 'open')])],
            [(a, c)])

    @with_transaction()
    def test_party_erase(self):
        "Erasing a party clears what the CRM holds of the person"
        pool = Pool()
        Activity = pool.get('crm.activity')
        Attachment = pool.get('ir.attachment')
        Channel = pool.get('ir.chat.channel')
        Duplicate = pool.get('crm.duplicate')
        Erase = pool.get('party.erase', type='wizard')
        Follower = pool.get('ir.chat.follower')
        Message = pool.get('ir.chat.message')
        Opportunity = pool.get('sale.opportunity')
        Party = pool.get('party.party')

        company = create_company()
        with set_company(company):
            leads = []
            for name, email in [
                    ("Ann Lee", 'ann@example.com'),
                    ("Ann Lee", 'ann.lee@example.org')]:
                with Transaction().set_context(_skip_warnings=True):
                    leads.append(Opportunity.capture_web_form({
                                'name': name, 'email': email,
                                'phone': '+359 2 987 6543',
                                'message': "Call me on my mobile",
                                }, '203.0.113.7', company))
            lead, other_lead = leads
            ann, other = lead.party, other_lead.party
            self.assertNotEqual(ann, other)
            Opportunity.write([lead], {'capture_message_id': '<a.1@x.org>'})
            Attachment(resource=lead, name='plan.pdf', type='data',
                data=b'plan').save()
            activity = create_activity(company, resource=ann,
                summary="Call Ann", description="About her move",
                location="12 Rose Street")
            Activity.done([activity])
            for record in leads:
                Message(channel=Channel._get_channel(record),
                    email='ann@example.com', content="My new address: …",
                    audience='public').save()
                Message(channel=Channel._get_channel(record),
                    user=Transaction().user, content="Ann moved",
                    audience='internal').save()
            Channel.subscribe_email(other_lead, 'Ann@Example.com')
            Channel.subscribe_email(other_lead, 'ann.lee@example.org')
            Duplicate.find_duplicates()
            duplicate, = Duplicate.search([
                    ('party_a', '=', ann.id), ('party_b', '=', other.id)])
            self.assertIn('+35929876543', duplicate.reasons)

            Party.write([ann], {'active': False})
            session_id, _, _ = Erase.create()
            erase = Erase(session_id)
            erase.ask.party = ann
            erase.transition_erase()
            # the erase writes in SQL: read anew, as after its commit
            Transaction().cache.clear()

            lead = Opportunity(lead.id)
            self.assertEqual(
                (lead.comment, lead.capture_address, lead.capture_message_id,
                    lead.description),
                (None, None, None, None))
            self.assertEqual(lead.capture_channel, 'web_form')
            self.assertEqual(
                Attachment.search([('resource', '=', str(lead))]), [])
            activity = Activity(activity.id)
            self.assertEqual(
                (activity.summary, activity.description, activity.location),
                ('****', None, None))
            self.assertEqual(activity.state, 'done')
            self.assertEqual(
                sorted((m.content, m.email or '') for m in Message.search([
                            ('channel.resource', '=', str(lead))])),
                [('****', ''), ('****', '****')])
            self.assertIsNone(Duplicate(duplicate.id).reasons)
            with Transaction().set_context(active_test=False):
                self.assertEqual(
                    [m.crm_key for m in Party(ann.id).contact_mechanisms],
                    [None, None])

            # no more e-mail to her from a chat
            self.assertEqual(
                [f.email for f in Follower.search([])],
                ['ann.lee@example.org'])

            # the other party keeps its own
            other_lead = Opportunity(other_lead.id)
            self.assertIn("Call me on my mobile", other_lead.comment)
            self.assertEqual(other_lead.capture_address, '203.0.113.7')
            self.assertEqual(
                sorted(m.content for m in Message.search([
                            ('channel.resource', '=', str(other_lead)),
                            ('content', 'not like', '%joined'),
                            ])),
                ["Ann moved", "My new address: …"])
            self.assertEqual(
                sorted(m.crm_key for m in other.contact_mechanisms),
                ['+35929876543', 'ann.lee@example.org'])

    @with_transaction()
    def test_duplicate_merge_refused(self):
        "Bad merges are refused with the parties named"
        pool = Pool()
        Duplicate = pool.get('crm.duplicate')
        Party = pool.get('party.party')

        company = create_company()
        a = create_party("Acme")
        b = create_party("Acme Ltd")
        with self.assertRaisesRegex(MergeError, '"Acme" with itself'):
            Duplicate.merge_parties(a, a)
        Party.write([b], {'active': False})
        with self.assertRaisesRegex(MergeError, '"Acme Ltd" because it is'):
            Duplicate.merge_parties(a, b)
        with self.assertRaisesRegex(MergeError, 'party of a company'):
            Duplicate.merge_parties(a, company.party)
        other = create_company(name="Other Company")
        with self.assertRaisesRegex(MergeError, 'each is the party'):
            Duplicate.merge_parties(company.party, other.party)
        self.assertTrue(a.active)

    @with_transaction()
    def test_duplicate_lead_warning(self):
        "A lead that looks like an existing party raises a warning"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')

        company = create_company()
        with set_company(company):
            create_party("Acme", email="sales@acme.example")
            lead_party = create_party("ACME Corp", email="Sales@acme.example")
            contact, = lead_party.contact_mechanisms
            lead = Opportunity(party=lead_party, contact=contact)
            with self.assertRaisesRegex(DuplicateWarning, '"Acme"'):
                lead.save()
            with Transaction().set_context(_skip_warnings=True):
                lead = Opportunity(party=lead_party, contact=contact)
                lead.save()

            plain = create_party("Initech")
            Opportunity(party=plain).save()

    @with_transaction()
    def test_duplicate_lead_search_indexed(self):
        "The look-alike search of a lead uses an index on PostgreSQL"
        pool = Pool()
        ContactMechanism = pool.get('party.contact_mechanism')
        transaction = Transaction()
        if backend.name != 'postgresql':
            self.skipTest("PostgreSQL only")
        cursor = transaction.connection.cursor()
        query = ContactMechanism.search([
                ('crm_key', '=', 'sales@acme.example'),
                ('type', 'in', ['email']),
                ], query=True)
        # Even on empty tables: the planner must find the key in an index
        cursor.execute('SET LOCAL enable_seqscan = off')
        sql, params = tuple(query)
        cursor.execute('EXPLAIN ' + sql, params)
        plan = [r for r, in cursor]
        self.assertTrue(
            [l for l in plan if 'Index Cond' in l and 'crm_key' in l],
            '\n'.join(plan))

    @with_transaction()
    def test_tag_color(self):
        "A tag color is a hexadecimal code"
        pool = Pool()
        Tag = pool.get('crm.tag')

        Tag(name="Hot", color='#FF0000').save()
        with self.assertRaisesRegex(ValidationError, "Warm"):
            Tag(name="Warm", color='orange').save()

    @with_transaction()
    def test_activity_types(self):
        "The default activity types are there"
        pool = Pool()
        Type = pool.get('crm.activity.type')

        self.assertEqual(
            [t.name for t in Type.search([])],
            ["Call", "Meeting", "E-mail", "To-do"])
        call, meeting, email, todo = Type.search([])
        self.assertEqual(call.default_duration, dt.timedelta(minutes=15))
        self.assertTrue(meeting.calendar)
        self.assertFalse(email.calendar)

    @with_transaction()
    def test_activity_defaults(self):
        "A new activity follows its type and the user's employee"
        pool = Pool()
        Activity = pool.get('crm.activity')
        company = create_company()
        with set_company(company):
            employee = create_employee(company)
            opportunity = create_opportunity(company)
            with Transaction().set_context(employee=employee.id):
                activity = Activity(**Activity.default_get(
                        ['company', 'employee', 'state', 'planned_date'],
                        with_rec_name=False))
                activity.resource = opportunity
                activity.type = activity_type('meeting')
                activity.on_change_type()
                activity.on_change_resource()
            self.assertEqual(activity.employee, employee)
            self.assertEqual(activity.company, company)
            self.assertEqual(activity.summary, "Meeting")
            self.assertEqual(activity.duration, dt.timedelta(hours=1))
            self.assertAlmostEqual(
                activity.planned_date,
                dt.datetime.now() + dt.timedelta(days=7),
                delta=dt.timedelta(minutes=1))
            self.assertEqual(activity.party, opportunity.party)
            activity.save()
            self.assertEqual(activity.state, 'planned')

    @with_transaction()
    def test_activity_party_from_resource(self):
        "The party is taken from the resource at creation"
        pool = Pool()
        Activity = pool.get('crm.activity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)
            activity, = Activity.create([{
                        'type': activity_type('call').id,
                        'summary': "Call",
                        'planned_date': dt.datetime.now(),
                        'resource': str(opportunity),
                        }])
            self.assertEqual(activity.party, opportunity.party)
            self.assertEqual(opportunity.activities, (activity,))
            self.assertEqual(opportunity.party.activities, (activity,))

    @with_transaction()
    def test_activity_workflow(self):
        "An activity is done, replanned and cancelled"
        pool = Pool()
        Activity = pool.get('crm.activity')
        company = create_company()
        with set_company(company):
            activity = create_activity(company)

            Activity.done([activity])
            self.assertEqual(activity.state, 'done')
            self.assertIsNotNone(activity.date_done)

            activity.outcome = "Interested"
            activity.save()
            with self.assertRaisesRegex(AccessError, "is done"):
                activity.summary = "Other"
                activity.save()
            activity = Activity(activity.id)
            with self.assertRaisesRegex(AccessError, "is done"):
                Activity.delete([activity])

            Activity.replan([activity])
            self.assertEqual(activity.state, 'planned')
            self.assertIsNone(activity.date_done)

            Activity.cancel([activity])
            self.assertEqual(activity.state, 'cancelled')
            Activity.delete([activity])

    @with_transaction()
    def test_activity_deadline(self):
        "The deadline is not before the planned date"
        company = create_company()
        with set_company(company):
            with self.assertRaisesRegex(
                    ActivityValidationError, "before its planned date"):
                create_activity(
                    company,
                    planned_date=dt.datetime(2030, 5, 10, 9),
                    deadline=dt.date(2030, 5, 9))

    @with_transaction()
    def test_activity_overdue(self):
        "An activity is late after its deadline or its planned date"
        pool = Pool()
        Activity = pool.get('crm.activity')
        company = create_company()
        now = dt.datetime.now()
        today = dt.date.today()
        with set_company(company):
            late = create_activity(
                company, planned_date=now - dt.timedelta(hours=2))
            on_time = create_activity(
                company, planned_date=now - dt.timedelta(days=2),
                deadline=today)
            past_deadline = create_activity(
                company, planned_date=now - dt.timedelta(days=3),
                deadline=today - dt.timedelta(days=1))
            future = create_activity(
                company, planned_date=now + dt.timedelta(days=1))
            done = create_activity(
                company, planned_date=now - dt.timedelta(days=1))
            Activity.done([done])

            self.assertEqual(
                [a.overdue for a in [late, on_time, past_deadline, future,
                        done]],
                [True, False, True, False, False])
            self.assertEqual(
                Activity.search([('overdue', '=', True)]),
                [past_deadline, late])
            self.assertEqual(
                set(Activity.search([('overdue', '=', False)])),
                {on_time, future, done})
            self.assertEqual(
                set(Activity.search([('overdue', '!=', True)])),
                {on_time, future, done})

    @with_transaction()
    def test_next_activity(self):
        "The opportunity and the party show their next activity"
        pool = Pool()
        Activity = pool.get('crm.activity')
        Opportunity = pool.get('sale.opportunity')
        Party = pool.get('party.party')
        company = create_company()
        now = dt.datetime.now().replace(microsecond=0)
        with set_company(company):
            opportunity = create_opportunity(company)
            other = create_opportunity(company)
            party = opportunity.party
            later = create_activity(
                company, resource=opportunity,
                planned_date=now + dt.timedelta(days=3))
            sooner = create_activity(
                company, resource=opportunity,
                planned_date=now + dt.timedelta(days=1))
            create_activity(
                company, resource=other,
                planned_date=now + dt.timedelta(hours=1))

            self.assertEqual(opportunity.next_activity, sooner)
            self.assertEqual(
                opportunity.next_activity_date, sooner.planned_date)
            self.assertEqual(party.next_activity, sooner)
            self.assertFalse(opportunity.activity_overdue)
            self.assertEqual(Opportunity.search([
                        ('next_activity_date', '>', now + dt.timedelta(
                                days=2)),
                        ]), [opportunity])

            Activity.done([sooner])
            opportunity = Opportunity(opportunity.id)
            self.assertEqual(opportunity.next_activity, later)

            Activity.write([later], {
                    'planned_date': now - dt.timedelta(days=1)})
            opportunity = Opportunity(opportunity.id)
            self.assertTrue(opportunity.activity_overdue)
            self.assertEqual(Opportunity.search([
                        ('activity_overdue', '=', True),
                        ]), [opportunity])
            self.assertEqual(Opportunity.search([
                        ('activity_overdue', '=', False),
                        ]), [other])
            self.assertEqual(Party.search([
                        ('activity_overdue', '=', True),
                        ]), [party])

    @with_transaction()
    def test_schedule_next(self):
        "Completing an activity schedules the next one on the same record"
        pool = Pool()
        Activity = pool.get('crm.activity')
        ScheduleNext = pool.get('crm.activity.schedule_next', type='wizard')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)
            call = create_activity(company, resource=opportunity)

            session_id, _, _ = ScheduleNext.create()
            with Transaction().set_context(
                    active_model='crm.activity', active_id=call.id,
                    active_ids=[call.id]):
                result = ScheduleNext.execute(session_id, {}, 'start')
                defaults = result['view']['defaults']
                self.assertEqual(defaults['type'], call.type.id)
                self.assertEqual(defaults['summary'], "Call")
                ScheduleNext.execute(session_id, {
                        'start': {
                            'outcome': "Wants a demo",
                            'company': company.id,
                            'type': activity_type('meeting').id,
                            'summary': "Demo",
                            'planned_date': dt.datetime(2030, 1, 7, 10),
                            'duration': dt.timedelta(hours=1),
                            'employee': call.employee.id,
                            },
                        }, 'schedule')
            ScheduleNext.delete(session_id)
            call = Activity(call.id)

            self.assertEqual(call.state, 'done')
            self.assertEqual(call.outcome, "Wants a demo")
            demo, = Activity.search([('state', '=', 'planned')])
            self.assertEqual(demo.resource, opportunity)
            self.assertEqual(demo.party, opportunity.party)
            self.assertEqual(demo.type, activity_type('meeting'))

    @with_transaction()
    def test_notify_due(self):
        "The cron notifies the users of their due and late activities"
        pool = Pool()
        Activity = pool.get('crm.activity')
        Notification = pool.get('res.notification')
        User = pool.get('res.user')
        company = create_company()
        now = dt.datetime.now()
        with set_company(company):
            employee = create_employee(company, name="Maria")
            other = create_employee(company, name="Li")
            user = User(
                login='maria', employees=[employee], employee=employee,
                companies=[company], company=company)
            user.save()
            late = create_activity(
                company, employee=employee,
                planned_date=now - dt.timedelta(days=1))
            today = create_activity(
                company, employee=employee,
                planned_date=dt.datetime.combine(
                    dt.date.today(), dt.time(23, 59)))
            create_activity(
                company, employee=employee,
                planned_date=now + dt.timedelta(days=2))
            create_activity(
                company, employee=other,
                planned_date=now - dt.timedelta(days=1))

            Activity.notify_due()

            notification, = Notification.search([('user', '=', user.id)])
            self.assertEqual(notification.label, "Activities to do")
            self.assertEqual(
                notification.description, "1 due today, 1 overdue.")
            self.assertEqual(notification.model, 'crm.activity')
            self.assertEqual(
                json.loads(notification.records), [late.id, today.id])
            self.assertEqual(
                notification.action.id,
                ModelData_action('act_activity_my'))

    @with_transaction()
    def test_icalendar(self):
        "The calendar of an employee lists the planned calls and meetings"
        pool = Pool()
        Activity = pool.get('crm.activity')
        Report = pool.get('crm.activity.calendar', type='report')
        company = create_company()
        with set_company(company):
            employee = create_employee(company)
            meeting = create_activity(
                company, employee=employee, type=activity_type('meeting'),
                summary="Demo", description="Show the fleet module",
                location="Acme HQ",
                planned_date=dt.datetime(2030, 1, 7, 10),
                duration=dt.timedelta(hours=1))
            create_activity(
                company, employee=employee, type=activity_type('email'))
            done = create_activity(company, employee=employee)
            Activity.done([done])

            oext, content, _, name = Report.execute([employee.id], {})
            self.assertEqual(oext, 'ics')
            self.assertIn("Activity Calendar", name)

            calendar = icalendar.Calendar.from_ical(content)
            event, = calendar.walk('VEVENT')
            self.assertEqual(str(event['summary']), "Demo")
            self.assertEqual(
                str(event['description']), "Show the fleet module")
            self.assertEqual(str(event['location']), "Acme HQ")
            self.assertEqual(
                event.decoded('dtstart'),
                dt.datetime(2030, 1, 7, 10, tzinfo=dt.timezone.utc))
            self.assertEqual(
                event.decoded('dtend'),
                dt.datetime(2030, 1, 7, 11, tzinfo=dt.timezone.utc))
            self.assertEqual(str(event['uid']), meeting.icalendar_uid)

            # the UID stays when the activity moves
            meeting.planned_date = dt.datetime(2030, 1, 8, 10)
            meeting.save()
            _, content, _, _ = Report.execute([employee.id], {})
            event, = icalendar.Calendar.from_ical(content).walk('VEVENT')
            self.assertEqual(str(event['uid']), meeting.icalendar_uid)

    @with_transaction()
    def test_activity_resource_name(self):
        "The list names the record an activity follows up"
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(
                company, description="Office chairs")
            on_opportunity = create_activity(
                company, resource=opportunity)
            on_party = create_activity(
                company, resource=opportunity.party)
            alone = create_activity(company)

            self.assertEqual(
                on_opportunity.resource_name,
                f"Sale Opportunity {opportunity.rec_name} \u2014 "
                "Office chairs")
            self.assertEqual(on_party.resource_name, "Party Customer")
            self.assertIsNone(alone.resource_name)

    @with_transaction()
    def test_activity_planned_end(self):
        "The end of an activity is its date and duration; it sets them"
        pool = Pool()
        Activity = pool.get('crm.activity')
        company = create_company()
        with set_company(company):
            start = dt.datetime(2030, 1, 7, 10)
            call = create_activity(
                company, planned_date=start,
                duration=dt.timedelta(minutes=15))
            todo = create_activity(
                company, planned_date=start, duration=None)
            self.assertEqual(
                call.planned_end, dt.datetime(2030, 1, 7, 10, 15))
            self.assertEqual(todo.planned_end, start)

            # the calendar searches the activities of a period by their end
            for clause, result in [
                    (('planned_end', '>', start), [call]),
                    (('planned_end', '<=', start), [todo]),
                    (('planned_end', '=', start + dt.timedelta(
                                minutes=15)), [call]),
                    (('planned_end', '!=', None), [call, todo]),
                    ]:
                with self.subTest(clause=clause):
                    self.assertEqual(
                        Activity.search([clause], order=[('id', 'ASC')]),
                        result)

            # moved in the calendar: the end sets the duration
            Activity.write([call], {
                    'planned_date': dt.datetime(2030, 1, 8, 9),
                    'planned_end': dt.datetime(2030, 1, 8, 9, 45),
                    })
            self.assertEqual(call.duration, dt.timedelta(minutes=45))
            call.planned_end = dt.datetime(2030, 1, 8, 10)
            call.on_change_planned_end()
            self.assertEqual(call.duration, dt.timedelta(hours=1))

    @with_transaction()
    def test_activity_buttons_reload(self):
        "Done, cancel and replan make the list search again"
        pool = Pool()
        Activity = pool.get('crm.activity')
        company = create_company()
        with set_company(company):
            activity = create_activity(company)
            self.assertEqual(Activity.done([activity]), 'reload')
            self.assertEqual(Activity.replan([activity]), 'reload')
            self.assertEqual(Activity.cancel([activity]), 'reload')
            # no seconds in the planned times
            self.assertEqual(Activity.planned_date.format, '%H:%M')
            self.assertEqual(Activity.default_planned_date().second, 0)

    @with_transaction()
    def test_calendar_token(self):
        "A user's calendar link is a secret stored as its hash"
        pool = Pool()
        Token = pool.get('crm.activity.calendar.token')
        User = pool.get('res.user')
        user = User(Transaction().user)
        token = Token.reset(user)
        self.assertEqual(len(token), 43)
        record, = Token.search([])
        self.assertNotIn(token, record.token_hash)
        self.assertEqual(Token.get_user(token), user)

        # a new link revokes the previous one
        other = Token.reset(user)
        self.assertNotEqual(other, token)
        self.assertIsNone(Token.get_user(token))
        self.assertEqual(Token.get_user(other), user)
        self.assertEqual(len(Token.search([])), 1)

        for wrong in [None, '', other[:-1], other + 'A', other.upper(),
                '../' + other[3:], other[:-1] + '\u00e9', 'x' * 10000]:
            with self.subTest(wrong=str(wrong)[:50]):
                self.assertIsNone(Token.get_user(wrong))
        Token.revoke(user)
        self.assertIsNone(Token.get_user(other))
        self.assertTrue(Token.url(other).endswith(
                urllib.parse.quote(f'/{DB_NAME}/crm/calendar/{other}.ics')))

    @with_transaction()
    def test_activity_company_rule(self):
        "The activities of another company are hidden"
        pool = Pool()
        Activity = pool.get('crm.activity')
        User = pool.get('res.user')
        company = create_company()
        other = create_company(name="Other")
        with set_company(company):
            create_activity(company)
        with set_company(other):
            mine = create_activity(other)
        user = User(
            login='li', companies=[company, other], company=other,
            groups=[group('group_crm_manager')])
        user.save()
        with Transaction().set_user(user.id), \
                Transaction().set_context(
                    company=other.id, companies=[other.id],
                    _check_access=True):
            self.assertEqual(Activity.search([]), [mine])

    @with_transaction()
    def test_capture_party_by_email(self):
        "The party of a captured lead is found by its normalised e-mail"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Party = pool.get('party.party')

        party = Party(name="Ann Lee", contact_mechanisms=[
                {'type': 'email', 'value': 'Ann.Lee@Example.com'}])
        party.save()

        self.assertEqual(
            Opportunity.capture_party("Ann", ' ann.lee@example.COM '), party)
        other = Opportunity.capture_party(
            "Bob", 'bob@example.com', '+32 2 555 01 02')
        self.assertNotEqual(other, party)
        self.assertEqual(other.name, "Bob")
        self.assertEqual(
            sorted(m.type for m in other.contact_mechanisms),
            ['email', 'phone'])
        self.assertEqual(
            Opportunity.capture_party("Bob again", 'BOB@example.com'), other)

    @with_transaction()
    def test_capture_web_form(self):
        "A web form creates a lead with its party, comment and UTM"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Campaign = pool.get('marketing.campaign')
        company = create_company()
        # Only the existing UTM values are set unless the configuration
        # lets the form create them
        Campaign.create([{'name': 'spring'}])
        Configuration = pool.get('crm.configuration')
        Configuration.write([Configuration(1)], {
                'web_form_utm_create': True})
        lead = Opportunity.capture_web_form({
                'name': "Ann Lee",
                'email': 'ann@example.com',
                'phone': '',
                'company': "Lee & Co",
                'message': "Call me\nplease",
                'utm_campaign': "Spring",
                'utm_medium': "email",
                'utm_source': "newsletter",
                }, '192.0.2.1')

        self.assertEqual(lead.state, 'lead')
        self.assertEqual(lead.stage, stage('new'))
        self.assertEqual(lead.company, company)
        self.assertEqual(lead.party.name, "Ann Lee")
        self.assertEqual(lead.description, "Web form: Lee & Co")
        self.assertIn("Company: Lee & Co", lead.comment)
        self.assertTrue(lead.comment.endswith("Call me\nplease"))
        self.assertEqual(lead.capture_channel, 'web_form')
        self.assertEqual(lead.capture_address, '192.0.2.1')
        self.assertEqual(lead.marketing_campaign.name, 'spring')
        self.assertEqual(lead.marketing_medium.name, 'email')
        self.assertEqual(lead.marketing_source.name, 'newsletter')
        self.assertEqual(Opportunity.capture_count('192.0.2.1'), 1)
        self.assertEqual(Opportunity.capture_count('192.0.2.2'), 0)
        self.assertEqual(Opportunity.capture_count(
                '192.0.2.1',
                since=dt.datetime.now() + dt.timedelta(minutes=1)), 0)

        copy, = Opportunity.copy([lead])
        self.assertEqual(copy.capture_channel, None)
        self.assertEqual(copy.capture_address, None)

    @with_transaction()
    def test_validate_form(self):
        "The web form values are validated and bounded"
        values = validate_form({
                'name': "  Ann \t Lee ", 'email': ' Ann@Example.com ',
                'message': " Line 1\nLine 2 ", 'unknown': 'x'})
        self.assertEqual(values['name'], "Ann Lee")
        self.assertEqual(values['email'], 'Ann@Example.com')
        self.assertEqual(values['message'], "Line 1\nLine 2")
        self.assertNotIn('unknown', values)

        for form, problem in [
                ({}, "name is required"),
                ({'name': ' '}, "name is required"),
                ({'name': "Ann", 'email': 'ann@'}, "e-mail address"),
                ({'name': "Ann", 'email': 'a b@example.com'},
                    "e-mail address"),
                ({'name': "A" * 101}, "longer than 100"),
                ({'name': "Ann\x00"}, "not allowed"),
                ({'name': "Ann", 'message': "x" * 5001}, "longer than 5,000"),
                ]:
            with self.subTest(form=form):
                with self.assertRaises(FormError) as cm:
                    validate_form(form)
                self.assertEqual(cm.exception.status, HTTPStatus.BAD_REQUEST)
                self.assertTrue(
                    any(problem in p for p in cm.exception.problems),
                    cm.exception.problems)

    def _inbound_email(self, message):
        pool = Pool()
        Inbox = pool.get('inbound.email.inbox')
        Email = pool.get('inbound.email')
        inbox, = Inbox.search([], limit=1) or [Inbox(
                name="Sales", rules=[{
                        'action': (
                            'sale.opportunity|create_from_inbound_email'),
                        }])]
        inbox.save()
        email = Email(inbox=inbox, data=message.as_bytes(), data_type='raw')
        email.save()
        Email.process([email])
        return email.result

    @with_transaction()
    def test_inbound_email_lead(self):
        "An e-mail creates a lead; a reply is posted to its chat"
        pool = Pool()
        Attachment = pool.get('ir.attachment')
        Channel = pool.get('ir.chat.channel')
        Message = pool.get('ir.chat.message')
        Opportunity = pool.get('sale.opportunity')
        create_company()

        def chat(lead):
            return [(m.author, m.content, m.audience, m.reference)
                for m in Message.search([
                        ('channel.resource', '=', str(lead)),
                        ], order=[('id', 'ASC')])]

        message = EmailMessage()
        message['From'] = "Ann Lee <Ann@Example.com>"
        message['To'] = 'sales@example.org'
        message['Subject'] = "Quote for 20 chairs"
        message['Message-ID'] = '<first.1@example.com>'
        message.set_content("Could you send a quote?")
        message.add_attachment(
            b'plan', maintype='application', subtype='pdf',
            filename='plan.pdf')

        lead = self._inbound_email(message)
        self.assertIsInstance(lead, Opportunity)
        self.assertEqual(lead.state, 'lead')
        self.assertEqual(lead.party.name, "Ann Lee")
        # Normalised as the party module does
        self.assertEqual(
            lead.party.contact_mechanisms[0].value,
            normalize_email('Ann@Example.com'))
        self.assertEqual(lead.description, "E-mail: Quote for 20 chairs")
        self.assertEqual(lead.comment, "Could you send a quote?")
        self.assertEqual(lead.capture_channel, 'email')
        self.assertEqual(lead.capture_message_id, '<first.1@example.com>')
        attachment, = Attachment.search([('resource', '=', str(lead))])
        self.assertEqual(attachment.name, 'plan.pdf')
        self.assertEqual(attachment.data, b'plan')
        # the first e-mail delivered again: the same lead, nothing posted
        self.assertEqual(self._inbound_email(message), lead)
        self.assertEqual(chat(lead), [])
        self.assertEqual(len(Attachment.search(
                    [('resource', '=', str(lead))])), 1)

        reply = EmailMessage()
        reply['From'] = 'ann@example.com'
        reply['Subject'] = "Re: Quote for 20 chairs"
        reply['Message-ID'] = '<second.2@example.com>'
        reply['In-Reply-To'] = '<answer.9@example.org>'
        reply['References'] = '<first.1@example.com> <answer.9@example.org>'
        reply.set_content("And 4 tables.\n\n"
            "On Monday, Sales <sales@example.org> wrote:\n"
            "> Here is our quote.\n>\n> Regards\n")
        reply.add_attachment(
            b'tables', maintype='image', subtype='png',
            filename='tables.png')
        self.assertEqual(self._inbound_email(reply), lead)
        # delivered again
        self.assertEqual(self._inbound_email(reply), lead)
        lead = Opportunity(lead.id)
        self.assertEqual(lead.comment, "Could you send a quote?")
        self.assertEqual(chat(lead), [
                ('ann@example.com', "And 4 tables.\n\n"
                    "Attachments (on the lead): tables.png",
                    'public', '<second.2@example.com>')])
        self.assertEqual(
            sorted(a.name for a in Attachment.search([
                        ('resource', '=', str(lead))])),
            ['plan.pdf', 'tables.png'])

        by_number = EmailMessage()
        by_number['From'] = 'bob@example.com'
        by_number['Subject'] = f"About [{lead.number}]"
        by_number.set_content("Bob here.")
        self.assertEqual(self._inbound_email(by_number), lead)
        self.assertEqual(chat(lead)[-1][:2], ('bob@example.com', "Bob here."))

        # the answer to an e-mail the chat sent to its follower
        Channel.subscribe_email(lead, 'ann@example.com')
        with SMTPSink() as sink:
            sent = Channel.post(lead, "Delivery in May?", audience='public')
            sink.deliver()
        (_, recipients, email_sent), = sink.messages
        self.assertEqual(recipients, ['ann@example.com'])
        self.assertEqual(email_sent['Message-ID'], sent.reference)
        self.assertIn("Delivery in May?", email_sent.get_body().get_content())
        answer = EmailMessage()
        answer['From'] = 'ann.lee'
        answer['Subject'] = "Re: Delivery"
        answer['In-Reply-To'] = sent.reference
        answer.set_content("Yes, May is fine.\n"
            "-----Original Message-----\nDelivery in May?")
        with SMTPSink() as sink:
            self.assertEqual(self._inbound_email(answer), lead)
            sink.deliver()
        # the answer goes to the chat's followers
        self.assertEqual(
            [m[1] for m in sink.messages], [['ann@example.com']])
        # an address the chat refuses: the system writes who sent it
        self.assertEqual(chat(lead)[-1][1:3], (
                'From: ann.lee\n\nYes, May is fine.',
                'public'))
        self.assertEqual(
            Message.search([], order=[('id', 'DESC')], limit=1)[0].user.id,
            0)
        self.assertEqual(lead.comment, "Could you send a quote?")

        other = EmailMessage()
        other['From'] = 'bob@example.com'
        other['Subject'] = "New project"
        other.set_content("<p>Hello &amp; welcome</p>", subtype='html')
        new = self._inbound_email(other)
        self.assertNotEqual(new, lead)
        self.assertEqual(new.comment, "Hello & welcome")
        self.assertEqual(new.party.name, 'bob@example.com')

    @with_transaction()
    def test_assignment_rule_weight(self):
        "The matching rules of the lowest sequence share leads by weight"
        pool = Pool()
        Rule = pool.get('crm.assignment.rule')

        first = Rule(id=1, sequence=10, weight=2)
        second = Rule(id=2, sequence=10, weight=1)
        fallback = Rule(id=3, sequence=20, weight=5)
        group = Rule.group([fallback, second, first])
        self.assertEqual(group, [first, second])
        chosen = [Rule.choose(group, turn) for turn in range(6)]
        self.assertEqual(chosen, [first, second, first] * 2)
        self.assertEqual(Rule.choose([fallback], 7), fallback)
        self.assertEqual(weighted_order((4, 2)), (0, 1, 0))
        self.assertEqual(
            Counter(weighted_order((5, 3, 1))), {0: 5, 1: 3, 2: 1})

    @with_transaction()
    def test_assignment_rule_domain(self):
        "An assignment rule with a wrong domain is refused, named"
        pool = Pool()
        Rule = pool.get('crm.assignment.rule')
        Team = pool.get('crm.team')

        company = create_company()
        with set_company(company):
            team = Team(name="Direct Sales")
            team.save()
            for domain in ['[("nope", "=", 1)]', 'not json',
                    '[["state", "=", "lead"]]']:
                rule = Rule(name="Web", team=team, domain=domain)
                if domain.startswith('[['):
                    rule.save()
                    continue
                with self.assertRaisesRegex(
                        AssignmentRuleDomainError, 'rule "Web"'):
                    rule.save()

    @with_transaction()
    def test_assignment_batch(self):
        "Leads created together are spread in turn, under capacity"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Rule = pool.get('crm.assignment.rule')
        Team = pool.get('crm.team')
        Member = pool.get('crm.team.member')

        company = create_company()
        with set_company(company):
            employees = [create_employee(company, name) for name in [
                    "A", "B", "C"]]
            team = Team(name="Direct Sales", members=[
                    {'employee': e, 'capacity': 2 if i == 2 else None}
                    for i, e in enumerate(employees)])
            team.save()
            Rule(name="All", team=team).save()
            leads = Opportunity.create(
                [{'description': str(i)} for i in range(8)])
            leads = sorted(leads, key=lambda l: l.id)
            self.assertEqual(
                [l.employee.party.name for l in leads],
                ['A', 'B', 'C', 'A', 'B', 'C', 'A', 'B'])
            self.assertIn("C skipped: at capacity, 2 open leads of 2",
                leads[-1].assignment_note)
            members = Member.search([], order=[('id', 'ASC')])
            self.assertEqual([m.open_leads for m in members], [3, 3, 2])
            self.assertEqual(
                Opportunity.count_open_leads(employees),
                {employees[0].id: 3, employees[1].id: 3, employees[2].id: 2})

            # A lead given to a salesperson is left alone
            lead, = Opportunity.create([{
                        'description': "Mine",
                        'employee': employees[2].id}])
            self.assertEqual(lead.employee, employees[2])
            self.assertIsNone(lead.assignment_note)

    @with_transaction()
    def test_assignment_force(self):
        "Reassign moves a lead only when someone is available"
        pool = Pool()
        Date = pool.get('ir.date')
        Opportunity = pool.get('sale.opportunity')
        Rule = pool.get('crm.assignment.rule')
        Team = pool.get('crm.team')

        company = create_company()
        with set_company(company):
            today = Date.today()
            old, new = [create_employee(company, n) for n in ["Old", "New"]]
            team = Team(name="Direct Sales", members=[{
                        'employee': new,
                        'absences': [{
                                'start_date': today, 'end_date': today}],
                        }])
            team.save()
            Rule(name="All", team=team).save()
            lead, = Opportunity.create([{
                        'description': "Deal", 'employee': old.id}])

            Opportunity.assign([lead])
            self.assertIsNone(lead.assignment_note)

            Opportunity.assign([lead], force=True)
            self.assertEqual((lead.employee, lead.team), (old, None))
            self.assertIn("keeps its team and salesperson",
                lead.assignment_note)
            self.assertIn("absent until %s" % today, lead.assignment_note)

            member, = team.members
            member.absences = []
            member.save()
            Opportunity.assign([lead], force=True)
            self.assertEqual((lead.employee, lead.team), (new, team))
            self.assertIn("no limit of open leads", lead.assignment_note)

    @with_transaction()
    def test_employee_teams(self):
        "Records are found through the teams of their employee"
        pool = Pool()
        Activity = pool.get('crm.activity')
        Team = pool.get('crm.team')

        company = create_company()
        with set_company(company):
            maria, li, sara = [
                create_employee(company, n) for n in ["Maria", "Li", "Sara"]]
            team = Team(name="Direct Sales",
                members=[{'employee': maria}, {'employee': li}])
            team.save()
            activities = [create_activity(company, employee=e)
                for e in [maria, li, sara]]
            self.assertEqual(activities[1].employee_teams, (team,))
            self.assertEqual(activities[2].employee_teams, ())
            self.assertEqual(
                Activity.search([
                        ('employee_teams.members.employee', '=', maria.id),
                        ], order=[('id', 'ASC')]),
                activities[:2])

    @with_transaction()
    def test_activity_team_rule(self):
        "A CRM User sees the activities of their teams only"
        pool = Pool()
        Activity = pool.get('crm.activity')
        Team = pool.get('crm.team')
        User = pool.get('res.user')

        company = create_company()
        with set_company(company):
            maria, li, sara = [
                create_employee(company, n) for n in ["Maria", "Li", "Sara"]]
            Team(name="Direct Sales",
                members=[{'employee': maria}, {'employee': li}]).save()
            Team(name="Field Sales", members=[{'employee': sara}]).save()
            mine, teammate, other, nobody = [
                create_activity(company, employee=e)
                for e in [maria, li, sara, None]]
            user = User(login='maria', companies=[company], company=company,
                employees=[maria], employee=maria,
                groups=[group('group_crm')])
            user.save()
            with Transaction().set_user(user.id), \
                    Transaction().set_context(_check_access=True):
                self.assertEqual(
                    Activity.search([], order=[('id', 'ASC')]),
                    [mine, teammate, nobody])
                with self.assertRaises(AccessError):
                    Activity.write([other], {'summary': "Taken"})

    @with_transaction()
    def test_activity_statistics(self):
        "The statistics count the activities by state and timeliness"
        pool = Pool()
        Activity = pool.get('crm.activity')
        Statistics = pool.get('crm.activity.statistics')
        Report = pool.get('crm.reporting.xlsx', type='report')

        company = create_company()
        with set_company(company):
            maria = create_employee(company, "Maria")
            yesterday = dt.datetime.now() - dt.timedelta(days=1)
            late = create_activity(
                company, employee=maria, planned_date=yesterday)
            create_activity(company, employee=maria, planned_date=yesterday)
            early = create_activity(company, employee=maria)
            cancelled = create_activity(company, employee=maria)
            Activity.done([early, late])
            Activity.cancel([cancelled])
            create_activity(company, employee=maria,
                type=activity_type('meeting'))

            with Transaction().set_context(company=company.id):
                rows = Statistics.search([])
                self.assertEqual(
                    [(r.type.name, r.number, r.planned, r.done, r.cancelled,
                            r.overdue, r.done_on_time, r.done_on_time_rate)
                        for r in rows],
                    [('Call', 4, 1, 2, 1, 1, 1, 0.5),
                        ('Meeting', 1, 1, 0, 0, 0, 0, None)])
                with Transaction().set_context(
                        from_date=dt.date.today()):
                    self.assertEqual(
                        [r.number for r in Statistics.search([])], [2, 1])
                content = Report.render_xlsx(Statistics, rows)
            self.assertTrue(content.startswith(b'PK'))

    @with_transaction()
    def test_scoring_auc_brier(self):
        "AUC by ranks with ties, Brier as the mean squared error"
        from trytond.modules.crm_core.scoring import auc_score, brier_score
        self.assertEqual(auc_score(
                [(0.1, False), (0.4, False), (0.35, True), (0.8, True)]),
            0.75)
        self.assertEqual(auc_score([(0.5, True), (0.5, False)]), 0.5)
        self.assertIsNone(auc_score([(0.5, True), (0.7, True)]))
        self.assertEqual(brier_score([(1.0, True), (0.0, False)]), 0)
        self.assertEqual(brier_score([(0.5, True)]), 0.25)
        self.assertIsNone(brier_score([]))

    @with_transaction()
    def test_scoring_rule_invalid_domain(self):
        "A rule with a domain that is not on the lead is refused by name"
        pool = Pool()
        Rule = pool.get('crm.scoring.rule')
        company = create_company()
        with set_company(company):
            for domain in ['[["nothing", "=", 1]]', 'not json', '{}']:
                rule = Rule(name="Broken", domain=domain, points=1)
                with self.assertRaisesRegex(
                        ScoringRuleError, 'rule "Broken"'):
                    rule.save()

    @with_transaction()
    def test_scoring_rules(self):
        "Scores add the points of the active rules of the lead's company"
        pool = Pool()
        Rule = pool.get('crm.scoring.rule')
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            Rule.create([{
                        'name': "Big", 'points': 10,
                        'domain': '[["amount", ">=", 500]]',
                        }, {
                        'name': "Very big", 'points': -3,
                        'domain': '[["amount", ">=", 900]]',
                        }, {
                        'name': "Inactive", 'points': 100, 'active': False,
                        'domain': '[]',
                        }])
            lead = create_opportunity(company)
            self.assertEqual(lead.score, 7)
            self.assertEqual(lead.score_details, "Big: +10\nVery big: -3")

            Opportunity.write([lead], {'amount': Decimal('600')})
            self.assertEqual(lead.score, 10)

            other = create_company()
        with set_company(other):
            other_lead = create_opportunity(other)
            self.assertEqual(other_lead.score, 0)
            self.assertEqual(other_lead.score_details, '')

    @with_transaction()
    def test_scoring_fallback(self):
        "Without enough history the probability is the stage's"
        pool = Pool()
        ScoringModel = pool.get('crm.scoring.model')
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            lead = create_opportunity(company)
            Opportunity.create([{
                        'party': lead.party.id, 'state': 'won',
                        'employee': lead.employee.id,
                        }] * 5)
            model = ScoringModel.get_model(company)
            ScoringModel.retrain([model])

            self.assertEqual(model.state, 'untrained')
            self.assertEqual(model.won_count, 5)
            self.assertEqual(model.features, ())
            self.assertEqual(lead.win_probability, 0.1)
            self.assertIn("stage", lead.win_factors)

    @with_transaction()
    def test_scoring_predict(self):
        "The team that wins more raises the probability with its words"
        pool = Pool()
        Team = pool.get('crm.team')
        Opportunity = pool.get('sale.opportunity')
        ScoringModel = pool.get('crm.scoring.model')
        company = create_company()
        with set_company(company):
            employee = create_employee(company)
            party = create_party("Customer")
            good, bad = Team.create([{'name': "Good"}, {'name': "Bad"}])
            vlist = []
            for i in range(60):
                team = good if i % 2 else bad
                won = (i % 2) == (i % 7 != 0)
                vlist.append({
                        'party': party.id, 'employee': employee.id,
                        'team': team.id, 'state': 'won' if won else 'lost',
                        })
            Opportunity.create(vlist)
            lead_good, lead_bad = Opportunity.create([{
                        'party': party.id, 'employee': employee.id,
                        'team': t.id} for t in [good, bad]])
            model = ScoringModel.get_model(company)
            ScoringModel.retrain([model])

            self.assertEqual(model.state, 'trained')
            self.assertEqual(model.won_count + model.lost_count, 60)
            self.assertEqual(model.holdout_count, len(
                    [o for o in Opportunity.search([
                                ('state', 'in', ['won', 'lost'])])
                        if o.id % 5 == 0]))
            self.assertGreater(model.auc, 0.5)
            self.assertLess(model.brier, 0.25)
            self.assertGreater(lead_good.win_probability, 0.7)
            self.assertLess(lead_bad.win_probability, 0.3)
            self.assertIn("Team is Good", lead_good.win_factors)
            self.assertIn("more often won", lead_good.win_factors)
            self.assertIn("less often won", lead_bad.win_factors)
            # Closed opportunities keep their values
            closed = Opportunity.search([('state', '=', 'won')], limit=1)[0]
            self.assertIsNone(closed.win_probability)



    def _lead_import(self, company, data, **values):
        "Create a lead import of the CSV text"
        pool = Pool()
        LeadImport = pool.get('crm.lead.import')
        lead_import, = LeadImport.create([dict({
                        'company': company.id,
                        'file': (data if isinstance(data, bytes)
                            else data.encode('utf-8')),
                        'file_name': 'leads.csv',
                        }, **values)])
        return lead_import

    def _run_import(self, company, data, **values):
        "Check and import the CSV text, the queued batches run at once"
        pool = Pool()
        LeadImport = pool.get('crm.lead.import')
        lead_import = self._lead_import(company, data, **values)
        LeadImport.check([lead_import])
        LeadImport.import_([lead_import])
        LeadImport.run_queued([lead_import])
        return LeadImport(lead_import.id)

    @with_transaction()
    def test_lead_import_as_orm(self):
        "An imported lead is stored as the ORM stores the same lead"
        pool = Pool()
        Country = pool.get('country.country')
        Opportunity = pool.get('sale.opportunity')
        Party = pool.get('party.party')
        Address = pool.get('party.address')
        ContactMechanism = pool.get('party.contact_mechanism')
        History = pool.get('crm.stage.history')
        Tag = pool.get('crm.tag')
        from trytond.modules.crm_core.dbtools import (
            column_fields as _column_fields)
        company = create_company()
        employee = create_employee(company, name="Sam Seller")
        belgium = Country(name="Belgium", code='BE')
        belgium.save()
        tag = Tag(name="Fair")
        tag.save()

        with set_company(company), Transaction().set_context(
                employee=employee.id):
            lead_import = self._run_import(company,
                "Lead,Company,Contact,Email,Phone,Street,Zip,City,Country,"
                "Amount,Closing,Salesperson,Tags,Notes\n"
                "Fleet,Acme,John Doe,John.Doe@Example.com,+32 2 555 12 34,"
                "Main Street 1,1000,Brussels,BE,10.505,2027-01-31,"
                "Sam Seller,Fair,Call back\n")
            self.assertEqual(lead_import.rows_error, 0)
            imported, = Opportunity.search(
                [('lead_import', '=', lead_import.id)])

            party = Party(name="Acme", contact_mechanisms=[
                    {'type': 'email', 'value': 'John.Doe@Example.com',
                        'name': "John Doe"},
                    {'type': 'phone', 'value': '+32 2 555 12 34',
                        'name': "John Doe"},
                    ])
            party.save()
            address = Address(party=party, street_unstructured="Main Street 1",
                postal_code='1000', city="Brussels", country=belgium)
            address.save()
            reference = Opportunity(party=party,
                contact=party.contact_mechanisms[0], address=address,
                description="Fleet", comment="Call back",
                amount=Decimal('10.50'), expected_closing=dt.date(2027, 1, 31),
                employee=employee, tags=[tag])
            try:
                reference.save()
            except DuplicateWarning as warning:
                # The new party "Acme" looks like the imported one
                Warning = pool.get('res.user.warning')
                Warning(user=Transaction().user, name=warning.name).save()
                reference.save()

        def compare(Model, record, other, ignore):
            for name in _column_fields(Model):
                if name in ignore:
                    continue
                self.assertEqual(
                    getattr(record, name), getattr(other, name),
                    msg='%s.%s' % (Model.__name__, name))

        imported = Opportunity(imported.id)
        reference = Opportunity(reference.id)
        compare(Opportunity, imported, reference, {
                'number', 'party', 'contact', 'address', 'import_key',
                'lead_import', 'capture_channel'})
        self.assertEqual(imported.capture_channel, 'import')
        self.assertTrue(imported.number)
        self.assertNotEqual(imported.number, reference.number)
        self.assertEqual(imported.stage, stage('new'))
        self.assertEqual(imported.tags, (tag,))
        self.assertEqual(imported.rec_name, imported.number)
        compare(Party, imported.party, reference.party,
            {'code', 'code_alnum', 'code_digit'})
        self.assertEqual(imported.party.code_alnum, imported.party.code)
        self.assertEqual(
            imported.party.code_digit, int(imported.party.code))
        from trytond.model import fields
        for name, field in Party._fields.items():
            if isinstance(field, fields.MultiValue):
                self.assertEqual(
                    getattr(imported.party, name),
                    getattr(reference.party, name), msg=name)
        self.assertEqual(bool(imported.party.code), bool(reference.party.code))
        self.assertEqual(
            len(imported.party.contact_mechanisms),
            len(reference.party.contact_mechanisms))
        for mine, theirs in zip(
                imported.party.contact_mechanisms,
                reference.party.contact_mechanisms):
            compare(ContactMechanism, mine, theirs, {'party'})
        self.assertEqual(imported.contact.type, 'email')
        self.assertEqual(imported.contact.crm_key, 'john.doe@example.com')
        compare(Address, imported.address, reference.address, {'party'})
        self.assertEqual(len(imported.party.addresses), 1)
        history, = History.search([('opportunity', '=', imported.id)])
        other, = History.search([('opportunity', '=', reference.id)])
        compare(History, history, other, {'opportunity', 'date'})

    @with_transaction()
    def test_lead_import_existing_party(self):
        "A row with a known e-mail is attached to its party"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Party = pool.get('party.party')
        company = create_company()
        ann = Party(name="Ann Lee", contact_mechanisms=[
                {'type': 'email', 'value': 'ann@example.com'}])
        ann.save()

        with set_company(company):
            lead_import = self._run_import(company,
                "Name,E-mail\n"
                "Ann,ANN@example.com\n"
                "Bob,bob@example.com\n"
                "Bob Again,Bob@Example.com\n")
        leads = Opportunity.search(
            [('lead_import', '=', lead_import.id)], order=[('id', 'ASC')])
        self.assertEqual(len(leads), 3)
        self.assertEqual(leads[0].party, ann)
        self.assertEqual(leads[0].contact, ann.contact_mechanisms[0])
        self.assertEqual(leads[1].party, leads[2].party)
        self.assertEqual(leads[1].party.name, "Bob")
        self.assertEqual(len(leads[1].party.contact_mechanisms), 1)

    @with_transaction()
    def test_lead_import_assigned_scored(self):
        "Imported leads are routed by the rules and scored as created ones"
        from trytond.modules.crm_core import lead_import as module
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Rule = pool.get('crm.assignment.rule')
        ScoringRule = pool.get('crm.scoring.rule')
        Team = pool.get('crm.team')
        company = create_company()
        with set_company(company):
            employees = [create_employee(company, name)
                for name in ["Ann Seller", "Bob Seller"]]
            team = Team(name="Inside Sales",
                members=[{'employee': e} for e in employees])
            team.save()
            Rule(name="All", team=team).save()
            ScoringRule(name="Big", points=10,
                domain='[["amount", ">=", 1000]]').save()
            rows = ''.join(f"Lead {i},{1000 * (i % 2)},\n" for i in range(6))
            rows += "Kept,5,Bob Seller\n"
            # Slices smaller than the batch: the round-robin goes on
            # across them
            browse_size, module.BROWSE_SIZE = module.BROWSE_SIZE, 4
            try:
                lead_import = self._run_import(
                    company, "Name,Amount,Salesperson\n" + rows)
            finally:
                module.BROWSE_SIZE = browse_size
        leads = Opportunity.search(
            [('lead_import', '=', lead_import.id)], order=[('id', 'ASC')])
        self.assertEqual(len(leads), 7)
        self.assertEqual([l.employee.party.name for l in leads],
            ["Ann Seller", "Bob Seller"] * 3 + ["Bob Seller"])
        self.assertEqual({l.team for l in leads[:6]}, {team})
        self.assertIn("Inside Sales", leads[0].assignment_note)
        self.assertIsNone(leads[6].assignment_note)
        self.assertEqual([l.score for l in leads], [0, 10] * 3 + [0])
        self.assertEqual(leads[1].score_details, "Big: +10")
        self.assertEqual(
            {l.win_probability for l in leads}, {leads[0].stage.probability})

    @with_transaction()
    def test_lead_import_batch_idempotent(self):
        "A batch run twice imports its rows once"
        from trytond.modules.crm_core.lead_import import BATCH_SIZE
        pool = Pool()
        LeadImport = pool.get('crm.lead.import')
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            lead_import = self._lead_import(company,
                "ID;Name\n1;Ann\n2;Bob\n2;Bob twice\n")
            LeadImport.check([lead_import])
            self.assertEqual(
                (lead_import.rows, lead_import.rows_valid,
                    lead_import.rows_skipped), (3, 3, 1))
            LeadImport.import_([lead_import])
            LeadImport.run_queued([lead_import])
            LeadImport.import_batch([lead_import], 0, BATCH_SIZE)
            lead_import = LeadImport(lead_import.id)
            self.assertEqual(lead_import.state, 'done')
            self.assertEqual(
                (lead_import.rows_imported, lead_import.rows_skipped,
                    lead_import.rows_done), (2, 1, 3))
            self.assertEqual(lead_import.progress, 1)
            self.assertEqual(Opportunity.search(
                    [('lead_import', '=', lead_import.id)], count=True), 2)

            # Even the batch of an import reset to draft and run again
            LeadImport.draft([lead_import])
            LeadImport.check([lead_import])
            LeadImport.import_([lead_import])
            LeadImport.run_queued([lead_import])
            self.assertEqual(
                (lead_import.rows_imported, lead_import.rows_skipped),
                (0, 3))
            copy, = Opportunity.copy(Opportunity.search(
                    [('lead_import', '=', lead_import.id)], limit=1))
            self.assertEqual((copy.import_key, copy.lead_import), (None, None))

    @with_transaction()
    def test_lead_import_bad_files(self):
        "The files that cannot be read are refused with a clear error"
        import io
        import zipfile
        company = create_company()
        with set_company(company):
            for data, message in [
                    (b'  \n', 'is empty'),
                    (b'\nName;E-mail\nAnn;ann@example.com\n', 'has no header'),
                    ('Name\nJos\xe9\n'.encode('latin-1'),
                        'cannot be read as utf-8 at line 2'),
                    (b'%PDF-1.4\x00\x01', 'neither a CSV nor an XLSX'),
                    ]:
                with self.subTest(data=data):
                    with self.assertRaisesRegex(UserError, message):
                        self._lead_import(company, data)
            archive = io.BytesIO()
            with zipfile.ZipFile(archive, 'w') as zip_file:
                zip_file.writestr('hello.txt', 'Hello')
            with self.assertRaisesRegex(UserError, 'neither a CSV'):
                self._lead_import(
                    company, archive.getvalue())

    @with_transaction()
    def test_lead_import_mapping(self):
        "The columns are mapped from their header, each field once"
        pool = Pool()
        Column = pool.get('crm.lead.import.column')
        LeadImport = pool.get('crm.lead.import')
        company = create_company()
        with set_company(company):
            lead_import = self._lead_import(company,
                "E_mail\tZIP Code\tOrganisation\tUnknown\tEmail\n"
                "a@example.com\t1000\tAcme\tx\tb@example.com\n")
            self.assertEqual(
                [c.target for c in lead_import.columns],
                ['email', 'postal_code', 'company_name', None, None])
            with self.assertRaisesRegex(UserError, 'fill the same field'):
                Column.write([lead_import.columns[-1]], {'target': 'email'})
            lead_import = self._lead_import(company, "Amount\n12\n")
            with self.assertRaisesRegex(UserError, 'mapped to the lead'):
                LeadImport.check([lead_import])

    @with_transaction()
    def test_lead_import_nul_anywhere(self):
        "A NUL byte anywhere in the file refuses it, not only in the first 4kB"
        company = create_company()
        rows = ''.join(f"Lead {i},lead{i}@example.com\n" for i in range(300))
        data = ("Name,E-mail\n" + rows).encode('utf-8')
        self.assertGreater(len(data), 4096)
        with set_company(company):
            with self.assertRaisesRegex(UserError, 'neither a CSV'):
                self._lead_import(company, data + b'Nul\x00,x@example.com\n')

    @with_transaction()
    def test_lead_import_batch_error(self):
        "A failed batch puts the import in error with the reason; retry, draft"
        pool = Pool()
        LeadImport = pool.get('crm.lead.import')
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        good = ("Name,E-mail\n" + ''.join(
                f"Lead {i},lead{i}@example.com\n" for i in range(300))
            ).encode('utf-8')
        with set_company(company):
            lead_import = self._lead_import(company, good)
            LeadImport.check([lead_import])
            LeadImport.import_([lead_import])
            # The file spoiled behind the check (as a failing batch would
            # find it): the batch fails, nothing is half imported
            table = LeadImport.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.update([table.file],
                    [good + b'Nul\x00,x@example.com\n'],
                    where=table.id == lead_import.id))
            LeadImport.run_queued([lead_import])
            lead_import = LeadImport(lead_import.id)
            self.assertEqual(lead_import.state, 'error')
            self.assertIn('rows 1 to 300', lead_import.error_message)
            self.assertIn('neither a CSV', lead_import.error_message)
            self.assertEqual(Opportunity.search(
                    [('lead_import', '=', lead_import.id)], count=True), 0)

            # Retry fails again on the same file
            LeadImport.retry([lead_import])
            LeadImport.run_queued([lead_import])
            self.assertEqual(LeadImport(lead_import.id).state, 'error')

            # Back to draft, the file fixed, imported
            LeadImport.draft([lead_import])
            lead_import = LeadImport(lead_import.id)
            self.assertEqual(lead_import.state, 'draft')
            self.assertFalse(lead_import.error_message)
            LeadImport.write([lead_import], {'file': good})
            LeadImport.check([lead_import])
            LeadImport.import_([lead_import])
            LeadImport.run_queued([lead_import])
            lead_import = LeadImport(lead_import.id)
            self.assertEqual(lead_import.state, 'done')
            self.assertEqual(lead_import.rows_imported, 300)

    @staticmethod
    def _xlsx(rows, dimension=None):
        "An XLSX file of the rows, its declared dimension replaced"
        import io
        import re
        import zipfile
        import openpyxl
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        for row in rows:
            sheet.append(row)
        content = io.BytesIO()
        workbook.save(content)
        if dimension is None:
            return content.getvalue()
        result = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(content.getvalue())) as source, \
                zipfile.ZipFile(result, 'w', zipfile.ZIP_DEFLATED) as target:
            for item in source.infolist():
                data = source.read(item.filename)
                if item.filename == 'xl/worksheets/sheet1.xml':
                    data = re.sub(rb'<dimension ref="[^"]*"/>',
                        b'<dimension ref="%s"/>' % dimension.encode(), data)
                target.writestr(item, data)
        return result.getvalue()

    @with_transaction()
    def test_lead_import_xlsx_dimension(self):
        "The real cells of an XLSX file are read, not its declared dimension"
        import time
        pool = Pool()
        LeadImport = pool.get('crm.lead.import')
        company = create_company()
        with set_company(company):
            data = self._xlsx(
                [["Name", "E-mail"], ["Ann", "ann@example.com"]],
                dimension='A1:XFD1048576')
            self.assertLess(len(data), 6000)
            start = time.monotonic()
            lead_import = self._lead_import(
                company, data, file_name='leads.xlsx')
            LeadImport.check([lead_import])
            self.assertLess(time.monotonic() - start, 1)
            self.assertEqual(lead_import.format, 'xlsx')
            self.assertEqual(
                [c.header for c in lead_import.columns], ["Name", "E-mail"])
            self.assertEqual(
                (lead_import.rows, lead_import.rows_valid), (1, 1))

            # Rows beyond a too small declared range are read
            data = self._xlsx(
                [["Name", "E-mail"]] + [
                    [f"Lead {i}", f"lead{i}@example.com"] for i in range(4)],
                dimension='A1:B2')
            lead_import = self._lead_import(
                company, data, file_name='leads.xlsx')
            LeadImport.check([lead_import])
            self.assertEqual(
                (lead_import.rows, lead_import.rows_valid), (4, 4))

    @with_transaction()
    def test_lead_import_csv_unclosed_quote(self):
        "A CSV row with an unclosed quote is an error row, the next are read"
        pool = Pool()
        LeadImport = pool.get('crm.lead.import')
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            lead_import = self._run_import(company,
                'Name,E-mail\n'
                'Ann,ann@example.com\n'
                '"Bob,bob@example.com\n'
                'Carl,carl@example.com\n', skip_errors=True)
            self.assertEqual(
                (lead_import.rows, lead_import.rows_valid,
                    lead_import.rows_error), (3, 2, 1))
            error, = lead_import.errors
            self.assertEqual(error.line, 3)
            self.assertIn('quote', error.reason)
            leads = Opportunity.search(
                [('lead_import', '=', lead_import.id)],
                order=[('id', 'ASC')])
            self.assertEqual(
                [l.party.name for l in leads], ["Ann", "Carl"])
            # A cell with a control character is refused too
            lead_import = self._lead_import(company,
                'Name,E-mail\nAn\x01n,ann@example.com\n')
            LeadImport.check([lead_import])
            self.assertEqual(lead_import.rows_error, 1)

    @with_transaction()
    def test_lead_import_access(self):
        "A lead import is read by its creator and the CRM Managers only"
        pool = Pool()
        LeadImport = pool.get('crm.lead.import')
        Column = pool.get('crm.lead.import.column')
        Error = pool.get('crm.lead.import.error')
        User = pool.get('res.user')
        company = create_company()
        users = {}
        for login, groups in [
                ('nobody', []),
                ('ann', [group('group_crm')]),
                ('bob', [group('group_crm')]),
                ('manager', [group('group_crm_manager')]),
                ]:
            user = User(login=login, companies=[company], company=company,
                groups=groups)
            user.save()
            users[login] = user

        def as_user(login):
            return Transaction().set_user(users[login].id)

        with set_company(company), \
                Transaction().set_context(_check_access=True):
            with as_user('ann'):
                mine = self._lead_import(company, "Name\nLead\n\"Bad\n")
                LeadImport.check([mine])
            with as_user('bob'):
                self.assertEqual(LeadImport.search([]), [])
                self.assertEqual(Column.search([]), [])
                self.assertEqual(Error.search([]), [])
                with self.assertRaises(AccessError):
                    LeadImport.read([mine.id], ['file'])
                with self.assertRaises(AccessError):
                    LeadImport.write([LeadImport(mine.id)],
                        {'skip_errors': True})
                with self.assertRaises(AccessError):
                    LeadImport.delete([LeadImport(mine.id)])
            with as_user('nobody'):
                with self.assertRaises(AccessError):
                    LeadImport.search([])
                with self.assertRaises(AccessError):
                    Column.search([])
            with as_user('ann'):
                self.assertEqual(LeadImport.search([]), [mine])
                self.assertEqual(len(Error.search([])), 1)
            with as_user('manager'):
                self.assertEqual(LeadImport.search([]), [mine])
                self.assertEqual(len(Column.search([])), 1)

    @with_transaction()
    def test_lead_import_rights_per_row(self):
        "A row asking for a salesperson of another team is an error row"
        pool = Pool()
        LeadImport = pool.get('crm.lead.import')
        Opportunity = pool.get('sale.opportunity')
        Team = pool.get('crm.team')
        User = pool.get('res.user')
        company = create_company()
        with set_company(company):
            maria, sara = [
                create_employee(company, n) for n in ["Maria", "Sara"]]
            Team(name="Direct Sales", members=[{'employee': maria}]).save()
            Team(name="Field Sales", members=[{'employee': sara}]).save()
            user = User(login='maria', companies=[company], company=company,
                employees=[maria], employee=maria,
                groups=[group('group_crm')])
            user.save()
            with Transaction().set_user(user.id), \
                    Transaction().set_context(
                        employee=maria.id, employees=[maria.id]):
                with Transaction().set_context(_check_access=True):
                    lead_import = self._lead_import(company,
                        "Name,Salesperson,Team\n"
                        "Mine,Maria,Direct Sales\n"
                        "Theirs,Sara,Field Sales\n",
                        skip_errors=True)
                    LeadImport.check([lead_import])
                    lead_import = LeadImport(lead_import.id)
                    self.assertEqual(lead_import.rows_error, 1)
                    error, = lead_import.errors
                    self.assertEqual(error.line, 3)
                    self.assertIn('may not assign', error.reason)
                    LeadImport.import_([lead_import])
                # The batch as the queue runs it: as the user, without the
                # access checks of the RPC
                LeadImport.run_queued([lead_import])
                lead_import = LeadImport(lead_import.id)
                self.assertEqual(lead_import.state, 'done')
                self.assertEqual(lead_import.rows_imported, 1)
            leads = Opportunity.search([('lead_import', '=', lead_import.id)])
            self.assertEqual([l.employee for l in leads], [maria])

    @with_transaction()
    def test_lead_import_hooks_history(self):
        "Imported leads get every module's creation hooks and history rows"
        from trytond.modules.crm_core.tests import hook
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Party = pool.get('party.party')
        company = create_company()
        hook.CREATED = []
        try:
            with set_company(company):
                lead_import = self._run_import(company,
                    "Name,Amount\nAnn,10\nBob,20\n")
                imported = Opportunity.search(
                    [('lead_import', '=', lead_import.id)],
                    order=[('id', 'ASC')])
                party = Party(name="Carl")
                party.save()
                reference = Opportunity(party=party, description="Carl",
                    amount=Decimal(30), capture_channel='import')
                reference.save()
            self.assertEqual(len(imported), 2)
            self.assertTrue(set(map(int, imported)) <= set(hook.CREATED))
            self.assertIn(reference.id, hook.CREATED)
        finally:
            hook.CREATED = None

        # The history rows of the host, as the ORM writes them
        from sql import Column
        history = Opportunity.__table_history__()
        cursor = Transaction().connection.cursor()
        names = sorted(n for n, f in Opportunity._fields.items()
            if f.sql_type() and not hasattr(f, 'get')
            and n not in {'id', 'number', 'party', 'description', 'amount',
                'import_key', 'lead_import', 'create_date', 'write_date',
                'start_date'})

        def rows(opportunity):
            cursor.execute(*history.select(
                    *[getattr(history, n) for n in names],
                    where=history.id == opportunity.id,
                    order_by=[Column(history, '__id').asc]))
            return cursor.fetchall()
        reference_rows = rows(reference)
        self.assertTrue(reference_rows)
        for lead in imported:
            self.assertEqual(rows(lead), reference_rows)

    @with_transaction()
    def test_timeline_events_unique(self):
        "The timeline unites the events of every source with unique ids"
        pool = Pool()
        Timeline = pool.get('crm.timeline')
        Sale = pool.get('sale.sale')

        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company, description="Deal")
            party = opportunity.party
            activity = create_activity(company, party=party)
            sale = Sale(party=party, description="Order")
            sale.save()
            other = create_opportunity(company)

            events = Timeline.search([('party', '=', party.id)])
            self.assertEqual(
                sorted((e.kind, e.resource) for e in events),
                sorted([
                        ('activity', activity),
                        ('opportunity', opportunity),
                        ('quotation', sale),
                        ]))
            self.assertEqual(len({e.id for e in events}), len(events))
            self.assertNotIn(
                other, [e.resource for e in Timeline.search([])
                    if e.party == party])
            self.assertEqual(
                [e.id for e in party.crm_timeline], [e.id for e in events])

    @with_transaction()
    def test_timeline_sources_run(self):
        "Every registered timeline source runs, with its columns and types"
        pool = Pool()
        Timeline = pool.get('crm.timeline')
        Sale = pool.get('sale.sale')
        Shipment = pool.get('stock.shipment.out')
        Location = pool.get('stock.location')
        Address = pool.get('party.address')
        Opportunity = pool.get('sale.opportunity')
        cursor = Transaction().connection.cursor()

        sources = Timeline._timeline_sources()
        keys = [s.key for s in sources]
        self.assertEqual(len(set(keys)), len(keys))
        self.assertTrue(all(0 < k < SOURCES for k in keys))
        # the extras of crm_core are activated: their sources are there
        self.assertEqual(
            {s.model for s in sources}, {
                'crm.activity', 'sale.opportunity', 'sale.sale',
                'account.invoice', 'account.move.line',
                'stock.shipment.out'})

        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company, description="Deal")
            party = opportunity.party
            Address(party=party).save()
            create_activity(company, party=party)
            lost = create_opportunity(company, party=party,
                lost_cause=module_record(
                    'crm.lost_reason', 'lost_reason_no_budget'))
            Opportunity.lost([lost])
            Sale(party=party, description="Order").save()
            warehouse, = Location.search([('type', '=', 'warehouse')])
            shipment = Shipment(customer=party, warehouse=warehouse,
                delivery_address=party.addresses[0])
            shipment.on_change_warehouse()
            shipment.save()

            kinds = dict(Timeline.fields_get(['kind'])['kind']['selection'])
            for source, query in zip(
                    sources, Timeline._timeline_queries()):
                cursor.execute(*query)
                self.assertEqual(
                    [d[0] for d in cursor.description], COLUMNS,
                    msg=source.model)
                ids = [r[0] for r in cursor]
                if source.model not in {
                        'account.invoice', 'account.move.line'}:
                    self.assertTrue(ids, msg=source.model)
                for event in Timeline.browse(ids):
                    self.assertEqual(event.id % SOURCES, source.key)
                    self.assertEqual(event.resource.__name__, source.model)
                    self.assertEqual(event.resource.id, event.id // SOURCES)
                    self.assertEqual(event.company, company)
                    self.assertEqual(event.party, party)
                    self.assertIsInstance(
                        event.date, (dt.date, type(None)))
                    self.assertIn(event.kind, kinds)
                    self.assertIsInstance(event.summary, (str, type(None)))
                    self.assertIsInstance(
                        event.amount, (Decimal, type(None)))
                    if event.employee:
                        self.assertEqual(
                            event.employee.__name__, 'company.employee')

    @with_transaction()
    def test_timeline_ids_stable(self):
        "The id of an event is its record id × 100 + the key of its source"
        pool = Pool()
        Timeline = pool.get('crm.timeline')

        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)
            activity = create_activity(company, party=opportunity.party)
            events = {e.resource: e.id for e in Timeline.search([
                        ('party', '=', opportunity.party.id)])}
            self.assertEqual(events, {
                    opportunity: opportunity.id * SOURCES + 2,
                    activity: activity.id * SOURCES + 1,
                    })

    def _crm_team_users(self, company):
        """Return the employees, the users (CRM User) of teams A and B and a
        CRM Manager, and the two teams"""
        pool = Pool()
        Team = pool.get('crm.team')
        User = pool.get('res.user')
        maria, li, sara = [
            create_employee(company, n) for n in ["Maria", "Li", "Sara"]]
        team_a = Team(name="Team A", members=[{'employee': maria}])
        team_a.save()
        team_b = Team(name="Team B", members=[{'employee': li}])
        team_b.save()
        users = []
        for login, employee, group_name in [
                ('maria', maria, 'group_crm'), ('li', li, 'group_crm'),
                ('sara', sara, 'group_crm_manager')]:
            user = User(login=login, companies=[company], company=company,
                employees=[employee], employee=employee,
                groups=[group(group_name)])
            user.save()
            users.append(user)
        return (maria, li, sara), users, (team_a, team_b)

    @with_transaction()
    def test_timeline_record_rules(self):
        "The timeline and the CRM tab show only the records the user may read"
        pool = Pool()
        Timeline = pool.get('crm.timeline')
        Party = pool.get('party.party')
        Sale = pool.get('sale.sale')
        ModelData = pool.get('ir.model.data')
        Group = pool.get('res.group')
        User = pool.get('res.user')

        company = create_company()
        with set_company(company):
            (maria, li, _), (maria_user, _, sara_user), (team_a, team_b) = (
                self._crm_team_users(company))
            customer = create_party("Customer")
            mine = create_opportunity(company, party=customer,
                employee=maria, team=team_a, description="Mine")
            theirs = create_opportunity(company, party=customer,
                employee=li, team=team_b, description="Theirs",
                amount=Decimal('99999'))
            my_call = create_activity(company, party=customer, employee=maria)
            their_call = create_activity(company, party=customer,
                employee=li,
                planned_date=dt.datetime.now() + dt.timedelta(hours=1))
            self.assertEqual(customer.next_activity, their_call)
            sale = Sale(party=customer, description="Order")
            sale.save()
            all_events = Timeline.search([('party', '=', customer.id)])
            self.assertEqual(len(all_events), 5)

            def events():
                with Transaction().set_context(_check_access=True):
                    return {e.resource for e in Timeline.search([
                                ('party', '=', customer.id)])}

            def tab():
                party = Party(customer.id)
                return (
                    {e.resource for e in party.crm_timeline},
                    list(party.crm_opportunities), list(party.crm_sales),
                    party.crm_revenue, party.crm_overdue,
                    party.crm_late_deliveries, party.health_score,
                    party.health_components)

            with Transaction().set_user(maria_user.id):
                self.assertEqual(events(), {mine, my_call})
                timeline, opportunities, sales, revenue, overdue, late, \
                    score, components = tab()
                self.assertEqual(timeline, {mine, my_call})
                self.assertEqual(opportunities, [mine])
                self.assertEqual(sales, [])
                self.assertEqual((revenue, overdue, late), (None,) * 3)
                self.assertEqual(score, None)
                self.assertIn("not shown", components)
                self.assertNotIn("99", components)
                self.assertEqual(Party(customer.id).next_activity, my_call)

            # with the Sales group, Maria sees the sales
            seller = User(login='maria_sales', companies=[company],
                company=company, employees=[maria], employee=maria,
                groups=[group('group_crm'),
                    Group(ModelData.get_id('sale', 'group_sale'))])
            seller.save()
            with Transaction().set_user(seller.id):
                self.assertEqual(events(), {mine, my_call, sale})
                self.assertEqual(list(Party(customer.id).crm_sales), [sale])

            # the CRM Manager sees every lead and activity, not the sales
            with Transaction().set_user(sara_user.id):
                self.assertEqual(
                    events(), {e.resource for e in all_events} - {sale})
                self.assertIn(theirs, Party(customer.id).crm_opportunities)

    @with_transaction()
    def test_opportunity_pool_rule(self):
        "Every CRM User sees the pool: leads without team nor salesperson"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')

        company = create_company()
        with set_company(company):
            (_, _, sara), (maria_user, li_user, _), _ = (
                self._crm_team_users(company))
            pooled = create_opportunity(company, employee=None)
            # Sara belongs to no team: her lead stays without team
            saras = create_opportunity(company, employee=sara)
            self.assertEqual(saras.team, None)
            for user in [maria_user, li_user]:
                with Transaction().set_user(user.id), \
                        Transaction().set_context(_check_access=True):
                    self.assertEqual(Opportunity.search([]), [pooled])

    @with_transaction()
    def test_opportunity_employee_team(self):
        "A salesperson's lead gets their team when they belong to only one"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Member = pool.get('crm.team.member')
        cursor = Transaction().connection.cursor()

        company = create_company()
        with set_company(company):
            (maria, li, sara), _, (team_a, team_b) = (
                self._crm_team_users(company))
            Member(team=team_a, employee=li).save()

            self.assertEqual(
                create_opportunity(company, employee=maria).team, team_a)
            self.assertEqual(
                create_opportunity(company, employee=li).team, None)
            lead = create_opportunity(company, employee=sara)
            Opportunity.write([lead], {'employee': maria.id})
            self.assertEqual(lead.team, team_a)
            # an explicit team wins
            self.assertEqual(create_opportunity(
                    company, employee=maria, team=team_b).team, team_b)

            # memoized for the transaction: no query for a known employee
            values = {'employee': maria.id, 'company': company.id}
            self.assertEqual(Opportunity.preprocess_values(
                    'create', values)['team'], team_a.id)
            member = Member.__table__()
            cursor.execute(*member.delete(
                    where=member.employee == maria.id))
            self.assertEqual(Opportunity.preprocess_values(
                    'create', values)['team'], team_a.id)
            # a change of the teams through the ORM starts it again
            Member(team=team_b, employee=sara).save()
            self.assertNotIn(
                'team', Opportunity.preprocess_values('create', values))

    @with_transaction()
    def test_opportunity_team_first_stage(self):
        "A lead created for a team starts on the team's first stage"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Stage = pool.get('crm.stage')

        company = create_company()
        with set_company(company):
            (maria, li, _), _, (team_a, team_b) = (
                self._crm_team_users(company))
            discovery = Stage(name="Discovery", opportunity_state='lead',
                sequence=1, probability=0.05, team=team_a)
            discovery.save()

            explicit = create_opportunity(company, team=team_a)
            by_employee = create_opportunity(company, employee=maria)
            with Transaction().set_context(employee=maria.id):
                by_default = Opportunity(party=explicit.party)
                by_default.save()
            # a client sends the default stage of the form with the team
            sent, = Opportunity.create([{
                        'party': explicit.party.id, 'team': team_a.id,
                        'stage': stage('new').id,
                        'conversion_probability': 0.1}])
            for lead in [explicit, by_employee, by_default, sent]:
                self.assertEqual(
                    (lead.team, lead.stage, lead.conversion_probability),
                    (team_a, discovery, 0.05))
                self.assertEqual(
                    [h.to_stage for h in lead.stage_history], [discovery])
            other = create_opportunity(company, employee=li)
            self.assertEqual(other.stage, stage('new'))

            # a lead of the pool assigned to the team enters its pipeline
            pooled = create_opportunity(company, employee=None)
            self.assertEqual(pooled.stage, stage('new'))
            Opportunity.write([pooled], {
                    'team': team_a.id, 'employee': maria.id})
            self.assertEqual(
                (pooled.stage, pooled.conversion_probability),
                (discovery, 0.05))
            self.assertEqual(
                [(h.from_stage, h.to_stage) for h in pooled.stage_history],
                [(stage('new'), discovery), (None, stage('new'))])

            # moved to another team, the lead leaves the stage of the first
            Opportunity.write([explicit], {'team': team_b.id})
            self.assertEqual(explicit.stage, stage('new'))
            self.assertEqual(explicit.conversion_probability, 0.1)
            self.assertEqual(
                [(h.from_stage, h.to_stage)
                    for h in explicit.stage_history],
                [(discovery, stage('new')), (None, discovery)])
            Opportunity.write([explicit], {'employee': maria.id})
            self.assertEqual(
                (explicit.team, explicit.stage), (team_a, stage('new')))

    @with_transaction()
    def test_stage_history_access(self):
        "The stage history follows the access and rules of its opportunity"
        pool = Pool()
        History = pool.get('crm.stage.history')
        User = pool.get('res.user')

        company = create_company()
        with set_company(company):
            (maria, li, _), (maria_user, _, _), (team_a, team_b) = (
                self._crm_team_users(company))
            mine = create_opportunity(company, employee=maria)
            create_opportunity(company, employee=li)
            nobody = User(login='nobody', companies=[company],
                company=company)
            nobody.save()

            with Transaction().set_user(nobody.id), \
                    Transaction().set_context(_check_access=True):
                with self.assertRaises(AccessError):
                    History.search([])
            with Transaction().set_user(maria_user.id), \
                    Transaction().set_context(_check_access=True):
                self.assertEqual(
                    [h.opportunity for h in History.search([])], [mine])

    @with_transaction()
    def test_modification_error_names_nothing_unreadable(self):
        "Deleting a lead or activity one may not read names none of them"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Activity = pool.get('crm.activity')

        company = create_company()
        with set_company(company):
            (maria, _, _), (_, li_user, _), _ = self._crm_team_users(company)
            lead = create_opportunity(company, employee=maria,
                description="Secret deal")
            call = create_activity(company, employee=maria,
                summary="Secret call")
            Activity.done([call])

            with Transaction().set_user(li_user.id), \
                    Transaction().set_context(_check_access=True):
                for Model, records, name in [
                        (Opportunity, [lead], lead.rec_name),
                        (Activity, [call], call.rec_name)]:
                    with self.assertRaises(AccessError) as context:
                        Model.delete(records)
                    self.assertNotIn(f'"{name}"', str(context.exception))
                    self.assertNotIn("Secret", str(context.exception))
                with self.assertRaises(AccessError) as context:
                    Activity.write([call], {'summary': "Mine"})
                self.assertNotIn("Secret", str(context.exception))

    @with_transaction()
    def test_health_no_data_neutral(self):
        "A party without history has a neutral health score that says so"
        pool = Pool()
        Party = pool.get('party.party')

        company = create_company()
        with set_company(company):
            party = Party(name="Newcomer")
            party.save()
            components = Party._crm_health_components([party])[party.id]
            self.assertEqual(
                [c.name for c in components],
                ['recency', 'frequency', 'monetary', 'payment'])
            self.assertEqual({c.score for c in components}, {50})
            self.assertEqual(party.health_score, 50)
            self.assertIn("neutral", party.health_components)

    @with_transaction()
    def test_health_recency_bounds(self):
        "Recency is 100 within a month of the last purchase, 0 after a year"
        pool = Pool()
        Party = pool.get('party.party')

        today = dt.date(2026, 6, 30)
        scores = [
            Party._crm_health_recency(today - dt.timedelta(days=d), today)
            .score for d in [0, 30, 197, 365, 900]]
        self.assertEqual(scores, [100, 100, 50, 0, 0])
        self.assertEqual(
            Party._crm_health_frequency(24).score, 100)
        self.assertEqual(
            Party._crm_health_monetary(Decimal(300), Decimal(100)).score,
            100)

    @with_transaction()
    def test_new_quotation_from_sale(self):
        "A new quotation copies the sale as a draft without origin or date"
        pool = Pool()
        Sale = pool.get('sale.sale')

        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)
            sale = Sale(party=opportunity.party, origin=opportunity,
                sale_date=dt.date(2026, 1, 5), description="Chairs")
            sale.save()
            quotation, = Sale.crm_copy_quotation([sale])
            self.assertEqual(
                (quotation.state, quotation.sale_date, quotation.origin,
                    quotation.party, quotation.description),
                ('draft', None, None, sale.party, "Chairs"))
            self.assertNotEqual(quotation, sale)

    @with_transaction()
    def test_forecast_quantity_service(self):
        "A line of a service has no forecast quantity"
        pool = Pool()
        Line = pool.get('sale.opportunity.line')
        Template = pool.get('product.template')
        Product = pool.get('product.product')
        Uom = pool.get('product.uom')

        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)
            unit, = Uom.search([('name', '=', "Unit")])
            template = Template(name="Advice", default_uom=unit,
                type='service', salable=True, sale_uom=unit)
            template.save()
            product = Product(template=template)
            product.save()
            line = Line(opportunity=opportunity, product=product,
                quantity=2, unit=unit)
            line.save()
            self.assertIsNone(line.forecast_quantity)

    @with_transaction()
    def test_reporting_context_manager(self):
        "The reports open on the salesperson's deals, a manager's on all"
        pool = Pool()
        Context = pool.get('crm.reporting.context')
        User = pool.get('res.user')
        company = create_company()
        with set_company(company):
            employee = create_employee(company)
            for login, groups, expected in [
                    ('seller', [group('group_crm')], employee.id),
                    ('boss', [group('group_crm'), group('group_crm_manager')],
                        None),
                    ]:
                user = User(login=login, companies=[company],
                    company=company, groups=groups)
                user.save()
                with Transaction().set_user(user.id), \
                        Transaction().set_context(employee=employee.id):
                    self.assertEqual(
                        Context.default_employee(), expected, login)

    @with_transaction()
    def test_team_member_last_assignment(self):
        "The last assignment of a member is the date of their last lead"
        pool = Pool()
        Team = pool.get('crm.team')
        Member = pool.get('crm.team.member')
        company = create_company()
        with set_company(company):
            employee = create_employee(company)
            team = Team(name="Direct Sales", members=[{'employee': employee}])
            team.save()
            member, = team.members
            self.assertIsNone(Member(member.id).last_assignment)
            opportunity = create_opportunity(
                company, employee=employee, team=team)
            last_assignment = Member(member.id).last_assignment
            self.assertIsInstance(last_assignment, dt.datetime)
            self.assertEqual(last_assignment, opportunity.create_date)


class CrmCoreLeadRouteTestCase(RouteTestCase):
    "Test CRM Core lead capture route"
    module = 'crm_core'
    # marketing_campaign for the UTM fields; inbound_email (which the route
    # does not use) only to share the database of test_capture
    extras = ['inbound_email', 'marketing_campaign']

    @classmethod
    def setUpDatabase(cls):
        create_company()
        Transaction().commit()

    @property
    def url(self):
        return f'/{self.db_name}/crm/lead'

    def post(self, data, address='198.51.100.1', **kwargs):
        kwargs.setdefault(
            'content_type', 'application/x-www-form-urlencoded')
        return self.client().post(
            self.url, data=data,
            environ_base={'REMOTE_ADDR': address}, **kwargs)

    def leads(self, address):
        @with_transaction()
        def count():
            Opportunity = Pool().get('sale.opportunity')
            return [{
                    'party': o.party.name,
                    'state': o.state,
                    'source': o.marketing_source and o.marketing_source.name,
                    } for o in Opportunity.search([
                            ('capture_address', '=', address)])]
        return count()

    def test_form(self):
        "GET shows an accessible HTML form"
        response = self.client().get(
            self.url, headers={'Accept-Language': 'fr, en;q=0.5'})
        self.assertEqual(response.status_code, HTTPStatus.OK)
        self.assertEqual(response.mimetype, 'text/html')
        body = response.get_data(as_text=True)
        self.assertIn('<html lang="en" dir="ltr">', body)
        self.assertIn('<label for="crm-name">Name *</label>', body)
        self.assertIn('name="homepage"', body)
        self.assertIn(f'action="{self.url}"', body)

    def test_post(self):
        "A good post creates a lead and thanks"
        response = self.post(
            'name=Ann+%3Cb%3ELee%3C%2Fb%3E&email=ann%40example.com'
            '&company=Lee+%26+Co&message=Hi%0Athere&utm_source=google',
            address='198.51.100.10')
        self.assertEqual(response.status_code, HTTPStatus.OK)
        self.assertIn('Thank you', response.get_data(as_text=True))

        lead, = self.leads('198.51.100.10')
        self.assertEqual(lead, {
                'party': "Ann <b>Lee</b>",
                'state': 'lead',
                # An unknown source is not created by default
                'source': None,
                })

    def test_post_assigned(self):
        "A posted lead is routed by the assignment rules"
        @with_transaction()
        def set_rule():
            pool = Pool()
            Company = pool.get('company.company')
            Rule = pool.get('crm.assignment.rule')
            Team = pool.get('crm.team')
            company, = Company.search([])
            with set_company(company):
                team = Team(name="Web Team", members=[
                        {'employee': create_employee(company, "Wes Web")}])
                team.save()
                rule = Rule(name="Web", team=team)
                rule.save()
            Transaction().commit()
            return rule.id

        @with_transaction()
        def remove_rule(rule_id):
            Rule = Pool().get('crm.assignment.rule')
            Rule.delete([Rule(rule_id)])
            Transaction().commit()
        self.addCleanup(remove_rule, set_rule())

        response = self.post('name=Ann&email=ann%40example.net',
            address='198.51.100.40')
        self.assertEqual(response.status_code, HTTPStatus.OK)

        @with_transaction()
        def salesperson():
            Opportunity = Pool().get('sale.opportunity')
            lead, = Opportunity.search(
                [('capture_address', '=', '198.51.100.40')])
            return lead.employee.party.name, lead.team.name
        self.assertEqual(salesperson(), ("Wes Web", "Web Team"))

    def test_honeypot(self):
        "A filled honeypot answers thanks but creates nothing"
        response = self.post(
            'name=Bot&homepage=http%3A%2F%2Fspam.example',
            address='198.51.100.20')
        self.assertEqual(response.status_code, HTTPStatus.OK)
        self.assertIn('Thank you', response.get_data(as_text=True))
        self.assertEqual(self.leads('198.51.100.20'), [])

    def test_rate_limit(self):
        "Over the hourly limit of an address the answer is 429"
        @with_transaction()
        def set_limit(limit):
            Configuration = Pool().get('crm.configuration')
            config = Configuration(1)
            config.web_form_rate_limit = limit
            config.save()
            Transaction().commit()
        set_limit(2)
        self.addCleanup(set_limit, 20)

        for _ in range(2):
            response = self.post('name=Ann', address='198.51.100.30')
            self.assertEqual(response.status_code, HTTPStatus.OK)
        response = self.post('name=Ann', address='198.51.100.30')
        self.assertEqual(response.status_code, HTTPStatus.TOO_MANY_REQUESTS)
        self.assertIn('Too many requests', response.get_data(as_text=True))
        self.assertEqual(len(self.leads('198.51.100.30')), 2)

        response = self.post('name=Ann', address='198.51.100.31')
        self.assertEqual(response.status_code, HTTPStatus.OK)

    def test_bad_requests(self):
        "Bad requests answer 400 with a readable, escaped page"
        for data, kwargs, status, problem in [
                ('email=ann%40example.com', {}, 400, 'name is required'),
                ('name=Ann&email=%3Cscript%3E', {}, 400, 'e-mail address'),
                ('name=' + 'A' * 200, {}, 400, 'longer than 100'),
                ('name=%FF%FE', {}, 400, 'not valid UTF-8'),
                (b'name=\xff\xfe', {}, 400, 'not valid UTF-8'),
                ('name=A%00', {}, 400, 'not allowed'),
                ('name=A&name=B', {}, 400, 'repeated'),
                ('&'.join(f'f{i}=x' for i in range(50)), {}, 400,
                    'too many fields'),
                ('{"name": "Ann"}', {'content_type': 'application/json'},
                    400, 'application/x-www-form-urlencoded'),
                ('name=' + 'A' * 20000, {}, 413, 'too large'),
                ]:
            with self.subTest(data=data[:40], **kwargs):
                response = self.post(
                    data, address='198.51.100.50', **kwargs)
                self.assertEqual(response.status_code, status)
                self.assertEqual(response.mimetype, 'text/html')
                body = response.get_data(as_text=True)
                self.assertIn(problem, body)
                self.assertNotIn('<script>', body)
                self.assertNotIn('Traceback', body)
        self.assertEqual(self.leads('198.51.100.50'), [])

    def test_not_found(self):
        "An unknown database or one without crm_core answers 404"
        response = self.client().get('/no-such-database/crm/lead')
        self.assertEqual(response.status_code, HTTPStatus.NOT_FOUND)

        models = Pool._pools[DB_NAME]['model']
        with patch.dict(models):
            del models['crm.configuration']
            for method in ['get', 'post']:
                response = getattr(self.client(), method)(
                    self.url, data='name=Ann',
                    content_type='application/x-www-form-urlencoded')
                self.assertEqual(
                    response.status_code, HTTPStatus.NOT_FOUND)

        response = self.client().get(self.url + '?company=999')
        self.assertEqual(response.status_code, HTTPStatus.NOT_FOUND)


class CrmCoreCalendarRouteTestCase(RouteTestCase):
    "Test the personal calendar feed of the activities"
    module = 'crm_core'

    @classmethod
    def setUpDatabase(cls):
        pool = Pool()
        User = pool.get('res.user')
        company = create_company()
        with set_company(company):
            for login, name in [('ann', "Ann Sales"), ('bob', "Bob Sales")]:
                employee = create_employee(company, name)
                User.create([{
                            'name': name,
                            'login': login,
                            'companies': [('add', [company.id])],
                            'company': company.id,
                            'employees': [('add', [employee.id])],
                            'employee': employee.id,
                            }])
                create_activity(
                    company, employee=employee,
                    summary=f"Call of {name} <b>&",
                    planned_date=dt.datetime(2030, 1, 7, 10),
                    duration=dt.timedelta(minutes=15))
        Transaction().commit()

    def reset(self, login):
        "Return a new calendar token of the user"
        @with_transaction()
        def reset():
            pool = Pool()
            Token = pool.get('crm.activity.calendar.token')
            User = pool.get('res.user')
            user, = User.search([('login', '=', login)])
            token = Token.reset(user)
            Transaction().commit()
            return token
        return reset()

    def url(self, token):
        return f'/{self.db_name}/crm/calendar/{token}.ics'

    def test_feed(self):
        "The link serves the user's own planned activities"
        token = self.reset('ann')
        response = self.client().get(self.url(token))
        self.assertEqual(response.status_code, HTTPStatus.OK)
        self.assertEqual(response.mimetype, 'text/calendar')
        self.assertEqual(
            response.headers['Cache-Control'], 'private, no-store')
        calendar = icalendar.Calendar.from_ical(response.get_data())
        self.assertEqual(str(calendar['x-wr-calname']), "Ann Sales")
        event, = calendar.walk('VEVENT')
        self.assertEqual(str(event['summary']), "Call of Ann Sales <b>&")
        self.assertEqual(
            event.decoded('dtend') - event.decoded('dtstart'),
            dt.timedelta(minutes=15))

        response = self.client().head(self.url(token))
        self.assertEqual(response.status_code, HTTPStatus.OK)

    def test_revoked(self):
        "A new link revokes the previous one: it answers 404"
        old = self.reset('bob')
        new = self.reset('bob')
        response = self.client().get(self.url(old))
        self.assertEqual(response.status_code, HTTPStatus.NOT_FOUND)
        response = self.client().get(self.url(new))
        self.assertEqual(response.status_code, HTTPStatus.OK)

        @with_transaction()
        def deactivate(active):
            User = Pool().get('res.user')
            User.write(User.search([
                        ('login', '=', 'bob'),
                        ('active', '=', not active),
                        ]), {'active': active})
            Transaction().commit()
        deactivate(False)
        self.addCleanup(deactivate, True)
        response = self.client().get(self.url(new))
        self.assertEqual(response.status_code, HTTPStatus.NOT_FOUND)

    def test_hostile(self):
        "Wrong, malformed or huge tokens answer 404 with a plain page"
        token = self.reset('ann')
        for path in [
                self.url('A' * 43),
                self.url(token[:-1]),
                self.url(token + 'A'),
                self.url(token.swapcase()),
                self.url('%00' * 20),
                self.url('..%2F..%2Fetc%2Fpasswd'),
                self.url('<script>alert(1)</script>'),
                self.url('A' * 100000),
                self.url(token)[:-4],
                self.url(token) + '/',
                f'/{self.db_name}/crm/calendar/{token}.ics.exe',
                f'/no-such-database/crm/calendar/{token}.ics',
                f'/{"x" * 5000}/crm/calendar/{token}.ics',
                ]:
            with self.subTest(path=path[:80]):
                response = self.client().get(path)
                self.assertEqual(
                    response.status_code, HTTPStatus.NOT_FOUND)
                body = response.get_data(as_text=True)
                self.assertNotIn('<script>', body)
                self.assertNotIn('Traceback', body)
                self.assertNotIn('BEGIN:VCALENDAR', body)
        response = self.client().post(self.url(token))
        self.assertEqual(
            response.status_code, HTTPStatus.METHOD_NOT_ALLOWED)

    def test_not_activated(self):
        "A database without crm_core answers 404"
        token = self.reset('ann')
        models = Pool._pools[DB_NAME]['model']
        with patch.dict(models):
            del models['crm.configuration']
            response = self.client().get(self.url(token))
            self.assertEqual(response.status_code, HTTPStatus.NOT_FOUND)


del ModuleTestCase, RouteTestCase
